// Command contacts is the Lambda serving the contacts routes behind API Gateway.
package main

import "github.com/sendwell/sendwell/shared/app"

func main() { app.RunLambda("contacts") }

// Command auth is the Lambda serving the auth routes behind API Gateway.
package main

import "github.com/sendwell/sendwell/shared/app"

func main() { app.RunLambda("auth") }

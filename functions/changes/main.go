// Command changes turns the table's stream into domain events.
package main

import "github.com/sendwell/sendwell/shared/app"

func main() { app.RunChanges() }

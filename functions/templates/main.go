// Command templates is the Lambda serving the templates group behind API Gateway.
package main

import (
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/templates"
)

func main() { platform.RunAPI(templates.API) }

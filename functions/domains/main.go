// Command domains is the Lambda serving the domains group behind API Gateway.
package main

import (
	"github.com/sendwell/sendwell/shared/domains"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunAPI(domains.API) }

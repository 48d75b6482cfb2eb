// Command auth is the Lambda serving the auth group behind API Gateway:
// signup, login, refresh, users/me and API keys.
package main

import (
	"github.com/sendwell/sendwell/shared/auth"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunAPI(auth.API) }

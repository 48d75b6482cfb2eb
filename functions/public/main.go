// Command public is the Lambda serving what needs no credentials:
// /api/health, /api/openapi.json, the unsubscribe and tracking links
// (/u/{token}, /t/o/{token}, /t/c/{token}), and the JSON 404 of every route
// no other function owns. The links read and write the table and check
// their tokens with a key derived from the JWT secret.
package main

import (
	"github.com/sendwell/sendwell/shared/messages/links"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/public"
)

func main() { platform.RunAPI(public.API, links.API) }

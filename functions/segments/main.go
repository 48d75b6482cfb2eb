// Command segments serves /api/segments and a contact's memberships
// (GET /api/contacts/{id}/segments).
package main

import (
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/segments"
)

func main() { platform.RunAPI(segments.API) }

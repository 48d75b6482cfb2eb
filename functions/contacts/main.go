// Command contacts is the Lambda serving the contacts group behind API
// Gateway: contacts, their events, and bulk imports.
package main

import (
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/imports"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/tracking"
)

func main() { platform.RunAPI(contacts.API, tracking.API, imports.API) }

package segments

import (
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the segments group's function: definitions, members, a contact's
// memberships and previews. Builds and memberships are the worker's.
var API = platform.API{Name: "segments", Routes: routes}

func routes(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(NewService(d.Store, d.Clock), d.Cursors).Register(rt)
	return nil
}

package contacts

import (
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the contacts routes of the contacts function (which also serves
// tracking.API and imports.API).
var API = platform.API{Name: "contacts", Routes: func(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(NewService(d.Store, d.Clock), d.Cursors).Register(rt)
	return nil
}}

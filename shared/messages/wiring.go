package messages

import (
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the messages group's function: sends, their history, scheduled
// sends, the suppression list and a template's test send.
var API = platform.API{Name: "messages", Routes: routes}

// routes builds the group's service from d and adds its routes to rt.
func routes(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(NewService(d.Store, d.Clock), d.Cursors).Register(rt)
	return nil
}

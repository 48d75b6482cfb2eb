package templates

import (
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the templates group's function.
var API = platform.API{Name: "templates", Routes: routes}

// routes builds the group's services from d and adds its routes to rt.
func routes(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(NewService(d.Store, d.Clock), d.Cursors).Register(rt)
	return nil
}

package tracking

import (
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the events routes (POST /api/events, a contact's events) of the
// contacts function.
var API = platform.API{Name: "events", Routes: func(d *platform.Deps, rt *httpx.Router) error {
	svc := NewService(d.Store, contacts.NewService(d.Store, d.Clock), d.Config.EventRetention)
	NewHandlers(svc, d.Cursors).Register(rt)
	return nil
}}

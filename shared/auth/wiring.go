package auth

import (
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the auth group's function: signup, login, refresh, users/me and
// API keys.
var API = platform.API{Name: "auth", Routes: func(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(NewService(d.Store, d.Tokens, d.Clock, d.Authn), d.Cursors).Register(rt)
	return nil
}}

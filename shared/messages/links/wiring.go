package links

import (
	"errors"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/sends"
)

// API is the links group, served by the public function.
var API = platform.API{Name: "links", Routes: routes}

// routes builds the links service from d and adds its routes to rt. The
// tokens are checked with the key the send worker signs them with, derived
// from the JWT secret.
func routes(d *platform.Deps, rt *httpx.Router) error {
	if d.Store == nil || len(d.Config.JWTSecret) == 0 {
		return errors.New("links: needs TABLE_NAME and the JWT secret")
	}
	NewHandlers(NewService(d.Store, sends.NewSigner(d.Config.JWTSecret), d.Clock)).Register(rt)
	return nil
}

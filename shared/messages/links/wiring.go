package links

import (
	"errors"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/sends"
)

// API is the links group, served by the public function. It reads the link
// secret, which the send worker signs the links with (not the JWT secret:
// rotating that must not break the links in mail already sent).
var API = platform.API{Name: "links", Routes: routes, LinkSecret: true}

// routes builds the links service from d and adds its routes to rt.
func routes(d *platform.Deps, rt *httpx.Router) error {
	if d.Store == nil || len(d.Config.LinkSecret) == 0 {
		return errors.New("links: needs TABLE_NAME and the link secret (LINK_SECRET or LINK_SECRET_PARAMETER)")
	}
	NewHandlers(NewService(d.Store, sends.NewSigner(d.Config.LinkSecret), d.Clock)).Register(rt)
	return nil
}

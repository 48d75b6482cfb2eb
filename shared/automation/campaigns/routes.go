// Package campaigns is the automation group's campaigns and broadcasts API.
package campaigns

import (
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// Routes registers the campaigns and broadcasts routes.
func Routes(d *platform.Deps, rt *httpx.Router) error { return nil }

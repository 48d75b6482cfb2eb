// Package campaigns is the automation group's campaigns and broadcasts:
// the API (/api/campaigns*, /api/broadcasts*) and the broadcast fan-out
// the sequence worker runs, one page per job (Fanout).
package campaigns

import (
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// Routes registers the campaigns and broadcasts routes.
func Routes(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(NewService(d.Store, d.Clock), d.Cursors).Register(rt)
	return nil
}

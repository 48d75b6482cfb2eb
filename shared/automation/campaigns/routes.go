// Package campaigns is the automation group's campaigns and broadcasts
// API (/api/campaigns*, /api/broadcasts*). The broadcast fan-out the
// sequence worker runs, one page per job, is package
// shared/automation/fanout: this package links neither SQS nor the
// messages pipeline.
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

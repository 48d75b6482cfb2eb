package automation

import (
	"github.com/sendwell/sendwell/shared/automation/campaigns"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the automation group's function: sequences, their enrollments and
// dry runs, with the campaigns and broadcasts of package campaigns. The
// steps run in the sequence worker.
var API = platform.API{Name: "automation", Routes: routes}

func routes(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(NewService(d.Store, d.Clock), d.Cursors).Register(rt)
	return campaigns.Routes(d, rt)
}

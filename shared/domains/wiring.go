package domains

import (
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the domains group's function.
var API = platform.API{Name: "domains", Routes: routes}

// LocalAutoVerifyEnv names the local-only setting of the SES adapter (see
// Identities.LocalAutoVerify and config.Config.SESLocalAutoVerify): "true"
// under `make run` over moto, unset in AWS.
const LocalAutoVerifyEnv = "SES_LOCAL_AUTO_VERIFY"

// routes builds the group's services from d and adds its routes to rt. The
// SES client is built here, so only this function links and builds it.
func routes(d *platform.Deps, rt *httpx.Router) error {
	ses := Identities{SES: sesv2.NewFromConfig(d.AWS), Region: d.AWS.Region, LocalAutoVerify: d.Config.SESLocalAutoVerify}
	NewHandlers(NewService(d.Store, ses, d.Clock), d.Cursors).Register(rt)
	return nil
}

package sendworker

import (
	"errors"

	"github.com/sendwell/sendwell/shared/platform"
)

// Function is the send-worker function: the send queue's consumer. It
// reads the link secret, which signs the unsubscribe and tracking links
// (never the JWT secret).
var Function = platform.Worker[platform.SQSHandler]{
	Name:       "send-worker",
	Needs:      []string{"TABLE_NAME", "PUBLIC_BASE_URL"},
	LinkSecret: true,
	Build: func(d *platform.Deps) (platform.SQSHandler, error) {
		if len(d.Config.LinkSecret) == 0 {
			return nil, errors.New("sendworker: the links cannot be signed without the link secret (LINK_SECRET or LINK_SECRET_PARAMETER)")
		}
		return New(d, SESClient(d.AWS)).Handle, nil
	},
}

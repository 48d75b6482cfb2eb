package sendworker

import (
	"errors"

	"github.com/sendwell/sendwell/shared/platform"
)

// Function is the send-worker function: the send queue's consumer. It
// reads the JWT secret, from which the links' signing key is derived.
var Function = platform.Worker[platform.SQSHandler]{
	Name:   "send-worker",
	Needs:  []string{"TABLE_NAME", "PUBLIC_BASE_URL"},
	Secret: true,
	Build: func(d *platform.Deps) (platform.SQSHandler, error) {
		if len(d.Config.JWTSecret) == 0 {
			return nil, errors.New("sendworker: the links cannot be signed without the JWT secret")
		}
		return New(d, SESClient(d.AWS)).Handle, nil
	},
}

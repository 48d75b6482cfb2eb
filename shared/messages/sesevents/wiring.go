package sesevents

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/platform"
)

// Function is the ses-events function: an EventBridge rule sends it SES's
// events (source aws.ses) from the configuration set's event destination.
var Function = platform.Worker[platform.EventHandler]{
	Name:  "ses-events",
	Needs: []string{"TABLE_NAME"},
	Build: func(d *platform.Deps) (platform.EventHandler, error) {
		h := New(d)
		return func(ctx context.Context, ev events.EventBridgeEvent) error { return h.Handle(ctx, ev.Detail) }, nil
	},
}

// New returns the handler over the function's table: the ledger, and the
// contacts service a complaint unsubscribes through.
func New(d *platform.Deps) *Handler {
	return NewHandler(d.Store, contacts.NewService(d.Store, d.Clock))
}

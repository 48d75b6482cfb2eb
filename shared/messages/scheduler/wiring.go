package scheduler

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/platform"
)

// Function is the scheduler function, invoked by an EventBridge
// rate(1 minute) schedule (every 5 s by the local stack).
var Function = platform.Worker[platform.EventHandler]{
	Name:  "scheduler",
	Needs: []string{"TABLE_NAME", "SEND_QUEUE_URL", "SEGMENT_QUEUE_URL", "WEBHOOK_QUEUE_URL", "SEQUENCE_QUEUE_URL"},
	Build: func(d *platform.Deps) (platform.EventHandler, error) {
		s := New(d, sqs.NewFromConfig(d.AWS))
		return func(ctx context.Context, _ events.EventBridgeEvent) error {
			_, err := s.Tick(ctx)
			return err
		}, nil
	},
}

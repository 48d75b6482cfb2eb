package worker

import (
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/platform"
)

// Function is the segment-worker function: the domain events queue (each
// change re-evaluates its contact) and the segment queue (builds, purges,
// and the scheduler's evaluations when a time window flips).
var Function = platform.Worker[platform.SQSHandler]{
	Name:  "segment-worker",
	Needs: []string{"TABLE_NAME", "SEGMENT_QUEUE_URL"},
	Build: func(d *platform.Deps) (platform.SQSHandler, error) {
		return New(d, sqs.NewFromConfig(d.AWS), d.Config.SegmentQueueURL).Handle, nil
	},
}

// New is the worker over the function's table, queueing its continuations
// on the segment queue at queueURL through q.
func New(d *platform.Deps, q SQSSender, queueURL string) *Worker {
	return newWorker(d.Store, d.Clock, q, queueURL)
}

package changes

import (
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/platform"
)

// Consumer is the changes function: the table's stream in, domain events
// out on the domain-events queue, purge jobs for deleted contacts' events
// out on the import queue (the contacts group's work queue), sends that
// became queued out on the send queue, and segments to build or purge out
// on the segment queue; every domain event also out on the webhook queue;
// the events that enrol, wake and exit, and the jobs of enrollments,
// resumed sequences and broadcasts, out on the sequence queue.
var Consumer = platform.Worker[platform.StreamHandler]{
	Name:  "changes",
	Needs: []string{"DOMAIN_EVENTS_QUEUE_URL", "IMPORT_QUEUE_URL", "SEND_QUEUE_URL", "SEGMENT_QUEUE_URL", "WEBHOOK_QUEUE_URL", "SEQUENCE_QUEUE_URL"},
	Build: func(d *platform.Deps) (platform.StreamHandler, error) { return Handler(NewPublisher(d)), nil },
}

// NewPublisher is the publisher onto the function's queues: domain events on
// the domain-events queue, purge jobs on the import queue, send jobs on the
// send queue, segment jobs on the segment queue, and domain events again on
// the webhook queue.
func NewPublisher(d *platform.Deps) *QueuePublisher {
	return &QueuePublisher{SQS: sqs.NewFromConfig(d.AWS), QueueURL: d.Config.DomainEventsQueueURL,
		PurgeQueueURL: d.Config.ImportQueueURL, SendQueueURL: d.Config.SendQueueURL, SegmentQueueURL: d.Config.SegmentQueueURL,
		WebhookQueueURL: d.Config.WebhookQueueURL, SequenceQueueURL: d.Config.SequenceQueueURL}
}

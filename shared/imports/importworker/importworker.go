// Package importworker is the import-worker function's wiring: the import
// queue's consumer. It is a package of its own so that the contacts API
// function, which links the imports package for its routes, does not link
// the SQS client.
package importworker

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/imports"
	"github.com/sendwell/sendwell/shared/platform"
)

// Reserved is the time the worker keeps back before its deadline to
// checkpoint and queue the rest of a large file (or of a long purge).
const Reserved = time.Minute

// Function is the import-worker function: the import queue's S3 upload
// notices, import continuations and the contacts group's purge jobs.
var Function = platform.Worker[platform.SQSHandler]{
	Name:  "import-worker",
	Needs: []string{"TABLE_NAME", "IMPORTS_BUCKET", "IMPORT_QUEUE_URL"},
	Build: func(d *platform.Deps) (platform.SQSHandler, error) { return New(d).Handle, nil },
}

// New is the import queue's processor, queueing its continuations on the import queue.
func New(d *platform.Deps) *imports.Processor {
	svc := imports.FromDeps(d)
	return imports.NewProcessor(svc, svc.Contacts(), Enqueuer(sqs.NewFromConfig(d.AWS), d.Config.ImportQueueURL), Reserved)
}

// Enqueuer sends message bodies to the queue at queueURL, each delayed by
// up to SQS's 15 minutes.
func Enqueuer(q *sqs.Client, queueURL string) imports.Enqueuer {
	return func(ctx context.Context, body []byte, delay time.Duration) error {
		in := &sqs.SendMessageInput{QueueUrl: &queueURL, MessageBody: aws.String(string(body))}
		if delay > 0 {
			in.DelaySeconds = int32(min(delay, 15*time.Minute) / time.Second)
		}
		_, err := q.SendMessage(ctx, in)
		return err
	}
}

// Package importworker is the import-worker function's wiring: the import
// queue's consumer. It is a package of its own so that the contacts API
// function, which links the imports package for its routes, does not link
// the SQS client.
package importworker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/imports"
	"github.com/sendwell/sendwell/shared/platform"
)

// Function is the import-worker function: the import queue's S3 upload
// notices and continuations. It keeps a minute before its deadline to
// checkpoint and queue the rest of a large file.
var Function = platform.Worker[platform.SQSHandler]{
	Name:  "import-worker",
	Needs: []string{"IMPORTS_BUCKET", "IMPORT_QUEUE_URL"},
	Build: func(d *platform.Deps) (platform.SQSHandler, error) { return New(d).Handle, nil },
}

// New is the import queue's processor, queueing its continuations on the import queue.
func New(d *platform.Deps) *imports.Processor {
	q := sqs.NewFromConfig(d.AWS)
	url := d.Config.ImportQueueURL
	enqueue := func(ctx context.Context, c imports.Continuation) error {
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(string(body))})
		return err
	}
	return imports.NewProcessor(imports.FromDeps(d), enqueue, time.Minute)
}

package imports

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the import routes of the contacts function.
var API = platform.API{Name: "imports", Routes: func(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(FromDeps(d)).Register(rt)
	return nil
}}

// Worker is the import-worker function: the import queue's S3 upload
// notices and continuations. It keeps a minute before its deadline to
// checkpoint and queue the rest of a large file.
var Worker = platform.Worker[platform.SQSHandler]{
	Name:  "import-worker",
	Needs: []string{"IMPORTS_BUCKET", "IMPORT_QUEUE_URL"},
	Build: func(d *platform.Deps) (platform.SQSHandler, error) { return NewWorkerFrom(d).Handle, nil },
}

// FromDeps is the imports service over the function's S3 bucket.
func FromDeps(d *platform.Deps) *Service {
	s3c := s3.NewFromConfig(d.AWS, func(o *s3.Options) {
		o.UsePathStyle = d.Config.S3PathStyle
		o.DisableLogOutputChecksumValidationSkipped = true // ranged reads carry no checksum
	})
	return NewService(d.Store, contacts.NewService(d.Store, d.Clock), d.Clock, s3c, d.Config.ImportsBucket)
}

// NewWorkerFrom is the import worker, queueing its continuations on the import queue.
func NewWorkerFrom(d *platform.Deps) *Processor {
	q := sqs.NewFromConfig(d.AWS)
	url := d.Config.ImportQueueURL
	enqueue := func(ctx context.Context, c Continuation) error {
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(string(body))})
		return err
	}
	return NewProcessor(FromDeps(d), enqueue, time.Minute)
}

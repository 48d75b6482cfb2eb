package localaws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// Resources are what template.yaml declares besides the table, made in the
// emulator: the imports bucket (whose uploads notify the import queue), the
// import queue, the domain-events FIFO queue, the send queue and the segment
// queue (each with its DLQ) and the SES configuration set.
type Resources struct {
	ImportsBucket        string
	ImportQueueURL       string
	DomainEventsQueueURL string
	SendQueueURL         string
	SendDLQURL           string
	SegmentQueueURL      string // the segment worker's jobs: builds, purges, time re-evaluations
	SegmentDLQURL        string
	WebhookQueueURL      string // the webhook worker's: domain events to fan out, and attempts
	WebhookDLQURL        string
	SequenceQueueURL     string // the sequence worker's: trigger events, enrollment steps, resumes, broadcast pages
	SequenceDLQURL       string
	// ConfigurationSet is the SES configuration set every email is sent
	// with. moto keeps it but publishes no events for it: the local stack's
	// mailbox simulator stands in for its EventBridge destination.
	ConfigurationSet string
}

// sendReceives is how many times the send queue (and the segment queue)
// hands out a message before its DLQ takes it, as in template.yaml.
const sendReceives = 5

// SegmentVisibility is the local segment queue's visibility timeout, in
// seconds. The local stack gives each batch of the segment worker a
// deadline shorter than it (as Lambda's timeout does in AWS), so a build
// checkpoints and re-queues itself before its message comes back.
const SegmentVisibility = 90

// EnsureResources creates them, named after prefix, unless they exist.
func EnsureResources(ctx context.Context, cfg aws.Config, prefix string) (Resources, error) {
	q := sqs.NewFromConfig(cfg)
	b := S3(cfg)
	var r Resources
	imp, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(prefix + "-imports"),
		// Long enough for a large file, so the notice is not handed out again while it runs.
		Attributes: map[string]string{"VisibilityTimeout": "900"}})
	if err != nil {
		return r, fmt.Errorf("localaws: create the import queue: %w", err)
	}
	r.ImportQueueURL = *imp.QueueUrl
	dev, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(prefix + "-domain-events.fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false"}})
	if err != nil {
		return r, fmt.Errorf("localaws: create the domain-events queue: %w", err)
	}
	r.DomainEventsQueueURL = *dev.QueueUrl
	if r.SendQueueURL, r.SendDLQURL, err = queueWithDLQ(ctx, q, prefix+"-sends", "send", "30"); err != nil {
		return r, err
	}
	if r.SegmentQueueURL, r.SegmentDLQURL, err = queueWithDLQ(ctx, q, prefix+"-segments", "segment", fmt.Sprint(SegmentVisibility)); err != nil {
		return r, err
	}
	// 60 s: longer than an attempt's 10 s, as in template.yaml.
	if r.WebhookQueueURL, r.WebhookDLQURL, err = queueWithDLQ(ctx, q, prefix+"-webhooks", "webhook", "60"); err != nil {
		return r, err
	}
	// 60 s: longer than a step (a send, a contact update) or a broadcast page.
	if r.SequenceQueueURL, r.SequenceDLQURL, err = queueWithDLQ(ctx, q, prefix+"-sequences", "sequence", "60"); err != nil {
		return r, err
	}
	if r.ConfigurationSet, err = configurationSet(ctx, sesv2.NewFromConfig(cfg), prefix); err != nil {
		return r, err
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: imp.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return r, fmt.Errorf("localaws: import queue ARN: %w", err)
	}
	r.ImportsBucket = prefix + "-imports"
	if _, err := b.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &r.ImportsBucket}); err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return r, fmt.Errorf("localaws: create the imports bucket: %w", err)
		}
	}
	_, err = b.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: &r.ImportsBucket,
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			QueueArn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
			Events:   []s3types.Event{s3types.EventS3ObjectCreated},
			Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: []s3types.FilterRule{
				{Name: s3types.FilterRuleNamePrefix, Value: aws.String("imports/")},
				{Name: s3types.FilterRuleNameSuffix, Value: aws.String(".csv")},
			}}},
		}}},
	})
	if err != nil {
		return r, fmt.Errorf("localaws: notify the import queue of uploads: %w", err)
	}
	return r, nil
}

// queueWithDLQ makes a standard queue named name and its DLQ (name-dlq),
// and returns their URLs; what names them in errors. The visibility timeout
// (seconds) is shorter than in AWS (six times the worker's timeout): the
// send queue's is 30 s, so a send put back after SES throttling comes back
// within a minute, and a local worker has no timeout to outlast.
func queueWithDLQ(ctx context.Context, q *sqs.Client, name, what, visibility string) (string, string, error) {
	dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		return "", "", fmt.Errorf("localaws: create the %s DLQ: %w", what, err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("localaws: %s DLQ ARN: %w", what, err)
	}
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`,
		attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], sendReceives)
	sq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": visibility, "RedrivePolicy": redrive}})
	if err != nil {
		return "", "", fmt.Errorf("localaws: create the %s queue: %w", what, err)
	}
	return *sq.QueueUrl, *dlq.QueueUrl, nil
}

// configurationSet makes the SES configuration set named after prefix
// unless it exists, and returns its name.
func configurationSet(ctx context.Context, ses *sesv2.Client, prefix string) (string, error) {
	name := prefix + "-sends"
	_, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: &name})
	// SES says AlreadyExistsException; moto 5.2.1 says SES v1's
	// ConfigurationSetAlreadyExistsException.
	var api smithy.APIError
	if err != nil && !(errors.As(err, &api) && strings.HasSuffix(api.ErrorCode(), "AlreadyExistsException")) {
		return "", fmt.Errorf("localaws: create the SES configuration set: %w", err)
	}
	return name, nil
}

// S3 is an S3 client for the emulator: path-style URLs, which need no DNS.
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

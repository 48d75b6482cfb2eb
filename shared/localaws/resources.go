package localaws

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Resources are what template.yaml declares besides the table, made in the
// emulator: the imports bucket (whose uploads notify the import queue), the
// import queue and the domain-events FIFO queue.
type Resources struct {
	ImportsBucket        string
	ImportQueueURL       string
	DomainEventsQueueURL string
}

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

// S3 is an S3 client for the emulator: path-style URLs, which need no DNS.
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

package changes

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSSender is the part of the SQS client the publisher uses.
type SQSSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// QueuePublisher publishes on a FIFO queue: one message group per tenant
// keeps each tenant's events in order, and the event ID as deduplication id
// makes a redelivered stream record publish nothing new.
type QueuePublisher struct {
	SQS      SQSSender
	QueueURL string
}

var _ Publisher = (*QueuePublisher)(nil)

// Publish sends the events, ten per call.
func (p *QueuePublisher) Publish(ctx context.Context, events []DomainEvent) error {
	for len(events) > 0 {
		n := min(len(events), 10)
		entries := make([]types.SendMessageBatchRequestEntry, 0, n)
		for i, e := range events[:n] {
			body, err := Body(e)
			if err != nil {
				return err
			}
			entries = append(entries, types.SendMessageBatchRequestEntry{
				Id:                     aws.String(fmt.Sprint(i)),
				MessageBody:            &body,
				MessageGroupId:         aws.String(e.OrgID),
				MessageDeduplicationId: aws.String(e.ID),
				MessageAttributes: map[string]types.MessageAttributeValue{
					"type": {DataType: aws.String("String"), StringValue: aws.String(e.Type)},
				},
			})
		}
		out, err := p.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &p.QueueURL, Entries: entries})
		if err != nil {
			return fmt.Errorf("changes: publish: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("changes: publish: %d of %d events refused, first: %s", len(out.Failed), n, aws.ToString(out.Failed[0].Message))
		}
		events = events[n:]
	}
	return nil
}

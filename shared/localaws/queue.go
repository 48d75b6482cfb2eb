package localaws

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSHandler is an SQS-triggered Lambda's handler with partial batch failures.
type SQSHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// PollQueue feeds a queue's messages to handle until ctx ends, as Lambda's
// event source mapping does: messages handled are deleted, failures come
// back after the visibility timeout.
func PollQueue(ctx context.Context, c *sqs.Client, queueURL string, handle SQSHandler) error {
	for ctx.Err() == nil {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("localaws: receive from %s: %w", queueURL, err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSourceARN: queueURL})
		}
		res, err := handle(ctx, ev)
		failed := map[string]bool{}
		for _, f := range res.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, m := range out.Messages {
			if err != nil || failed[aws.ToString(m.MessageId)] {
				continue
			}
			if _, derr := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &queueURL, ReceiptHandle: m.ReceiptHandle}); derr != nil && ctx.Err() == nil {
				return fmt.Errorf("localaws: delete from %s: %w", queueURL, derr)
			}
		}
	}
	return nil
}

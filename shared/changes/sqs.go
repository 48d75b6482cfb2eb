package changes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/sends"
)

// maxBatch is the most messages one SendMessageBatch takes.
const maxBatch = 10

// SQSSender is the part of the SQS client the publisher uses.
type SQSSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// QueuePublisher publishes domain events on a FIFO queue, QueueURL. One
// message group per contact keeps each contact's events in order, while
// different contacts' events, even of one tenant, are processed in
// parallel (a tenant's import does not hold its other changes behind it).
// The event ID as deduplication id makes a redelivered stream record
// publish nothing new. It queues purge jobs on PurgeQueueURL, the contacts group's
// work queue (the import queue): a standard queue, which has no
// deduplication, so a redelivered record queues its job again, and the
// purge, being idempotent, finds nothing more to do. It queues send jobs on
// SendQueueURL, the send worker's standard queue: a copy of a job finds
// the send already claimed and is dropped. It queues segment jobs on
// SegmentQueueURL, the segment worker's standard queue: a copy of a build
// resumes from its checkpoint, a copy of a purge finds nothing left. It
// sends every domain event also to WebhookQueueURL, the webhook worker's
// standard queue: a copy fans out to the same deliveries (their ids come
// from the event's), so none is made twice.
type QueuePublisher struct {
	SQS             SQSSender
	QueueURL        string
	PurgeQueueURL   string
	SendQueueURL    string
	SegmentQueueURL string
	WebhookQueueURL string
	// SequenceQueueURL is the sequence worker's standard queue: it gets
	// the domain events that enrol, wake and exit (sequenceTriggers) and
	// the sequence jobs.
	SequenceQueueURL string
}

var _ Publisher = (*QueuePublisher)(nil)

// Publish sends the events, ten per call.
func (p *QueuePublisher) Publish(ctx context.Context, events []DomainEvent) error {
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(events))
	for _, e := range events {
		body, err := Body(e)
		if err != nil {
			return err
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{
			MessageBody:            &body,
			MessageGroupId:         aws.String(group(e)),
			MessageDeduplicationId: aws.String(e.ID),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"type": {DataType: aws.String("String"), StringValue: aws.String(e.Type)},
			},
		})
	}
	if err := p.send(ctx, p.QueueURL, "events", entries); err != nil {
		return err
	}
	for i := range entries { // standard queues: no groups, no deduplication ids
		entries[i].MessageGroupId, entries[i].MessageDeduplicationId = nil, nil
	}
	if p.WebhookQueueURL != "" {
		if err := p.send(ctx, p.WebhookQueueURL, "events for webhooks", slices.Clone(entries)); err != nil {
			return err
		}
	}
	if p.SequenceQueueURL == "" {
		return nil
	}
	var triggers []types.SendMessageBatchRequestEntry
	for i, e := range events {
		if sequenceTriggers[e.Type] {
			triggers = append(triggers, entries[i])
		}
	}
	return p.send(ctx, p.SequenceQueueURL, "events for sequences", triggers)
}

// Sequence queues the sequence jobs, ten per call.
func (p *QueuePublisher) Sequence(ctx context.Context, jobs []SequenceJob) error {
	if len(jobs) == 0 {
		return nil
	}
	if p.SequenceQueueURL == "" {
		return errors.New("changes: sequence: no queue for sequence jobs (SEQUENCE_QUEUE_URL)")
	}
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(jobs))
	for _, j := range jobs {
		body, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("changes: sequence: %w", err)
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{MessageBody: aws.String(string(body))})
	}
	return p.send(ctx, p.SequenceQueueURL, "sequence jobs", entries)
}

// group is an event's message group: its tenant and contact.
func group(e DomainEvent) string {
	if e.ContactID == "" {
		return e.OrgID
	}
	return e.OrgID + ":" + e.ContactID
}

// Purge queues the purge jobs as contacts.PurgeMessage bodies, ten per call.
func (p *QueuePublisher) Purge(ctx context.Context, jobs []contacts.PurgeJob) error {
	if len(jobs) == 0 {
		return nil
	}
	if p.PurgeQueueURL == "" {
		return errors.New("changes: purge: no queue for purge jobs (IMPORT_QUEUE_URL)")
	}
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(jobs))
	for _, j := range jobs {
		body, err := json.Marshal(contacts.PurgeMessage{PurgeEvents: &j})
		if err != nil {
			return fmt.Errorf("changes: purge: %w", err)
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{MessageBody: aws.String(string(body))})
	}
	return p.send(ctx, p.PurgeQueueURL, "purge jobs", entries)
}

// Send queues the send jobs as sends.Job bodies, ten per call.
func (p *QueuePublisher) Send(ctx context.Context, jobs []sends.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	if p.SendQueueURL == "" {
		return errors.New("changes: send: no queue for send jobs (SEND_QUEUE_URL)")
	}
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(jobs))
	for _, j := range jobs {
		body, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("changes: send: %w", err)
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{MessageBody: aws.String(string(body))})
	}
	return p.send(ctx, p.SendQueueURL, "send jobs", entries)
}

// send sends entries to the queue at url, maxBatch per call; what names
// them in errors.
func (p *QueuePublisher) send(ctx context.Context, url, what string, entries []types.SendMessageBatchRequestEntry) error {
	for batch := range slices.Chunk(entries, maxBatch) {
		for i := range batch {
			batch[i].Id = aws.String(strconv.Itoa(i))
		}
		out, err := p.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: batch})
		if err != nil {
			return fmt.Errorf("changes: send %s: %w", what, err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("changes: send %s: %d of %d refused, first: %s", what, len(out.Failed), len(batch), aws.ToString(out.Failed[0].Message))
		}
	}
	return nil
}

// Segment queues the segment jobs as SegmentJob bodies, ten per call.
func (p *QueuePublisher) Segment(ctx context.Context, jobs []SegmentJob) error {
	if len(jobs) == 0 {
		return nil
	}
	if p.SegmentQueueURL == "" {
		return errors.New("changes: segment: no queue for segment jobs (SEGMENT_QUEUE_URL)")
	}
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(jobs))
	for _, j := range jobs {
		body, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("changes: segment: %w", err)
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{MessageBody: aws.String(string(body))})
	}
	return p.send(ctx, p.SegmentQueueURL, "segment jobs", entries)
}

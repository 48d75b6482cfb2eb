// Package changes is the outbox's reader: it turns the table's stream of item
// changes into domain events (contact.created, event.tracked, …) and
// publishes them on the domain-events queue that segments, sequences and
// webhooks consume. It also turns a contact's removal into a purge job for
// its events, on the contacts group's work queue (the import queue), so no
// API request pages through a contact's events. Handlers write only to
// DynamoDB; this is the one place their changes leave it.
package changes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/tracking"
)

// Domain event types.
const (
	ContactCreated      = "contact.created"
	ContactUpdated      = "contact.updated"
	ContactDeleted      = "contact.deleted"
	ContactUnsubscribed = "contact.unsubscribed"
	EventTracked        = "event.tracked"
)

// Stream event names.
const (
	Insert = "INSERT"
	Modify = "MODIFY"
	Remove = "REMOVE"
)

// Record is one item change from the stream, in the table's attribute form,
// whether it came from Lambda's event or from the local stream poller.
type Record struct {
	EventID   string
	EventName string
	At        time.Time
	Old, New  map[string]types.AttributeValue
}

// DomainEvent is what the rest of the system consumes. ID is derived from
// the stream record, so a record delivered twice gives the same IDs and the
// queue drops the copy.
type DomainEvent struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	OrgID      string    `json:"orgId"`
	OccurredAt time.Time `json:"occurredAt"`
	Data       any       `json:"data"`
	Previous   any       `json:"previous,omitempty"`
}

// Translate turns one item change into its domain events (none for items
// that are not contacts or events).
func Translate(rec Record) ([]DomainEvent, error) {
	evs, _, err := translate(rec)
	return evs, err
}

// translate turns one item change into its domain events and the purge job
// it asks for (a contact's removal; nil otherwise).
func translate(rec Record) ([]DomainEvent, *contacts.PurgeJob, error) {
	img := rec.New
	if rec.EventName == Remove {
		img = rec.Old
	}
	kind, _ := img["type"].(*types.AttributeValueMemberS)
	if kind == nil {
		return nil, nil, nil
	}
	var out []DomainEvent
	var job *contacts.PurgeJob
	add := func(typ, orgID string, data, prev any) {
		out = append(out, DomainEvent{ID: fmt.Sprintf("%s-%d", rec.EventID, len(out)), Type: typ, OrgID: orgID, OccurredAt: rec.At, Data: data, Previous: prev})
	}
	switch kind.Value {
	case contacts.ItemType:
		var old, cur contacts.Item
		if err := decode(rec.Old, &old); err != nil {
			return nil, nil, err
		}
		if err := decode(rec.New, &cur); err != nil {
			return nil, nil, err
		}
		switch rec.EventName {
		case Insert:
			add(ContactCreated, cur.OrgID, cur.API(), nil)
		case Modify:
			add(ContactUpdated, cur.OrgID, cur.API(), old.API())
			if old.Subscribed && !cur.Subscribed {
				add(ContactUnsubscribed, cur.OrgID, cur.API(), nil)
			}
		case Remove:
			add(ContactDeleted, old.OrgID, old.API(), nil)
			job = &contacts.PurgeJob{OrgID: old.OrgID, ContactID: old.ID}
		}
	case tracking.ItemType:
		if rec.EventName != Insert { // expiry by TTL and the purge of a deleted contact are not news
			return nil, nil, nil
		}
		var ev tracking.Item
		if err := decode(rec.New, &ev); err != nil {
			return nil, nil, err
		}
		add(EventTracked, ev.OrgID, ev.API(), nil)
	}
	return out, job, nil
}

func decode(img map[string]types.AttributeValue, out any) error {
	if img == nil {
		return nil
	}
	if err := attributevalue.UnmarshalMap(img, out); err != nil {
		return fmt.Errorf("changes: decode image: %w", err)
	}
	return nil
}

// Publisher sends on what the stream's changes produce: domain events, and
// purge jobs for the events of deleted contacts.
type Publisher interface {
	// Publish sends domain events; a redelivered event is dropped by its ID.
	Publish(ctx context.Context, events []DomainEvent) error
	// Purge queues purge jobs. A redelivered record queues its job again:
	// harmless, as a purge is idempotent.
	Purge(ctx context.Context, jobs []contacts.PurgeJob) error
}

// Process translates records and sends on their events in order, and their
// purge jobs, at most maxBatch to a call whatever record or tenant they
// come from. It returns the index of the first record not fully sent on
// (len(records) when all went through), so the caller retries from there:
// events already sent are dropped by the queue's deduplication, purge jobs
// already queued run twice, harmlessly.
func Process(ctx context.Context, pub Publisher, records []Record) (int, error) {
	var (
		evs        []DomainEvent
		jobs       []contacts.PurgeJob
		evFrom     []int // evFrom[i]: the record evs[i] came from
		jobFrom    []int
		done       = len(records)
		translated error
	)
	for i, rec := range records {
		out, job, err := translate(rec)
		if err != nil {
			done, translated = i, err
			break
		}
		for range out {
			evFrom = append(evFrom, i)
		}
		evs = append(evs, out...)
		if job != nil {
			jobs, jobFrom = append(jobs, *job), append(jobFrom, i)
		}
	}
	if i, err := inBatches(evs, func(b []DomainEvent) error { return pub.Publish(ctx, b) }); err != nil {
		return evFrom[i], err
	}
	if i, err := inBatches(jobs, func(b []contacts.PurgeJob) error { return pub.Purge(ctx, b) }); err != nil {
		return jobFrom[i], err
	}
	return done, translated
}

// inBatches calls send with consecutive batches of at most maxBatch items
// and stops at the first failure: i is the index of the first item of the
// batch that failed.
func inBatches[T any](items []T, send func([]T) error) (i int, err error) {
	for batch := range slices.Chunk(items, maxBatch) {
		if err := send(batch); err != nil {
			return i, err
		}
		i += len(batch)
	}
	return i, nil
}

// Body is the JSON a domain event travels as.
func Body(e DomainEvent) (string, error) {
	b, err := json.Marshal(e)
	return string(b), err
}

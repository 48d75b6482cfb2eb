// Package changes is the outbox's reader: it turns the table's stream of item
// changes into domain events (contact.created, event.tracked, …) and
// publishes them on the domain-events queue that segments, sequences and
// webhooks consume. Handlers write only to DynamoDB; this is the one place
// their changes leave it.
package changes

import (
	"context"
	"encoding/json"
	"fmt"
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
	img := rec.New
	if rec.EventName == Remove {
		img = rec.Old
	}
	kind, _ := img["type"].(*types.AttributeValueMemberS)
	if kind == nil {
		return nil, nil
	}
	var out []DomainEvent
	add := func(typ, orgID string, data, prev any) {
		out = append(out, DomainEvent{ID: fmt.Sprintf("%s-%d", rec.EventID, len(out)), Type: typ, OrgID: orgID, OccurredAt: rec.At, Data: data, Previous: prev})
	}
	switch kind.Value {
	case contacts.ItemType:
		var old, cur contacts.Item
		if err := decode(rec.Old, &old); err != nil {
			return nil, err
		}
		if err := decode(rec.New, &cur); err != nil {
			return nil, err
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
		}
	case tracking.ItemType:
		if rec.EventName != Insert { // expiry by TTL and the purge of a deleted contact are not news
			return nil, nil
		}
		var ev tracking.Item
		if err := decode(rec.New, &ev); err != nil {
			return nil, err
		}
		add(EventTracked, ev.OrgID, ev.API(), nil)
	}
	return out, nil
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

// Publisher sends domain events on.
type Publisher interface {
	Publish(ctx context.Context, events []DomainEvent) error
}

// Process translates records and publishes their events in order, ten to
// a call whatever record or tenant they come from. It returns the index of
// the first record not fully published (len(records) when all went
// through), so the caller retries from there; events already sent are
// dropped by the queue's deduplication.
func Process(ctx context.Context, pub Publisher, records []Record) (int, error) {
	var evs []DomainEvent
	var from []int // from[i]: the record evs[i] came from
	done, failure := len(records), error(nil)
	for i, rec := range records {
		out, err := Translate(rec)
		if err != nil {
			done, failure = i, err
			break
		}
		for range out {
			from = append(from, i)
		}
		evs = append(evs, out...)
	}
	for start := 0; start < len(evs); start += 10 {
		if err := pub.Publish(ctx, evs[start:min(start+10, len(evs))]); err != nil {
			return from[start], err
		}
	}
	return done, failure
}

// Body is the JSON a domain event travels as.
func Body(e DomainEvent) (string, error) {
	b, err := json.Marshal(e)
	return string(b), err
}

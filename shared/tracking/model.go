// Package tracking records the events contacts perform (POST /api/events)
// and lists a contact's events.
package tracking

import (
	"time"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/validate"
)

// Limits of an event.
const (
	MaxFuture        = 5 * time.Minute
	DefaultRetention = 400 * 24 * time.Hour
	MaxBatch         = 100
)

// validName is the rule of event names: [A-Za-z0-9_.:-]{1,100}.
func validName(n string) bool { return validate.Identifier(n, 100, ".:-") }

// ItemType marks event items (the stream consumer tells items apart by it).
const ItemType = "event"

// Event is an event as the API shows it.
type Event struct {
	ID         string         `json:"id"`
	ContactID  string         `json:"contactId"`
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties"`
	Timestamp  time.Time      `json:"timestamp"`
}

// Item is an event as stored, in its contact's partition; GSI1 lists a
// contact's events of one name, GSI2 a tenant's (store.EventsByNamePK, for
// segment previews). It expires (TTL) when its retention ends.
type Item struct {
	store.Key
	GSI1PK     string         `dynamodbav:"GSI1PK"`
	GSI1SK     string         `dynamodbav:"GSI1SK"`
	GSI2PK     string         `dynamodbav:"GSI2PK"`
	GSI2SK     string         `dynamodbav:"GSI2SK"`
	Type       string         `dynamodbav:"type"`
	OrgID      string         `dynamodbav:"orgId"`
	ID         string         `dynamodbav:"id"`
	ContactID  string         `dynamodbav:"contactId"`
	Name       string         `dynamodbav:"name"`
	Properties map[string]any `dynamodbav:"properties,omitempty"`
	Timestamp  time.Time      `dynamodbav:"timestamp"`
	TTL        int64          `dynamodbav:"ttl"`
}

// SetKeys sets the item's keys from its tenant, contact, id and name.
func (it *Item) SetKeys() {
	it.Type = ItemType
	it.Key = store.Key{PK: store.EventsPK(it.OrgID, it.ContactID), SK: store.EventSK(it.ID)}
	it.GSI1PK, it.GSI1SK = store.EventNamePK(it.OrgID, it.ContactID, it.Name), it.SK
	it.GSI2PK, it.GSI2SK = store.EventsByNamePK(it.OrgID, it.Name, store.EventNameShard(it.ContactID)), it.SK
}

// API is the event as the API shows it.
func (it *Item) API() Event {
	e := Event{ID: it.ID, ContactID: it.ContactID, Name: it.Name, Properties: it.Properties, Timestamp: it.Timestamp}
	if e.Properties == nil {
		e.Properties = map[string]any{}
	}
	return e
}

// Input is the body of POST /api/events.
type Input struct {
	Name       string         `json:"name"`
	Email      string         `json:"email"`
	ContactID  string         `json:"contactId"`
	Properties map[string]any `json:"properties"`
	Timestamp  *time.Time     `json:"timestamp"`
}

// Validate checks the fields; the timestamp is checked against the clock by Track.
func (in *Input) Validate() error {
	if in.Name == "" {
		return errs.Required("name")
	}
	if !validName(in.Name) {
		return errs.Invalid("name", "The 'name' field must match ^[A-Za-z0-9_.:-]{1,100}$.")
	}
	switch {
	case in.Email == "" && in.ContactID == "":
		return errs.Invalid("email", "Send 'email' or 'contactId' to say whose event it is.")
	case in.Email != "" && in.ContactID != "":
		return errs.Invalid("email", "Send 'email' or 'contactId', not both.")
	case in.Email != "":
		e, err := validate.Email("email", in.Email)
		if err != nil {
			return err
		}
		in.Email = e
	}
	if err := contacts.ValidateProperties(in.Properties); err != nil {
		return err
	}
	return nil
}

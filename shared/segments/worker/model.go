// Package worker keeps segment memberships exact: it evaluates one contact
// against the segments a change can affect (contact changes, tracked
// events, email engagement, other segments' entries and exits, and the
// moments a time window flips), keeps the per-contact event counters the
// rules count, builds new or changed segments over the tenant's contacts
// with a checkpoint, and purges a deleted segment's members. It reads the
// segment items itself and links only the rules package, so the segment
// worker's binary does not link the segments API group.
package worker

import (
	"encoding/json"
	"time"

	"github.com/sendwell/sendwell/shared/store"
)

// Item types this package writes (the stream consumer tells items apart by
// them: member items become segment.entered and segment.exited).
const (
	MemberType        = "segmentMember"
	ContactMemberType = "contactSegment"
	StateType         = "segmentState"
	CounterType       = "eventCounter"
)

// Segment statuses (written by the API as "building", by the build as "ready").
const (
	StatusBuilding = "building"
	StatusReady    = "ready"
)

// Limits of the event counters and of the work done per message.
const (
	// CounterRetention is how far back a counter keeps events: conditions
	// without a window count "ever", which means this long.
	CounterRetention = 400 * 24 * time.Hour
	// CounterMax is how many events a counter keeps, the newest.
	CounterMax = 1000
	// MaxAttempts is how often an evaluation re-reads and retries when a
	// concurrent one changed the contact or its state first.
	MaxAttempts = 5
	// BuildPage is how many contacts a build reads per page.
	BuildPage = 100
	// maxTxChanges bounds the membership changes per transaction (2 items
	// each, plus the state and the contact's check, within DynamoDB's 100).
	maxTxChanges = 49
	// maxRemoves bounds the counter entries one prune removes (the
	// expression's size).
	maxRemoves = 100
)

// Job is a message of the segment queue: one of its parts is set.
type Job struct {
	Build    *SegmentRef `json:"build,omitempty"`
	Purge    *SegmentRef `json:"purge,omitempty"`
	Evaluate *ContactRef `json:"evaluate,omitempty"`
}

// SegmentRef names a segment of a tenant.
type SegmentRef struct {
	OrgID     string `json:"orgId"`
	SegmentID string `json:"segmentId"`
}

// ContactRef names a contact of a tenant.
type ContactRef struct {
	OrgID     string `json:"orgId"`
	ContactID string `json:"contactId"`
}

// domainEvent is the part of a changes.DomainEvent the worker reads (the
// changes package is not imported: it will import the segments' types).
type domainEvent struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	OrgID    string          `json:"orgId"`
	Data     json.RawMessage `json:"data"`
	Previous json.RawMessage `json:"previous"`
}

// Domain event types the worker acts on.
const (
	evContactCreated      = "contact.created"
	evContactUpdated      = "contact.updated"
	evContactDeleted      = "contact.deleted"
	evContactUnsubscribed = "contact.unsubscribed"
	evEventTracked        = "event.tracked"
	evSegmentEntered      = "segment.entered"
	evSegmentExited       = "segment.exited"
	evEmailPrefix         = "email."
)

// contactData is a contact as a domain event carries it (as the API shows it).
type contactData struct {
	ID         string         `json:"id"`
	Email      string         `json:"email"`
	FirstName  *string        `json:"firstName"`
	LastName   *string        `json:"lastName"`
	Properties map[string]any `json:"properties"`
	Tags       []string       `json:"tags"`
	Subscribed bool           `json:"subscribed"`
	CreatedAt  time.Time      `json:"createdAt"`
}

// eventData is a tracked event as event.tracked carries it.
type eventData struct {
	ID         string         `json:"id"`
	ContactID  string         `json:"contactId"`
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties"`
	Timestamp  time.Time      `json:"timestamp"`
}

// refData is the data of segment.* and email.* events: the contact they concern.
type refData struct {
	ContactID string `json:"contactId"`
	SegmentID string `json:"segmentId"`
}

// segmentItem is the part of a segment item (written by the API) the worker reads.
type segmentItem struct {
	store.Key
	OrgID      string `dynamodbav:"orgId"`
	ID         string `dynamodbav:"id"`
	Definition string `dynamodbav:"definition"`
	Status     string `dynamodbav:"status"`
	Version    int    `dynamodbav:"version"`
	Processed  int    `dynamodbav:"processed"`
	Total      int    `dynamodbav:"total"`
	Size       int    `dynamodbav:"size"`
	Cursor     string `dynamodbav:"cursor"`
}

// contactItem is the part of a contact item (shared/contacts) the
// evaluation reads; Version is the contact's optimistic lock.
type contactItem struct {
	ID         string         `dynamodbav:"id"`
	Email      string         `dynamodbav:"email"`
	FirstName  *string        `dynamodbav:"firstName"`
	LastName   *string        `dynamodbav:"lastName"`
	Properties map[string]any `dynamodbav:"properties"`
	Tags       []string       `dynamodbav:"tags"`
	Subscribed bool           `dynamodbav:"subscribed"`
	CreatedAt  time.Time      `dynamodbav:"createdAt"`
	Version    int            `dynamodbav:"version"`
}

// stateItem is a contact's evaluation state: Rev is its optimistic lock;
// Nexts holds, per segment, the unix second at which a time window can
// next flip the contact's membership, and Next the earliest of them, which
// the Due index keys (the scheduler queues an evaluate job then).
type stateItem struct {
	store.Key
	Type      string           `dynamodbav:"type"`
	OrgID     string           `dynamodbav:"orgId"`
	ContactID string           `dynamodbav:"contactId"`
	Rev       int              `dynamodbav:"rev"`
	Nexts     map[string]int64 `dynamodbav:"nexts,omitempty"`
	Next      *time.Time       `dynamodbav:"next,omitempty"`
	DuePK     string           `dynamodbav:"DuePK,omitempty"`
	DueSK     string           `dynamodbav:"DueSK,omitempty"`
}

// memberItem is a membership: in the segment's partition (type
// segmentMember) and mirrored in the contact's (type contactSegment).
type memberItem struct {
	store.Key
	Type      string    `dynamodbav:"type"`
	OrgID     string    `dynamodbav:"orgId"`
	SegmentID string    `dynamodbav:"segmentId"`
	ContactID string    `dynamodbav:"contactId"`
	EnteredAt time.Time `dynamodbav:"enteredAt"`
}

// counterItem is one counter of a contact: Ev maps an event id to the
// event's unix second.
type counterItem struct {
	store.Key
	Type      string           `dynamodbav:"type"`
	OrgID     string           `dynamodbav:"orgId"`
	ContactID string           `dynamodbav:"contactId"`
	Ev        map[string]int64 `dynamodbav:"ev"`
	TTL       int64            `dynamodbav:"ttl"`
}

// sendItem is the part of a send (shared/sends) that email conditions read.
type sendItem struct {
	TemplateID string    `dynamodbav:"templateId"`
	Status     string    `dynamodbav:"status"`
	StatusAt   time.Time `dynamodbav:"statusAt"`
	CreatedAt  time.Time `dynamodbav:"createdAt"`
	Opens      int       `dynamodbav:"opens"`
	Clicks     int       `dynamodbav:"clicks"`
}

// Send statuses as shared/sends names them (not imported: it is the
// messages group's).
const (
	sendDelivered  = "delivered"
	sendOpened     = "opened"
	sendClicked    = "clicked"
	sendBounced    = "bounced"
	sendComplained = "complained"
)

// Package sends is the core of the messages group that every part of it
// shares: the send as stored, its statuses and timeline, the ledger that
// records what happens to a send (exactly once, with its counters), the
// suppression list, and the signed links (unsubscribe, opens, clicks).
// The API (shared/messages), the send worker, the scheduler, ses-events and
// the public function's link handlers are built on it.
package sends

import (
	"encoding/json"
	"time"

	"github.com/sendwell/sendwell/shared/store"
)

// ItemType is the send item's type attribute (the stream consumer tells
// items apart by it).
const ItemType = "send"

// TimelineType is a timeline item's type attribute.
const TimelineType = "sendEvent"

// Statuses of a send, and the timeline event types that move a send to them.
const (
	Scheduled       = "scheduled"
	Queued          = "queued"
	Sending         = "sending"
	Sent            = "sent"
	Delivered       = "delivered"
	DeliveryDelayed = "delivery_delayed"
	Opened          = "opened"
	Clicked         = "clicked"
	Bounced         = "bounced"
	Complained      = "complained"
	Rejected        = "rejected"
	Failed          = "failed"
	Cancelled       = "cancelled"
	Unknown         = "unknown"
)

// Timeline event types that do not name a status.
const (
	EventRescheduled     = "rescheduled"
	EventSoftBounce      = "soft_bounced" // a transient bounce: recorded only
	EventUnsubscribed    = "unsubscribed"
	EventRenderFailure   = "rendering_failure"
	EventDeliveryRetried = "retried"
)

// rank orders statuses: an event moves a send to its status only when
// that status ranks higher than the current one, so events that arrive out
// of order (an open before its delivery) never move a send back. unknown
// ranks below sent: SES's own events about a send whose worker died
// between claim and answer still tell what happened to it.
var rank = map[string]int{
	Scheduled: 10, Queued: 20, Sending: 30, Unknown: 35, Sent: 40, DeliveryDelayed: 50, Delivered: 60,
	Opened: 70, Clicked: 80, Bounced: 90, Rejected: 90, Failed: 90, Cancelled: 90, Complained: 95,
}

// Rank is the order of status s (0 for what is not a status).
func Rank(s string) int { return rank[s] }

// IsStatus says whether s is a send status.
func IsStatus(s string) bool { return rank[s] > 0 }

// Statuses lists every status, in rank order.
func Statuses() []string {
	return []string{Scheduled, Queued, Sending, Unknown, Sent, DeliveryDelayed, Delivered, Opened, Clicked, Bounced, Rejected, Failed, Cancelled, Complained}
}

// Kinds of send.
const (
	Transactional = "transactional"
	Marketing     = "marketing"
)

// Item is a send as stored, in its own partition (store.SendKey). Inline
// bodies are gzip-compressed like template bodies. Rev is the optimistic
// lock every change of the item checks and bumps.
type Item struct {
	store.Key
	Type  string `dynamodbav:"type"`
	OrgID string `dynamodbav:"orgId"`
	ID    string `dynamodbav:"id"`
	Rev   int    `dynamodbav:"rev"`

	Status   string    `dynamodbav:"status"`
	StatusAt time.Time `dynamodbav:"statusAt"`
	Reason   string    `dynamodbav:"reason,omitempty"` // why a send failed, was rejected, or is unknown

	To              string            `dynamodbav:"to"` // lower-cased address
	ContactID       string            `dynamodbav:"contactId,omitempty"`
	TemplateID      string            `dynamodbav:"templateId,omitempty"`
	TemplateVersion int               `dynamodbav:"templateVersion,omitempty"` // 0: the latest at send time
	Subject         string            `dynamodbav:"subject,omitempty"`         // inline sends
	HTML            []byte            `dynamodbav:"html,omitempty"`            // gzip, inline sends
	Text            []byte            `dynamodbav:"text,omitempty"`            // gzip, inline sends
	Data            string            `dynamodbav:"data,omitempty"`            // the Liquid data, canonical JSON
	From            string            `dynamodbav:"from,omitempty"`
	ReplyTo         string            `dynamodbav:"replyTo,omitempty"`
	Headers         map[string]string `dynamodbav:"headers,omitempty"`
	Tags            map[string]string `dynamodbav:"tags,omitempty"`
	Kind            string            `dynamodbav:"kind"` // transactional or marketing
	TrackOpens      bool              `dynamodbav:"trackOpens"`
	TrackClicks     bool              `dynamodbav:"trackClicks"`
	Test            bool              `dynamodbav:"test,omitempty"`
	SendAt          *time.Time        `dynamodbav:"sendAt,omitempty"`
	CreatedAt       time.Time         `dynamodbav:"createdAt"`
	// Source is what made the send when not an API call: "seq:<sequence>:<step>"
	// for a sequence's step, "bc:<broadcast>" for a broadcast. Its
	// counters are kept all-time per source too (store.StatsSourceKey).
	Source string `dynamodbav:"source,omitempty"`

	SESMessageID string     `dynamodbav:"sesMessageId,omitempty"`
	SentAt       *time.Time `dynamodbav:"sentAt,omitempty"`
	LeaseUntil   *time.Time `dynamodbav:"leaseUntil,omitempty"` // while sending: when the claim lapses
	Opens        int        `dynamodbav:"opens"`
	Clicks       int        `dynamodbav:"clicks"`
	Events       int        `dynamodbav:"events"` // timeline items recorded

	// Sparse index keys (store/keys.go says which is which).
	GSI1PK string `dynamodbav:"GSI1PK"`
	GSI1SK string `dynamodbav:"GSI1SK"`
	GSI2PK string `dynamodbav:"GSI2PK"`
	GSI2SK string `dynamodbav:"GSI2SK"`
	GSI3PK string `dynamodbav:"GSI3PK,omitempty"`
	GSI3SK string `dynamodbav:"GSI3SK,omitempty"`
	GSI4PK string `dynamodbav:"GSI4PK,omitempty"`
	GSI4SK string `dynamodbav:"GSI4SK,omitempty"`
	GSI5PK string `dynamodbav:"GSI5PK"`
	GSI5SK string `dynamodbav:"GSI5SK"`
	DuePK  string `dynamodbav:"DuePK,omitempty"`
	DueSK  string `dynamodbav:"DueSK,omitempty"`
}

// SetKeys fills the item's key and index keys from its fields. A scheduled
// send also gets its Due-index keys (at SendAt) and its GSI5 sort key by
// time.
func (it *Item) SetKeys() {
	it.Key = store.SendKey(it.OrgID, it.ID)
	it.Type = ItemType
	it.GSI1PK, it.GSI1SK = store.SendsPK(it.OrgID), it.ID
	it.GSI2PK, it.GSI2SK = store.SendsToPK(it.OrgID, it.To), it.ID
	it.GSI3PK, it.GSI3SK = "", ""
	if it.ContactID != "" {
		it.GSI3PK, it.GSI3SK = store.SendsByContactPK(it.OrgID, it.ContactID), it.ID
	}
	it.GSI4PK, it.GSI4SK = "", ""
	if it.TemplateID != "" {
		it.GSI4PK, it.GSI4SK = store.SendsByTemplatePK(it.OrgID, it.TemplateID), it.ID
	}
	it.GSI5PK, it.GSI5SK = StatusIndexKeys(it.OrgID, it.ID, it.Status, it.SendAt)
	it.DuePK, it.DueSK = "", ""
	if it.Status == Scheduled && it.SendAt != nil {
		it.DuePK, it.DueSK = DueKeys(it.ID, *it.SendAt)
	}
}

// StatusIndexKeys are the GSI5 keys of a send in status: scheduled sends
// sort by when they are due, the others by id (newest last).
func StatusIndexKeys(orgID, id, status string, sendAt *time.Time) (string, string) {
	if status == Scheduled && sendAt != nil {
		return store.SendsByStatusPK(orgID, status), store.ScheduledSK(*sendAt, id)
	}
	return store.SendsByStatusPK(orgID, status), id
}

// DueKeys are the Due-index keys of a send due at at.
func DueKeys(id string, at time.Time) (string, string) {
	return store.DuePK(at, store.DueShard(id)), store.DueSK(at, id)
}

// TimelineItem is one event of a send's timeline, in the send's partition.
type TimelineItem struct {
	store.Key
	Type      string    `dynamodbav:"type"`
	OrgID     string    `dynamodbav:"orgId"`
	SendID    string    `dynamodbav:"sendId"`
	EventType string    `dynamodbav:"eventType"`
	At        time.Time `dynamodbav:"at"`
	Detail    string    `dynamodbav:"detail,omitempty"` // JSON object
}

// TimelineEvent is one event as the API shows it.
type TimelineEvent struct {
	Type   string          `json:"type"`
	At     time.Time       `json:"at"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// API is the event as the API shows it.
func (t *TimelineItem) API() TimelineEvent {
	ev := TimelineEvent{Type: t.EventType, At: t.At}
	if t.Detail != "" {
		ev.Detail = json.RawMessage(t.Detail)
	}
	return ev
}

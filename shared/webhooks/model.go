// Package webhooks is the webhooks resource group: endpoints that receive
// every change a tenant subscribes to, signed (Standard Webhooks), with
// their delivery log. Endpoints' secrets are sealed with a key that is not
// in the table; addresses are checked by safehttp at registration and at
// every connection.
package webhooks

import (
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// Item types, as the stream consumer tells items apart.
const (
	ItemType     = "webhook"
	DeliveryType = "webhookDelivery"
)

// Endpoint statuses.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// Limits of an endpoint and of its deliveries.
const (
	MaxDescription = 500
	// RotationOverlap is how long a rotated-out secret keeps signing
	// alongside the new one.
	RotationOverlap = 24 * time.Hour
	// DeliveryRetention is how long deliveries (and their payloads, which
	// replays send again) are kept.
	DeliveryRetention = 30 * 24 * time.Hour
)

// Webhook is an endpoint as the API shows it. Secret is set only in the
// answers to a create and a rotation.
type Webhook struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	Secret      string    `json:"secret,omitempty"`
	Disabled    *Disabled `json:"disabled,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Disabled says why and when an endpoint stopped receiving deliveries.
type Disabled struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// endpointItem is an endpoint as stored. Secret and OldSecret are sealed.
type endpointItem struct {
	store.Key
	Type           string     `dynamodbav:"type"`
	OrgID          string     `dynamodbav:"orgId"`
	ID             string     `dynamodbav:"id"`
	URL            string     `dynamodbav:"url"`
	Events         []string   `dynamodbav:"events"`
	Description    string     `dynamodbav:"description"`
	Status         string     `dynamodbav:"status"`
	Secret         string     `dynamodbav:"secret"`
	OldSecret      string     `dynamodbav:"oldSecret,omitempty"`
	OldSecretUntil *time.Time `dynamodbav:"oldSecretUntil,omitempty"`
	DisabledReason string     `dynamodbav:"disabledReason,omitempty"`
	DisabledAt     *time.Time `dynamodbav:"disabledAt,omitempty"`
	// Failures counts the attempts failed in a row, since FailingSince: the
	// worker's, so an API write leaves them alone (see repo.replace).
	Failures     int        `dynamodbav:"failures,omitempty"`
	FailingSince *time.Time `dynamodbav:"failingSince,omitempty"`
	CreatedAt    time.Time  `dynamodbav:"createdAt"`
	UpdatedAt    time.Time  `dynamodbav:"updatedAt"`
}

func (it *endpointItem) api() Webhook {
	w := Webhook{ID: it.ID, URL: it.URL, Events: it.Events, Description: it.Description, Status: it.Status,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt}
	if it.DisabledAt != nil {
		w.Disabled = &Disabled{Reason: it.DisabledReason, At: *it.DisabledAt}
	}
	return w
}

// sealContext binds a sealed secret to its endpoint: copied to another
// endpoint or tenant, it does not open.
func sealContext(orgID, webhookID string) string { return orgID + "/" + webhookID }

// CreateRequest is the body of POST /api/webhooks.
type CreateRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

// UpdateRequest is the body of PATCH /api/webhooks/{id}: what is given changes.
type UpdateRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Status      *string   `json:"status"`
}

func validDescription(d string) error {
	if utf8.RuneCountInString(d) > MaxDescription {
		return errs.Invalid("description", "The 'description' field must be at most %d characters.", MaxDescription)
	}
	return nil
}

// validURLShape checks what needs no policy: present and absolute. The
// policy (safehttp) checks the rest, with DNS.
func validURLShape(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return errs.Required("url")
	}
	if u, err := url.Parse(raw); err != nil || !u.IsAbs() {
		return errs.Invalid("url", "The 'url' field must be an absolute https URL.")
	}
	return nil
}

// Delivery is one (event, endpoint) pair as the API shows it.
type Delivery struct {
	ID            string     `json:"id"`
	WebhookID     string     `json:"webhookId"`
	EventID       string     `json:"eventId"`
	EventType     string     `json:"eventType"`
	Status        string     `json:"status"`
	Attempts      []Attempt  `json:"attempts"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	Payload       string     `json:"payload,omitempty"` // GET of one delivery only
	ReplayOf      string     `json:"replayOf,omitempty"`
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
}

// Attempt is one try of a delivery: its status code or error, how long it
// took, and the first 1 KB of the response.
type Attempt struct {
	N          int       `json:"n" dynamodbav:"n"`
	At         time.Time `json:"at" dynamodbav:"at"`
	StatusCode int       `json:"statusCode,omitempty" dynamodbav:"statusCode,omitempty"`
	Error      string    `json:"error,omitempty" dynamodbav:"error,omitempty"`
	DurationMs int64     `json:"durationMs" dynamodbav:"durationMs"`
	Response   string    `json:"response,omitempty" dynamodbav:"response,omitempty"`
}

// deliveryItem is a delivery as stored, in its endpoint's partition.
type deliveryItem struct {
	store.Key
	Type          string     `dynamodbav:"type"`
	OrgID         string     `dynamodbav:"orgId"`
	WebhookID     string     `dynamodbav:"webhookId"`
	ID            string     `dynamodbav:"id"`
	EventID       string     `dynamodbav:"eventId"`
	EventType     string     `dynamodbav:"eventType"`
	Status        string     `dynamodbav:"status"`
	Payload       string     `dynamodbav:"payload"`
	Attempts      []Attempt  `dynamodbav:"attempts"`
	NextAttemptAt *time.Time `dynamodbav:"nextAttemptAt,omitempty"`
	CreatedAt     time.Time  `dynamodbav:"createdAt"`
	UpdatedAt     time.Time  `dynamodbav:"updatedAt"`
	TTL           int64      `dynamodbav:"ttl"`
	// ReplayOf is the delivery a replay copied; a window's replay skips
	// replays.
	ReplayOf string `dynamodbav:"replayOf,omitempty"`
	// DuePK and DueSK put an attempt later than SQS can delay in the Due
	// index, for the scheduler.
	DuePK string `dynamodbav:"DuePK,omitempty"`
	DueSK string `dynamodbav:"DueSK,omitempty"`
}

func (it *deliveryItem) api(withPayload bool) Delivery {
	d := Delivery{ID: it.ID, WebhookID: it.WebhookID, EventID: it.EventID, EventType: it.EventType, Status: it.Status,
		Attempts: it.Attempts, NextAttemptAt: it.NextAttemptAt, ReplayOf: it.ReplayOf, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt}
	if d.Attempts == nil {
		d.Attempts = []Attempt{}
	}
	if withPayload {
		d.Payload = it.Payload
	}
	return d
}

// Payload is what an endpoint receives: the event, and the resource as the
// API shows it.
type Payload struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"createdAt"`
	Data      any       `json:"data"`
}

// ReplayRequest is the body of POST /api/webhooks/{id}/replay: the window
// of events to deliver again (until defaults to now).
type ReplayRequest struct {
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
}

// Replay is an accepted replay of a window: the worker delivers each event
// of it again, in order, as new deliveries.
type Replay struct {
	ID        string    `json:"id"`
	WebhookID string    `json:"webhookId"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Status    string    `json:"status"`
}

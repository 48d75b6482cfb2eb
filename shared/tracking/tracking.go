// Package tracking records the events contacts perform (POST /api/events)
// and lists a contact's events.
package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
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
// contact's events of one name.
type Item struct {
	store.Key
	GSI1PK     string         `dynamodbav:"GSI1PK"`
	GSI1SK     string         `dynamodbav:"GSI1SK"`
	Type       string         `dynamodbav:"type"`
	OrgID      string         `dynamodbav:"orgId"`
	ID         string         `dynamodbav:"id"`
	ContactID  string         `dynamodbav:"contactId"`
	Name       string         `dynamodbav:"name"`
	Properties map[string]any `dynamodbav:"properties"`
	Timestamp  time.Time      `dynamodbav:"timestamp"`
	TTL        int64          `dynamodbav:"ttl"`
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

// Service records and lists events.
type Service struct {
	store     *store.Store
	contacts  *contacts.Service
	retention time.Duration
}

// NewService returns the events service; events expire retention after they happened.
func NewService(s *store.Store, c *contacts.Service, retention time.Duration) *Service {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Service{store: s, contacts: c, retention: retention}
}

// Track records one event: one read to find the contact (creating it when an
// unknown email names it) and one PutItem.
func (s *Service) Track(ctx context.Context, orgID string, in Input) (*Item, error) {
	now := s.contacts.Now()
	ts := now
	if in.Timestamp != nil {
		ts = in.Timestamp.UTC()
	}
	if ts.After(now.Add(MaxFuture)) {
		return nil, errs.Invalid("timestamp", "The 'timestamp' field may be at most 5 minutes in the future.")
	}
	if ts.Add(s.retention).Before(now) {
		return nil, errs.Invalid("timestamp", "The 'timestamp' field is older than the event retention period (%d days).", int(s.retention.Hours()/24))
	}
	contactID, err := s.contactFor(ctx, orgID, &in)
	if err != nil {
		return nil, err
	}
	it := &Item{Type: ItemType, OrgID: orgID, ID: ids.New(ids.Event, ts), ContactID: contactID, Name: in.Name,
		Properties: in.Properties, Timestamp: ts, TTL: ts.Add(s.retention).Unix()}
	it.Key = store.Key{PK: store.EventsPK(orgID, contactID), SK: store.EventSK(it.ID)}
	it.GSI1PK, it.GSI1SK = store.EventNamePK(orgID, contactID, in.Name), it.SK
	av, err := store.Marshal(it)
	if err != nil {
		return nil, err
	}
	if len(in.Properties) == 0 {
		delete(av, "properties")
	}
	if _, err := s.store.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.store.Table, Item: av}); err != nil {
		return nil, fmt.Errorf("tracking: put event: %w", err)
	}
	return it, nil
}

// contactFor resolves whose event it is.
func (s *Service) contactFor(ctx context.Context, orgID string, in *Input) (string, error) {
	if in.ContactID != "" {
		c, err := s.contacts.Get(ctx, orgID, in.ContactID)
		if err != nil {
			return "", err
		}
		return c.ID, nil
	}
	id, err := s.contacts.IDByEmail(ctx, orgID, in.Email)
	if !errors.Is(err, errs.ErrNotFound) {
		return id, err
	}
	c, err := s.contacts.Create(ctx, orgID, contacts.Input{Email: in.Email})
	if errors.Is(err, errs.ErrConflict) {
		return s.contacts.IDByEmail(ctx, orgID, in.Email) // created concurrently
	}
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// List pages through a contact's events, newest first, optionally of one name.
func (s *Service) List(ctx context.Context, orgID, contactID, name string, limit int, start map[string]string) ([]Item, map[string]string, error) {
	if _, err := s.contacts.Get(ctx, orgID, contactID); err != nil {
		return nil, nil, err
	}
	in := &dynamodb.QueryInput{
		ScanIndexForward:       aws.Bool(false),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.EventsPK(orgID, contactID)},
			":sk": &types.AttributeValueMemberS{Value: store.EventPrefix()},
		},
	}
	keyAttrs := []string{store.AttrPK, store.AttrSK}
	if name != "" {
		in.IndexName = aws.String(store.IndexGSI1)
		in.KeyConditionExpression = aws.String("GSI1PK = :pk AND begins_with(GSI1SK, :sk)")
		in.ExpressionAttributeValues[":pk"] = &types.AttributeValueMemberS{Value: store.EventNamePK(orgID, contactID, name)}
		keyAttrs = append(keyAttrs, store.AttrGSI1PK, store.AttrGSI1SK)
	}
	page, err := s.store.QueryPage(ctx, in, limit, start, keyAttrs)
	if err != nil {
		return nil, nil, err
	}
	var items []Item
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("tracking: decode events: %w", err)
	}
	return items, page.Next, nil
}

// Handlers serves the events routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the events handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the events routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/events", httpx.Tenant, h.track)
	rt.Handle("POST /api/events/batch", httpx.Tenant, h.batch)
	// Served through a broader pattern: it overlaps GET /api/contacts/imports/{id}.
	rt.HandleVia("GET /api/contacts/{id}/events", "GET /api/contacts/{id}/{sub}", httpx.Tenant, h.list)
}

func (h *Handlers) track(w http.ResponseWriter, r *http.Request) error {
	var in Input
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	it, err := h.svc.Track(r.Context(), tenant.OrgID(r.Context()), in)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, it.API())
	return nil
}

// BatchRequest is the body of POST /api/events/batch.
type BatchRequest struct {
	Events []json.RawMessage `json:"events"`
}

// Validate bounds the batch.
func (b *BatchRequest) Validate() error {
	if b.Events == nil {
		return errs.Required("events")
	}
	if len(b.Events) == 0 || len(b.Events) > MaxBatch {
		return errs.Invalid("events", "The 'events' field must hold 1 to %d events.", MaxBatch)
	}
	return nil
}

// BatchResult is one event's outcome.
type BatchResult struct {
	Index  int                `json:"index"`
	Status string             `json:"status"`
	Event  *Event             `json:"event"`
	Error  *httpx.ErrorDetail `json:"error"`
}

func (h *Handlers) batch(w http.ResponseWriter, r *http.Request) error {
	var req BatchRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	out := make([]BatchResult, len(req.Events))
	for i, raw := range req.Events {
		out[i] = BatchResult{Index: i}
		var in Input
		err := httpx.DecodeBytes(raw, &in)
		var it *Item
		if err == nil {
			it, err = h.svc.Track(r.Context(), tenant.OrgID(r.Context()), in)
		}
		if err != nil {
			_, code, msg := httpx.Classify(err)
			out[i].Status, out[i].Error = "error", &httpx.ErrorDetail{Code: code, Message: msg}
			continue
		}
		ev := it.API()
		out[i].Status, out[i].Event = "accepted", &ev
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("sub") != "events" {
		return httpx.NoRoute(r)
	}
	org, contactID := tenant.OrgID(r.Context()), r.PathValue("id")
	name := r.URL.Query().Get("name")
	if name != "" && !validName(name) {
		return errs.Invalid("name", "The 'name' parameter must match ^[A-Za-z0-9_.:-]{1,100}$.")
	}
	scope := "events|" + contactID + "|" + name
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	items, next, err := h.svc.List(r.Context(), org, contactID, name, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	out := make([]Event, len(items))
	for i := range items {
		out[i] = items[i].API()
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Event]{Data: out, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

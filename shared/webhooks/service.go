package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/webhooks/safehttp"
)

// Service is the webhooks group's logic: endpoints, their secrets, test
// deliveries and the delivery log.
type Service struct {
	repo   repo
	clock  clock.Clock
	sealer *Sealer
	policy safehttp.Policy
	client *http.Client

	// The webhook queue, where replays of a window go (nil: none).
	q        SQSSender
	queueURL string
}

// NewService returns the webhooks service. sealer seals the endpoints'
// secrets; policy decides which URLs may be registered and called.
func NewService(s *store.Store, clk clock.Clock, sealer *Sealer, policy safehttp.Policy) *Service {
	return &Service{repo: repo{s}, clock: clk, sealer: sealer, policy: policy, client: policy.Client()}
}

// WithQueue gives the service the webhook queue, where it queues replays.
func (s *Service) WithQueue(q SQSSender, queueURL string) *Service {
	s.q, s.queueURL = q, queueURL
	return s
}

// checkURL is the registration check: the shape, then the policy (with DNS).
func (s *Service) checkURL(ctx context.Context, raw string) error {
	if err := validURLShape(raw); err != nil {
		return err
	}
	var refused *safehttp.Refused
	if err := s.policy.CheckURL(ctx, raw); errors.As(err, &refused) {
		return errs.Invalid("url", "The 'url' field is refused: %s", refused.Reason)
	} else if err != nil {
		return fmt.Errorf("webhooks: check url: %w", err)
	}
	return nil
}

// Create registers an endpoint and returns it with its secret, shown only
// here and on rotation.
func (s *Service) Create(ctx context.Context, p *tenant.Principal, req CreateRequest) (*Webhook, error) {
	// The checks that need no DNS first.
	if err := validURLShape(req.URL); err != nil {
		return nil, err
	}
	if err := ValidateEvents(req.Events); err != nil {
		return nil, err
	}
	if err := validDescription(req.Description); err != nil {
		return nil, err
	}
	if err := s.checkURL(ctx, req.URL); err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	it := endpointItem{Type: ItemType, OrgID: p.OrgID, ID: ids.New(ids.Webhook, now), URL: req.URL, Events: req.Events,
		Description: req.Description, Status: StatusActive, CreatedAt: now, UpdatedAt: now}
	it.Key = store.WebhookKey(p.OrgID, it.ID)
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	if it.Secret, err = s.sealer.Seal(secret, sealContext(p.OrgID, it.ID)); err != nil {
		return nil, err
	}
	max := tenant.PlanByName(p.Plan).Quotas.Webhooks
	if err := s.repo.create(ctx, it, max); errors.Is(err, errLimit) {
		return nil, &errs.Unprocessable{Message: fmt.Sprintf("The %s plan allows %d webhook endpoint(s); delete one first.", tenant.PlanByName(p.Plan).Name, max)}
	} else if err != nil {
		return nil, err
	}
	w := it.api()
	w.Secret = secret
	return &w, nil
}

// Get returns one endpoint (never its secret).
func (s *Service) Get(ctx context.Context, orgID, id string) (*Webhook, error) {
	it, err := s.repo.get(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	w := it.api()
	return &w, nil
}

// List pages through the organisation's endpoints, oldest first.
func (s *Service) List(ctx context.Context, orgID string, limit int, start map[string]string) ([]Webhook, map[string]string, error) {
	items, next, err := s.repo.list(ctx, orgID, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Webhook, len(items))
	for i := range items {
		out[i] = items[i].api()
	}
	return out, next, nil
}

// Update changes what req gives. Re-enabling an endpoint clears why it was
// disabled.
func (s *Service) Update(ctx context.Context, orgID, id string, req UpdateRequest) (*Webhook, error) {
	if req.Events != nil {
		if err := ValidateEvents(*req.Events); err != nil {
			return nil, err
		}
	}
	if req.Description != nil {
		if err := validDescription(*req.Description); err != nil {
			return nil, err
		}
	}
	if req.Status != nil && *req.Status != StatusActive && *req.Status != StatusDisabled {
		return nil, errs.Invalid("status", "The 'status' field must be 'active' or 'disabled'.")
	}
	if req.URL != nil {
		if err := s.checkURL(ctx, *req.URL); err != nil {
			return nil, err
		}
	}
	old, err := s.repo.get(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	it := old
	if req.URL != nil {
		it.URL = *req.URL
	}
	if req.Events != nil {
		it.Events = *req.Events
	}
	if req.Description != nil {
		it.Description = *req.Description
	}
	now := s.clock.Now().UTC()
	if req.Status != nil && *req.Status != it.Status {
		it.Status = *req.Status
		it.DisabledReason, it.DisabledAt = "", nil
		it.Failures, it.FailingSince = 0, nil // a fresh start
		if it.Status == StatusDisabled {
			it.DisabledReason, it.DisabledAt = "Disabled through the API.", &now
		}
	}
	it.UpdatedAt = now
	if err := s.repo.replace(ctx, old, it); err != nil {
		return nil, err
	}
	w := it.api()
	return &w, nil
}

// Delete removes an endpoint; its deliveries expire.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	return s.repo.remove(ctx, orgID, id)
}

// RotateSecret gives an endpoint a new secret, returned once; the old one
// keeps signing alongside it for RotationOverlap.
func (s *Service) RotateSecret(ctx context.Context, orgID, id string) (*Webhook, error) {
	old, err := s.repo.get(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	it := old
	if it.Secret, err = s.sealer.Seal(secret, sealContext(orgID, id)); err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	until := now.Add(RotationOverlap)
	it.OldSecret, it.OldSecretUntil, it.UpdatedAt = old.Secret, &until, now
	if err := s.repo.replace(ctx, old, it); err != nil {
		return nil, err
	}
	w := it.api()
	w.Secret = secret
	return &w, nil
}

// secrets are the secrets that sign for an endpoint now: its own, and the
// one it rotated out while that overlaps.
func (s *Service) secrets(it *endpointItem, now time.Time) ([]string, error) {
	current, err := s.sealer.Open(it.Secret, sealContext(it.OrgID, it.ID))
	if err != nil {
		return nil, err
	}
	out := []string{current}
	if it.OldSecret != "" && it.OldSecretUntil != nil && now.Before(*it.OldSecretUntil) {
		old, err := s.sealer.Open(it.OldSecret, sealContext(it.OrgID, it.ID))
		if err != nil {
			return nil, err
		}
		out = append(out, old)
	}
	return out, nil
}

// Test sends a test.ping to the endpoint now, records it in the delivery
// log, and returns the delivery with its one attempt.
func (s *Service) Test(ctx context.Context, orgID, id string) (*Delivery, error) {
	it, err := s.repo.get(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	eventID := ids.New(ids.Event, now)
	body, err := json.Marshal(Payload{ID: eventID, Type: TestPing, CreatedAt: now,
		Data: map[string]any{"webhookId": it.ID, "message": "A test delivery from Sendwell."}})
	if err != nil {
		return nil, fmt.Errorf("webhooks: encode test payload: %w", err)
	}
	d := deliveryItem{Type: DeliveryType, OrgID: orgID, WebhookID: it.ID, ID: ids.New(ids.Delivery, now), EventID: eventID,
		EventType: TestPing, Payload: string(body), CreatedAt: now, TTL: now.Add(DeliveryRetention).Unix()}
	d.Key = store.WebhookDeliveryKey(orgID, it.ID, d.ID)
	a, _ := s.attemptWithRetryAfter(ctx, &it, eventID, body, 1)
	d.Attempts = []Attempt{a}
	d.Status = DeliveryFailed
	if a.StatusCode >= 200 && a.StatusCode < 300 {
		d.Status = DeliverySucceeded
	}
	d.UpdatedAt = a.At
	if err := s.repo.putFreshDelivery(ctx, d); err != nil {
		return nil, err
	}
	out := d.api(false)
	return &out, nil
}

// attemptWithRetryAfter POSTs body to the endpoint once, signed, and says
// what happened: a 2xx is success, anything else (a redirect, which is not
// followed, a timeout, a refused address) a failure. retryAfter is the
// delay a 429 or 503 asked for in Retry-After (0 when none).
func (s *Service) attemptWithRetryAfter(ctx context.Context, it *endpointItem, eventID string, body []byte, n int) (a Attempt, retryAfter time.Duration) {
	start := s.clock.Now().UTC()
	a = Attempt{N: n, At: start}
	secrets, err := s.secrets(it, start)
	if err != nil {
		a.Error = "The endpoint's secret could not be read."
		return a, 0
	}
	headers, err := Headers(secrets, eventID, start, body)
	if err != nil {
		a.Error = "The delivery could not be signed."
		return a, 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, it.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = "The endpoint's URL is not valid."
		return a, 0
	}
	req.Header = headers
	began := time.Now()
	res, err := s.client.Do(req)
	a.DurationMs = time.Since(began).Milliseconds()
	if err != nil {
		a.Error = describe(err)
		return a, 0
	}
	defer res.Body.Close()
	a.StatusCode = res.StatusCode
	a.Response, _, _ = safehttp.ReadBody(res.Body)
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		retryAfter = parseRetryAfter(res.Header.Get("Retry-After"), start)
	}
	return a, retryAfter
}

// parseRetryAfter reads Retry-After: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// describe is a failed request's error as the delivery log shows it.
func describe(err error) string {
	var refused *safehttp.Refused
	switch {
	case errors.As(err, &refused):
		return "Refused: " + refused.Reason
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("No answer within %s.", safehttp.Timeout)
	default:
		return "The request failed: " + err.Error()
	}
}

// Deliveries pages through an endpoint's deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, orgID, id, status, eventType string, limit int, start map[string]string) ([]Delivery, map[string]string, error) {
	if status != "" && status != DeliveryPending && status != DeliverySucceeded && status != DeliveryFailed {
		return nil, nil, errs.Invalid("status", "The 'status' filter must be 'pending', 'succeeded' or 'failed'.")
	}
	if eventType != "" && !KnownType(eventType) {
		return nil, nil, errs.Invalid("type", "The 'type' filter names an unknown event type '%s'.", eventType)
	}
	if _, err := s.repo.get(ctx, orgID, id); err != nil {
		return nil, nil, err
	}
	items, next, err := s.repo.deliveries(ctx, orgID, id, status, eventType, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Delivery, len(items))
	for i := range items {
		out[i] = items[i].api(false)
	}
	return out, next, nil
}

// Delivery returns one delivery with every attempt and its payload.
func (s *Service) Delivery(ctx context.Context, orgID, id, deliveryID string) (*Delivery, error) {
	it, err := s.repo.delivery(ctx, orgID, id, deliveryID)
	if err != nil {
		return nil, err
	}
	d := it.api(true)
	return &d, nil
}

// ReplayOne delivers a delivery's event to the endpoint again, now, as a
// new delivery of one attempt (no retries: the caller sees its result).
func (s *Service) ReplayOne(ctx context.Context, orgID, id, deliveryID string) (*Delivery, error) {
	ep, err := s.repo.get(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	orig, err := s.repo.delivery(ctx, orgID, id, deliveryID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	d := replayOf(orig, ids.New(ids.Delivery, now), now)
	a, _ := s.attemptWithRetryAfter(ctx, &ep, d.EventID, []byte(d.Payload), 1)
	d.Attempts, d.UpdatedAt, d.Status = []Attempt{a}, a.At, DeliveryFailed
	if a.StatusCode >= 200 && a.StatusCode < 300 {
		d.Status = DeliverySucceeded
	}
	if err := s.repo.putFreshDelivery(ctx, d); err != nil {
		return nil, err
	}
	out := d.api(false)
	return &out, nil
}

// replayOf is a new delivery of orig's event (the same event id, so a
// receiver that keeps ids knows it), with id.
func replayOf(orig deliveryItem, id string, now time.Time) deliveryItem {
	d := deliveryItem{Type: DeliveryType, OrgID: orig.OrgID, WebhookID: orig.WebhookID, ID: id, EventID: orig.EventID,
		EventType: orig.EventType, Status: DeliveryPending, Payload: orig.Payload, Attempts: []Attempt{}, ReplayOf: orig.ID,
		CreatedAt: now, UpdatedAt: now, TTL: now.Add(DeliveryRetention).Unix()}
	d.Key = store.WebhookDeliveryKey(orig.OrgID, orig.WebhookID, d.ID)
	return d
}

// Replay accepts the replay of a window of the endpoint's events: the
// worker delivers each again, oldest first, as new deliveries on the
// schedule. Events are kept DeliveryRetention.
func (s *Service) Replay(ctx context.Context, orgID, id string, req ReplayRequest) (*Replay, error) {
	now := s.clock.Now().UTC()
	if req.Since == nil {
		return nil, errs.Required("since")
	}
	since, until := req.Since.UTC(), now
	if req.Until != nil {
		until = req.Until.UTC()
	}
	switch {
	case since.Before(now.Add(-DeliveryRetention)):
		return nil, errs.Invalid("since", "The 'since' field may be at most 30 days ago: events are kept 30 days.")
	case !until.After(since):
		return nil, errs.Invalid("until", "The 'until' field must be after 'since'.")
	case until.After(now):
		return nil, errs.Invalid("until", "The 'until' field must not be in the future.")
	}
	if _, err := s.repo.get(ctx, orgID, id); err != nil {
		return nil, err
	}
	if s.q == nil {
		return nil, errors.New("webhooks: no webhook queue for replays")
	}
	r := Replay{ID: ids.New(ids.Replay, now), WebhookID: id, Since: since, Until: until, Status: "queued"}
	body, err := json.Marshal(message{Replay: &ReplayJob{OrgID: orgID, WebhookID: id, ReplayID: r.ID, Since: since, Until: until}})
	if err != nil {
		return nil, err
	}
	if _, err := s.q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &s.queueURL, MessageBody: aws.String(string(body))}); err != nil {
		return nil, errs.NewUnavailable(1, fmt.Errorf("webhooks: queue the replay: %w", err))
	}
	return &r, nil
}

package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/oklog/ulid/v2"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Schedule is when each attempt of a delivery runs, after the one before:
// immediately, then 5 min, 30 min, 2 h and 8 h (5 attempts), then failed.
var Schedule = []time.Duration{0, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 8 * time.Hour}

// Limits of an endpoint's health.
const (
	// MaxConsecutiveFailures disables an endpoint.
	MaxConsecutiveFailures = 100
	// MaxFailingFor disables an endpoint whose attempts have all failed
	// for this long.
	MaxFailingFor = 5 * 24 * time.Hour
	// MaxSQSDelay is SQS's longest delay: later attempts are due items the
	// scheduler queues.
	MaxSQSDelay = 15 * time.Minute
	// maxPayload is the largest body delivered; a larger event's data is
	// replaced by a link to the resource.
	maxPayload = 64 << 10
	// maxRetryAfter bounds how long a Retry-After can put an attempt off.
	maxRetryAfter = 24 * time.Hour
)

// DomainEvent is a domain event as the changes function publishes it.
type DomainEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OrgID      string          `json:"orgId"`
	OccurredAt time.Time       `json:"occurredAt"`
	Data       json.RawMessage `json:"data"`
}

// AttemptJob asks the worker for attempt N of a delivery. The scheduler
// sends the same JSON for attempts due later than SQS can delay.
type AttemptJob struct {
	OrgID      string `json:"orgId"`
	WebhookID  string `json:"webhookId"`
	DeliveryID string `json:"deliveryId"`
	N          int    `json:"n"`
}

// ReplayJob asks the worker to deliver again an endpoint's events of a
// window, oldest first, from Start (a page cursor) on.
type ReplayJob struct {
	OrgID     string            `json:"orgId"`
	WebhookID string            `json:"webhookId"`
	ReplayID  string            `json:"replayId"`
	Since     time.Time         `json:"since"`
	Until     time.Time         `json:"until"`
	Start     map[string]string `json:"start,omitempty"`
}

// message is any message of the webhook queue: a domain event (Type set)
// to fan out, an attempt, or a replay.
type message struct {
	DomainEvent
	Attempt *AttemptJob `json:"attempt,omitempty"`
	Replay  *ReplayJob  `json:"replay,omitempty"`
}

// replayPages bounds the pages of deliveries one replay message works
// through before it queues the rest.
const replayPages = 10

// SQSSender is the part of the SQS client the worker uses.
type SQSSender interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ SQSSender = (*sqs.Client)(nil)

// Worker fans domain events out to the endpoints that subscribe to them,
// one delivery each, and makes each delivery's attempts.
type Worker struct {
	svc      *Service
	q        SQSSender
	queueURL string

	mu     sync.Mutex
	cached map[string]tenantEndpoints // by org id, until the version moves
}

type tenantEndpoints struct {
	version   int
	endpoints []endpointItem
}

// NewWorker is the worker over svc, queueing attempts on queueURL.
func NewWorker(svc *Service, q SQSSender, queueURL string) *Worker {
	return &Worker{svc: svc, q: q, queueURL: queueURL, cached: map[string]tenantEndpoints{}}
}

// Handle is the Lambda handler. The batch's messages run at once, so a
// slow endpoint (up to 10 s) does not hold back another's attempt; a
// message that fails is retried alone (ReportBatchItemFailures).
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	failed := make([]bool, len(ev.Records))
	var wg sync.WaitGroup
	for i, m := range ev.Records {
		wg.Go(func() {
			if err := w.HandleBody(ctx, m.Body); err != nil {
				slog.ErrorContext(ctx, "webhook worker: message failed", "messageId", m.MessageId, "error", err.Error())
				failed[i] = true
			}
		})
	}
	wg.Wait()
	var resp events.SQSEventResponse
	for i, m := range ev.Records {
		if failed[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// HandleBody handles one message.
func (w *Worker) HandleBody(ctx context.Context, body string) error {
	var m message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		slog.WarnContext(ctx, "webhook worker: unreadable message dropped", "error", err.Error())
		return nil
	}
	switch {
	case m.Attempt != nil:
		return w.attempt(ctx, *m.Attempt)
	case m.Replay != nil:
		return w.replay(ctx, *m.Replay)
	case m.Type != "" && m.OrgID != "" && m.ID != "":
		return w.fanOut(ctx, m.DomainEvent)
	}
	slog.WarnContext(ctx, "webhook worker: unknown message dropped")
	return nil
}

// endpoints are the organisation's endpoints: one read of their version,
// and a Query only when it moved since this instance last looked.
func (w *Worker) endpoints(ctx context.Context, orgID string) ([]endpointItem, error) {
	var v struct {
		Count   int `dynamodbav:"count"`
		Version int `dynamodbav:"version"`
	}
	err := w.svc.repo.s.Get(ctx, store.WebhooksVersionKey(orgID), &v)
	if errors.Is(err, errs.ErrNotFound) || (err == nil && v.Count == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	c, ok := w.cached[orgID]
	w.mu.Unlock()
	if ok && c.version == v.Version {
		return c.endpoints, nil
	}
	var all []endpointItem
	var start map[string]string
	for {
		page, next, err := w.svc.repo.list(ctx, orgID, 100, start)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == nil {
			break
		}
		start = next
	}
	w.mu.Lock()
	w.cached[orgID] = tenantEndpoints{version: v.Version, endpoints: all}
	w.mu.Unlock()
	return all, nil
}

// fanOut makes one delivery per active endpoint subscribed to the event,
// and queues its first attempt. A copy of the message makes the same
// deliveries (their ids come from the event's and the endpoint's), so
// none is made twice; its attempts find them done.
func (w *Worker) fanOut(ctx context.Context, e DomainEvent) error {
	eps, err := w.endpoints(ctx, e.OrgID)
	if err != nil {
		return err
	}
	var jobs []AttemptJob
	for i := range eps {
		ep := &eps[i]
		if ep.Status != StatusActive || !Subscribes(ep.Events, e.Type) {
			continue
		}
		d, err := w.delivery(e, ep)
		if err != nil {
			return err
		}
		if err := w.svc.repo.putDelivery(ctx, d); err != nil && !errors.Is(err, errs.ErrConflict) {
			return err
		}
		jobs = append(jobs, AttemptJob{OrgID: e.OrgID, WebhookID: ep.ID, DeliveryID: d.ID, N: 1})
	}
	return w.queue(ctx, jobs)
}

// delivery is the delivery of e to ep, its payload as sent.
func (w *Worker) delivery(e DomainEvent, ep *endpointItem) (deliveryItem, error) {
	body, err := payload(e)
	if err != nil {
		return deliveryItem{}, err
	}
	now := w.svc.clock.Now().UTC()
	d := deliveryItem{Type: DeliveryType, OrgID: e.OrgID, WebhookID: ep.ID, ID: deliveryID(e, ep.ID), EventID: PublicEventID(e),
		EventType: e.Type, Status: DeliveryPending, Payload: string(body), Attempts: []Attempt{}, CreatedAt: now, UpdatedAt: now,
		TTL: now.Add(DeliveryRetention).Unix()}
	d.Key = store.WebhookDeliveryKey(e.OrgID, ep.ID, d.ID)
	return d, nil
}

// PublicEventID is the id receivers see (the payload's id and webhook-id):
// "evt_" and a ULID of the event's time whose entropy comes from the domain
// event's id (derived from its stream record), so every endpoint, retry and
// replay of one event carries the same id, and ids sort by time.
func PublicEventID(e DomainEvent) string {
	sum := sha256.Sum256([]byte(e.ID))
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(e.OccurredAt))
	_ = u.SetEntropy(sum[:10])
	return ids.Event + "_" + u.String()
}

// deliveryID is the same for an event and an endpoint however often the
// event arrives: a ULID of the event's time, its entropy from both ids.
func deliveryID(e DomainEvent, webhookID string) string {
	sum := sha256.Sum256([]byte(e.ID + "/" + webhookID))
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(e.OccurredAt))
	_ = u.SetEntropy(sum[:10])
	return ids.Delivery + "_" + u.String()
}

// payload is the body an endpoint receives for e: the event and its
// resource, or a link to the resource when the body would pass 64 KB.
func payload(e DomainEvent) ([]byte, error) {
	id := PublicEventID(e)
	body, err := json.Marshal(Payload{ID: id, Type: e.Type, CreatedAt: e.OccurredAt, Data: e.Data})
	if err != nil {
		return nil, fmt.Errorf("webhooks: encode payload: %w", err)
	}
	if len(body) <= maxPayload {
		return body, nil
	}
	var ref struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(e.Data, &ref)
	return json.Marshal(Payload{ID: id, Type: e.Type, CreatedAt: e.OccurredAt,
		Data: map[string]any{"id": ref.ID, "truncated": true, "message": "The resource is over 64 KB: read it through the API."}})
}

// queue sends attempt jobs, 10 a call, each delayed by its own schedule.
func (w *Worker) queue(ctx context.Context, jobs []AttemptJob) error {
	for len(jobs) > 0 {
		n := min(len(jobs), 10)
		entries := make([]sqstypes.SendMessageBatchRequestEntry, n)
		for i, j := range jobs[:n] {
			body, err := json.Marshal(message{Attempt: &j})
			if err != nil {
				return err
			}
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))}
		}
		out, err := w.q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &w.queueURL, Entries: entries})
		if err != nil {
			return fmt.Errorf("webhooks: queue attempts: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("webhooks: queue attempts: %d of %d refused", len(out.Failed), n)
		}
		jobs = jobs[n:]
	}
	return nil
}

// attempt makes attempt j.N of a delivery, once: a copy of the job, or a
// job for an attempt already made, finds it recorded and does nothing.
func (w *Worker) attempt(ctx context.Context, j AttemptJob) error {
	d, err := w.svc.repo.delivery(ctx, j.OrgID, j.WebhookID, j.DeliveryID)
	if errors.Is(err, errs.ErrNotFound) {
		return nil // the endpoint was deleted and its log expired
	}
	if err != nil {
		return err
	}
	if d.Status != DeliveryPending || len(d.Attempts) != j.N-1 {
		return nil
	}
	ep, err := w.svc.repo.get(ctx, j.OrgID, j.WebhookID)
	if errors.Is(err, errs.ErrNotFound) {
		return w.giveUp(ctx, d, j.N, "The endpoint was deleted.")
	}
	if err != nil {
		return err
	}
	if ep.Status != StatusActive {
		return w.giveUp(ctx, d, j.N, "The endpoint is disabled.")
	}
	a, retryAfter := w.svc.attemptWithRetryAfter(ctx, &ep, d.EventID, []byte(d.Payload), j.N)
	ok := a.StatusCode >= 200 && a.StatusCode < 300
	status, next := DeliverySucceeded, (*time.Time)(nil)
	if !ok {
		status = DeliveryFailed
		if j.N < len(Schedule) && a.StatusCode != http.StatusGone {
			at := a.At.Add(Schedule[j.N])
			if retryAfter > 0 && a.At.Add(retryAfter).After(at) {
				at = a.At.Add(min(retryAfter, maxRetryAfter))
			}
			status, next = DeliveryPending, &at
		}
	}
	if err := w.svc.repo.recordAttempt(ctx, d, a, status, next); errors.Is(err, errs.ErrConflict) {
		return nil // a copy of this job recorded it first
	} else if err != nil {
		return err
	}
	if err := w.health(ctx, &ep, a, ok); err != nil {
		return err
	}
	if next != nil && next.Sub(a.At) <= MaxSQSDelay {
		return w.queueDelayed(ctx, AttemptJob{OrgID: j.OrgID, WebhookID: j.WebhookID, DeliveryID: j.DeliveryID, N: j.N + 1}, next.Sub(w.svc.clock.Now()))
	}
	return nil // a later attempt is a due item: the scheduler queues it
}

// giveUp records attempt n as failed without a request, and the delivery
// as failed (a copy of the job finds it recorded).
func (w *Worker) giveUp(ctx context.Context, d deliveryItem, n int, why string) error {
	err := w.svc.repo.recordAttempt(ctx, d, Attempt{N: n, At: w.svc.clock.Now().UTC(), Error: why}, DeliveryFailed, nil)
	if errors.Is(err, errs.ErrConflict) {
		return nil
	}
	return err
}

// queueDelayed sends one attempt job, delayed (at most SQS's 15 minutes).
func (w *Worker) queueDelayed(ctx context.Context, j AttemptJob, delay time.Duration) error {
	body, err := json.Marshal(message{Attempt: &j})
	if err != nil {
		return err
	}
	secs := int32(max(0, min(delay, MaxSQSDelay)+time.Second-1) / time.Second)
	_, err = w.q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &w.queueURL, MessageBody: aws.String(string(body)), DelaySeconds: secs})
	if err != nil {
		return fmt.Errorf("webhooks: queue attempt %d: %w", j.N, err)
	}
	return nil
}

// health keeps an endpoint's failure count: a success clears it (a write
// only when there was one), a 410 disables the endpoint at once, and
// MaxConsecutiveFailures failures, or failures for MaxFailingFor, disable it.
func (w *Worker) health(ctx context.Context, ep *endpointItem, a Attempt, ok bool) error {
	if ok {
		if ep.Failures == 0 {
			return nil
		}
		return w.svc.repo.clearFailures(ctx, ep.OrgID, ep.ID)
	}
	reason := ""
	switch {
	case a.StatusCode == http.StatusGone:
		reason = "The endpoint answered 410 Gone."
	case ep.Failures+1 >= MaxConsecutiveFailures:
		reason = fmt.Sprintf("%d consecutive failed attempts.", MaxConsecutiveFailures)
	case ep.FailingSince != nil && a.At.Sub(*ep.FailingSince) >= MaxFailingFor:
		reason = "Every attempt failed for 5 days."
	}
	return w.svc.repo.countFailure(ctx, ep.OrgID, ep.ID, a.At, reason)
}

// replay makes a new delivery of each of the window's deliveries (not
// test pings, not replays, only types the endpoint still subscribes to),
// oldest first, and queues their first attempts; then the rest of the
// window as another message. A copy of the message makes the same
// deliveries (their ids come from the replay's and the original's).
func (w *Worker) replay(ctx context.Context, j ReplayJob) error {
	ep, err := w.svc.repo.get(ctx, j.OrgID, j.WebhookID)
	if errors.Is(err, errs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := w.svc.clock.Now().UTC()
	for range replayPages {
		page, next, err := w.svc.repo.deliveriesBetween(ctx, j.OrgID, j.WebhookID, j.Since, j.Until, 100, j.Start)
		if err != nil {
			return err
		}
		var jobs []AttemptJob
		for _, orig := range page {
			if orig.ReplayOf != "" || orig.EventType == TestPing || !Subscribes(ep.Events, orig.EventType) {
				continue
			}
			d := replayOf(orig, replayDeliveryID(orig, j.ReplayID), now)
			if err := w.svc.repo.putDelivery(ctx, d); err != nil && !errors.Is(err, errs.ErrConflict) {
				return err
			}
			jobs = append(jobs, AttemptJob{OrgID: j.OrgID, WebhookID: j.WebhookID, DeliveryID: d.ID, N: 1})
		}
		if err := w.queue(ctx, jobs); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		j.Start = next
	}
	body, err := json.Marshal(message{Replay: &j})
	if err != nil {
		return err
	}
	_, err = w.q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &w.queueURL, MessageBody: aws.String(string(body))})
	return err
}

// replayDeliveryID is the same for a replay and an original delivery
// however often the replay's message arrives.
func replayDeliveryID(orig deliveryItem, replayID string) string {
	sum := sha256.Sum256([]byte(orig.ID + "/" + replayID))
	var u ulid.ULID
	if r, err := ulid.Parse(strings.TrimPrefix(replayID, ids.Replay+"_")); err == nil {
		_ = u.SetTime(r.Time()) // listed with the replay, newest first
	}
	_ = u.SetEntropy(sum[:10])
	return ids.Delivery + "_" + u.String()
}

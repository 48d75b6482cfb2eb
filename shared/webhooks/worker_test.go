package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/testenv"
	"github.com/sendwell/sendwell/shared/webhooks/safehttp"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// target is a receiver: it answers each request with the next status of
// its script (the last one again when the script runs out).
type target struct {
	*httptest.Server
	mu      sync.Mutex
	script  []int
	headers []http.Header
	reqs    []*http.Request
	bodies  [][]byte
}

func newTarget(t *testing.T, script ...int) *target {
	tg := &target{script: script}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		i := min(len(tg.reqs), len(tg.script)-1)
		tg.reqs, tg.bodies = append(tg.reqs, r), append(tg.bodies, body)
		status := tg.script[i]
		var h http.Header
		if i < len(tg.headers) {
			h = tg.headers[i]
		}
		tg.mu.Unlock()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) count() int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return len(tg.reqs)
}

// fixture is a worker over moto, a fake clock, and a tenant.
type fixture struct {
	t     *testing.T
	env   *testenv.Env
	clk   *clock.Fake
	svc   *Service
	w     *Worker
	q     *sqs.Client
	queue string
	org   string
}

func newFixture(t *testing.T) *fixture {
	env := testenv.New(t)
	res := env.Resources(t)
	clk := clock.NewFake(t0)
	sealer, err := NewSealer(make([]byte, 32))
	require.NoError(t, err)
	policy, err := safehttp.NewPolicy("127.0.0.1")
	require.NoError(t, err)
	svc := NewService(env.Store, clk, sealer, policy)
	q := sqs.NewFromConfig(env.Config)
	return &fixture{t: t, env: env, clk: clk, svc: svc, w: NewWorker(svc, q, res.WebhookQueueURL), q: q,
		queue: res.WebhookQueueURL, org: ids.New(ids.Org, t0)}
}

// endpoint registers url for events and returns its id and secret.
func (f *fixture) endpoint(url string, events ...string) (string, string) {
	f.t.Helper()
	w, err := f.svc.Create(context.Background(), &tenant.Principal{OrgID: f.org, Plan: "scale"}, CreateRequest{URL: url, Events: events})
	require.NoError(f.t, err)
	return w.ID, w.Secret
}

func (f *fixture) event(typ string) DomainEvent {
	return DomainEvent{ID: ids.New(ids.Event, f.clk.Now()), Type: typ, OrgID: f.org, OccurredAt: f.clk.Now(),
		Data: json.RawMessage(`{"id":"cnt_01KGFKWWE07N48AVVX159Z8WWJ","email":"ada@example.com","updatedAt":"2026-12-01T12:00:00Z"}`)}
}

func (f *fixture) handle(body any) {
	f.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(f.t, err)
	require.NoError(f.t, f.w.HandleBody(context.Background(), string(raw)))
}

// jobs receives the attempt jobs visible on the queue now (and deletes them).
func (f *fixture) jobs() []AttemptJob {
	f.t.Helper()
	var out []AttemptJob
	for {
		res, err := f.q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &f.queue, MaxNumberOfMessages: 10})
		require.NoError(f.t, err)
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			var msg message
			require.NoError(f.t, json.Unmarshal([]byte(*m.Body), &msg))
			require.NotNil(f.t, msg.Attempt)
			out = append(out, *msg.Attempt)
			_, err := f.q.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &f.queue, ReceiptHandle: m.ReceiptHandle})
			require.NoError(f.t, err)
		}
	}
}

// delayed is how many messages wait on the queue's delay.
func (f *fixture) delayed() int {
	f.t.Helper()
	out, err := f.q.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &f.queue,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	require.NoError(f.t, err)
	n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)])
	return n
}

func (f *fixture) delivery(webhookID, id string) deliveryItem {
	f.t.Helper()
	d, err := f.svc.repo.delivery(context.Background(), f.org, webhookID, id)
	require.NoError(f.t, err)
	return d
}

// An event fans out to the active endpoints that subscribe to it, one
// delivery and one attempt job each; a copy of the event makes none again.
// Its cost: the endpoints' version (one read, the endpoints cached until it
// moves), one PutItem and a share of one SendMessageBatch per delivery.
func TestFanOutMakesOneDeliveryPerSubscribedEndpoint(t *testing.T) {
	f := newFixture(t)
	tg := newTarget(t, http.StatusOK)
	a, _ := f.endpoint(tg.URL+"/a", "contact.created")
	b, _ := f.endpoint(tg.URL+"/b", "*")
	f.endpoint(tg.URL+"/c", "email.bounced")
	d, _ := f.endpoint(tg.URL+"/d", "*")
	_, err := f.svc.Update(context.Background(), f.org, d, UpdateRequest{Status: aws.String(StatusDisabled)})
	require.NoError(t, err)

	e := f.event("contact.created")
	f.env.Counter.Reset()
	f.handle(e)
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.Query": 1, "DynamoDB.PutItem": 2, "SQS.SendMessageBatch": 1}, f.env.Counter.Snapshot())
	jobs := f.jobs()
	require.Len(t, jobs, 2)
	got := map[string]bool{}
	for _, j := range jobs {
		got[j.WebhookID] = true
		assert.Equal(t, 1, j.N)
		dl := f.delivery(j.WebhookID, j.DeliveryID)
		assert.Equal(t, DeliveryPending, dl.Status)
		assert.Equal(t, PublicEventID(e), dl.EventID)
		assert.Regexp(t, `^evt_[0-9A-Z]{26}$`, dl.EventID)
	}
	assert.Equal(t, map[string]bool{a: true, b: true}, got)

	// A copy of the event: the same two deliveries, not two more.
	f.env.Counter.Reset()
	f.handle(e)
	assert.Equal(t, 1, f.env.Counter.Count("DynamoDB.GetItem"))
	assert.Zero(t, f.env.Counter.Count("DynamoDB.Query"), "the endpoints are cached until their version moves")
	again := f.jobs()
	require.Len(t, again, 2)
	for _, j := range again {
		assert.Contains(t, []string{jobs[0].DeliveryID, jobs[1].DeliveryID}, j.DeliveryID)
	}

	// An event no endpoint subscribes to, in a tenant with none: one read.
	other := f.event("contact.created")
	other.OrgID = ids.New(ids.Org, t0)
	f.env.Counter.Reset()
	f.handle(other)
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, f.env.Counter.Snapshot())
}

// An attempt delivers the event signed (verified by the Standard Webhooks
// library), with the event's id as webhook-id; a copy of the attempt's job
// delivers nothing twice.
func TestAnAttemptDeliversOnceSigned(t *testing.T) {
	f := newFixture(t)
	tg := newTarget(t, http.StatusNoContent)
	id, secret := f.endpoint(tg.URL, "contact.created")
	e := f.event("contact.created")
	f.handle(e)
	jobs := f.jobs()
	require.Len(t, jobs, 1)

	f.env.Counter.Reset()
	f.handle(message{Attempt: &jobs[0]})
	writes := f.env.Counter.Count("DynamoDB.UpdateItem") + f.env.Counter.Count("DynamoDB.PutItem") + f.env.Counter.Count("DynamoDB.TransactWriteItems")
	assert.Equal(t, 1, writes, "a success on a healthy endpoint writes the attempt alone")
	f.handle(message{Attempt: &jobs[0]}) // SQS delivers the job again
	require.Equal(t, 1, tg.count(), "delivered once")

	req, body := tg.reqs[0], tg.bodies[0]
	assert.Equal(t, PublicEventID(e), req.Header.Get("webhook-id"), "the same id for every endpoint and retry")
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.VerifyIgnoringTimestamp(body, req.Header))
	var p struct {
		ID, Type string
		Data     map[string]any
	}
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, PublicEventID(e), p.ID)
	assert.Equal(t, "contact.created", p.Type)
	assert.Equal(t, "ada@example.com", p.Data["email"])

	d := f.delivery(id, jobs[0].DeliveryID)
	assert.Equal(t, DeliverySucceeded, d.Status)
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, http.StatusNoContent, d.Attempts[0].StatusCode)
	assert.Empty(t, f.jobs(), "nothing more to do")
	assert.Zero(t, f.delayed())
}

// A failing endpoint is tried on the schedule: now, then 5 min (an SQS
// delay), 30 min, 2 h and 8 h (due items the scheduler queues), then the
// delivery fails. Each attempt is recorded once, with the same webhook-id.
func TestFailuresFollowTheSchedule(t *testing.T) {
	f := newFixture(t)
	tg := newTarget(t, http.StatusInternalServerError)
	id, _ := f.endpoint(tg.URL, "*")
	f.handle(f.event("contact.created"))
	job := f.jobs()[0]

	for n := 1; n <= len(Schedule); n++ {
		job.N = n
		f.handle(message{Attempt: &job})
		f.handle(message{Attempt: &job}) // a copy: recorded once
		d := f.delivery(id, job.DeliveryID)
		require.Len(t, d.Attempts, n)
		assert.Equal(t, http.StatusInternalServerError, d.Attempts[n-1].StatusCode)
		if n == len(Schedule) {
			assert.Equal(t, DeliveryFailed, d.Status, "after 5 attempts")
			assert.Nil(t, d.NextAttemptAt)
			assert.Empty(t, d.DuePK)
			break
		}
		assert.Equal(t, DeliveryPending, d.Status)
		require.NotNil(t, d.NextAttemptAt)
		assert.Equal(t, f.clk.Now().Add(Schedule[n]), *d.NextAttemptAt, "attempt %d after %s", n+1, Schedule[n])
		if Schedule[n] <= MaxSQSDelay {
			assert.Equal(t, 1, f.delayed(), "attempt %d waits on an SQS delay", n+1)
			recheck := d.NextAttemptAt.Add(MaxSQSDelay)
			assert.Equal(t, store.DuePK(recheck, store.DueShard(d.ID)), d.DuePK, "and a re-check, should the job be lost")
		} else {
			assert.Equal(t, store.DuePK(*d.NextAttemptAt, store.DueShard(d.ID)), d.DuePK, "attempt %d is a due item", n+1)
		}
		f.clk.Advance(Schedule[n])
	}
	assert.Equal(t, len(Schedule), tg.count())
	for _, r := range tg.reqs {
		assert.Equal(t, tg.reqs[0].Header.Get("webhook-id"), r.Header.Get("webhook-id"), "the same id on every retry")
	}
	ep, err := f.svc.repo.get(context.Background(), f.org, id)
	require.NoError(t, err)
	assert.Equal(t, len(Schedule), ep.Failures)
	assert.Equal(t, StatusActive, ep.Status, "5 failures do not disable an endpoint")
}

// What ends or delays attempts: a 410 disables the endpoint at once, a
// redirect is a failure (not followed), a Retry-After later than the
// schedule is honoured, 100 failures in a row disable the endpoint, and an
// address the policy refuses fails with no connection made.
func TestAttemptOutcomes(t *testing.T) {
	ctx := context.Background()
	t.Run("410 disables", func(t *testing.T) {
		f := newFixture(t)
		tg := newTarget(t, http.StatusGone)
		id, _ := f.endpoint(tg.URL, "*")
		f.handle(f.event("contact.created"))
		job := f.jobs()[0]
		f.handle(message{Attempt: &job})
		assert.Equal(t, DeliveryFailed, f.delivery(id, job.DeliveryID).Status, "no retry after 410")
		ep, err := f.svc.repo.get(ctx, f.org, id)
		require.NoError(t, err)
		assert.Equal(t, StatusDisabled, ep.Status)
		assert.Contains(t, ep.DisabledReason, "410")
		f.handle(f.event("contact.created"))
		assert.Empty(t, f.jobs(), "a disabled endpoint gets no more deliveries")
	})
	t.Run("a redirect fails, not followed", func(t *testing.T) {
		f := newFixture(t)
		elsewhere := newTarget(t, http.StatusOK)
		tg := newTarget(t, http.StatusFound)
		tg.headers = []http.Header{{"Location": {elsewhere.URL}}}
		id, _ := f.endpoint(tg.URL, "*")
		f.handle(f.event("contact.created"))
		job := f.jobs()[0]
		f.handle(message{Attempt: &job})
		d := f.delivery(id, job.DeliveryID)
		assert.Equal(t, DeliveryPending, d.Status, "retried")
		assert.Equal(t, http.StatusFound, d.Attempts[0].StatusCode)
		assert.Zero(t, elsewhere.count())
	})
	t.Run("Retry-After later than the schedule", func(t *testing.T) {
		f := newFixture(t)
		tg := newTarget(t, http.StatusTooManyRequests)
		tg.headers = []http.Header{{"Retry-After": {"3600"}}}
		id, _ := f.endpoint(tg.URL, "*")
		f.handle(f.event("contact.created"))
		job := f.jobs()[0]
		f.handle(message{Attempt: &job})
		d := f.delivery(id, job.DeliveryID)
		require.NotNil(t, d.NextAttemptAt)
		assert.Equal(t, t0.Add(time.Hour), *d.NextAttemptAt, "an hour, not 5 minutes")
		assert.NotEmpty(t, d.DuePK, "past SQS's delay: a due item")
	})
	t.Run("100 consecutive failures disable", func(t *testing.T) {
		f := newFixture(t)
		tg := newTarget(t, http.StatusBadGateway)
		id, _ := f.endpoint(tg.URL, "*")
		for range MaxConsecutiveFailures - 1 {
			require.NoError(t, f.svc.repo.countFailure(ctx, f.org, id, t0, ""))
		}
		f.handle(f.event("contact.created"))
		job := f.jobs()[0]
		f.handle(message{Attempt: &job})
		ep, err := f.svc.repo.get(ctx, f.org, id)
		require.NoError(t, err)
		assert.Equal(t, StatusDisabled, ep.Status)
		assert.Contains(t, ep.DisabledReason, "100 consecutive")
	})
	t.Run("a refused address", func(t *testing.T) {
		f := newFixture(t)
		tg := newTarget(t, http.StatusOK)
		id, _ := f.endpoint(tg.URL, "*")
		// The stored URL changed behind the API's back (or the allowlist did).
		ep, err := f.svc.repo.get(ctx, f.org, id)
		require.NoError(t, err)
		ep.URL = "https://169.254.169.254/latest/meta-data/"
		require.NoError(t, f.env.Store.Put(ctx, ep))
		f.handle(f.event("contact.created"))
		job := f.jobs()[0]
		f.handle(message{Attempt: &job})
		d := f.delivery(id, job.DeliveryID)
		require.Len(t, d.Attempts, 1)
		assert.Contains(t, d.Attempts[0].Error, "Refused")
		assert.Zero(t, d.Attempts[0].StatusCode)
		assert.Zero(t, tg.count())
	})
}

// Ten attempts in one batch run at once: a slow endpoint does not hold the
// others back (each answers within the batch, whatever the order).
func TestABatchRunsItsAttemptsAtOnce(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slow.Close)
	fast := newTarget(t, http.StatusOK)
	s, _ := f.endpoint(slow.URL, "*")
	fa, _ := f.endpoint(fast.URL, "*")
	f.handle(f.event("contact.created"))
	jobs := f.jobs()
	require.Len(t, jobs, 2)
	var records []json.RawMessage
	for _, j := range jobs {
		raw, _ := json.Marshal(message{Attempt: &j})
		records = append(records, raw)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ev := sqsEvent(records)
		_, _ = f.w.Handle(context.Background(), ev)
	}()
	require.Eventually(t, func() bool { return fast.count() == 1 }, 10*time.Second, 10*time.Millisecond,
		"the fast endpoint is delivered while the slow one has not answered")
	close(release)
	<-done
	for _, j := range jobs {
		assert.Equal(t, DeliverySucceeded, f.delivery(j.WebhookID, j.DeliveryID).Status, fmt.Sprint(map[string]string{s: "slow", fa: "fast"}[j.WebhookID]))
	}
}

func sqsEvent(bodies []json.RawMessage) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: strconv.Itoa(i), Body: string(b)})
	}
	return ev
}

// A window's replay delivers again, oldest first, every event of the
// window the endpoint was delivered and still subscribes to: not test
// pings, not earlier replays, nothing outside the window. A copy of the
// replay's message makes no more deliveries.
func TestAReplayDeliversTheWindowAgain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.svc.WithQueue(f.q, f.queue)
	tg := newTarget(t, http.StatusOK)
	id, _ := f.endpoint(tg.URL, "contact.created", "contact.updated")
	var want []string // event ids, oldest first
	for i, typ := range []string{"contact.created", "contact.updated", "contact.created", "contact.updated"} {
		e := f.event(typ)
		f.handle(e)
		if i >= 1 && typ == "contact.created" {
			want = append(want, PublicEventID(e))
		}
		f.clk.Advance(time.Minute)
	}
	_, err := f.svc.Test(ctx, f.org, id) // a ping in the window: not replayed
	require.NoError(t, err)
	f.jobs()
	_, err = f.svc.Update(ctx, f.org, id, UpdateRequest{Events: &[]string{"contact.created"}}) // no longer contact.updated
	require.NoError(t, err)

	since := t0.Add(time.Minute) // the first event is before the window
	r, err := f.svc.Replay(ctx, f.org, id, ReplayRequest{Since: &since})
	require.NoError(t, err)
	assert.Regexp(t, `^rpl_`, r.ID)
	res, err := f.q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &f.queue, MaxNumberOfMessages: 10})
	require.NoError(t, err)
	require.Len(t, res.Messages, 1)
	replay := *res.Messages[0].Body
	_, err = f.q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &f.queue, ReceiptHandle: res.Messages[0].ReceiptHandle})
	require.NoError(t, err)

	require.NoError(t, f.w.HandleBody(ctx, replay))
	require.NoError(t, f.w.HandleBody(ctx, replay)) // a copy
	jobs := f.jobs()
	var got []string
	seen := map[string]bool{}
	for _, j := range jobs {
		d := f.delivery(id, j.DeliveryID)
		assert.NotEmpty(t, d.ReplayOf)
		if !seen[d.ID] {
			got = append(got, d.EventID)
			seen[d.ID] = true
		}
	}
	assert.Equal(t, want, got, "the window's contact.created events, oldest first, once each")

	// Bad windows.
	old := t0.Add(-31 * 24 * time.Hour)
	_, err = f.svc.Replay(ctx, f.org, id, ReplayRequest{Since: &old})
	assert.ErrorContains(t, err, "30 days")
	_, err = f.svc.Replay(ctx, f.org, id, ReplayRequest{})
	assert.Error(t, err)
}

// A payload over 64 KB carries a link instead of the resource; an endpoint
// whose attempts have all failed for 5 days is disabled, whatever its count.
func TestLargePayloadsAndFiveDaysOfFailures(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tg := newTarget(t, http.StatusInternalServerError)
	id, _ := f.endpoint(tg.URL, "*")

	big := f.event("contact.updated")
	big.Data = json.RawMessage(`{"id":"cnt_01KGFKWWE07N48AVVX159Z8WWJ","properties":{"notes":"` + strings.Repeat("x", 70<<10) + `"}}`)
	f.handle(big)
	job := f.jobs()[0]
	d := f.delivery(id, job.DeliveryID)
	assert.Less(t, len(d.Payload), 1024)
	assert.Contains(t, d.Payload, `"truncated":true`)
	assert.Contains(t, d.Payload, `"id":"cnt_01KGFKWWE07N48AVVX159Z8WWJ"`, "the link names the resource")

	require.NoError(t, f.svc.repo.countFailure(ctx, f.org, id, t0.Add(-MaxFailingFor), "")) // failing since 5 days ago
	f.handle(message{Attempt: &job})
	ep, err := f.svc.repo.get(ctx, f.org, id)
	require.NoError(t, err)
	assert.Equal(t, StatusDisabled, ep.Status)
	assert.Contains(t, ep.DisabledReason, "5 days")
	assert.Equal(t, 2, ep.Failures)
}

package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/segments"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

const (
	org      = "org_01J00000000000000000000001"
	template = "welcome"
	from     = "News <news@example.com>"
)

// fixture is the campaigns API and the fan-out over a fresh table holding
// an organisation on the pro plan with a verified domain and a template.
type fixture struct {
	t      *testing.T
	env    *testenv.Env
	st     *store.Store // the fan-out's store (faults, when asked, are on it)
	clock  *clock.Fake
	rt     *httpx.Router
	svc    *Service
	sender *countingSender
	queue  *fakeQueue
	fanout *Fanout
}

func newFixture(t *testing.T, faults ...*awsx.Faults) *fixture {
	env := testenv.New(t)
	clk := clock.NewFake(t0)
	st := env.Store
	if len(faults) > 0 {
		cfg := env.Config.Copy()
		for _, f := range faults {
			f.Instrument(&cfg)
		}
		awsx.QuickRetries(&cfg, 2)
		st = store.New(dynamodb.NewFromConfig(cfg), env.Store.Table)
	}
	svc := NewService(env.Store, clk)
	inject := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := &tenant.Principal{OrgID: org, Kind: tenant.KindAPIKey, KeyID: "key_test", Plan: "pro"}
			next.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), p)))
		})
	}
	rt := httpx.NewRouter(map[httpx.Access][]httpx.Middleware{httpx.Tenant: {inject}}, clk)
	NewHandlers(svc, httpx.NewCursors([]byte("campaigns-test-secret-0123456789abcdef"))).Register(rt)
	sender := &countingSender{next: messages.NewService(st, clk), made: map[string]int{}}
	q := &fakeQueue{}
	f := &fixture{t: t, env: env, st: st, clock: clk, rt: rt, svc: svc, sender: sender, queue: q,
		fanout: New(st, clk, sender, q, "https://sqs.local/sequence")}
	// A spaced page waits on the fake clock.
	f.fanout.sleep = func(_ context.Context, d time.Duration) error { clk.Advance(d); return nil }
	f.seedOrg()
	return f
}

// seedOrg writes the organisation (pro plan), its verified domain and the
// template.
func (f *fixture) seedOrg() {
	ctx := f.t.Context()
	put := func(item any) { require.NoError(f.t, f.env.Store.Put(ctx, item)) }
	put(struct {
		store.Key
		ID   string `dynamodbav:"id"`
		Plan string `dynamodbav:"plan"`
	}{store.OrgKey(org), org, "pro"})
	put(struct {
		store.Key
		OrgID    string `dynamodbav:"orgId"`
		DomainID string `dynamodbav:"domainId"`
	}{store.DomainClaimKey("example.com"), org, "dom_1"})
	put(struct {
		store.Key
		Status string `dynamodbav:"status"`
	}{store.DomainKey(org, "dom_1"), "verified"})
	f.putTemplate(template)
}

func (f *fixture) putTemplate(id string) {
	put := struct {
		store.Key
		Version int `dynamodbav:"version"`
		stored.Content
	}{store.TemplateKey(org, id), 1, stored.Content{Name: id, Subject: "Hello {{ contact.firstName }}", Format: "html",
		Source: stored.Gzip("<p>Hello</p>"), Text: stored.Gzip("Hello"), Created: t0}}
	require.NoError(f.t, f.env.Store.Put(f.t.Context(), put))
}

// contactSeed is one contact to write.
type contactSeed struct {
	id         string
	email      string
	subscribed bool
	suppressed bool
}

// contacts writes n contacts created before t0 (ids in creation order):
// every unsub-th unsubscribed, every supp-th suppressed (0: none).
func (f *fixture) contacts(n, unsub, supp int) []contactSeed {
	out := make([]contactSeed, n)
	var items []any
	for i := range out {
		c := contactSeed{id: ids.New(ids.Contact, t0.Add(-time.Hour).Add(time.Duration(i)*time.Millisecond)),
			email: fmt.Sprintf("c%03d@example.org", i), subscribed: true}
		if unsub > 0 && i%unsub == 1 {
			c.subscribed = false
		} else if supp > 0 && i%supp == 2 {
			c.suppressed = true
			items = append(items, sends.SuppressionItem{Key: store.SuppressionKey(org, c.email), Type: "suppression", OrgID: org,
				Email: c.email, Reason: "bounce", CreatedAt: t0, GSI1PK: store.SuppressionsByReasonPK(org, "bounce"), GSI1SK: c.email})
		}
		items = append(items, contactItem(c.id, c.email, c.subscribed))
		out[i] = c
	}
	require.NoError(f.t, f.env.Store.PutAll(f.t.Context(), items))
	return out
}

func contactItem(id, email string, subscribed bool) any {
	return struct {
		store.Key
		Type       string `dynamodbav:"type"`
		OrgID      string `dynamodbav:"orgId"`
		ID         string `dynamodbav:"id"`
		Email      string `dynamodbav:"email"`
		Subscribed bool   `dynamodbav:"subscribed"`
	}{store.ContactKey(org, id), "contact", org, id, email, subscribed}
}

// segment writes a ready segment whose members are cs, entered at entered.
func (f *fixture) segment(cs []contactSeed, entered time.Time) string {
	id := ids.New("seg", t0.Add(-2*time.Hour))
	it := segments.Item{Key: store.SegmentKey(org, id), Type: segments.ItemType, OrgID: org, ID: id, Name: "all of them",
		Definition: `{"all":[]}`, Status: segments.StatusReady, Size: len(cs), CreatedAt: t0, UpdatedAt: t0, Version: 1}
	require.NoError(f.t, f.env.Store.Put(f.t.Context(), it))
	f.members(id, cs, entered)
	return id
}

func (f *fixture) members(segmentID string, cs []contactSeed, entered time.Time) {
	items := make([]any, len(cs))
	for i, c := range cs {
		items[i] = struct {
			store.Key
			Type      string    `dynamodbav:"type"`
			SegmentID string    `dynamodbav:"segmentId"`
			ContactID string    `dynamodbav:"contactId"`
			EnteredAt time.Time `dynamodbav:"enteredAt"`
		}{store.SegmentMemberKey(org, segmentID, c.id), "segmentMember", segmentID, c.id, entered}
	}
	require.NoError(f.t, f.env.Store.PutAll(f.t.Context(), items))
}

// do calls the API and decodes the answer into out (when not nil).
func (f *fixture) do(method, path, body string, out any) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	f.rt.ServeHTTP(w, req)
	if out != nil && w.Code < 300 {
		require.NoError(f.t, json.Unmarshal(w.Body.Bytes(), out), w.Body.String())
	}
	return w
}

// must calls the API, requires the status and decodes the answer.
func (f *fixture) must(status int, method, path, body string, out any) {
	f.t.Helper()
	w := f.do(method, path, body, out)
	require.Equal(f.t, status, w.Code, w.Body.String())
}

// broadcast creates a draft broadcast to the segment (or "all").
func (f *fixture) broadcast(segmentID string, extra string) Broadcast {
	var b Broadcast
	body := fmt.Sprintf(`{"name":"December news","segmentId":%q,"templateId":%q,"from":%q,"data":{"month":"December"}%s}`,
		segmentID, template, from, extra)
	f.must(http.StatusCreated, "POST", "/api/broadcasts", body, &b)
	return b
}

// stored reads a broadcast's item.
func (f *fixture) stored(id string) journey.Broadcast {
	var b journey.Broadcast
	require.NoError(f.t, f.env.Store.GetConsistent(f.t.Context(), store.BroadcastKey(org, id), &b))
	return b
}

// start sends a broadcast now and returns the first page job, as the
// changes function makes it.
func (f *fixture) start(id string) journey.BroadcastJob {
	f.must(http.StatusOK, "POST", "/api/broadcasts/"+id+"/send", "", nil)
	b := f.stored(id)
	require.Equal(f.t, journey.BcSending, b.Status)
	return journey.BroadcastJob{OrgID: org, BroadcastID: id, Page: b.Pages}
}

// drain runs the queued page jobs until none is left (at most max), moving
// the clock by each job's delay; it returns how many ran.
func (f *fixture) drain(max int) int {
	n := 0
	for ; n < max; n++ {
		msg, ok := f.queue.pop()
		if !ok {
			return n
		}
		f.clock.Advance(time.Duration(msg.delay) * time.Second)
		require.NoError(f.t, f.fanout.Run(f.t.Context(), msg.job))
	}
	return n
}

// countingSender counts the sends each contact's SendAs made (not found).
type countingSender struct {
	next Sender

	mu    sync.Mutex
	made  map[string]int // contact id → sends made
	calls int
	// before, when set, runs before each call; an error it returns is the
	// call's (the worker dying half-way).
	before func(n int) error
}

func (c *countingSender) SendAs(ctx context.Context, orgID, id, source string, in messages.SendRequest) (messages.Send, bool, error) {
	c.mu.Lock()
	c.calls++
	n, before := c.calls, c.before
	c.mu.Unlock()
	if before != nil {
		if err := before(n); err != nil {
			return messages.Send{}, false, err
		}
	}
	s, existed, err := c.next.SendAs(ctx, orgID, id, source, in)
	if err == nil && !existed {
		var to struct {
			ContactID string `json:"contactId"`
		}
		_ = json.Unmarshal(in.To, &to)
		c.mu.Lock()
		c.made[to.ContactID]++
		c.mu.Unlock()
	}
	return s, existed, err
}

func (c *countingSender) madeFor(contactID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.made[contactID]
}

func (c *countingSender) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.made {
		n += v
	}
	return n
}

// fakeQueue records the page jobs the fan-out queues.
type fakeQueue struct {
	mu   sync.Mutex
	msgs []queued
	sent int
	fail error
}

type queued struct {
	job   journey.BroadcastJob
	delay int32
}

func (q *fakeQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return nil, q.fail
	}
	var j journey.Job
	if err := json.Unmarshal([]byte(*in.MessageBody), &j); err != nil || j.Broadcast == nil {
		return nil, fmt.Errorf("fake queue: bad body %s", *in.MessageBody)
	}
	q.sent++
	q.msgs = append(q.msgs, queued{*j.Broadcast, in.DelaySeconds})
	return &sqs.SendMessageOutput{}, nil
}

func (q *fakeQueue) pop() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return queued{}, false
	}
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	return m, true
}

func (q *fakeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// errDied stands for a worker killed in the middle of a page.
var errDied = errs.NewUnavailable(1, fmt.Errorf("worker died"))

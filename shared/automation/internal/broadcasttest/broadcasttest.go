// Package broadcasttest is the test setup the broadcasts API's tests
// (shared/automation/campaigns) and the fan-out's (shared/automation/fanout)
// share: a fresh table holding an organisation on the pro plan with a
// verified domain and a template, its contacts and segments, and an API
// router that calls as the organisation. It does not import package
// campaigns (whose own tests use it): the caller registers the campaigns
// API on Router.
package broadcasttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/segments"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/testenv"
)

// T0 is the fake clock's start.
var T0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// The organisation, its template and a sender of its verified domain.
const (
	Org      = "org_01J00000000000000000000001"
	Template = "welcome"
	From     = "News <news@example.com>"
)

// Fixture is a fresh table with the organisation, a fake clock at T0 and a
// router whose tenant routes call as the organisation (an API key, pro).
type Fixture struct {
	T      *testing.T
	Env    *testenv.Env
	Clock  *clock.Fake
	Router *httpx.Router
}

// New returns a Fixture with the organisation, its verified domain and
// the template written.
func New(t *testing.T) *Fixture {
	env := testenv.New(t)
	clk := clock.NewFake(T0)
	inject := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := &tenant.Principal{OrgID: Org, Kind: tenant.KindAPIKey, KeyID: "key_test", Plan: "pro"}
			next.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), p)))
		})
	}
	rt := httpx.NewRouter(map[httpx.Access][]httpx.Middleware{httpx.Tenant: {inject}}, clk)
	f := &Fixture{T: t, Env: env, Clock: clk, Router: rt}
	f.seedOrg()
	return f
}

// Cursors are the list cursors the campaigns API is registered with.
func (f *Fixture) Cursors() *httpx.Cursors {
	return httpx.NewCursors([]byte("campaigns-test-secret-0123456789abcdef"))
}

// seedOrg writes the organisation (pro plan), its verified domain and the
// template.
func (f *Fixture) seedOrg() {
	ctx := f.T.Context()
	put := func(item any) { require.NoError(f.T, f.Env.Store.Put(ctx, item)) }
	put(struct {
		store.Key
		ID   string `dynamodbav:"id"`
		Plan string `dynamodbav:"plan"`
	}{store.OrgKey(Org), Org, "pro"})
	put(struct {
		store.Key
		OrgID    string `dynamodbav:"orgId"`
		DomainID string `dynamodbav:"domainId"`
	}{store.DomainClaimKey("example.com"), Org, "dom_1"})
	put(struct {
		store.Key
		Status string `dynamodbav:"status"`
	}{store.DomainKey(Org, "dom_1"), "verified"})
	f.PutTemplate(Template)
}

// PutTemplate writes a template of the organisation.
func (f *Fixture) PutTemplate(id string) {
	put := struct {
		store.Key
		Version int `dynamodbav:"version"`
		stored.Content
	}{store.TemplateKey(Org, id), 1, stored.Content{Name: id, Subject: "Hello {{ contact.firstName }}", Format: "html",
		Source: stored.Gzip("<p>Hello</p>"), Text: stored.Gzip("Hello"), Created: T0}}
	require.NoError(f.T, f.Env.Store.Put(f.T.Context(), put))
}

// Contact is one contact written.
type Contact struct {
	ID         string
	Email      string
	Subscribed bool
	Suppressed bool
}

// Contacts writes n contacts created before T0 (ids in creation order):
// every unsub-th unsubscribed, every supp-th suppressed (0: none).
func (f *Fixture) Contacts(n, unsub, supp int) []Contact {
	out := make([]Contact, n)
	var items []any
	for i := range out {
		c := Contact{ID: ids.New(ids.Contact, T0.Add(-time.Hour).Add(time.Duration(i)*time.Millisecond)),
			Email: fmt.Sprintf("c%03d@example.org", i), Subscribed: true}
		if unsub > 0 && i%unsub == 1 {
			c.Subscribed = false
		} else if supp > 0 && i%supp == 2 {
			c.Suppressed = true
			items = append(items, sends.SuppressionItem{Key: store.SuppressionKey(Org, c.Email), Type: "suppression", OrgID: Org,
				Email: c.Email, Reason: "bounce", CreatedAt: T0, GSI1PK: store.SuppressionsByReasonPK(Org, "bounce"), GSI1SK: c.Email})
		}
		items = append(items, ContactItem(c.ID, c.Email, c.Subscribed))
		out[i] = c
	}
	require.NoError(f.T, f.Env.Store.PutAll(f.T.Context(), items))
	return out
}

// ContactItem is a contact's item.
func ContactItem(id, email string, subscribed bool) any {
	return struct {
		store.Key
		Type       string `dynamodbav:"type"`
		OrgID      string `dynamodbav:"orgId"`
		ID         string `dynamodbav:"id"`
		Email      string `dynamodbav:"email"`
		Subscribed bool   `dynamodbav:"subscribed"`
	}{store.ContactKey(Org, id), "contact", Org, id, email, subscribed}
}

// Segment writes a ready segment whose members are cs, entered at entered.
func (f *Fixture) Segment(cs []Contact, entered time.Time) string {
	id := ids.New("seg", T0.Add(-2*time.Hour))
	it := segments.Item{Key: store.SegmentKey(Org, id), Type: segments.ItemType, OrgID: Org, ID: id, Name: "all of them",
		Definition: `{"all":[]}`, Status: segments.StatusReady, Size: len(cs), CreatedAt: T0, UpdatedAt: T0, Version: 1}
	require.NoError(f.T, f.Env.Store.Put(f.T.Context(), it))
	f.Members(id, cs, entered)
	return id
}

// Members writes cs as members of a segment, entered at entered.
func (f *Fixture) Members(segmentID string, cs []Contact, entered time.Time) {
	items := make([]any, len(cs))
	for i, c := range cs {
		items[i] = struct {
			store.Key
			Type      string    `dynamodbav:"type"`
			SegmentID string    `dynamodbav:"segmentId"`
			ContactID string    `dynamodbav:"contactId"`
			EnteredAt time.Time `dynamodbav:"enteredAt"`
		}{store.SegmentMemberKey(Org, segmentID, c.ID), "segmentMember", segmentID, c.ID, entered}
	}
	require.NoError(f.T, f.Env.Store.PutAll(f.T.Context(), items))
}

// Do calls the API and decodes the answer into out (when not nil).
func (f *Fixture) Do(method, path, body string, out any) *httptest.ResponseRecorder {
	f.T.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	f.Router.ServeHTTP(w, req)
	if out != nil && w.Code < 300 {
		require.NoError(f.T, json.Unmarshal(w.Body.Bytes(), out), w.Body.String())
	}
	return w
}

// Must calls the API, requires the status and decodes the answer.
func (f *Fixture) Must(status int, method, path, body string, out any) {
	f.T.Helper()
	w := f.Do(method, path, body, out)
	require.Equal(f.T, status, w.Code, w.Body.String())
}

// CreateBroadcast creates a draft broadcast to the segment (or "all") and
// decodes the API's answer into out.
func (f *Fixture) CreateBroadcast(segmentID, extra string, out any) {
	f.T.Helper()
	body := fmt.Sprintf(`{"name":"December news","segmentId":%q,"templateId":%q,"from":%q,"data":{"month":"December"}%s}`,
		segmentID, Template, From, extra)
	f.Must(http.StatusCreated, "POST", "/api/broadcasts", body, out)
}

// Stored reads a broadcast's item.
func (f *Fixture) Stored(id string) journey.Broadcast {
	var b journey.Broadcast
	require.NoError(f.T, f.Env.Store.GetConsistent(f.T.Context(), store.BroadcastKey(Org, id), &b))
	return b
}

// Start sends a broadcast now and returns the first page job, as the
// changes function makes it.
func (f *Fixture) Start(id string) journey.BroadcastJob {
	f.Must(http.StatusOK, "POST", "/api/broadcasts/"+id+"/send", "", nil)
	b := f.Stored(id)
	require.Equal(f.T, journey.BcSending, b.Status)
	return journey.BroadcastJob{OrgID: Org, BroadcastID: id, Page: b.Pages}
}

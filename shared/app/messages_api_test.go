package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/tenant"
)

// sender is a tenant with a verified sending domain (verified through the
// API, with the SES adapter's local setting, as under `make run`).
type sender struct {
	*tenantAPI
	domain string
	from   string
}

// messagesAPI is the harness with SES's local auto-verify on, and a tenant
// whose domain is verified.
func messagesAPI(t *testing.T, opts ...option) (*api, *sender) {
	t.Helper()
	a := domainsAPI(t, true, opts...)
	return a, a.sender(t, "owner@example.com", "news")
}

func (a *api) sender(t *testing.T, email, label string) *sender {
	t.Helper()
	c := a.tenant(email)
	name := domainName(t, label)
	d := c.createDomain(map[string]any{"name": name})
	v := c.call("POST", "/api/domains/"+d["id"].(string)+"/verify", nil)
	require.Equal(t, http.StatusOK, v.Status, string(v.Body))
	require.Equal(t, "verified", v.JSON(t)["status"])
	return &sender{tenantAPI: c, domain: name, from: "Acme <news@" + name + ">"}
}

// inline is a valid inline send to "to".
func (s *sender) inline(to any, extra ...map[string]any) map[string]any {
	b := map[string]any{"to": to, "from": s.from, "subject": "Hello {{ contact.firstName }}", "html": "<p>Order {{ data.orderId }}</p>", "data": map[string]any{"orderId": "A-1"}}
	for _, e := range extra {
		for k, v := range e {
			b[k] = v
		}
	}
	return b
}

func (s *sender) send(body map[string]any, headers ...string) map[string]any {
	s.t.Helper()
	r := s.call("POST", "/api/send", body, headers...)
	require.Equal(s.t, http.StatusAccepted, r.Status, string(r.Body))
	return r.JSON(s.t)
}

func (s *sender) putTemplate(id string, extra map[string]any) {
	s.t.Helper()
	b := map[string]any{"name": "T " + id, "subject": "Hi {{ contact.firstName }}", "html": "<p>Hello {{ data.name }}</p>"}
	for k, v := range extra {
		b[k] = v
	}
	r := s.call("PUT", "/api/templates/"+id, b)
	require.Less(s.t, r.Status, 300, string(r.Body))
}

// sendIDs lists the ids a list route answers.
func (s *sender) sendIDs(path string) []string {
	s.t.Helper()
	r := s.call("GET", path, nil)
	require.Equal(s.t, http.StatusOK, r.Status, string(r.Body))
	out := []string{}
	for _, d := range r.JSON(s.t)["data"].([]any) {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

// item reads a send's item from the table.
func (a *api) sendItem(t *testing.T, orgID, id string) sends.Item {
	t.Helper()
	var it sends.Item
	require.NoError(t, a.env.Store.GetConsistent(t.Context(), store.SendKey(orgID, id), &it))
	return it
}

// An accepted send is written queued, and GET shows it with its first
// timeline entry; the month's usage counts it.
func TestSendIsAcceptedQueuedAndShown(t *testing.T) {
	a, s := messagesAPI(t)
	sent := s.send(s.inline("  Grace@Example.com ", map[string]any{"tags": map[string]any{"campaign": "spring"}, "headers": map[string]any{"X-Campaign": "spring"}}))
	id := sent["id"].(string)
	assert.Regexp(t, `^msg_[0-9A-Z]{26}$`, id)
	assert.Equal(t, "queued", sent["status"])
	assert.Equal(t, "grace@example.com", sent["to"], "trimmed and lower-cased")
	assert.Nil(t, sent["sendAt"])
	assert.Nil(t, sent["contactId"], "no contact has this address")
	assert.Equal(t, map[string]any{"campaign": "spring"}, sent["tags"])
	assert.Equal(t, map[string]any{"opens": true, "clicks": true}, sent["tracking"], "tracking on by default")
	assert.Equal(t, "transactional", sent["type"])
	assert.Equal(t, t0.Format(time.RFC3339), sent["createdAt"])

	it := a.sendItem(t, s.s.OrgID, id)
	assert.Equal(t, sends.Queued, it.Status)
	assert.Equal(t, s.from, it.From)
	assert.Empty(t, it.DuePK, "only scheduled sends are due")
	html, err := stored.Gunzip(it.HTML)
	require.NoError(t, err)
	assert.Equal(t, "<p>Order {{ data.orderId }}</p>", html, "the inline body, compressed")
	text, err := stored.Gunzip(it.Text)
	require.NoError(t, err)
	assert.Contains(t, text, "Order {{ data.orderId }}", "text generated from the HTML")
	assert.JSONEq(t, `{"orderId":"A-1"}`, it.Data)
	var tag store.Key
	require.NoError(t, a.env.Store.Get(t.Context(), store.SendTagKey(s.s.OrgID, "campaign", "spring", id), &tag), "the tag's entry")

	got := s.call("GET", "/api/sends/"+id, nil)
	require.Equal(t, http.StatusOK, got.Status, string(got.Body))
	m := got.JSON(t)
	assert.Equal(t, "queued", m["status"])
	assert.Equal(t, []any{map[string]any{"type": "queued", "at": t0.Format(time.RFC3339)}}, m["timeline"])

	me := s.call("GET", "/api/users/me", nil).JSON(t)
	assert.EqualValues(t, 1, me["usage"].(map[string]any)["emailsThisMonth"])
}

// A templated send pins the template's latest version (or the one asked
// for), falls back to the template's from, and finds the contact of the
// address; {contactId} reads the contact.
func TestTemplatedSendPinsItsVersion(t *testing.T) {
	_, s := messagesAPI(t)
	contact := s.createContact(map[string]any{"email": "ada@example.com", "firstName": "Ada"})
	cid := contact["id"].(string)
	s.putTemplate("welcome", map[string]any{"from": s.from})
	s.putTemplate("welcome", map[string]any{"from": s.from, "subject": "Version two"})

	latest := s.send(map[string]any{"to": map[string]any{"contactId": cid}, "templateId": "welcome"})
	assert.EqualValues(t, 2, latest["templateVersion"])
	assert.Equal(t, "welcome", latest["templateId"])
	assert.Equal(t, cid, latest["contactId"])
	assert.Equal(t, "ada@example.com", latest["to"])
	assert.Equal(t, s.from, latest["from"], "the template's from")

	pinned := s.send(map[string]any{"to": "ADA@example.com", "templateId": "welcome", "version": 1})
	assert.EqualValues(t, 1, pinned["templateVersion"])
	assert.Equal(t, cid, pinned["contactId"], "the contact of the address")

	for _, body := range []map[string]any{
		{"to": "ada@example.com", "templateId": "welcome", "version": 9},
		{"to": "ada@example.com", "templateId": "nope"},
		{"to": map[string]any{"contactId": "cnt_01J00000000000000000000000"}, "templateId": "welcome"},
	} {
		r := s.call("POST", "/api/send", body)
		assert.Equal(t, http.StatusNotFound, r.Status, "%v: %s", body, r.Body)
	}
}

// A send with a future sendAt is scheduled (with its Due keys), listed
// soonest first; a past sendAt sends now; over 30 days is a 422.
func TestScheduledSends(t *testing.T) {
	a, s := messagesAPI(t)
	later := s.send(s.inline("a@example.com", map[string]any{"sendAt": t0.Add(2 * time.Hour).Format(time.RFC3339)}))
	sooner := s.send(s.inline("b@example.com", map[string]any{"sendAt": t0.Add(time.Hour).Format(time.RFC3339)}))
	now := s.send(s.inline("c@example.com", map[string]any{"sendAt": t0.Add(-time.Hour).Format(time.RFC3339)}))
	assert.Equal(t, "scheduled", later["status"])
	assert.Equal(t, t0.Add(2*time.Hour).Format(time.RFC3339), later["sendAt"])
	assert.Equal(t, "queued", now["status"], "a past sendAt sends now")

	it := a.sendItem(t, s.s.OrgID, later["id"].(string))
	duePK, dueSK := sends.DueKeys(it.ID, t0.Add(2*time.Hour))
	assert.Equal(t, duePK, it.DuePK)
	assert.Equal(t, dueSK, it.DueSK)

	assert.Equal(t, []string{sooner["id"].(string), later["id"].(string)}, s.sendIDs("/api/scheduled"), "soonest first")
	page := s.call("GET", "/api/scheduled?limit=1", nil).JSON(t)
	require.NotNil(t, page["nextCursor"])
	assert.Equal(t, []string{later["id"].(string)}, s.sendIDs("/api/scheduled?limit=1&cursor="+page["nextCursor"].(string)))

	timeline := s.call("GET", "/api/sends/"+later["id"].(string), nil).JSON(t)["timeline"]
	assert.Equal(t, []any{map[string]any{"type": "scheduled", "at": t0.Format(time.RFC3339)}}, timeline)

	far := s.call("POST", "/api/send", s.inline("d@example.com", map[string]any{"sendAt": t0.Add(31 * 24 * time.Hour).Format(time.RFC3339)}))
	assert.Equal(t, http.StatusUnprocessableEntity, far.Status)
	assert.Contains(t, far.ErrMessage(t), "sendAt")
}

// Every rule of the body is a 4xx in the envelope naming its field, never
// a 500, and nothing is written.
func TestSendValidation(t *testing.T) {
	_, s := messagesAPI(t)
	big := strings.Repeat("x", messages.MaxBodyBytes+1)
	manyTags, manyHeaders := map[string]any{}, map[string]any{}
	for i := range 11 {
		manyTags[fmt.Sprint("t", i)] = "v"
	}
	for i := range 21 {
		manyHeaders[fmt.Sprint("X-H", i)] = "v"
	}
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"no to", map[string]any{"from": s.from, "subject": "s", "html": "h"}, 400, "to"},
		{"bad to", s.inline("not-an-email"), 400, "to"},
		{"to object without contactId", s.inline(map[string]any{"id": "x"}), 400, "to"},
		{"to a number", s.inline(5), 400, "to"},
		{"no body", map[string]any{"to": "a@example.com", "from": s.from}, 400, "templateId"},
		{"template and inline", s.inline("a@example.com", map[string]any{"templateId": "t"}), 400, "templateId"},
		{"version without template", s.inline("a@example.com", map[string]any{"version": 2}), 400, "version"},
		{"no subject", map[string]any{"to": "a@example.com", "from": s.from, "html": "h"}, 400, "subject"},
		{"no html", map[string]any{"to": "a@example.com", "from": s.from, "subject": "s"}, 400, "html"},
		{"two-line subject", s.inline("a@example.com", map[string]any{"subject": "a\nb"}), 400, "subject"},
		{"long subject", s.inline("a@example.com", map[string]any{"subject": strings.Repeat("s", 999)}), 400, "subject"},
		{"html too big", s.inline("a@example.com", map[string]any{"html": big}), 422, "html"},
		{"text too big", s.inline("a@example.com", map[string]any{"text": big}), 422, "text"},
		{"broken Liquid", s.inline("a@example.com", map[string]any{"html": "<p>{% if x %}</p>"}), 422, "Liquid"},
		{"data not an object", s.inline("a@example.com", map[string]any{"data": []any{1}}), 400, "data"},
		{"data too big", s.inline("a@example.com", map[string]any{"data": map[string]any{"x": strings.Repeat("d", 33<<10)}}), 400, "data"},
		{"bad from", s.inline("a@example.com", map[string]any{"from": "nobody"}), 400, "from"},
		{"bad replyTo", s.inline("a@example.com", map[string]any{"replyTo": "x@"}), 400, "replyTo"},
		{"From header", s.inline("a@example.com", map[string]any{"headers": map[string]any{"from": "x@example.com"}}), 400, "from"},
		{"Content header", s.inline("a@example.com", map[string]any{"headers": map[string]any{"Content-Type": "text/plain"}}), 400, "Content-Type"},
		{"DKIM header", s.inline("a@example.com", map[string]any{"headers": map[string]any{"DKIM-Signature": "x"}}), 400, "DKIM-Signature"},
		{"List-Unsubscribe header", s.inline("a@example.com", map[string]any{"headers": map[string]any{"List-Unsubscribe-Post": "x"}}), 400, "List-Unsubscribe-Post"},
		{"CRLF in a header", s.inline("a@example.com", map[string]any{"headers": map[string]any{"X-A": "a\r\nBcc: x@example.com"}}), 400, "X-A"},
		{"bad header name", s.inline("a@example.com", map[string]any{"headers": map[string]any{"X A": "a"}}), 400, "header"},
		{"too many headers", s.inline("a@example.com", map[string]any{"headers": manyHeaders}), 400, "headers"},
		{"too many tags", s.inline("a@example.com", map[string]any{"tags": manyTags}), 400, "tags"},
		{"bad tag name", s.inline("a@example.com", map[string]any{"tags": map[string]any{"a b": "x"}}), 400, "tag"},
		{"tag value with =", s.inline("a@example.com", map[string]any{"tags": map[string]any{"a": "x=y"}}), 400, "tag"},
		{"tag value too long", s.inline("a@example.com", map[string]any{"tags": map[string]any{"a": strings.Repeat("v", 257)}}), 400, "tag"},
		{"tag value not a string", s.inline("a@example.com", map[string]any{"tags": map[string]any{"a": 1}}), 400, "tags"},
		{"bad sendAt", s.inline("a@example.com", map[string]any{"sendAt": "tomorrow"}), 400, "sendAt"},
		{"bad type", s.inline("a@example.com", map[string]any{"type": "bulk"}), 400, "type"},
		{"unknown field", s.inline("a@example.com", map[string]any{"cc": "x@example.com"}), 400, "cc"},
		{"unknown tracking field", s.inline("a@example.com", map[string]any{"tracking": map[string]any{"pixels": true}}), 400, "pixels"},
		{"no from at all", map[string]any{"to": "a@example.com", "subject": "s", "html": "h"}, 422, "from"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call("POST", "/api/send", c.body)
			require.Equal(t, c.status, r.Status, string(r.Body))
			assert.Contains(t, string(r.Body), c.field)
		})
	}
	assert.Empty(t, s.sendIDs("/api/sends"), "nothing was written")
}

// The from's domain must be a verified domain of this tenant.
func TestFromMustBeAVerifiedDomainOfTheTenant(t *testing.T) {
	a, s := messagesAPI(t)
	other := a.sender(t, "other@example.com", "other")
	pending := domainName(t, "pending")
	s.createDomain(map[string]any{"name": pending})

	for _, from := range []string{"news@unknown-" + s.domain, "news@" + pending, "Other <x@" + other.domain + ">"} {
		r := s.call("POST", "/api/send", s.inline("a@example.com", map[string]any{"from": from}))
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s: %s", from, r.Body)
		assert.Contains(t, r.ErrMessage(t), "'from'")
	}
	s.putTemplate("no-from", nil)
	r := s.call("POST", "/api/send", map[string]any{"to": "a@example.com", "templateId": "no-from"})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "neither the send nor the template has a from")
	assert.Contains(t, r.ErrMessage(t), "'from'")
	assert.Empty(t, s.sendIDs("/api/sends"))
	assert.Equal(t, "queued", s.send(s.inline("a@example.com", map[string]any{"from": "x@" + strings.ToUpper(s.domain)}))["status"], "control: the tenant's domain, any case")
}

// A suppressed address, or an unsubscribed contact for marketing, is
// refused at acceptance; transactional mail still reaches an unsubscribed
// contact.
func TestSuppressedAndUnsubscribedRecipientsAreRefused(t *testing.T) {
	_, s := messagesAPI(t)
	require.Equal(t, http.StatusCreated, s.call("POST", "/api/suppressions", map[string]any{"email": "gone@example.com"}).Status)
	r := s.call("POST", "/api/send", s.inline("Gone@example.com"))
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	assert.Contains(t, r.ErrMessage(t), "'to'")
	assert.Contains(t, r.ErrMessage(t), "manual")

	c := s.createContact(map[string]any{"email": "quiet@example.com"})
	require.Equal(t, http.StatusOK, s.call("PATCH", "/api/contacts/"+c["id"].(string), map[string]any{"subscribed": false}).Status)
	for _, to := range []any{"quiet@example.com", map[string]any{"contactId": c["id"]}} {
		r := s.call("POST", "/api/send", s.inline(to, map[string]any{"type": "marketing"}))
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%v", to)
		assert.Contains(t, r.ErrMessage(t), "unsubscribed")
	}
	ok := s.send(s.inline("quiet@example.com"))
	assert.Equal(t, c["id"], ok["contactId"], "transactional mail to an unsubscribed contact")
	assert.Len(t, s.sendIDs("/api/sends"), 1)
}

// The plan's monthly quota: the send that would pass it is a 429 naming
// the quota, and nothing is written.
func TestMonthlyEmailQuota(t *testing.T) {
	a, s := messagesAPI(t)
	quota := tenant.PlanByName("free").Quotas.EmailsPerMonth
	usage := store.UsageKey(s.s.OrgID, t0)
	require.NoError(t, a.env.Store.Put(t.Context(), map[string]any{"PK": usage.PK, "SK": usage.SK, messages.UsageEmailsAttr: quota - 1}))

	last := s.send(s.inline("a@example.com", map[string]any{"tags": map[string]any{"k": "v"}}))
	r := s.call("POST", "/api/send", s.inline("b@example.com", map[string]any{"tags": map[string]any{"k": "v"}}))
	require.Equal(t, http.StatusTooManyRequests, r.Status, string(r.Body))
	assert.Equal(t, "RATE_LIMITED", r.ErrCode(t))
	assert.Contains(t, r.ErrMessage(t), fmt.Sprint(quota))
	assert.Contains(t, r.ErrMessage(t), "monthly quota")
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
	assert.Equal(t, []string{last["id"].(string)}, s.sendIDs("/api/sends"), "nothing queued")
	assert.Equal(t, []string{last["id"].(string)}, s.sendIDs("/api/sends?tag=k:v"), "no tag entry")
	me := s.call("GET", "/api/users/me", nil).JSON(t)
	assert.EqualValues(t, quota, me["usage"].(map[string]any)["emailsThisMonth"])

	a.clock.Advance(40 * 24 * time.Hour)
	assert.Equal(t, "queued", s.send(s.inline("b@example.com"))["status"], "a new month, a new quota")
}

// The same Idempotency-Key makes one send.
func TestIdempotentSendMakesOneSend(t *testing.T) {
	_, s := messagesAPI(t)
	first := s.call("POST", "/api/send", s.inline("a@example.com"), "Idempotency-Key", "order-1")
	require.Equal(t, http.StatusAccepted, first.Status)
	again := s.call("POST", "/api/send", s.inline("a@example.com"), "Idempotency-Key", "order-1")
	require.Equal(t, http.StatusAccepted, again.Status)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, first.JSON(t)["id"], again.JSON(t)["id"])
	assert.Len(t, s.sendIDs("/api/sends"), 1)
}

// A batch answers each message on its own.
func TestSendBatch(t *testing.T) {
	_, s := messagesAPI(t)
	r := s.call("POST", "/api/send/batch", map[string]any{"messages": []any{
		s.inline("a@example.com"),
		s.inline("nope"),
		s.inline("b@example.com", map[string]any{"sendAt": t0.Add(time.Hour).Format(time.RFC3339)}),
		s.inline("c@example.com", map[string]any{"from": "x@unverified.example.com"}),
		map[string]any{"to": "d@example.com", "bogus": 1},
	}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	results := r.JSON(t)["data"].([]any)
	require.Len(t, results, 5)
	status := func(i int) string { return results[i].(map[string]any)["status"].(string) }
	code := func(i int) string {
		return results[i].(map[string]any)["error"].(map[string]any)["code"].(string)
	}
	assert.Equal(t, "queued", status(0))
	assert.Equal(t, "error", status(1))
	assert.Equal(t, "VALIDATION_ERROR", code(1))
	assert.Equal(t, "scheduled", status(2))
	assert.Equal(t, "UNPROCESSABLE_ENTITY", code(3))
	assert.Equal(t, "VALIDATION_ERROR", code(4))
	ids := s.sendIDs("/api/sends")
	assert.ElementsMatch(t, []string{results[0].(map[string]any)["id"].(string), results[2].(map[string]any)["id"].(string)}, ids)

	for _, body := range []any{map[string]any{"messages": []any{}}, map[string]any{}, map[string]any{"messages": make([]any, 101)}} {
		assert.Equal(t, http.StatusBadRequest, s.call("POST", "/api/send/batch", body).Status)
	}
}

// Each filter of the history returns its sends, newest first, with one
// Query (the tag: one Query and one BatchGetItem).
func TestSendHistoryFilters(t *testing.T) {
	a, s := messagesAPI(t)
	c := s.createContact(map[string]any{"email": "ada@example.com"})
	s.putTemplate("promo", map[string]any{"from": s.from})
	first := s.send(s.inline("ada@example.com", map[string]any{"tags": map[string]any{"campaign": "spring"}}))["id"].(string)
	a.clock.Advance(time.Minute)
	second := s.send(map[string]any{"to": "bob@example.com", "templateId": "promo", "tags": map[string]any{"campaign": "spring"}})["id"].(string)
	a.clock.Advance(time.Minute)
	third := s.send(s.inline("bob@example.com", map[string]any{"sendAt": t0.Add(time.Hour).Format(time.RFC3339)}))["id"].(string)

	assert.Equal(t, []string{third, second, first}, s.sendIDs("/api/sends"), "newest first")
	assert.Equal(t, []string{third, second}, s.sendIDs("/api/sends?to=BOB@example.com"))
	assert.Equal(t, []string{first}, s.sendIDs("/api/sends?contactId="+c["id"].(string)))
	assert.Equal(t, []string{second}, s.sendIDs("/api/sends?templateId=promo"))
	assert.Equal(t, []string{second, first}, s.sendIDs("/api/sends?status=queued"))
	assert.Equal(t, []string{third}, s.sendIDs("/api/sends?status=scheduled"))
	assert.Equal(t, []string{second, first}, s.sendIDs("/api/sends?tag=campaign:spring"))
	assert.Empty(t, s.sendIDs("/api/sends?tag=campaign:autumn"))
	after := t0.Add(30 * time.Second).Format(time.RFC3339)
	before := t0.Add(90 * time.Second).Format(time.RFC3339)
	assert.Equal(t, []string{second}, s.sendIDs("/api/sends?createdAfter="+after+"&createdBefore="+before))
	assert.Equal(t, []string{second}, s.sendIDs("/api/sends?to=bob@example.com&createdBefore="+before))

	page := s.call("GET", "/api/sends?limit=2", nil).JSON(t)
	require.NotNil(t, page["nextCursor"])
	assert.Equal(t, []string{first}, s.sendIDs("/api/sends?limit=2&cursor="+page["nextCursor"].(string)))
	r := s.call("GET", "/api/sends?to=bob@example.com&cursor="+page["nextCursor"].(string), nil)
	assert.Equal(t, http.StatusBadRequest, r.Status, "a cursor continues only its own list")

	summary := s.call("GET", "/api/sends?limit=1", nil).JSON(t)["data"].([]any)[0].(map[string]any)
	assert.NotContains(t, summary, "timeline")
	assert.NotContains(t, summary, "html")

	for _, q := range []string{"to=a@example.com&status=queued", "tag=campaign:spring&templateId=promo", "status=nope", "tag=nocolon", "to=nope", "createdAfter=yesterday", "status=scheduled&createdAfter=" + after} {
		r := s.call("GET", "/api/sends?"+q, nil)
		assert.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", q, r.Body)
	}

	s.call("GET", "/api/sends", nil) // warm
	for q, want := range map[string]map[string]int{
		"":                               {"DynamoDB.Query": 1},
		"?to=bob@example.com":            {"DynamoDB.Query": 1},
		"?contactId=" + c["id"].(string): {"DynamoDB.Query": 1},
		"?templateId=promo":              {"DynamoDB.Query": 1},
		"?status=queued":                 {"DynamoDB.Query": 1},
		"?tag=campaign:spring":           {"DynamoDB.Query": 1, "DynamoDB.BatchGetItem": 1},
	} {
		assert.Equal(t, want, s.callCost("GET", "/api/sends"+q, nil), q)
	}
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, s.callCost("GET", "/api/sends/"+first, nil), "a send and its timeline: one Query")
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, s.callCost("GET", "/api/scheduled", nil))
}

// GET /api/sends/{id} shows the timeline the workers record, in event-time
// order after the acceptance.
func TestSendTimeline(t *testing.T) {
	a, s := messagesAPI(t)
	id := s.send(s.inline("a@example.com"))["id"].(string)
	it := a.sendItem(t, s.s.OrgID, id)
	ledger := sends.Ledger{Store: a.env.Store}
	require.NoError(t, ledger.Record(t.Context(), &it, sends.Event{Type: sends.Delivered, At: t0.Add(2 * time.Second), Status: sends.Delivered}))
	require.NoError(t, ledger.Record(t.Context(), &it, sends.Event{Type: sends.Sent, At: t0.Add(time.Second), Status: sends.Sent, SESMessageID: "ses-1"}))
	m := s.call("GET", "/api/sends/"+id, nil).JSON(t)
	assert.Equal(t, "delivered", m["status"])
	assert.Equal(t, "ses-1", m["sesMessageId"])
	var types []string
	for _, e := range m["timeline"].([]any) {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	assert.Equal(t, []string{"queued", "sent", "delivered"}, types)

	for _, bad := range []string{"msg_nope", "nope", "msg_01J00000000000000000000000"} {
		assert.Equal(t, http.StatusNotFound, s.call("GET", "/api/sends/"+bad, nil).Status, bad)
	}
}

// Reschedule and cancel: only a scheduled send, recorded on its timeline;
// a send already sending (or queued, or cancelled) is 409.
func TestRescheduleAndCancel(t *testing.T) {
	a, s := messagesAPI(t)
	sched := func(to string) string {
		return s.send(s.inline(to, map[string]any{"sendAt": t0.Add(time.Hour).Format(time.RFC3339)}))["id"].(string)
	}
	id := sched("a@example.com")
	newAt := t0.Add(3 * time.Hour)
	r := s.call("PATCH", "/api/scheduled/"+id, map[string]any{"sendAt": newAt.Format(time.RFC3339)})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, "scheduled", r.JSON(t)["status"])
	assert.Equal(t, newAt.Format(time.RFC3339), r.JSON(t)["sendAt"])
	it := a.sendItem(t, s.s.OrgID, id)
	duePK, dueSK := sends.DueKeys(id, newAt)
	assert.Equal(t, []string{duePK, dueSK}, []string{it.DuePK, it.DueSK}, "due at the new time")
	assert.Equal(t, store.ScheduledSK(newAt, id), it.GSI5SK)
	m := s.call("GET", "/api/sends/"+id, nil).JSON(t)
	tl := m["timeline"].([]any)
	require.Len(t, tl, 2)
	assert.Equal(t, "rescheduled", tl[1].(map[string]any)["type"])
	assert.Equal(t, map[string]any{"sendAt": newAt.Format(time.RFC3339)}, tl[1].(map[string]any)["detail"])

	far := s.call("PATCH", "/api/scheduled/"+id, map[string]any{"sendAt": t0.Add(31 * 24 * time.Hour).Format(time.RFC3339)})
	assert.Equal(t, http.StatusUnprocessableEntity, far.Status)
	assert.Equal(t, http.StatusBadRequest, s.call("PATCH", "/api/scheduled/"+id, map[string]any{"sendAt": "soon"}).Status)

	now := s.call("PATCH", "/api/scheduled/"+id, map[string]any{"sendAt": t0.Format(time.RFC3339)})
	require.Equal(t, http.StatusOK, now.Status, string(now.Body))
	assert.Equal(t, "queued", now.JSON(t)["status"], "now: queued at once")
	it = a.sendItem(t, s.s.OrgID, id)
	assert.Empty(t, it.DuePK)
	assert.Nil(t, it.SendAt)
	assert.Equal(t, http.StatusConflict, s.call("DELETE", "/api/scheduled/"+id, nil).Status, "queued: not scheduled any more")
	assert.Empty(t, s.sendIDs("/api/scheduled"))

	other := sched("b@example.com")
	del := s.call("DELETE", "/api/scheduled/"+other, nil)
	require.Equal(t, http.StatusOK, del.Status, string(del.Body))
	assert.Equal(t, "cancelled", del.JSON(t)["status"])
	it = a.sendItem(t, s.s.OrgID, other)
	assert.Empty(t, it.DuePK, "no longer due")
	assert.Equal(t, store.SendsByStatusPK(s.s.OrgID, sends.Cancelled), it.GSI5PK)
	assert.Equal(t, []string{other}, s.sendIDs("/api/sends?status=cancelled"))
	assert.Equal(t, http.StatusConflict, s.call("DELETE", "/api/scheduled/"+other, nil).Status)
	assert.Equal(t, http.StatusConflict, s.call("PATCH", "/api/scheduled/"+other, map[string]any{"sendAt": t0.Add(time.Hour).Format(time.RFC3339)}).Status)

	// A send the worker has claimed is past changing.
	claimed := sched("c@example.com")
	ci := a.sendItem(t, s.s.OrgID, claimed)
	ci.Status, ci.Rev = sends.Sending, ci.Rev+1
	ci.SetKeys()
	require.NoError(t, a.env.Store.Put(t.Context(), ci))
	for _, c := range []struct {
		method string
		body   any
	}{{"PATCH", map[string]any{"sendAt": t0.Add(2 * time.Hour).Format(time.RFC3339)}}, {"DELETE", nil}} {
		r := s.call(c.method, "/api/scheduled/"+claimed, c.body)
		assert.Equal(t, http.StatusConflict, r.Status, c.method)
		assert.Contains(t, r.ErrMessage(t), "sending")
	}
	assert.Equal(t, sends.Sending, a.sendItem(t, s.s.OrgID, claimed).Status, "unchanged")
	assert.Equal(t, http.StatusNotFound, s.call("DELETE", "/api/scheduled/msg_01J00000000000000000000000", nil).Status)
}

// A template's test send goes through the same path, marked test.
func TestTemplateTestSend(t *testing.T) {
	_, s := messagesAPI(t)
	s.putTemplate("welcome", map[string]any{"from": s.from})
	r := s.call("POST", "/api/templates/welcome/test", map[string]any{"to": "me@example.com", "data": map[string]any{"name": "Ada"}})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	m := r.JSON(t)
	assert.Equal(t, true, m["test"])
	assert.EqualValues(t, 1, m["templateVersion"])
	assert.Equal(t, "queued", m["status"])
	assert.Equal(t, http.StatusNotFound, s.call("POST", "/api/templates/nope/test", map[string]any{"to": "me@example.com"}).Status)
	assert.Equal(t, http.StatusBadRequest, s.call("POST", "/api/templates/welcome/test", map[string]any{"to": "me"}).Status)
	assert.Equal(t, http.StatusBadRequest, s.call("POST", "/api/templates/welcome/test", map[string]any{}).Status)
	me := s.call("GET", "/api/users/me", nil).JSON(t)
	assert.EqualValues(t, 1, me["usage"].(map[string]any)["emailsThisMonth"], "a test counts toward the quota")
}

// AWS call budgets of a send: one transaction (send, usage, tags) plus the
// reads that decide it; the sender's domain is cached once verified.
func TestCostOfSend(t *testing.T) {
	_, s := messagesAPI(t)
	s.putTemplate("welcome", map[string]any{"from": s.from})
	s.send(s.inline("warm@example.com")) // the key and the domain, cached

	inline := s.callCost("POST", "/api/send", s.inline("a@example.com", map[string]any{"tags": map[string]any{"a": "1", "b": "2"}}))
	assert.Equal(t, map[string]int{"DynamoDB.BatchGetItem": 1, "DynamoDB.TransactWriteItems": 1}, inline,
		"the suppression entry and the contact lookup in one read, then one transaction")
	scheduled := s.callCost("POST", "/api/send", s.inline("a@example.com", map[string]any{"sendAt": t0.Add(time.Hour).Format(time.RFC3339)}))
	assert.Equal(t, map[string]int{"DynamoDB.BatchGetItem": 1, "DynamoDB.TransactWriteItems": 1}, scheduled)
	templated := s.callCost("POST", "/api/send", map[string]any{"to": "a@example.com", "templateId": "welcome"})
	assert.Equal(t, map[string]int{"DynamoDB.BatchGetItem": 1, "DynamoDB.GetItem": 1, "DynamoDB.TransactWriteItems": 1}, templated, "plus the template's head")
}

// sendIDsOrEmails is how many rows a list route answers, as their ids (or
// emails, for the suppression list).
func (s *sender) sendIDsOrEmails(path string) []string {
	s.t.Helper()
	r := s.call("GET", path, nil)
	require.Equal(s.t, http.StatusOK, r.Status, string(r.Body))
	out := []string{}
	for _, d := range r.JSON(s.t)["data"].([]any) {
		row := d.(map[string]any)
		if id, ok := row["id"].(string); ok {
			out = append(out, id)
		} else {
			out = append(out, row["email"].(string))
		}
	}
	return out
}

// A throttled or conflicting send transaction is a 503 (or 409) with
// nothing written; a retry with the same Idempotency-Key then makes one
// send.
func TestThrottledSendWritesNothing(t *testing.T) {
	f := awsx.NewFaults()
	_, s := messagesAPI(t, withFaults(f))
	f.FailFrom("DynamoDB.TransactWriteItems", 1, awsx.Throttling)
	h := []string{"Idempotency-Key", "busy-1"}
	r := s.call("POST", "/api/send", s.inline("a@example.com"), h...)
	assert.Equal(t, http.StatusServiceUnavailable, r.Status, string(r.Body))
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
	f.Reset()
	assert.Empty(t, s.sendIDs("/api/sends"), "nothing written")
	me := s.call("GET", "/api/users/me", nil).JSON(t)
	assert.EqualValues(t, 0, me["usage"].(map[string]any)["emailsThisMonth"], "nothing counted")

	ok := s.call("POST", "/api/send", s.inline("a@example.com"), h...)
	require.Equal(t, http.StatusAccepted, ok.Status, string(ok.Body))
	assert.Len(t, s.sendIDs("/api/sends"), 1)
}

// Parallel sends against the month's last emails: exactly the quota's rest
// are accepted, the others are 429s, and the counter ends at the quota.
func TestParallelSendsNeverPassTheQuota(t *testing.T) {
	a, s := messagesAPI(t)
	quota := tenant.PlanByName("free").Quotas.EmailsPerMonth
	usage := store.UsageKey(s.s.OrgID, t0)
	require.NoError(t, a.env.Store.Put(t.Context(), map[string]any{"PK": usage.PK, "SK": usage.SK, messages.UsageEmailsAttr: quota - 3}))
	s.send(s.inline("warm@example.com")) // the domain cached; 2 left
	_, byStatus := a.concurrently(8, func(i int) (sent, error) {
		return tryDo(a, "POST", "/api/send", s.inline(fmt.Sprintf("p%d@example.com", i)), bearer(s.key)...)
	})
	assert.Equal(t, map[int]int{http.StatusAccepted: 2, http.StatusTooManyRequests: 6}, byStatus)
	assert.Len(t, s.sendIDs("/api/sends"), 3)
	me := s.call("GET", "/api/users/me", nil).JSON(t)
	assert.EqualValues(t, quota, me["usage"].(map[string]any)["emailsThisMonth"])
}

package app_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates"
	"github.com/sendwell/sendwell/shared/tenant"
)

// welcomeMJML is a small MJML template with Liquid; the mj-text is on line 4.
const welcomeMJML = `<mjml>
  <mj-body>
    <mj-section><mj-column>
      <mj-text>Hello {{ contact.firstName }}, your order {{ data.orderId }} is on its way.</mj-text>
      <mj-button href="https://shop.example.com/orders/{{ data.orderId }}">Track it</mj-button>
    </mj-column></mj-section>
  </mj-body>
</mjml>`

func welcomeBody() map[string]any {
	return map[string]any{"name": "Welcome email", "subject": "Welcome, {{ contact.firstName }}!", "mjml": welcomeMJML,
		"from": "Acme <news@acme.example>", "previewText": "Your order", "sampleData": map[string]any{"orderId": "A-1"}}
}

func (c *tenantAPI) putTemplate(id string, body map[string]any) (int, map[string]any) {
	c.t.Helper()
	r := c.call("PUT", "/api/templates/"+id, body)
	require.Contains(c.t, []int{http.StatusOK, http.StatusCreated}, r.Status, string(r.Body))
	return r.Status, r.JSON(c.t)
}

// versionsOf lists every version number of a template, newest first, page by page.
func (c *tenantAPI) versionsOf(id string, limit int) (versions []int, pages int) {
	c.t.Helper()
	path := fmt.Sprintf("/api/templates/%s/versions?limit=%d", id, limit)
	next := path
	for next != "" {
		r := c.call("GET", next, nil)
		require.Equal(c.t, http.StatusOK, r.Status, string(r.Body))
		m := r.JSON(c.t)
		pages++
		for _, v := range m["data"].([]any) {
			versions = append(versions, int(v.(map[string]any)["version"].(float64)))
		}
		next = ""
		if cur, ok := m["nextCursor"].(string); ok {
			next = path + "&cursor=" + cur
		}
	}
	return versions, pages
}

func TestTemplateLifecycle(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("templates@example.com")

	compiles := templates.MJMLCompiles.Load()
	status, created := c.putTemplate("welcome-email", welcomeBody())
	assert.Equal(t, http.StatusCreated, status)
	assert.Equal(t, int64(1), templates.MJMLCompiles.Load()-compiles, "compiled once")
	assert.Equal(t, "welcome-email", created["id"])
	assert.Equal(t, float64(1), created["version"])
	assert.Equal(t, welcomeMJML, created["mjml"], "the source as written")
	html := created["html"].(string)
	assert.Contains(t, html, "<!doctype html>", "compiled")
	assert.Contains(t, html, "Hello {{ contact.firstName }}", "Liquid kept for sends")
	assert.Contains(t, created["text"], "Track it (https://shop.example.com/orders/{{ data.orderId }})", "text generated, links kept")
	assert.Equal(t, []any{"contact.firstName", "data.orderId"}, created["variables"])
	assert.Equal(t, []any{}, created["warnings"])
	assert.Equal(t, "Acme <news@acme.example>", created["from"])
	assert.Equal(t, map[string]any{"orderId": "A-1"}, created["sampleData"])
	assert.Equal(t, created["createdAt"], created["versionCreatedAt"])

	got := c.call("GET", "/api/templates/welcome-email", nil)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, created, got.JSON(t))

	// The same body again: the same template, no version, nothing compiled, one read.
	compiles = templates.MJMLCompiles.Load()
	a.env.Counter.Reset()
	status, same := c.putTemplate("welcome-email", welcomeBody())
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, created, same)
	assert.Zero(t, templates.MJMLCompiles.Load()-compiles, "an unchanged PUT compiles nothing")
	calls := a.env.Counter.Snapshot()
	delete(calls, "DynamoDB.UpdateItem") // the rate limit
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, calls, "an unchanged PUT only reads")

	// A change makes version 2.
	a.clock.Advance(time.Minute)
	changed := welcomeBody()
	changed["subject"] = "Welcome aboard, {{ contact.firstName }}!"
	status, v2 := c.putTemplate("welcome-email", changed)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, float64(2), v2["version"])
	assert.Equal(t, created["createdAt"], v2["createdAt"], "the template's creation stays")
	assert.Equal(t, a.clock.Now().Format(time.RFC3339), mustTime(t, v2["updatedAt"]).Format(time.RFC3339))
	assert.Equal(t, v2["updatedAt"], v2["versionCreatedAt"])

	a.clock.Advance(time.Minute)
	changed["html"], changed["mjml"] = "<p>Hi {{ contact.firstName }}</p>", nil
	_, v3 := c.putTemplate("welcome-email", changed)
	assert.Equal(t, float64(3), v3["version"])
	assert.Nil(t, v3["mjml"])
	assert.Equal(t, "<p>Hi {{ contact.firstName }}</p>", v3["html"], "an HTML body is stored as given")
	assert.Contains(t, v3["text"], "Hi {{ contact.firstName }}")

	versions, pages := c.versionsOf("welcome-email", 2)
	assert.Equal(t, []int{3, 2, 1}, versions, "newest first")
	assert.Equal(t, 2, pages)
	r := c.call("GET", "/api/templates/welcome-email/versions/1", nil)
	require.Equal(t, http.StatusOK, r.Status)
	v1 := r.JSON(t)
	assert.Equal(t, float64(1), v1["version"])
	assert.Equal(t, "welcome-email", v1["templateId"])
	assert.Equal(t, created["subject"], v1["subject"], "a version is immutable")
	assert.Equal(t, created["html"], v1["html"])
	assert.Equal(t, welcomeMJML, v1["mjml"])
	assert.Equal(t, created["variables"], v1["variables"])
	assert.Equal(t, created["versionCreatedAt"], v1["createdAt"])
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/templates/welcome-email/versions/4", nil).Status)
	assert.Equal(t, http.StatusBadRequest, c.call("GET", "/api/templates/welcome-email/versions/x", nil).Status)

	// The list: newest first, by name prefix in name order, cursors bound to their search.
	a.clock.Advance(time.Minute)
	c.putTemplate("order-shipped", map[string]any{"name": "Order shipped", "subject": "Shipped", "html": "<p>On its way</p>"})
	a.clock.Advance(time.Minute)
	c.putTemplate("weekly", map[string]any{"name": "Weekly news", "subject": "News", "html": "<p>News</p>"})
	assert.Equal(t, []string{"weekly", "order-shipped", "welcome-email"}, c.templateIDs("/api/templates"))
	assert.Equal(t, []string{"weekly", "welcome-email"}, c.templateIDs("/api/templates?search=WE"))
	assert.Equal(t, []string{"order-shipped"}, c.templateIDs("/api/templates?search=order%20s"))
	first := c.call("GET", "/api/templates?limit=1&search=we", nil).JSON(t)
	cursor := first["nextCursor"].(string)
	assert.Equal(t, http.StatusBadRequest, c.call("GET", "/api/templates?cursor="+cursor, nil).Status, "a cursor only continues its own search")
	second := c.call("GET", "/api/templates?limit=1&search=we&cursor="+cursor, nil).JSON(t)
	assert.Equal(t, "welcome-email", second["data"].([]any)[0].(map[string]any)["id"])
	item := c.call("GET", "/api/templates?limit=1", nil).JSON(t)["data"].([]any)[0].(map[string]any)
	assert.NotContains(t, item, "html", "lists carry no bodies")

	// Delete: the head and every version.
	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/templates/welcome-email", nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/templates/welcome-email", nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/templates/welcome-email/versions", nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/templates/welcome-email/versions/1", nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("DELETE", "/api/templates/welcome-email", nil).Status)
	assert.Zero(t, countPartition(t, a, store.TemplateVersionsPK(c.s.OrgID, "welcome-email")))
	assert.Equal(t, []string{"weekly", "order-shipped"}, c.templateIDs("/api/templates"))
	status, _ = c.putTemplate("welcome-email", welcomeBody())
	assert.Equal(t, http.StatusCreated, status, "the id is free again")
	versions, _ = c.versionsOf("welcome-email", 10)
	assert.Equal(t, []int{1}, versions)
}

func (c *tenantAPI) templateIDs(path string) []string {
	c.t.Helper()
	r := c.call("GET", path, nil)
	require.Equal(c.t, http.StatusOK, r.Status, string(r.Body))
	out := []string{}
	for _, d := range r.JSON(c.t)["data"].([]any) {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

// A template keeps its plan's quota of versions: each PUT beyond it deletes
// the oldest in the same transaction.
func TestTemplateVersionsKeepThePlansQuota(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("quota@example.com")
	quota := tenant.PlanByName(tenant.DefaultPlan).Quotas.TemplateVersion
	require.Positive(t, quota)
	body := func(i int) map[string]any {
		return map[string]any{"name": "Counter", "subject": fmt.Sprintf("Version %d", i), "html": "<p>{{ data.n }}</p>"}
	}
	for i := 1; i <= quota; i++ {
		c.putTemplate("counter", body(i))
	}
	versions, _ := c.versionsOf("counter", 100)
	require.Len(t, versions, quota)

	a.env.Counter.Reset()
	_, latest := c.putTemplate("counter", body(quota+1))
	assert.Equal(t, float64(quota+1), latest["version"])
	calls := a.env.Counter.Snapshot()
	delete(calls, "DynamoDB.UpdateItem")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.TransactWriteItems": 1}, calls, "the prune is in the version's transaction")
	c.putTemplate("counter", body(quota+2))

	versions, _ = c.versionsOf("counter", 100)
	require.Len(t, versions, quota, "still the quota")
	assert.Equal(t, quota+2, versions[0])
	assert.Equal(t, 3, versions[len(versions)-1], "the two oldest went")
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/templates/counter/versions/2", nil).Status)
	assert.Equal(t, http.StatusOK, c.call("GET", "/api/templates/counter/versions/3", nil).Status)
	assert.Equal(t, quota, countPartition(t, a, store.TemplateVersionsPK(c.s.OrgID, "counter")))
}

// MJML and Liquid problems are 422s listing each with its part and line;
// MJML's warnings ride on a template that still compiles.
func TestTemplateSourceProblems(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("problems@example.com")
	details := func(t *testing.T, r *resp) []any {
		t.Helper()
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
		assert.Equal(t, "UNPROCESSABLE_ENTITY", r.ErrCode(t))
		d, _ := r.JSON(t)["error"].(map[string]any)["details"].([]any)
		require.NotEmpty(t, d, string(r.Body))
		return d
	}

	badMJML := "<mjml>\n  <mj-body>\n    <mj-text>Not in a column</mj-text>\n    <mj-section><mj-column>\n      <mj-blink>x</mj-blink>\n    </mj-column></mj-section>\n  </mj-body>\n</mjml>"
	d := details(t, c.call("PUT", "/api/templates/broken", map[string]any{"name": "Broken", "subject": "S", "mjml": badMJML}))
	require.Len(t, d, 2)
	assert.Equal(t, map[string]any{"part": "html", "line": float64(3), "message": "mj-text cannot be used inside mj-body, only inside: mj-attributes, mj-column, mj-hero"}, d[0])
	assert.Equal(t, float64(5), d[1].(map[string]any)["line"])
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/templates/broken", nil).Status, "nothing stored")

	liquid := []struct {
		name string
		body map[string]any
		part string
		line float64
	}{
		{"subject", map[string]any{"name": "L", "subject": "Hi {% if contact.firstName %}", "html": "<p>x</p>"}, "subject", 1},
		{"html", map[string]any{"name": "L", "subject": "S", "html": "<p>a</p>\n<p>b</p>\n{% if data.x %}<p>c</p>"}, "html", 3},
		{"mjml", map[string]any{"name": "L", "subject": "S", "mjml": "<mjml>\n<mj-body><mj-section><mj-column>\n<mj-text>{{ data.x | }}</mj-text>\n</mj-column></mj-section></mj-body>\n</mjml>"}, "html", 3},
		{"text", map[string]any{"name": "L", "subject": "S", "html": "<p>x</p>", "text": "line 1\n{% for x in data.y %}"}, "text", 2},
	}
	for _, l := range liquid {
		t.Run("liquid in "+l.name, func(t *testing.T) {
			d := details(t, c.call("PUT", "/api/templates/liquid", l.body))
			p := d[0].(map[string]any)
			assert.Equal(t, l.part, p["part"])
			assert.Equal(t, l.line, p["line"])
			assert.NotEmpty(t, p["message"])
		})
	}

	warned := "<mjml>\n<mj-body>\n<mj-section><mj-column>\n<mj-text colr=\"red\">Hi</mj-text>\n</mj-column></mj-section>\n</mj-body>\n</mjml>"
	status, tpl := c.putTemplate("warned", map[string]any{"name": "W", "subject": "S", "mjml": warned})
	assert.Equal(t, http.StatusCreated, status)
	assert.Equal(t, []any{map[string]any{"line": float64(4), "message": "Attribute colr is illegal"}}, tpl["warnings"])
	assert.Contains(t, tpl["html"], "Hi")
}

// Bad ids and bodies are refused, naming the field.
func TestTemplateValidation(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("validation@example.com")
	ok := map[string]any{"name": "N", "subject": "S", "html": "<p>x</p>"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	big := strings.Repeat("<p>0123456789</p>\n", templates.MaxSourceBytes/18+1)
	cases := []struct {
		name, id string
		body     map[string]any
		status   int
		field    string
	}{
		{"upper-case id", "Welcome", ok, 400, "id"},
		{"id with a dot", "a.b", ok, 400, "id"},
		{"id too long", strings.Repeat("a", 65), ok, 400, "id"},
		{"id starting with -", "-a", ok, 400, "id"},
		{"both bodies", "t", with("mjml", "<mjml></mjml>"), 400, "mjml"},
		{"no body", "t", with("html", nil), 400, "mjml"},
		{"no name", "t", with("name", nil), 400, "name"},
		{"long name", "t", with("name", strings.Repeat("n", 201)), 400, "name"},
		{"no subject", "t", with("subject", " "), 400, "subject"},
		{"two-line subject", "t", with("subject", "a\r\nBcc: x@y.z"), 400, "subject"},
		{"bad replyTo", "t", with("replyTo", "not an address"), 400, "replyTo"},
		{"bad from", "t", with("from", "x@localhost"), 400, "from"},
		{"array sampleData", "t", with("sampleData", []any{1}), 400, "sampleData"},
		{"big sampleData", "t", with("sampleData", map[string]any{"x": strings.Repeat("s", 33<<10)}), 400, "sampleData"},
		{"unknown field", "t", with("body", "x"), 400, "body"},
		{"html over 200 KB", "t", with("html", big), 422, "html"},
		{"mjml over 200 KB", "t", with("html", nil), 422, "mjml"},
	}
	cases[len(cases)-1].body["mjml"] = "<mjml><mj-body>" + big + "</mj-body></mjml>"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.call("PUT", "/api/templates/"+tc.id, tc.body)
			require.Equal(t, tc.status, r.Status, string(r.Body))
			assert.Contains(t, r.ErrMessage(t), "'"+tc.field+"'")
		})
	}

	// Content that compresses badly may not fit an item: 422 naming the body.
	noise := func(n int) string {
		b := make([]byte, n*3/4)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	// Its noise is stored three times (source, compiled HTML, text).
	huge := "<mjml><mj-body><mj-section><mj-column><mj-text>" + noise(190<<10) + "</mj-text></mj-column></mj-section></mj-body></mjml>"
	r := c.call("PUT", "/api/templates/huge", map[string]any{"name": "H", "subject": "S", "mjml": huge})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
	assert.Contains(t, r.ErrMessage(t), "'mjml'")
	assert.Equal(t, []string{}, c.templateIDs("/api/templates"), "nothing was stored")
}

// A preview renders the latest (or a chosen) version with the sample data,
// the given data and a contact, escaping what it prints into HTML.
func TestTemplatePreview(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("preview@example.com")
	hostile := `<a href="https://evil.example">click</a>`
	contact := c.createContact(map[string]any{"email": "mallory@example.com", "firstName": hostile, "properties": map[string]any{"plan": "pro"}})
	contactID := contact["id"].(string)
	c.putTemplate("receipt", map[string]any{"name": "Receipt", "subject": "Order {{ data.orderId }} for {{ contact.firstName }}",
		"html":       `<p>Hi {{ contact.firstName }} ({{ contact.properties.plan }}), order {{ data.orderId }}: {{ data.total }} {{ data.currency }}</p><a href="{{ unsubscribeUrl }}">Unsubscribe</a>`,
		"sampleData": map[string]any{"orderId": "SAMPLE-1", "currency": "EUR"}})

	r := c.call("POST", "/api/templates/receipt/preview", map[string]any{"contactId": contactID, "data": map[string]any{"orderId": "A-42", "total": 12.5}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	out := r.JSON(t)
	html := out["html"].(string)
	assert.NotContains(t, html, "<a href=\"https://evil", "a contact's name cannot inject markup")
	assert.Contains(t, html, "&lt;a href=")
	assert.Contains(t, html, "(pro), order A-42: 12.5 EUR", "given data over the sample data")
	assert.Contains(t, html, templates.PreviewUnsubscribeURL)
	assert.Equal(t, "Order A-42 for "+hostile, out["subject"], "the subject is not HTML")
	assert.Contains(t, out["text"], "A-42")

	r = c.call("POST", "/api/templates/receipt/preview", map[string]any{})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, "Order SAMPLE-1 for ", r.JSON(t)["subject"], "the sample data alone")

	strict := c.call("POST", "/api/templates/receipt/preview?strict=true", map[string]any{"contactId": contactID})
	require.Equal(t, http.StatusUnprocessableEntity, strict.Status, string(strict.Body))
	assert.Contains(t, strict.ErrMessage(t), "data.total", "names the missing variable")
	r = c.call("POST", "/api/templates/receipt/preview?strict=true", map[string]any{"contactId": contactID, "data": map[string]any{"total": 3}})
	assert.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, http.StatusBadRequest, c.call("POST", "/api/templates/receipt/preview?strict=yes", map[string]any{}).Status)

	// An older version, by number.
	c.putTemplate("receipt", map[string]any{"name": "Receipt", "subject": "Receipt v2", "html": "<p>v2</p>"})
	r = c.call("POST", "/api/templates/receipt/preview", map[string]any{"version": 1, "data": map[string]any{"orderId": "B-7"}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, "Order B-7 for ", r.JSON(t)["subject"])
	assert.Equal(t, "Receipt v2", c.call("POST", "/api/templates/receipt/preview", map[string]any{}).JSON(t)["subject"])
	assert.Equal(t, http.StatusNotFound, c.call("POST", "/api/templates/receipt/preview", map[string]any{"version": 9}).Status)

	// Unknown contacts, and another tenant's, are 404s.
	assert.Equal(t, http.StatusNotFound, c.call("POST", "/api/templates/receipt/preview", map[string]any{"contactId": "cnt_01J00000000000000000000000"}).Status)
	other := a.tenant("other-preview@example.com")
	theirs := other.createContact(map[string]any{"email": "theirs@example.com", "firstName": "Secret"})
	r = c.call("POST", "/api/templates/receipt/preview", map[string]any{"contactId": theirs["id"]})
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.NotContains(t, string(r.Body), "Secret")
}

// Every template route, called with another tenant's template ids, answers
// 404 and changes nothing; a PUT of the same id makes the caller's own.
func TestAnotherTenantsTemplatesAnswer404(t *testing.T) {
	a := newAPI(t)
	alice, mallory := a.tenant("alice-tpl@example.com"), a.tenant("mallory-tpl@example.com")
	alice.putTemplate("secret-offer", map[string]any{"name": "Secret offer", "subject": "Secret", "html": "<p>secret {{ data.x }}</p>"})
	before := alice.call("GET", "/api/templates/secret-offer", nil).JSON(t)
	for _, s := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/templates/secret-offer", nil},
		{"DELETE", "/api/templates/secret-offer", nil},
		{"GET", "/api/templates/secret-offer/versions", nil},
		{"GET", "/api/templates/secret-offer/versions/1", nil},
		{"POST", "/api/templates/secret-offer/preview", map[string]any{}},
	} {
		r := mallory.call(s.method, s.path, s.body)
		assert.Equal(t, http.StatusNotFound, r.Status, "%s %s", s.method, s.path)
		assert.NotContains(t, string(r.Body), "secret")
	}
	assert.Equal(t, []string{}, mallory.templateIDs("/api/templates"))
	assert.Equal(t, []string{}, mallory.templateIDs("/api/templates?search=secret"))

	status, mine := mallory.putTemplate("secret-offer", map[string]any{"name": "Mine", "subject": "Mine", "html": "<p>mine</p>"})
	assert.Equal(t, http.StatusCreated, status, "ids are per tenant")
	assert.Equal(t, float64(1), mine["version"])
	assert.Equal(t, before, alice.call("GET", "/api/templates/secret-offer", nil).JSON(t), "nothing changed")
	versions, _ := alice.versionsOf("secret-offer", 10)
	assert.Equal(t, []int{1}, versions)
}

// AWS call budgets of the template routes, each plus the rate-limit UpdateItem.
func TestCostOfTemplateRoutes(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("tpl-budget@example.com")
	c.call("GET", "/api/templates", nil) // warm the key cache
	count := c.callCost
	body := welcomeBody()
	readWrite := map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.TransactWriteItems": 1}
	assert.Equal(t, readWrite, count("PUT", "/api/templates/welcome", body), "create: a consistent read and one transaction")
	body["name"] = "Welcome 2"
	assert.Equal(t, readWrite, count("PUT", "/api/templates/welcome", body), "new version: a consistent read and one transaction")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, count("PUT", "/api/templates/welcome", body), "unchanged: one read")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, count("GET", "/api/templates/welcome", nil), "get: one read")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, count("GET", "/api/templates/welcome/versions/1", nil))
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/templates/welcome/versions?limit=1", nil), "versions: one Query a page")
	c.putTemplate("other", map[string]any{"name": "Other", "subject": "S", "html": "<p>x</p>"})
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/templates?limit=1", nil), "list: one Query a page")
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/templates?search=wel", nil), "search: one Query a page")
	contact := c.createContact(map[string]any{"email": "p@example.com", "firstName": "P"})
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 2}, count("POST", "/api/templates/welcome/preview", map[string]any{"contactId": contact["id"]}), "preview: the template and the contact")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.DeleteItem": 1, "DynamoDB.Query": 1, "DynamoDB.BatchWriteItem": 1},
		count("DELETE", "/api/templates/welcome", nil), "delete: the head, then its versions' keys in one batch")
}

// Concurrent PUTs of different bodies never lose a version: each answer
// that succeeded names a version of its own, and the versions are 1…n.
func TestConcurrentTemplatePutsLoseNoVersion(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("tpl-race@example.com")
	const n = 4
	answers, byStatus := a.concurrently(n, func(i int) (sent, error) {
		return tryDo(a, "PUT", "/api/templates/raced", map[string]any{"name": "Raced", "subject": fmt.Sprintf("Body %d", i), "html": "<p>x</p>"}, bearer(c.key)...)
	})
	assert.Equal(t, 1, byStatus[http.StatusCreated], "exactly one created it: %v", byStatus)
	ok := byStatus[http.StatusCreated] + byStatus[http.StatusOK]
	assert.Equal(t, n, ok+byStatus[http.StatusConflict], "only 201, 200 or 409: %v", byStatus)
	seen := map[int]string{}
	for _, s := range answers {
		if s.res.Status >= 300 {
			continue
		}
		m := s.res.JSON(t)
		v := int(m["version"].(float64))
		assert.NotContains(t, seen, v, "two answers claim version %d", v)
		seen[v] = m["subject"].(string)
	}
	versions, _ := c.versionsOf("raced", 10)
	require.Len(t, versions, ok, "one version per success")
	for _, v := range versions {
		r := c.call("GET", fmt.Sprintf("/api/templates/raced/versions/%d", v), nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, seen[v], r.JSON(t)["subject"], "version %d is what its PUT sent", v)
	}
	assert.Equal(t, float64(versions[0]), c.call("GET", "/api/templates/raced", nil).JSON(t)["version"])
	assert.Equal(t, ok, versions[0], "versions 1…n, none skipped")
}

// A transaction DynamoDB cancels for a conflict with another is sent again;
// conflicts that persist are a 409 that wrote nothing.
func TestTemplatePutRetriesTransactionConflicts(t *testing.T) {
	faults := awsx.NewFaults()
	a := newAPI(t, withFaults(faults))
	c := a.tenant("tpl-conflict@example.com")

	faults.Reset()
	faults.FailNth(ddbTransact, 1, awsx.TransactionConflict)
	status, tpl := c.putTemplate("retried", map[string]any{"name": "R", "subject": "S", "html": "<p>x</p>"})
	assert.Equal(t, http.StatusCreated, status)
	assert.Equal(t, float64(1), tpl["version"])
	assert.Equal(t, 2, faults.Attempts(ddbTransact), "sent again after the conflict")

	faults.Reset()
	faults.FailFrom(ddbTransact, 1, awsx.TransactionConflict)
	r := c.call("PUT", "/api/templates/retried", map[string]any{"name": "R", "subject": "S2", "html": "<p>x</p>"})
	assert.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	faults.Reset()
	versions, _ := c.versionsOf("retried", 10)
	assert.Equal(t, []int{1}, versions, "nothing written")
	assert.Equal(t, "S", c.call("GET", "/api/templates/retried", nil).JSON(t)["subject"])
}

// createCampaign makes a campaign of the tenant and returns its id.
func (c *tenantAPI) createCampaign(name string) string {
	c.t.Helper()
	r := c.call("POST", "/api/campaigns", map[string]any{"name": name})
	require.Equal(c.t, http.StatusCreated, r.Status, string(r.Body))
	return r.JSON(c.t)["id"].(string)
}

// A template joins a campaign with campaignId, on its head only: moving it
// between campaigns (or out) makes no version; the campaign lists it and
// cannot be deleted while it does. Another tenant's campaign is a 422, a
// malformed id a 400.
func TestTemplatesJoinCampaigns(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("tpl-campaigns@example.com")
	other := a.tenant("tpl-campaigns-other@example.com")
	q4, onboarding := c.createCampaign("Q4"), c.createCampaign("Onboarding")
	theirs := other.createCampaign("Theirs")
	body := func(campaign any) map[string]any {
		b := welcomeBody()
		if campaign != nil {
			b["campaignId"] = campaign
		}
		return b
	}

	// Created in a campaign: stored on the head, returned by PUT, GET and the list.
	status, tpl := c.putTemplate("welcome", body(q4))
	require.Equal(t, http.StatusCreated, status)
	assert.Equal(t, q4, tpl["campaignId"])
	assert.Equal(t, tpl, c.call("GET", "/api/templates/welcome", nil).JSON(t))
	var head struct {
		CampaignID string `dynamodbav:"campaignId"`
	}
	require.NoError(t, a.env.Store.GetConsistent(t.Context(), store.TemplateKey(c.s.OrgID, "welcome"), &head))
	assert.Equal(t, q4, head.CampaignID)
	a.clock.Advance(time.Minute)
	_, plain := c.putTemplate("plain", map[string]any{"name": "Plain", "subject": "S", "html": "<p>x</p>"})
	assert.Nil(t, plain["campaignId"])
	assert.Contains(t, plain, "campaignId", "null, not absent")
	list := c.call("GET", "/api/templates", nil).JSON(t)["data"].([]any)
	require.Len(t, list, 2)
	assert.Nil(t, list[0].(map[string]any)["campaignId"])
	assert.Equal(t, q4, list[1].(map[string]any)["campaignId"])
	assert.Equal(t, []string{"welcome"}, c.templateIDs("/api/templates?campaignId="+q4))
	assert.Equal(t, []string{"welcome"}, c.templateIDs("/api/templates?search=wel&campaignId="+q4))
	assert.Equal(t, []string{}, c.templateIDs("/api/templates?campaignId="+onboarding))
	first := c.call("GET", "/api/templates?limit=1", nil).JSON(t)
	r := c.call("GET", "/api/templates?limit=1&campaignId="+q4+"&cursor="+first["nextCursor"].(string), nil)
	assert.Equal(t, http.StatusBadRequest, r.Status, "a cursor only continues its own campaign's list")

	// The same body in the same campaign: unchanged, one read.
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, c.callCost("PUT", "/api/templates/welcome", body(q4)))

	// Only the campaign changes: the head alone, the same version, nothing compiled.
	a.clock.Advance(time.Minute)
	c.call("GET", "/api/templates/welcome", nil) // warm the key cache
	compiles := templates.MJMLCompiles.Load()
	a.env.Counter.Reset()
	status, moved := c.putTemplate("welcome", body(onboarding))
	calls := a.env.Counter.Snapshot()
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, onboarding, moved["campaignId"])
	assert.Equal(t, float64(1), moved["version"], "no new version")
	assert.Equal(t, tpl["versionCreatedAt"], moved["versionCreatedAt"])
	assert.Equal(t, tpl["html"], moved["html"])
	assert.Equal(t, a.clock.Now().Format(time.RFC3339), mustTime(t, moved["updatedAt"]).Format(time.RFC3339))
	assert.Zero(t, templates.MJMLCompiles.Load()-compiles, "nothing compiled")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 2, "DynamoDB.UpdateItem": 2}, calls,
		"the head and the campaign read, the rate limit and the head's campaign written")
	assert.Equal(t, moved, c.call("GET", "/api/templates/welcome", nil).JSON(t))
	versions, _ := c.versionsOf("welcome", 10)
	assert.Equal(t, []int{1}, versions)
	assert.NotContains(t, c.call("GET", "/api/templates/welcome/versions/1", nil).JSON(t), "campaignId", "versions are content")

	// Null (or absent) takes it out of its campaign, still without a version.
	status, out := c.putTemplate("welcome", body(nil))
	assert.Equal(t, http.StatusOK, status)
	assert.Nil(t, out["campaignId"])
	assert.Equal(t, float64(1), out["version"])
	_, out = c.putTemplate("welcome", body(q4))
	assert.Equal(t, q4, out["campaignId"])
	m := welcomeBody()
	m["campaignId"] = nil
	_, out = c.putTemplate("welcome", m)
	assert.Nil(t, out["campaignId"], "null is none")
	assert.Equal(t, float64(1), out["version"])

	// A change of content with a campaign: a new version, in the campaign.
	changed := body(q4)
	changed["subject"] = "Welcome aboard!"
	_, v2 := c.putTemplate("welcome", changed)
	assert.Equal(t, float64(2), v2["version"])
	assert.Equal(t, q4, v2["campaignId"])

	// Another tenant's campaign (and one nobody has) is a 422; a bad form a 400; nothing changes.
	for _, tc := range []struct {
		name     string
		campaign any
		status   int
	}{
		{"another tenant's campaign", theirs, http.StatusUnprocessableEntity},
		{"a missing campaign", "cmp_01J00000000000000000000000", http.StatusUnprocessableEntity},
		{"not a campaign id", "cmp_nope", http.StatusBadRequest},
		{"another kind of id", "seg_01J00000000000000000000000", http.StatusBadRequest},
		{"empty", "", http.StatusBadRequest},
		{"a number", 7, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A new version's body, and the current content (only the campaign differs).
			for _, b := range []map[string]any{welcomeBody(), changed} {
				b = maps.Clone(b)
				b["campaignId"] = tc.campaign
				r := c.call("PUT", "/api/templates/welcome", b)
				require.Equal(t, tc.status, r.Status, string(r.Body))
				assert.Contains(t, r.ErrMessage(t), "'campaignId'")
			}
			r := c.call("PUT", "/api/templates/new-one", body(tc.campaign))
			require.Equal(t, tc.status, r.Status, string(r.Body))
			assert.Contains(t, r.ErrMessage(t), "'campaignId'")
		})
	}
	assert.Equal(t, v2, c.call("GET", "/api/templates/welcome", nil).JSON(t), "nothing changed")
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/templates/new-one", nil).Status)
	assert.Equal(t, http.StatusBadRequest, c.call("GET", "/api/templates?campaignId=nope", nil).Status)
	assert.Equal(t, []string{}, other.templateIDs("/api/templates?campaignId="+q4), "another tenant sees none")

	// The campaign lists its templates (and no other tenant's), and cannot
	// be deleted while one names it; its stats are its sequences' and broadcasts'.
	other.putTemplate("welcome", body(theirs))
	r = c.call("GET", "/api/campaigns/"+q4, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	detail := r.JSON(t)
	assert.Equal(t, []any{"welcome"}, detail["templateIds"])
	assert.Equal(t, []any{}, detail["sequenceIds"])
	assert.Equal(t, map[string]any{}, detail["stats"].(map[string]any)["sends"])
	assert.Equal(t, []any{}, c.call("GET", "/api/campaigns/"+onboarding, nil).JSON(t)["templateIds"])
	r = c.call("DELETE", "/api/campaigns/"+q4, nil)
	require.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Contains(t, r.ErrMessage(t), "1 template (welcome)")
	changed["campaignId"] = onboarding
	_, out = c.putTemplate("welcome", changed)
	assert.Equal(t, float64(2), out["version"])
	c.putTemplate("plain", map[string]any{"name": "Plain", "subject": "S", "html": "<p>x</p>", "campaignId": q4})
	r = c.call("DELETE", "/api/campaigns/"+q4, nil)
	require.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.ErrMessage(t), "1 template (plain)")
	c.putTemplate("plain", map[string]any{"name": "Plain", "subject": "S", "html": "<p>x</p>"})
	assert.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/campaigns/"+q4, nil).Status)
	assert.Equal(t, []any{"welcome"}, other.call("GET", "/api/campaigns/"+theirs, nil).JSON(t)["templateIds"])
}

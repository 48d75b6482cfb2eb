package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
)

// receiver is a webhook endpoint in the tests: it records each request and
// answers with status (200 unless changed).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	status int
	header http.Header
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{status: http.StatusOK, header: http.Header{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got, rc.bodies = append(rc.got, r), append(rc.bodies, body)
		status := rc.status
		for k, v := range rc.header {
			w.Header()[k] = v
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) last(t *testing.T) (*http.Request, []byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.NotEmpty(t, rc.got, "the receiver got nothing")
	return rc.got[len(rc.got)-1], rc.bodies[len(rc.bodies)-1]
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func (c *tenantAPI) createWebhook(body map[string]any) map[string]any {
	c.t.Helper()
	r := c.call("POST", "/api/webhooks", body)
	require.Equal(c.t, http.StatusCreated, r.Status, string(r.Body))
	return r.JSON(c.t)
}

// A newcomer's path through the API: register an endpoint (its secret shown
// once), send a test delivery that the Standard Webhooks library verifies,
// read it in the delivery log, change and rotate, delete.
func TestWebhookLifecycle(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("hooks@example.com")
	rc := newReceiver(t)

	created := c.createWebhook(map[string]any{"url": rc.URL + "/hooks", "events": []string{"contact.created", "email.bounced"}, "description": "CRM"})
	id := created["id"].(string)
	assert.Regexp(t, `^wh_[0-9A-Z]{26}$`, id)
	secret := created["secret"].(string)
	assert.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, secret, "whsec_ and 32 random bytes")
	assert.Equal(t, "active", created["status"])

	got := c.call("GET", "/api/webhooks/"+id, nil).JSON(t)
	assert.NotContains(t, got, "secret", "the secret is shown once")
	list := c.call("GET", "/api/webhooks", nil).JSON(t)["data"].([]any)
	require.Len(t, list, 1)
	assert.NotContains(t, list[0].(map[string]any), "secret")

	// A test delivery, signed: the reference library verifies it.
	test := c.call("POST", "/api/webhooks/"+id+"/test", nil)
	require.Equal(t, http.StatusOK, test.Status, string(test.Body))
	d := test.JSON(t)
	assert.Equal(t, "succeeded", d["status"])
	assert.Equal(t, "test.ping", d["eventType"])
	attempts := d["attempts"].([]any)
	require.Len(t, attempts, 1)
	assert.EqualValues(t, 200, attempts[0].(map[string]any)["statusCode"])
	assert.Equal(t, `{"received":true}`, attempts[0].(map[string]any)["response"])

	req, body := rc.last(t)
	assert.Equal(t, "/hooks", req.URL.Path)
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, "Sendwell-Webhooks/1", req.Header.Get("User-Agent"))
	assert.Equal(t, d["eventId"], req.Header.Get("webhook-id"))
	assert.Equal(t, strconv.FormatInt(t0.Unix(), 10), req.Header.Get("webhook-timestamp"), "the service's clock")
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.VerifyIgnoringTimestamp(body, req.Header), "verified by the Standard Webhooks library")
	assert.Contains(t, string(body), `"type":"test.ping"`)

	// The delivery log: the list without payloads, one delivery with it.
	log := c.call("GET", "/api/webhooks/"+id+"/deliveries", nil).JSON(t)["data"].([]any)
	require.Len(t, log, 1)
	assert.NotContains(t, log[0].(map[string]any), "payload")
	one := c.call("GET", "/api/webhooks/"+id+"/deliveries/"+d["id"].(string), nil).JSON(t)
	assert.Equal(t, string(body), one["payload"], "the body as sent")
	assert.Len(t, c.call("GET", "/api/webhooks/"+id+"/deliveries?status=failed", nil).JSON(t)["data"], 0)
	assert.Len(t, c.call("GET", "/api/webhooks/"+id+"/deliveries?status=succeeded&type=test.ping", nil).JSON(t)["data"], 1)
	assert.Equal(t, http.StatusBadRequest, c.call("GET", "/api/webhooks/"+id+"/deliveries?status=lost", nil).Status)

	// A replay of one delivery: now, a new delivery of the same event.
	replayed := c.call("POST", "/api/webhooks/"+id+"/deliveries/"+d["id"].(string)+"/replay", nil)
	require.Equal(t, http.StatusOK, replayed.Status, string(replayed.Body))
	rd := replayed.JSON(t)
	assert.Equal(t, d["id"], rd["replayOf"])
	assert.Equal(t, d["eventId"], rd["eventId"], "the same webhook-id")
	assert.Equal(t, "succeeded", rd["status"])
	assert.Equal(t, 2, rc.count())
	// A window's replay is queued (the worker's tests follow it).
	window := c.call("POST", "/api/webhooks/"+id+"/replay", map[string]any{"since": t0.Add(-time.Hour)})
	require.Equal(t, http.StatusAccepted, window.Status, string(window.Body))
	assert.Equal(t, "queued", window.JSON(t)["status"])
	assert.Equal(t, http.StatusBadRequest, c.call("POST", "/api/webhooks/"+id+"/replay", map[string]any{"since": t0.Add(-40 * 24 * time.Hour)}).Status)

	// Rotation: the new secret once; for 24 h both sign.
	rotated := c.call("POST", "/api/webhooks/"+id+"/rotate-secret", nil)
	require.Equal(t, http.StatusOK, rotated.Status, string(rotated.Body))
	newSecret := rotated.JSON(t)["secret"].(string)
	require.NotEqual(t, secret, newSecret)
	require.Equal(t, http.StatusOK, c.call("POST", "/api/webhooks/"+id+"/test", nil).Status)
	req, body = rc.last(t)
	assert.Len(t, strings.Fields(req.Header.Get("webhook-signature")), 2, "two signatures during the overlap")
	for _, s := range []string{secret, newSecret} {
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		assert.NoError(t, wh.VerifyIgnoringTimestamp(body, req.Header))
	}

	// Changes; disabling says why; re-enabling clears it.
	patched := c.call("PATCH", "/api/webhooks/"+id, map[string]any{"events": []string{"*"}, "status": "disabled"}).JSON(t)
	assert.Equal(t, []any{"*"}, patched["events"])
	assert.Equal(t, "disabled", patched["status"])
	assert.NotNil(t, patched["disabled"])
	patched = c.call("PATCH", "/api/webhooks/"+id, map[string]any{"status": "active"}).JSON(t)
	assert.Nil(t, patched["disabled"])

	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/webhooks/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/webhooks/"+id, nil).Status)
	// The plan's one endpoint is free again.
	c.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
}

// Bad input is a 400 that says why; the plan's endpoint limit a 422.
func TestWebhookRegistrationIsChecked(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("checks@example.com")
	for _, tt := range []struct {
		body map[string]any
		says string
	}{
		{map[string]any{"url": "http://169.254.169.254/latest/meta-data/", "events": []string{"*"}}, "https"},
		{map[string]any{"url": "https://169.254.169.254/", "events": []string{"*"}}, "169.254.169.254"},
		{map[string]any{"url": "https://10.0.0.1/hook", "events": []string{"*"}}, "private"},
		{map[string]any{"url": "https://user:pass@example.com/", "events": []string{"*"}}, "credentials"},
		{map[string]any{"url": "https://localhost./", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "not a url", "events": []string{"*"}}, "url"},
		{map[string]any{"events": []string{"*"}}, "url"},
		{map[string]any{"url": "https://example.com/", "events": []string{"contact.exploded"}}, "contact.exploded"},
		{map[string]any{"url": "https://example.com/", "events": []string{}}, "events"},
		{map[string]any{"url": "https://example.com/", "events": []string{"*"}, "description": strings.Repeat("x", 501)}, "description"},
	} {
		r := c.call("POST", "/api/webhooks", tt.body)
		assert.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", tt.body, r.Body)
		if r.Status == http.StatusBadRequest {
			assert.Contains(t, r.ErrMessage(t), tt.says, "%v", tt.body)
		}
	}
	assert.Empty(t, c.call("GET", "/api/webhooks", nil).JSON(t)["data"], "nothing was stored")

	rc := newReceiver(t)
	c.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})
	r := c.call("POST", "/api/webhooks", map[string]any{"url": rc.URL + "/second", "events": []string{"*"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "the free plan allows one endpoint")
	assert.Contains(t, r.ErrMessage(t), "1 webhook endpoint")

	// The catalogue lists every type with an example.
	types := c.call("GET", "/api/webhooks/event-types", nil).JSON(t)["data"].([]any)
	assert.GreaterOrEqual(t, len(types), 18)
}

// A redirect is a failed attempt, never followed; another tenant's ids
// answer 404 on every route.
func TestWebhookRedirectsFailAndTenantsAreApart(t *testing.T) {
	a := newAPI(t)
	alice, mallory := a.tenant("alice-hooks@example.com"), a.tenant("mallory-hooks@example.com")
	rc := newReceiver(t)
	rc.status = http.StatusFound
	rc.header.Set("Location", "http://169.254.169.254/latest/meta-data/")
	id := alice.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})["id"].(string)

	d := alice.call("POST", "/api/webhooks/"+id+"/test", nil).JSON(t)
	assert.Equal(t, "failed", d["status"], "a 3xx is a failure")
	assert.EqualValues(t, 302, d["attempts"].([]any)[0].(map[string]any)["statusCode"])
	assert.Equal(t, 1, rc.count(), "the Location was not followed")
	did := d["id"].(string)

	for _, s := range []struct{ method, path string }{
		{"GET", "/api/webhooks/" + id},
		{"PATCH", "/api/webhooks/" + id},
		{"DELETE", "/api/webhooks/" + id},
		{"POST", "/api/webhooks/" + id + "/rotate-secret"},
		{"POST", "/api/webhooks/" + id + "/test"},
		{"GET", "/api/webhooks/" + id + "/deliveries"},
		{"GET", "/api/webhooks/" + id + "/deliveries/" + did},
		{"POST", "/api/webhooks/" + id + "/deliveries/" + did + "/replay"},
		{"POST", "/api/webhooks/" + id + "/replay"},
	} {
		var body any
		switch {
		case s.method == "PATCH":
			body = map[string]any{"url": rc.URL + "/pwned"}
		case strings.HasSuffix(s.path, "/replay") && !strings.Contains(s.path, "/deliveries/"):
			body = map[string]any{"since": t0.Add(-time.Hour)}
		}
		r := mallory.call(s.method, s.path, body)
		assert.Equal(t, http.StatusNotFound, r.Status, "%s %s", s.method, s.path)
	}
	assert.Empty(t, mallory.call("GET", "/api/webhooks", nil).JSON(t)["data"])
	assert.Equal(t, 1, rc.count(), "mallory's test sent nothing")
	assert.Equal(t, rc.URL, alice.call("GET", "/api/webhooks/"+id, nil).JSON(t)["url"], "nothing changed")
}

// A test delivery whose write's answer is lost (the SDK retries the write
// that DynamoDB applied) is still the delivery, not a conflict: its id is
// new, so the write is unconditional.
func TestWebhookTestSurvivesALostWriteAnswer(t *testing.T) {
	f := awsx.NewFaults()
	a := newAPI(t, withFaults(f))
	c := a.tenant("lost-answer@example.com")
	rc := newReceiver(t)
	id := c.createWebhook(map[string]any{"url": rc.URL, "events": []string{"*"}})["id"].(string)
	f.Reset()
	f.LoseAnswerOfNth("DynamoDB.PutItem", 1, awsx.InternalServerError)
	r := c.call("POST", "/api/webhooks/"+id+"/test", nil)
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	d := r.JSON(t)
	assert.Equal(t, "succeeded", d["status"])
	assert.Equal(t, 1, f.Fired("DynamoDB.PutItem"), "the answer was lost")
	assert.Equal(t, 2, f.Attempts("DynamoDB.PutItem"), "and the write retried")
	assert.Equal(t, 1, rc.count(), "one ping")
	got := c.call("GET", "/api/webhooks/"+id+"/deliveries", nil).JSON(t)["data"].([]any)
	require.Len(t, got, 1, "one delivery")
	assert.Equal(t, d["id"], got[0].(map[string]any)["id"])
}

// The SSRF table through the API: each URL is a 400 that says why, and
// nothing is stored (the client behind deliveries refuses the same ones at
// every connection: shared/webhooks/safehttp's tests). 127.0.0.1 itself is
// missing: the harness allows it, as make run does.
func TestWebhookRegistrationRefusesInternalAddresses(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("ssrf@example.com")
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/latest/meta-data/",
		"https://127.1/", "https://2130706433/", "https://0x7f000001/", "https://0177.0.0.1/", "https://017700000001/",
		"https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:7f00:1]/", "https://[fd00:ec2::254]/",
		"https://[fe80::1]/", "https://localhost/", "https://localhost./", "https://app.localhost/", "https://10.0.0.1/",
		"https://172.16.5.4/", "https://192.168.1.1/", "https://100.64.0.1/", "https://0.0.0.0/", "https://[::]/",
		"https://224.0.0.1/", "https://[::ffff:169.254.169.254]/", "https://198.18.0.1/", "https://user:pass@example.com/",
		"ftp://example.com/", "gopher://example.com/", "file:///etc/passwd", "http://example.com/",
		"http://127.0.0.1.nip.io/", // does not resolve here; refused either way
	} {
		r := c.call("POST", "/api/webhooks", map[string]any{"url": u, "events": []string{"*"}})
		if assert.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", u, r.Body) {
			assert.Contains(t, r.ErrMessage(t), "url", u)
		}
	}
	assert.Empty(t, c.call("GET", "/api/webhooks", nil).JSON(t)["data"], "nothing was stored")
}

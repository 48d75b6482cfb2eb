package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookReceiver is a developer's endpoint on their own machine: it keeps
// every delivery and answers status.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []hookGot
}

type hookGot struct {
	at     time.Time
	header http.Header
	body   []byte
}

func newHookReceiver(t testing.TB) *hookReceiver {
	rc := &hookReceiver{status: http.StatusOK}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, hookGot{time.Now(), r.Header.Clone(), body})
		status := rc.status
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// find returns the first delivery whose body contains s.
func (rc *hookReceiver) find(s string) (hookGot, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, g := range rc.got {
		if strings.Contains(string(g.body), s) {
			return g, true
		}
	}
	return hookGot{}, false
}

// Through make run's own stream follower, webhook queue and worker: a
// webhook registered to a receiver on this machine gets a signed
// contact.created that the Standard Webhooks library verifies; a failing
// receiver's delivery shows its failed attempt and its next one in the
// log; and the cloud's metadata address cannot be registered.
func TestMakeRunDeliversWebhooks(t *testing.T) {
	base, key, stop := startOwn(t, "webhooks-"+strings.ToLower(t.Name()))
	defer stop()
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}

	code, out := call("POST", "/api/webhooks", `{"url":"http://169.254.169.254/latest/meta-data/","events":["*"]}`)
	assert.Equal(t, http.StatusBadRequest, code, out)

	rc := newHookReceiver(t)
	code, out = call("POST", "/api/webhooks", `{"url":"`+rc.URL+`/hooks","events":["contact.created"]}`)
	require.Equal(t, http.StatusCreated, code, out)
	hook, secret := out["id"].(string), out["secret"].(string)

	code, out = call("POST", "/api/contacts", `{"email":"hooked@example.com"}`)
	require.Equal(t, http.StatusCreated, code, out)
	var got hookGot
	require.Eventually(t, func() bool {
		var ok bool
		got, ok = rc.find("hooked@example.com")
		return ok
	}, 30*time.Second, 50*time.Millisecond, "contact.created reached the receiver")
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(got.body, got.header), "signed, and the timestamp is now")
	assert.Contains(t, string(got.body), `"type":"contact.created"`)
	var payload struct{ ID string }
	require.NoError(t, json.Unmarshal(got.body, &payload))
	assert.Regexp(t, `^evt_[0-9A-Z]{26}$`, payload.ID)
	assert.Equal(t, payload.ID, got.header.Get("webhook-id"))

	// The receiver fails: the delivery log shows the attempt and the next.
	rc.mu.Lock()
	rc.status = http.StatusServiceUnavailable
	rc.mu.Unlock()
	code, out = call("POST", "/api/contacts", `{"email":"failing@example.com"}`)
	require.Equal(t, http.StatusCreated, code, out)
	require.Eventually(t, func() bool {
		code, out := call("GET", "/api/webhooks/"+hook+"/deliveries?status=pending", "")
		if code != http.StatusOK {
			return false
		}
		for _, d := range out["data"].([]any) {
			d := d.(map[string]any)
			if attempts := d["attempts"].([]any); len(attempts) == 1 && d["nextAttemptAt"] != nil {
				return attempts[0].(map[string]any)["statusCode"] == float64(http.StatusServiceUnavailable)
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "a failed attempt, and the next one scheduled")
	_, ok := rc.find("failing@example.com")
	assert.True(t, ok, "the failed attempt reached the receiver")

	// The receiver is back: a replay of the failed delivery succeeds now.
	rc.mu.Lock()
	rc.status = http.StatusOK
	rc.mu.Unlock()
	_, out = call("GET", "/api/webhooks/"+hook+"/deliveries?status=pending", "")
	pending := out["data"].([]any)
	require.NotEmpty(t, pending)
	code, out = call("POST", "/api/webhooks/"+hook+"/deliveries/"+pending[0].(map[string]any)["id"].(string)+"/replay", "")
	require.Equal(t, http.StatusOK, code, out)
	assert.Equal(t, "succeeded", out["status"])
}

// BenchmarkWebhookLatencyThroughMakeRun measures, through make run's own
// stream follower, webhook queue and worker, the time from the API call
// that creates a contact to the receiver's 2xx for its contact.created,
// over WEBHOOK_CHANGES contacts (50), one at a time.
//
//	make bench-webhooks
func BenchmarkWebhookLatencyThroughMakeRun(b *testing.B) {
	changes := envInt("WEBHOOK_CHANGES", 50)
	b.Setenv("OUTBOX_DIR", b.TempDir())
	base, key, stop := startOwn(b, "bench-webhooks")
	defer stop()
	post := func(path, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	rc := newHookReceiver(b)
	code, out := post("/api/webhooks", `{"url":"`+rc.URL+`","events":["contact.created"]}`)
	require.Equal(b, http.StatusCreated, code, out)
	for b.Loop() {
		lat := make([]time.Duration, 0, changes)
		for i := range changes {
			email := fmt.Sprintf("latency%d@example.com", i)
			start := time.Now()
			code, out := post("/api/contacts", `{"email":"`+email+`"}`)
			require.Equal(b, http.StatusCreated, code, out)
			var got hookGot
			require.Eventually(b, func() bool {
				var ok bool
				got, ok = rc.find(email)
				return ok
			}, 30*time.Second, 5*time.Millisecond)
			lat = append(lat, got.at.Sub(start))
		}
		slices.Sort(lat)
		p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
		b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
		b.ReportMetric(float64(p95.Milliseconds()), "p95-ms")
		fmt.Fprintf(os.Stderr, "contact change to the receiver's 2xx over %d changes: p50 %s, p95 %s\n", changes, p50, p95)
	}
}

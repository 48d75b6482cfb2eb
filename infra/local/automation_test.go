package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
)

// automationAPI calls a running local stack as the demo key.
type automationAPI struct {
	t         testing.TB
	base, key string
}

func (a *automationAPI) call(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// must calls and requires the status want, returning the body.
func (a *automationAPI) must(want int, method, path string, body any) map[string]any {
	a.t.Helper()
	code, out := a.call(method, path, body)
	require.Equal(a.t, want, code, "%s %s: %v", method, path, out)
	return out
}

func (a *automationAPI) template(id, subject string) {
	a.t.Helper()
	code, out := a.call("PUT", "/api/templates/"+id, map[string]any{"name": id, "subject": subject,
		"html": `<p>Hello {{ contact.email }}</p><p><a href="{{ unsubscribeUrl }}">Unsubscribe</a></p>`})
	require.Contains(a.t, []int{http.StatusCreated, http.StatusOK}, code, out)
}

func (a *automationAPI) contact(email string, tags ...string) string {
	a.t.Helper()
	if tags == nil {
		tags = []string{}
	}
	out := a.must(http.StatusCreated, "POST", "/api/contacts", map[string]any{"email": email, "tags": tags})
	return out["id"].(string)
}

// history is the step records of an enrollment, as GET /api/enrollments/{id} shows them.
func history(enr map[string]any) []map[string]any {
	var out []map[string]any
	steps, _ := enr["history"].([]any)
	for _, s := range steps {
		out = append(out, s.(map[string]any))
	}
	return out
}

// took reports whether an enrollment's history has a record of step with result.
func took(enr map[string]any, step, result string) (map[string]any, bool) {
	for _, r := range history(enr) {
		if r["stepId"] == step && r["result"] == result {
			return r, true
		}
	}
	return nil, false
}

// outboxHas polls the outbox for the email of send id.
func outboxHas(t testing.TB, outbox, sendID string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(outbox, "*"+sendID+".eml"))
	require.NoError(t, err)
	return len(files) == 1
}

// The newcomer, through make run's own stream follower, sequence
// queue poller, worker, scheduler and send worker: a welcome sequence
// triggered by signed_up (send, wait PT1M, branch on activated, one of two
// sends) runs for a contact that tracks the event, its emails reach the
// outbox, the dry run shows another contact's path, the manual trigger
// enrols a third, pausing makes the trigger a 409; and a broadcast to a
// segment sends once to each subscribed member and skips the unsubscribed.
func TestMakeRunRunsASequenceAndABroadcast(t *testing.T) {
	moto, err := localaws.StartMoto(0)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	t.Setenv("TABLE_NAME", "automation-"+strings.ToLower(t.Name()))
	t.Setenv("RATE_LIMIT_PER_MINUTE", "1000000")
	outbox := t.TempDir()
	t.Setenv("OUTBOX_DIR", outbox)
	base, key, stop := start(t)
	defer stop()
	a := &automationAPI{t: t, base: base, key: key}

	a.template("welcome-email", "Welcome")
	a.template("activated-tips", "Tips for active users")
	a.template("activation-nudge", "Need a hand?")
	seq := map[string]any{
		"name":    "Welcome",
		"trigger": map[string]any{"event": "signed_up"},
		"steps": []any{
			map[string]any{"id": "welcome", "type": "send", "templateId": "welcome-email", "from": "Demo <hello@sendwell.local>", "next": "pause"},
			map[string]any{"id": "pause", "type": "wait", "duration": "PT1M", "next": "is-active"},
			map[string]any{"id": "is-active", "type": "branch", "if": map[string]any{"event": "activated", "count": map[string]any{"gte": 1}},
				"then": "tips", "else": "nudge"},
			map[string]any{"id": "tips", "type": "send", "templateId": "activated-tips", "from": "Demo <hello@sendwell.local>"},
			map[string]any{"id": "nudge", "type": "send", "templateId": "activation-nudge", "from": "Demo <hello@sendwell.local>"},
		},
	}
	created := a.must(http.StatusCreated, "PUT", "/api/sequences/welcome", seq)
	assert.Equal(t, "draft", created["status"])
	a.must(http.StatusOK, "PUT", "/api/sequences/welcome", seq) // the same body: nothing changes
	a.must(http.StatusOK, "POST", "/api/sequences/welcome/activate", nil)

	ada := a.contact("ada@example.com")
	started := time.Now()
	a.must(http.StatusAccepted, "POST", "/api/events", map[string]any{"name": "signed_up", "email": "ada@example.com"})
	var enrID string
	require.Eventually(t, func() bool {
		code, out := a.call("GET", "/api/contacts/"+ada+"/enrollments", nil)
		data, _ := out["data"].([]any)
		if code != http.StatusOK || len(data) != 1 {
			return false
		}
		enrID = data[0].(map[string]any)["id"].(string)
		return true
	}, 30*time.Second, 100*time.Millisecond, "the event enrols the contact")
	enrollment := func() map[string]any { return a.must(http.StatusOK, "GET", "/api/enrollments/"+enrID, nil) }
	var sent map[string]any
	require.Eventually(t, func() bool {
		var ok bool
		sent, ok = took(enrollment(), "welcome", "sent")
		return ok
	}, 30*time.Second, 100*time.Millisecond, "the first step sends")
	require.Eventually(t, func() bool { return outboxHas(t, outbox, sent["sendId"].(string)) }, 30*time.Second, 100*time.Millisecond,
		"the welcome email reaches the outbox")

	// Activated during the wait: the branch takes "then" once the minute has passed.
	a.must(http.StatusAccepted, "POST", "/api/events", map[string]any{"name": "activated", "email": "ada@example.com"})
	var tips map[string]any
	require.Eventually(t, func() bool {
		var ok bool
		tips, ok = took(enrollment(), "tips", "sent")
		return ok
	}, 150*time.Second, 500*time.Millisecond, "the journey goes on after the wait")
	enr := enrollment()
	assert.Equal(t, "completed", enr["status"], enr)
	branch, ok := took(enr, "is-active", "branched")
	require.True(t, ok, enr)
	assert.Equal(t, "then", branch["branch"])
	at, err := time.Parse(time.RFC3339Nano, branch["at"].(string))
	require.NoError(t, err)
	assert.False(t, at.Before(started.Add(time.Minute)), "the wait never ends early: branched at %s, started %s", at, started)
	_, nudged := took(enr, "nudge", "sent")
	assert.False(t, nudged, "one branch only")
	require.Eventually(t, func() bool { return outboxHas(t, outbox, tips["sendId"].(string)) }, 30*time.Second, 100*time.Millisecond)

	// A dry run for another contact, who never activates: the nudge, a minute on.
	sim := a.must(http.StatusOK, "POST", "/api/sequences/welcome/simulate", map[string]any{"contact": map[string]any{"email": "grace@example.com"}})
	path, _ := sim["path"].(map[string]any)
	require.NotNil(t, path, sim)
	var stepsTaken []string
	for _, s := range path["steps"].([]any) {
		stepsTaken = append(stepsTaken, s.(map[string]any)["stepId"].(string))
	}
	assert.Equal(t, []string{"welcome", "pause", "pause", "is-active", "nudge"}, stepsTaken, sim)

	// The manual trigger, then a pause: the trigger is a 409.
	grace := a.contact("grace@example.com")
	manual := a.must(http.StatusAccepted, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": grace, "data": map[string]any{"source": "support"}})
	assert.Equal(t, grace, manual["contactId"], manual)
	a.must(http.StatusOK, "POST", "/api/sequences/welcome/pause", nil)
	code, out := a.call("POST", "/api/sequences/welcome/trigger", map[string]any{"email": "ada@example.com"})
	assert.Equal(t, http.StatusConflict, code, out)

	// A broadcast to a segment: once per subscribed member, the unsubscribed one skipped.
	a.template("launch", "We launched")
	for i := range 3 {
		a.contact(fmt.Sprintf("vip%d@example.com", i), "vip")
	}
	off := a.contact("vip-off@example.com", "vip")
	a.must(http.StatusOK, "PATCH", "/api/contacts/"+off, map[string]any{"subscribed": false})
	segment := a.must(http.StatusCreated, "POST", "/api/segments", map[string]any{"name": "VIPs", "definition": map[string]any{"tag": "vip"}})
	require.Eventually(t, func() bool {
		s := a.must(http.StatusOK, "GET", "/api/segments/"+segment["id"].(string), nil)
		return s["status"] == "ready" && s["size"] == float64(4)
	}, 30*time.Second, 100*time.Millisecond, "the segment is built")
	bc := a.must(http.StatusCreated, "POST", "/api/broadcasts", map[string]any{"name": "Launch", "segmentId": segment["id"],
		"templateId": "launch", "from": "Demo <hello@sendwell.local>"})
	assert.Equal(t, "draft", bc["status"])
	id := bc["id"].(string)
	a.must(http.StatusOK, "POST", "/api/broadcasts/"+id+"/send", nil)
	var progress map[string]any
	require.Eventually(t, func() bool {
		got := a.must(http.StatusOK, "GET", "/api/broadcasts/"+id, nil)
		progress, _ = got["progress"].(map[string]any)
		return got["status"] == "sent" && progress["sent"] == float64(3)
	}, 60*time.Second, 200*time.Millisecond, "the broadcast is sent: %v", progress)
	assert.Equal(t, float64(4), progress["total"])
	assert.Equal(t, float64(3), progress["queued"])
	assert.Equal(t, float64(1), progress["skipped"])
	sends := a.must(http.StatusOK, "GET", "/api/sends?templateId=launch", nil)
	assert.Len(t, sends["data"], 3, "one send per subscribed member")
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

var (
	keyLine  = regexp.MustCompile(`API key:\s+(sw_live_\S+)`)
	baseLine = regexp.MustCompile(`Sendwell is running at (http://\S+)`)
)

// startOwn starts an emulator of its own and the local stack on table over
// it, as `make run` does on a fresh machine (the rate limit raised: tests
// poll), and returns what start does.
func startOwn(t testing.TB, table string) (base, key string, stop func()) {
	t.Helper()
	moto, err := localaws.StartMoto(0)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	t.Setenv("TABLE_NAME", table)
	t.Setenv("RATE_LIMIT_PER_MINUTE", "1000000")
	return start(t)
}

// start runs the local stack as `make run` does and returns its base URL and
// the demo key it printed; stopping it is the returned func.
func start(t testing.TB) (base, key string, stop func()) {
	t.Helper()
	t.Setenv("PORT", "0") // the server picks a free port and prints it

	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, out) }()

	require.Eventually(t, func() bool {
		m := baseLine.FindStringSubmatch(out.String())
		if m == nil {
			return false
		}
		base = m[1]
		res, err := http.Get(base + "/api/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK && keyLine.MatchString(out.String())
	}, 60*time.Second, 50*time.Millisecond, "the local stack did not come up: %s", out)
	key = keyLine.FindStringSubmatch(out.String())[1]
	return base, key, func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("the local stack did not stop")
		}
	}
}

func me(t *testing.T, base, key string) int {
	req, _ := http.NewRequest("GET", base+"/api/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

func TestMakeRunStartsItsOwnEmulatorAndPrintsAWorkingKey(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	base, key, stop := start(t)
	assert.Equal(t, http.StatusOK, me(t, base, key))
	// The demo domain is made and verified (the SES adapter's local setting).
	req, _ := http.NewRequest("GET", base+"/api/domains", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var page struct {
		Data []struct{ Name, Status string } `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
	res.Body.Close()
	require.Len(t, page.Data, 1)
	assert.Equal(t, "sendwell.local", page.Data[0].Name)
	assert.Equal(t, "verified", page.Data[0].Status)
	stop()
	_, err = http.Get(base + "/api/health")
	assert.Error(t, err, "stopped")
}

func TestMakeRunReusesAnEmulatorGivenByAWSEndpointURL(t *testing.T) {
	moto, err := localaws.StartMoto(0)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)

	// More runs than an organisation has keys: earlier runs' keys are revoked.
	var keys []string
	for range 11 {
		base, key, stop := start(t)
		assert.Equal(t, http.StatusOK, me(t, base, key))
		keys = append(keys, key)
		stop()
	}
	assert.Len(t, keys, 11)
}

// `make run` reads its settings with the Lambdas' reader: EVENT_RETENTION_DAYS
// and RATE_LIMIT_PER_MINUTE act here as they do in AWS, and a bad value
// stops it with the same message.
func TestMakeRunHonoursTheLambdasSettings(t *testing.T) {
	moto, err := localaws.StartMoto(0)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	t.Setenv("TABLE_NAME", "settings-"+strings.ToLower(t.Name()))

	t.Setenv("EVENT_RETENTION_DAYS", "nope")
	err = run(context.Background(), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "EVENT_RETENTION_DAYS")

	t.Setenv("EVENT_RETENTION_DAYS", "1")
	t.Setenv("RATE_LIMIT_PER_MINUTE", "7")
	base, key, stop := start(t)
	defer stop()
	post := func(body string) *http.Response {
		req, _ := http.NewRequest("POST", base+"/api/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	twoDaysAgo := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	res := post(`{"name":"old","email":"old@example.com","timestamp":"` + twoDaysAgo + `"}`)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode, "older than a 1-day retention")
	assert.Equal(t, "7", res.Header.Get("X-RateLimit-Limit"))
	assert.Equal(t, http.StatusAccepted, post(`{"name":"new","email":"old@example.com"}`).StatusCode)
}

// A deleted contact's events are purged by `make run`'s own pollers, as in
// AWS: the stream follower turns the contact's removal into a purge job, the
// import queue's poller hands it to the worker, and the events go.
func TestMakeRunPurgesADeletedContactsEvents(t *testing.T) {
	moto, err := localaws.StartMoto(0)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	table := "purge-" + strings.ToLower(t.Name())
	t.Setenv("TABLE_NAME", table)
	base, key, stop := start(t)
	defer stop()

	call := func(method, path, body string) map[string]any {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Less(t, res.StatusCode, 300, "%s %s", method, path)
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return out
	}
	orgID := call("GET", "/api/users/me", "")["organisation"].(map[string]any)["id"].(string)
	contactID := call("POST", "/api/contacts", `{"email":"leaving@example.com"}`)["id"].(string)
	for range 30 {
		call("POST", "/api/events", `{"name":"page.viewed","contactId":"`+contactID+`"}`)
	}
	cfg, err := localaws.Config(context.Background(), moto.Endpoint)
	require.NoError(t, err)
	db := dynamodb.NewFromConfig(cfg)
	events := func() (int, error) {
		out, err := db.Query(context.Background(), &dynamodb.QueryInput{TableName: &table,
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.EventsPK(orgID, contactID)}}})
		if err != nil {
			return 0, err
		}
		return len(out.Items), nil
	}
	n, err := events()
	require.NoError(t, err)
	require.Equal(t, 30, n)

	call("DELETE", "/api/contacts/"+contactID, "")
	assert.Eventually(t, func() bool {
		n, err := events()
		return err == nil && n == 0
	}, 30*time.Second, 100*time.Millisecond, "the stream and the import worker purged the events")
}

// The whole send path on `make run`'s own workers: a templated send to the
// simulator's success address goes through the stream (queued -> send
// queue), the send worker (SES, here moto wrapped by the mailbox simulator)
// and ses-events, and ends delivered; its email is in the outbox with the
// RFC 8058 headers pointing at this server. A send to the bounce address
// ends bounced and suppresses the address. A scheduled send goes out through
// the scheduler's ticks, when due.
func TestMakeRunSendsAnEmailAndFollowsItToDelivered(t *testing.T) {
	moto, err := localaws.StartMoto(0)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	t.Setenv("TABLE_NAME", "send-"+strings.ToLower(t.Name()))
	outbox := t.TempDir()
	t.Setenv("OUTBOX_DIR", outbox)
	t.Setenv("PUBLIC_BASE_URL", "")
	base, key, stop := start(t)
	defer stop()

	call := func(method, path string, body any) (int, map[string]any) {
		var r io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, r)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	code, tpl := call("PUT", "/api/templates/welcome", map[string]any{
		"name":    "Welcome",
		"subject": "Welcome, {{ data.name }}",
		"html":    `<p>Hello {{ data.name }}, <a href="https://example.com/start">start here</a>.</p><p><a href="{{ unsubscribeUrl }}">Unsubscribe</a></p>`,
	})
	require.Equal(t, http.StatusCreated, code, tpl)

	sendAt := func(to string, at *time.Time) string {
		req := map[string]any{"to": to, "from": "Demo <demo@sendwell.local>", "templateId": "welcome", "data": map[string]any{"name": "Ada"}}
		want := "queued"
		if at != nil {
			req["sendAt"], want = at.Format(time.RFC3339Nano), "scheduled"
		}
		code, body := call("POST", "/api/send", req)
		require.Equal(t, http.StatusAccepted, code, body)
		id, _ := body["id"].(string)
		require.True(t, strings.HasPrefix(id, "msg_"), body)
		assert.Equal(t, want, body["status"])
		return id
	}
	send := func(to string) string { return sendAt(to, nil) }
	// timeline is the event types of a send's timeline, in order.
	timeline := func(send map[string]any) []string {
		var types []string
		events, _ := send["timeline"].([]any)
		for _, e := range events {
			types = append(types, e.(map[string]any)["type"].(string))
		}
		return types
	}
	// status polls the send until it reaches want, with each of events in
	// its timeline (or the deadline passes), and returns the send as last
	// read. The simulator records SES's events as SES accepts the email, so
	// delivered can be in before the worker records sent.
	status := func(id, want string, events ...string) map[string]any {
		var got map[string]any
		require.Eventually(t, func() bool {
			code, body := call("GET", "/api/sends/"+id, nil)
			got = body
			have := timeline(body)
			for _, e := range events {
				if !slices.Contains(have, e) {
					return false
				}
			}
			return code == http.StatusOK && body["status"] == want
		}, 60*time.Second, 100*time.Millisecond, "send %s did not become %s with %v: %v", id, want, events, got)
		return got
	}

	delivered := send("success@simulator.amazonses.com")
	got := status(delivered, "delivered", "queued", "sent", "delivered")
	assert.Equal(t, "queued", timeline(got)[0], "the timeline starts when the send was accepted")

	emls, err := filepath.Glob(filepath.Join(outbox, "*"+delivered+".eml"))
	require.NoError(t, err)
	require.Len(t, emls, 1, "the email is in the outbox, named after its send")
	eml, err := os.ReadFile(emls[0])
	require.NoError(t, err)
	assert.Contains(t, string(eml), "List-Unsubscribe: <"+base+"/u/", "the one-click link points at this server")
	assert.Contains(t, string(eml), "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
	assert.Contains(t, string(eml), "Welcome, Ada")
	assert.NotContains(t, string(eml), "https://example.com/start\"", "links are rewritten for click tracking")

	// The one-click link works against this server: the worker signed it
	// with the local link secret the public routes check it with.
	unsub := regexp.MustCompile(`List-Unsubscribe: <([^>]+)>`).FindStringSubmatch(string(eml))
	require.NotNil(t, unsub)
	res, err := http.Post(unsub[1], "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	code, sup := call("GET", "/api/suppressions/success@simulator.amazonses.com", nil)
	assert.Equal(t, http.StatusOK, code, sup)
	assert.Equal(t, "unsubscribed", sup["reason"], sup)
	call("DELETE", "/api/suppressions/success@simulator.amazonses.com", nil) // the sends below go to it again

	// The inline send `make run` prints as its second example.
	code, inline := call("POST", "/api/send", map[string]any{"from": "Demo <hello@sendwell.local>", "to": "success@simulator.amazonses.com",
		"subject": "Hi", "html": "<p>Hello</p>"})
	require.Equal(t, http.StatusAccepted, code, inline)
	status(inline["id"].(string), "delivered", "sent")

	bounced := send("bounce@simulator.amazonses.com")
	status(bounced, "bounced")
	code, sup = call("GET", "/api/suppressions/bounce@simulator.amazonses.com", nil)
	assert.Equal(t, http.StatusOK, code, sup)
	assert.Equal(t, "hard_bounce", sup["reason"], sup)

	// A scheduled send: the scheduler, ticked every 5 s here, puts it on the
	// queue when it is due (not before), and it is delivered like the others.
	due := time.Now().Add(2 * time.Second)
	scheduled := sendAt("success@simulator.amazonses.com", &due)
	got = status(scheduled, "delivered", "scheduled", "sent", "delivered")
	sentAt, err := time.Parse(time.RFC3339Nano, got["sentAt"].(string))
	require.NoError(t, err, got)
	assert.False(t, sentAt.Before(due.Truncate(time.Millisecond)), "sent at %s, due at %s: never early", sentAt, due)
}

// Segments on `make run`'s own workers: a segment created through the API
// is built by the segment worker (the stream queues its build job), a
// contact that qualifies enters it within seconds through the stream and
// the domain-events queue, and leaves when it no longer qualifies.
func TestMakeRunKeepsASegmentsMembers(t *testing.T) {
	base, key, stop := startOwn(t, "segments-"+strings.ToLower(t.Name()))
	defer stop()

	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(b)
	}
	id := func(body string) string {
		var out struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &out), body)
		require.NotEmpty(t, out.ID, body)
		return out.ID
	}
	code, body := call("POST", "/api/contacts", `{"email":"before@example.com","tags":["vip"]}`)
	require.Equal(t, http.StatusCreated, code, body)
	before := id(body)
	code, body = call("POST", "/api/segments", `{"name":"VIPs","definition":{"all":[{"tag":"vip"},{"property":"email","operator":"endsWith","value":"@example.com"}]}}`)
	require.Equal(t, http.StatusCreated, code, body)
	seg := id(body)
	member := func(contactID string) func() bool {
		return func() bool {
			code, body := call("GET", "/api/segments/"+seg+"/contacts", "")
			return code == http.StatusOK && strings.Contains(body, contactID)
		}
	}
	assert.Eventually(t, func() bool {
		_, body := call("GET", "/api/segments/"+seg, "")
		return strings.Contains(body, `"status":"ready"`)
	}, 30*time.Second, 100*time.Millisecond, "the build finishes")
	assert.Eventually(t, member(before), 10*time.Second, 50*time.Millisecond, "the build adds the contact that was there before")

	code, body = call("POST", "/api/contacts", `{"email":"after@example.com","tags":["vip"]}`)
	require.Equal(t, http.StatusCreated, code, body)
	after := id(body)
	assert.Eventually(t, member(after), 10*time.Second, 50*time.Millisecond, "a new contact enters within seconds")
	code, body = call("GET", "/api/contacts/"+after+"/segments", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, seg, "the contact's own memberships list it")

	// Nested conditions with an event window of one minute: an order 50 s
	// old qualifies the contact at once, and it leaves when the window
	// passes, about 10 s later, by the clock alone: the scheduler's tick
	// finds its state due and queues its evaluation.
	code, body = call("POST", "/api/segments", `{"name":"Big recent buyers","definition":{"all":[{"tag":"vip"},
		{"any":[{"event":"order.completed","within":"PT1M","where":[{"property":"total","operator":"gt","value":100}]},
		        {"property":"plan","operator":"eq","value":"enterprise"}]}]}}`)
	require.Equal(t, http.StatusCreated, code, body)
	buyers := id(body)
	assert.Eventually(t, func() bool {
		_, body := call("GET", "/api/segments/"+buyers, "")
		return strings.Contains(body, `"status":"ready"`)
	}, 30*time.Second, 100*time.Millisecond, "the second build finishes")
	inBuyers := func() bool {
		code, body := call("GET", "/api/contacts/"+after+"/segments", "")
		return code == http.StatusOK && strings.Contains(body, buyers)
	}
	ordered := time.Now().Add(-50 * time.Second).UTC()
	code, body = call("POST", "/api/events", fmt.Sprintf(`{"contactId":%q,"name":"order.completed","properties":{"total":120},"timestamp":%q}`,
		after, ordered.Format(time.RFC3339Nano)))
	require.Equal(t, http.StatusAccepted, code, body)
	assert.Eventually(t, inBuyers, 10*time.Second, 50*time.Millisecond, "the order qualifies the contact within seconds")
	code, body = call("POST", "/api/segments/preview", `{"definition":{"all":[{"tag":"vip"},{"event":"order.completed","within":"PT1M"}]}}`)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"count":1`, "a preview counts the one buyer")
	assert.Contains(t, body, after)
	assert.Eventually(t, func() bool { return !inBuyers() }, 40*time.Second, 100*time.Millisecond, "it leaves when the window passes")
	assert.False(t, time.Now().Before(ordered.Add(time.Minute)), "never before the window passes")

	code, body = call("PATCH", "/api/contacts/"+after, `{"tags":[]}`)
	require.Equal(t, http.StatusOK, code, body)
	assert.Eventually(t, func() bool { return !member(after)() }, 10*time.Second, 50*time.Millisecond, "and leaves when it no longer qualifies")
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
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

// start runs the local stack as `make run` does and returns its base URL and
// the demo key it printed; stopping it is the returned func.
func start(t *testing.T) (base, key string, stop func()) {
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

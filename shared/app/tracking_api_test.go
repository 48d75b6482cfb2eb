package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/store"
)

func TestTrackingEvents(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("track@example.com")

	r := c.call("POST", "/api/events", map[string]any{"name": "signed_up", "email": "New@Example.com", "properties": map[string]any{"plan": "free"}})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	ev := r.JSON(t)
	assert.Regexp(t, `^evt_[0-9A-Z]{26}$`, ev["id"])
	assert.Equal(t, a.clock.Now().Format(time.RFC3339), mustTime(t, ev["timestamp"]).Format(time.RFC3339), "defaults to now")
	contactID := ev["contactId"].(string)
	got := c.call("GET", "/api/contacts/"+contactID, nil).JSON(t)
	assert.Equal(t, "new@example.com", got["email"], "an unknown email creates the contact")
	assert.Equal(t, true, got["subscribed"])

	again := c.call("POST", "/api/events", map[string]any{"name": "page.viewed", "email": "new@example.com"})
	assert.Equal(t, contactID, again.JSON(t)["contactId"], "a known email is the same contact")

	past := a.clock.Now().Add(-time.Hour)
	r = c.call("POST", "/api/events", map[string]any{"name": "page.viewed", "contactId": contactID, "timestamp": past.Format(time.RFC3339)})
	require.Equal(t, http.StatusAccepted, r.Status)
	assert.True(t, mustTime(t, r.JSON(t)["timestamp"]).Equal(past))

	bad := map[string]map[string]any{
		"unknown contactId":      {"name": "x", "contactId": "cnt_01J00000000000000000000000"},
		"malformed contactId":    {"name": "x", "contactId": "nope"},
		"bad name":               {"name": "has space", "email": "a@b.co"},
		"long name":              {"name": string(make([]byte, 101)), "email": "a@b.co"},
		"no subject":             {"name": "x"},
		"both subjects":          {"name": "x", "email": "a@b.co", "contactId": contactID},
		"far future":             {"name": "x", "email": "a@b.co", "timestamp": a.clock.Now().Add(6 * time.Minute).Format(time.RFC3339)},
		"older than retention":   {"name": "x", "email": "a@b.co", "timestamp": a.clock.Now().Add(-401 * 24 * time.Hour).Format(time.RFC3339)},
		"nested property object": {"name": "x", "email": "a@b.co", "properties": map[string]any{"o": map[string]any{}}},
	}
	for name, body := range bad {
		r := c.call("POST", "/api/events", body)
		want := http.StatusBadRequest
		if name == "unknown contactId" || name == "malformed contactId" {
			want = http.StatusNotFound
		}
		assert.Equal(t, want, r.Status, name)
	}
	ok := c.call("POST", "/api/events", map[string]any{"name": "x", "contactId": contactID, "timestamp": a.clock.Now().Add(4 * time.Minute).Format(time.RFC3339)})
	assert.Equal(t, http.StatusAccepted, ok.Status, "up to 5 minutes ahead is fine")

	// Newest first, by name, paginated.
	list := c.call("GET", "/api/contacts/"+contactID+"/events", nil).JSON(t)["data"].([]any)
	var names []string
	for _, e := range list {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	assert.Equal(t, []string{"x", "page.viewed", "signed_up", "page.viewed"}, names)
	views := c.call("GET", "/api/contacts/"+contactID+"/events?name=page.viewed&limit=1", nil).JSON(t)
	assert.Len(t, views["data"], 1)
	next := views["nextCursor"].(string)
	page2 := c.call("GET", "/api/contacts/"+contactID+"/events?name=page.viewed&limit=1&cursor="+next, nil).JSON(t)
	assert.Len(t, page2["data"], 1)
	assert.Nil(t, page2["nextCursor"])
	assert.Equal(t, http.StatusBadRequest, c.call("GET", "/api/contacts/"+contactID+"/events?name=bad%20name", nil).Status)

	// Events expire through the table's TTL, 400 days after they happened.
	var item struct {
		TTL int64 `dynamodbav:"ttl"`
	}
	out, err := a.env.DB.Query(t.Context(), queryPK(a.env.Store.Table, store.EventsPK(c.s.OrgID, contactID)))
	require.NoError(t, err)
	require.NoError(t, attributevalue.UnmarshalMap(out.Items[0], &item))
	assert.Equal(t, strconv.FormatInt(past.Add(400*24*time.Hour).Unix(), 10), strconv.FormatInt(item.TTL, 10))
}

func TestEventBatch(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("eb@example.com")
	r := c.call("POST", "/api/events/batch", map[string]any{"events": []any{
		map[string]any{"name": "a", "email": "one@example.com"},
		map[string]any{"name": "bad name", "email": "one@example.com"},
		map[string]any{"name": "b", "contactId": "cnt_01J00000000000000000000000"},
		map[string]any{"name": "c", "email": "one@example.com", "extra": 1},
	}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	data := r.JSON(t)["data"].([]any)
	var statuses, codes []string
	for _, d := range data {
		m := d.(map[string]any)
		statuses = append(statuses, m["status"].(string))
		if e, ok := m["error"].(map[string]any); ok {
			codes = append(codes, e["code"].(string))
		}
	}
	assert.Equal(t, []string{"accepted", "error", "error", "error"}, statuses)
	assert.Equal(t, []string{"VALIDATION_ERROR", "NOT_FOUND", "VALIDATION_ERROR"}, codes)

	many := make([]any, 101)
	for i := range many {
		many[i] = map[string]any{"name": "x", "email": "a@b.co"}
	}
	// What fails the whole request (both batch endpoints decode alike):
	// the field that is wrong is named.
	bad := map[string]struct {
		body  any
		field string
	}{
		"101 events":    {map[string]any{"events": many}, "'events'"},
		"no events":     {map[string]any{"events": []any{}}, "'events'"},
		"missing":       {map[string]any{}, "'events'"},
		"null":          {map[string]any{"events": nil}, "'events'"},
		"not a list":    {map[string]any{"events": "x"}, "'events'"},
		"unknown field": {map[string]any{"events": []any{map[string]any{"name": "x", "email": "a@b.co"}}, "extra": 1}, "'extra'"},
		"not an object": {[]any{}, "JSON object"},
	}
	for name, tc := range bad {
		for _, path := range []string{"/api/events/batch", "/api/contacts/batch"} {
			body := tc.body
			if m, ok := body.(map[string]any); ok && path == "/api/contacts/batch" {
				renamed := map[string]any{}
				for k, v := range m {
					renamed[strings.Replace(k, "events", "contacts", 1)] = v
				}
				body = renamed
			}
			r := c.call("POST", path, body)
			if assert.Equal(t, http.StatusBadRequest, r.Status, "%s %s", name, path) {
				assert.Contains(t, r.ErrMessage(t), strings.Replace(tc.field, "events", strings.TrimPrefix(strings.TrimSuffix(path, "/batch"), "/api/"), 1), "%s %s", name, path)
			}
		}
	}
}

package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/store"
)

// tenantAPI is a signed-up tenant's API key on the harness.
type tenantAPI struct {
	*api
	s   session
	key string
}

func (a *api) tenant(email string) *tenantAPI {
	s := a.signup(email)
	_, key := a.newKey(s, "k")
	return &tenantAPI{api: a, s: s, key: key}
}

func (c *tenantAPI) call(method, path string, body any, headers ...string) *resp {
	c.t.Helper()
	return c.do(method, path, body, append(bearer(c.key), headers...)...)
}

// callCost makes one successful call and returns the AWS calls it made,
// less the rate limit's UpdateItem, which it checks is exactly one.
func (c *tenantAPI) callCost(method, path string, body any) map[string]int {
	c.t.Helper()
	c.env.Counter.Reset()
	r := c.call(method, path, body)
	require.Less(c.t, r.Status, 300, string(r.Body))
	got := c.env.Counter.Snapshot()
	assert.Equal(c.t, 1, got["DynamoDB.UpdateItem"], "the rate limit, %s %s", method, path)
	delete(got, "DynamoDB.UpdateItem")
	return got
}

func (c *tenantAPI) createContact(body map[string]any) map[string]any {
	c.t.Helper()
	r := c.call("POST", "/api/contacts", body)
	require.Equal(c.t, http.StatusCreated, r.Status, string(r.Body))
	return r.JSON(c.t)
}

func (c *tenantAPI) ids(path string) []string {
	c.t.Helper()
	r := c.call("GET", path, nil)
	require.Equal(c.t, http.StatusOK, r.Status, string(r.Body))
	var out []string
	for _, d := range r.JSON(c.t)["data"].([]any) {
		out = append(out, d.(map[string]any)["email"].(string))
	}
	return out
}

func TestContactLifecycle(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("owner@example.com")

	created := c.createContact(map[string]any{"email": "  Ada@Example.COM ", "firstName": "Ada", "properties": map[string]any{"plan": "pro", "seats": 3, "beta": true, "langs": []any{"en", "fr"}}, "tags": []string{"vip", "beta", "vip"}})
	id := created["id"].(string)
	assert.Regexp(t, `^cnt_[0-9A-Z]{26}$`, id)
	assert.Equal(t, "ada@example.com", created["email"], "trimmed and lower-cased")
	assert.Equal(t, true, created["subscribed"], "subscribed by default")
	assert.Nil(t, created["unsubscribedAt"])
	assert.Equal(t, []any{"vip", "beta"}, created["tags"], "duplicates dropped")

	got := c.call("GET", "/api/contacts/"+id, nil)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, created, got.JSON(t))

	dup := c.call("POST", "/api/contacts", map[string]any{"email": "ADA@example.com"})
	assert.Equal(t, http.StatusConflict, dup.Status)
	assert.Equal(t, "CONFLICT", dup.ErrCode(t))

	other := a.tenant("other@example.com")
	other.createContact(map[string]any{"email": "ada@example.com"}) // the same address in another tenant

	a.clock.Advance(time.Minute)
	r := c.call("PATCH", "/api/contacts/"+id, map[string]any{"properties": map[string]any{"seats": nil, "plan": "team"}, "tags": []string{"customer"}, "firstName": nil, "subscribed": false})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	p := r.JSON(t)
	assert.Equal(t, map[string]any{"plan": "team", "beta": true, "langs": []any{"en", "fr"}}, p["properties"], "merged; null deletes")
	assert.Equal(t, []any{"customer"}, p["tags"], "tags replace")
	assert.Nil(t, p["firstName"])
	assert.Equal(t, false, p["subscribed"])
	assert.Equal(t, a.clock.Now().Format(time.RFC3339), mustTime(t, p["unsubscribedAt"]).Format(time.RFC3339))
	assert.Equal(t, []string{"ada@example.com"}, c.ids("/api/contacts?tag=customer"))
	assert.Empty(t, c.ids("/api/contacts?tag=vip"), "the old tags' entries are gone")

	c.createContact(map[string]any{"email": "bob@example.com"})
	r = c.call("PATCH", "/api/contacts/"+id, map[string]any{"email": "BOB@example.com"})
	assert.Equal(t, http.StatusConflict, r.Status, "a changed email stays unique")
	r = c.call("PATCH", "/api/contacts/"+id, map[string]any{"email": "ada.l@example.com"})
	require.Equal(t, http.StatusOK, r.Status)
	c.createContact(map[string]any{"email": "ada@example.com"}) // the old address is free again

	ev := c.call("POST", "/api/events", map[string]any{"name": "clicked", "contactId": id})
	require.Equal(t, http.StatusAccepted, ev.Status)

	follower := openChanges(t, a) // the delete's removal reaches the purge through the stream
	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/contacts/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/contacts/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("DELETE", "/api/contacts/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/contacts/"+id+"/events", nil).Status)
	again := c.createContact(map[string]any{"email": "ada.l@example.com"}) // free again
	assert.Equal(t, again["id"], c.lookupOf("ada.l@example.com"), "the lookup names the new contact")

	// Nothing of the contact remains: no tag entry, and its events go once
	// the changes function and the import worker have run the purge.
	assert.Zero(t, countPartition(t, a, store.ContactTagPK(c.s.OrgID, "customer")))
	follower.start()
	startImportWorker(t, a)
	c.waitEventsPurged(id)
}

func mustTime(t testing.TB, v any) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, v.(string))
	require.NoError(t, err)
	return ts
}

func countPartition(t testing.TB, a *api, pk string) int {
	t.Helper()
	out, err := a.env.DB.Query(t.Context(), queryPK(a.env.Store.Table, pk))
	require.NoError(t, err)
	return int(out.Count)
}

func TestContactValidation(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("v@example.com")
	many := map[string]any{}
	for i := range 101 {
		many[fmt.Sprintf("k%d", i)] = i
	}
	manyTags := make([]string, 51)
	for i := range manyTags {
		manyTags[i] = fmt.Sprintf("t%d", i)
	}
	cases := map[string]struct {
		body  map[string]any
		field string
	}{
		"missing email":     {map[string]any{"firstName": "x"}, "'email'"},
		"bad email":         {map[string]any{"email": "nope"}, "'email'"},
		"unknown field":     {map[string]any{"email": "a@b.co", "phone": "1"}, "'phone'"},
		"wrong type":        {map[string]any{"email": "a@b.co", "tags": "vip"}, "'tags'"},
		"101 properties":    {map[string]any{"email": "a@b.co", "properties": many}, "'properties'"},
		"bad property name": {map[string]any{"email": "a@b.co", "properties": map[string]any{"has space": 1}}, "has space"},
		"nested object":     {map[string]any{"email": "a@b.co", "properties": map[string]any{"o": map[string]any{"x": 1}}}, "'o'"},
		"nested list":       {map[string]any{"email": "a@b.co", "properties": map[string]any{"l": []any{[]any{1}}}}, "'l'"},
		"over 16 KB":        {map[string]any{"email": "a@b.co", "properties": map[string]any{"big": strings.Repeat("x", 16<<10)}}, "16 KB"},
		"51 tags":           {map[string]any{"email": "a@b.co", "tags": manyTags}, "50 tags"},
		"long tag":          {map[string]any{"email": "a@b.co", "tags": []string{strings.Repeat("t", 65)}}, "64 characters"},
		"empty tag":         {map[string]any{"email": "a@b.co", "tags": []string{" "}}, "empty"},
		"long name":         {map[string]any{"email": "a@b.co", "firstName": strings.Repeat("n", 101)}, "'firstName'"},
		"null subscribed":   {map[string]any{"email": "a@b.co", "subscribed": nil}, "'subscribed'"},
	}
	for name, tc := range cases {
		r := c.call("POST", "/api/contacts", tc.body)
		assert.Equal(t, http.StatusBadRequest, r.Status, name)
		if r.Status == http.StatusBadRequest {
			assert.Contains(t, r.ErrMessage(t), tc.field, name)
		}
	}
	id := c.createContact(map[string]any{"email": "ok@example.com"})["id"].(string)
	r := c.call("PATCH", "/api/contacts/"+id, map[string]any{"email": nil})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = c.call("PATCH", "/api/contacts/"+id, map[string]any{"properties": map[string]any{"big": strings.Repeat("x", 16<<10)}})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Empty(t, c.call("GET", "/api/contacts/"+id, nil).JSON(t)["properties"], "nothing stored was changed")
}

func TestConcurrentCreatesOfOneEmailMakeOneContact(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("race@example.com")
	_, n := a.concurrently(8, func(i int) (sent, error) {
		email := "same@example.com"
		if i%2 == 1 {
			email = "SAME@example.com"
		}
		return tryDo(a, "POST", "/api/contacts", map[string]any{"email": email}, bearer(c.key)...)
	})
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: 7}, n)
	assert.Len(t, c.ids("/api/contacts"), 1)
}

func TestContactListFilters(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("lists@example.com")
	start := a.clock.Now()
	mk := func(email string, tags []string, subscribed bool) {
		c.createContact(map[string]any{"email": email, "tags": tags, "subscribed": subscribed})
		a.clock.Advance(time.Minute)
	}
	mk("amy@example.com", []string{"vip"}, true)
	mk("ben@example.com", nil, false)
	mk("amos@example.com", []string{"vip", "beta"}, true)
	mk("cat@example.com", []string{"beta"}, false)
	mk("abe@example.com", []string{"vip"}, true)

	assert.Equal(t, []string{"abe@example.com", "cat@example.com", "amos@example.com", "ben@example.com", "amy@example.com"}, c.ids("/api/contacts"), "newest first")
	assert.Equal(t, []string{"abe@example.com", "amos@example.com", "amy@example.com"}, c.ids("/api/contacts?tag=vip"))
	assert.Equal(t, []string{"cat@example.com", "ben@example.com"}, c.ids("/api/contacts?subscribed=false"))
	assert.Equal(t, []string{"abe@example.com", "amos@example.com", "amy@example.com"}, c.ids("/api/contacts?subscribed=true"))
	assert.Equal(t, []string{"amos@example.com", "amy@example.com"}, c.ids("/api/contacts?email=AM"), "case-insensitive prefix, in email order")
	after := start.Add(time.Minute).Format(time.RFC3339)
	before := start.Add(3 * time.Minute).Format(time.RFC3339)
	assert.Equal(t, []string{"amos@example.com", "ben@example.com"}, c.ids("/api/contacts?createdAfter="+after+"&createdBefore="+before))
	assert.Equal(t, []string{"amos@example.com"}, c.ids("/api/contacts?tag=vip&createdAfter="+after+"&createdBefore="+before))
	assert.Equal(t, []string{"ben@example.com"}, c.ids("/api/contacts?subscribed=false&createdBefore="+before))

	// Pages of one filter chain; a cursor is bound to its filter.
	r := c.call("GET", "/api/contacts?tag=vip&limit=2", nil)
	next := r.JSON(t)["nextCursor"].(string)
	assert.Equal(t, []string{"amy@example.com"}, c.ids("/api/contacts?tag=vip&limit=2&cursor="+next))
	assert.Equal(t, http.StatusBadRequest, c.call("GET", "/api/contacts?tag=beta&limit=2&cursor="+next, nil).Status)
	assert.Equal(t, http.StatusBadRequest, c.call("GET", "/api/contacts?limit=2&cursor="+next, nil).Status)

	for _, q := range []string{"tag=vip&subscribed=true", "email=a&createdAfter=" + after, "subscribed=yes", "createdAfter=yesterday", "limit=0"} {
		assert.Equal(t, http.StatusBadRequest, c.call("GET", "/api/contacts?"+q, nil).Status, q)
	}
}

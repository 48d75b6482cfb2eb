package app_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/app"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/openapi"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/store"
)

func TestHealthAndOpenAPINeedNoAuth(t *testing.T) {
	a := newAPI(t)
	r := a.do("GET", "/api/health", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.JSONEq(t, `{"status":"ok"}`, string(r.Body))

	r = a.do("GET", "/api/openapi.json", nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "3.1.0", r.JSON(t)["openapi"])
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	a := newAPI(t)
	r := a.do("GET", "/api/unknown", nil)
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, "NOT_FOUND", r.ErrCode(t))

	r = a.do("PUT", "/api/contacts", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
	assert.Equal(t, "METHOD_NOT_ALLOWED", r.ErrCode(t))

	r = a.do("POST", "/api/auth/signup", `{"email": "x@example.com", "password": "`+strings.Repeat("x", 2<<20)+`"}`)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	assert.Equal(t, "PAYLOAD_TOO_LARGE", r.ErrCode(t))
}

func TestRateLimitPerTenant(t *testing.T) {
	const limit = 5
	a := newAPI(t, withRateLimit(limit))
	second := newAPIOn(t, a.env, a.clock, withRateLimit(limit)) // another Lambda instance
	alice, bob := a.signup("alice@example.com"), a.signup("bob@example.com")

	for i := 1; i <= limit; i++ {
		inst := a
		if i%2 == 0 {
			inst = second // the budget is shared by every instance
		}
		r := inst.do("GET", "/api/contacts", nil, bearer(alice.Token)...)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, strconv.Itoa(limit), r.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(limit-i), r.Header.Get("X-RateLimit-Remaining"))
		reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
		require.NoError(t, err)
		assert.Equal(t, a.clock.Now().Truncate(time.Minute).Add(time.Minute).Unix(), reset)
	}

	r := a.do("GET", "/api/contacts", nil, bearer(alice.Token)...)
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.Equal(t, "RATE_LIMITED", r.ErrCode(t))
	assert.Equal(t, "30", r.Header.Get("Retry-After"), "the clock is 30 s into its minute")
	assert.Equal(t, "Rate limit exceeded. Retry after 30 seconds.", r.ErrMessage(t))
	assert.Equal(t, "0", r.Header.Get("X-RateLimit-Remaining"))

	assert.Equal(t, http.StatusOK, a.do("GET", "/api/contacts", nil, bearer(bob.Token)...).Status, "bob has his own budget")

	a.clock.Advance(30 * time.Second)
	assert.Equal(t, http.StatusOK, a.do("GET", "/api/contacts", nil, bearer(alice.Token)...).Status, "a new minute, a new budget")
}

func TestPlanSetsTheRateLimitByDefault(t *testing.T) {
	a := newAPI(t, withRateLimit(0))
	s := a.signup("free@example.com")
	r := a.do("GET", "/api/contacts", nil, bearer(s.Token)...)
	assert.Equal(t, "100", r.Header.Get("X-RateLimit-Limit"), "the free plan's 100 per minute")
}

// AWS call budgets: authenticating in steady state reads nothing; the rate
// limit costs one write; a list page is one Query.
func TestCostOfAnAuthenticatedRequest(t *testing.T) {
	a := newAPI(t)
	s := a.signup("cost@example.com")
	_, key := a.newKey(s, "k")

	for name, cred := range map[string][]string{"api key": bearer(key), "jwt": bearer(s.Token)} {
		require.Equal(t, http.StatusOK, a.do("GET", "/api/contacts", nil, cred...).Status) // warm the caches
		a.env.Counter.Reset()
		for range 3 {
			require.Equal(t, http.StatusOK, a.do("GET", "/api/contacts", nil, cred...).Status)
		}
		got := a.env.Counter.Snapshot()
		assert.Equal(t, map[string]int{"DynamoDB.UpdateItem": 3, "DynamoDB.Query": 3}, got, name)
	}
}

func TestFirstUseOfAKeyCostsTwoReadsAndOneWrite(t *testing.T) {
	a := newAPI(t)
	s := a.signup("cold@example.com")
	_, key := a.newKey(s, "k")
	cold := newAPIOn(t, a.env, a.clock) // a cold instance
	a.env.Counter.Reset()
	require.Equal(t, http.StatusOK, cold.do("GET", "/api/contacts", nil, bearer(key)...).Status)
	assert.Equal(t, 2, a.env.Counter.Count("DynamoDB.GetItem"), "key lookup and organisation")
	assert.Equal(t, 2, a.env.Counter.Count("DynamoDB.UpdateItem"), "lastUsedAt and the rate limit")
}

func TestCreatingAKeyIsNeverReplayed(t *testing.T) {
	a := newAPI(t)
	s := a.signup("idem@example.com")
	h := append(bearer(s.Token), "Idempotency-Key", "create-key-1")
	first := a.do("POST", "/api/api-keys", map[string]string{"name": "once"}, h...)
	require.Equal(t, http.StatusCreated, first.Status)
	retry := a.do("POST", "/api/api-keys", map[string]string{"name": "once"}, h...)
	assert.Equal(t, http.StatusConflict, retry.Status)
	assert.NotContains(t, string(retry.Body), first.JSON(t)["key"])
	list := a.do("GET", "/api/api-keys", nil, bearer(s.Token)...).JSON(t)["data"].([]any)
	assert.Len(t, list, 1, "the retry created no second key")
}

// The OpenAPI document and the routes agree, both ways.
func TestOpenAPIDocumentCoversEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openapi.Document, &doc))
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	deps, err := platform.NewDeps(aws.Config{}, config.Config{TableName: "unused", JWTSecret: []byte(testSecret), LinkSecret: []byte(testLinkSecret), WebhookKey: []byte(testWebhookKey)}, clock.NewFake(t0))
	require.NoError(t, err)
	all, err := app.All(deps)
	require.NoError(t, err)
	served := all.Routes()
	slices.Sort(documented)
	slices.Sort(served)
	assert.Equal(t, served, documented)
}

// Rate-limit counters and idempotency records live in partitions of their
// own: the tenant's main partition, which imports flood with writes, holds
// neither.
func TestRateAndIdempotencyRecordsStayOutOfTheTenantPartition(t *testing.T) {
	a := newAPI(t)
	s := a.signup("partition@example.com")
	for _, k := range []string{"idem-1", "idem-2"} {
		h := append(bearer(s.Token), "Idempotency-Key", k)
		require.Equal(t, http.StatusCreated, a.do("POST", "/api/api-keys", map[string]string{"name": k}, h...).Status)
	}
	require.Equal(t, http.StatusOK, a.do("POST", "/api/auth/refresh", nil, append(bearer(s.Token), "Idempotency-Key", "idem-3")...).Status)

	ctx := t.Context()
	for _, k := range []string{"idem-1", "idem-2", "idem-3"} {
		var rec map[string]any
		assert.NoError(t, a.env.Store.Get(ctx, store.IdempotencyKey(s.OrgID, k), &rec), "control: the record of %s exists", k)
	}
	rate, err := a.env.DB.Query(ctx, queryPK(a.env.Store.Table, store.RateLimitPK(s.OrgID)))
	require.NoError(t, err)
	assert.NotEmpty(t, rate.Items, "control: the requests were counted")

	tenantPart, err := a.env.DB.Query(ctx, queryPK(a.env.Store.Table, store.OrgPK(s.OrgID)))
	require.NoError(t, err)
	require.NotEmpty(t, tenantPart.Items, "the organisation, its user and its keys")
	idemSK := store.IdempotencyKey(s.OrgID, "idem-1").SK
	counterSKs := map[string]bool{}
	for _, it := range rate.Items {
		var k store.Key
		require.NoError(t, attributevalue.UnmarshalMap(it, &k))
		counterSKs[k.SK] = true
	}
	for _, it := range tenantPart.Items {
		var k store.Key
		require.NoError(t, attributevalue.UnmarshalMap(it, &k))
		assert.False(t, counterSKs[k.SK], "a rate-limit counter in the main partition: %s", k.Kind())
		assert.NotEqual(t, idemSK, k.SK, "an idempotency record in the main partition")
	}
}

// AWS call budgets of a login: an attempt is reserved on two counters before
// the password is checked (two conditional UpdateItems); a wrong password
// keeps its reservations, a right one reads the user and gives them back.
func TestCostOfLogin(t *testing.T) {
	a := newAPI(t)
	a.signup("login-cost@example.com")
	login := func(password string) map[string]int {
		a.env.Counter.Reset()
		a.do("POST", "/api/auth/login", map[string]string{"email": "login-cost@example.com", "password": password})
		return a.env.Counter.Snapshot()
	}
	assert.Equal(t, map[string]int{"DynamoDB.UpdateItem": 2, "DynamoDB.GetItem": 1}, login("a wrong password"), "wrong password: two reservations and the login lookup")
	assert.Equal(t, map[string]int{"DynamoDB.UpdateItem": 4, "DynamoDB.GetItem": 2}, login("correct horse battery"), "right password: plus the user, and the reservations given back")
}

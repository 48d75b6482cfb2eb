package idempotency_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/idempotency"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type fixture struct {
	rt     *httpx.Router
	clock  *clock.Fake
	env    *testenv.Env
	faults *awsx.Faults
	calls  atomic.Int32
	failed atomic.Bool

	// POST /slow: call n reports n on started, then waits for the status
	// to answer with on gate(n).
	started chan int32
	gatesMu sync.Mutex
	gates   map[int32]chan int
}

// newFixture serves test routes behind the keeper, over a fresh table. The
// keeper's DynamoDB client goes through f.faults; f.env.Store's does not.
func newFixture(t *testing.T) *fixture {
	env := testenv.New(t)
	f := &fixture{clock: clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)), env: env, faults: awsx.NewFaults(),
		started: make(chan int32, 8), gates: map[int32]chan int{}}
	cfg := env.Config.Copy()
	f.faults.Instrument(&cfg)
	awsx.QuickRetries(&cfg, 3)
	asTenant := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := &tenant.Principal{OrgID: r.Header.Get("X-Org"), Kind: tenant.KindAPIKey}
			next.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), p)))
		})
	}
	keeper := idempotency.New(store.New(dynamodb.NewFromConfig(cfg), env.Store.Table), f.clock)
	f.rt = httpx.NewRouter(map[httpx.Access][]httpx.Middleware{httpx.Tenant: {asTenant, keeper.Middleware}}, f.clock)
	f.rt.Handle("POST /things", httpx.Tenant, func(w http.ResponseWriter, r *http.Request) error {
		n := f.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"call": n, "echo": string(body)})
		return nil
	})
	f.rt.Handle("POST /slow", httpx.Tenant, func(w http.ResponseWriter, r *http.Request) error {
		n := f.calls.Add(1)
		f.started <- n
		status := http.StatusGatewayTimeout // a call no test releases fails its test instead of hanging it
		select {
		case status = <-f.gate(n):
		case <-time.After(5 * time.Second):
		}
		httpx.WriteJSON(w, status, map[string]any{"call": n})
		return nil
	})
	f.rt.Handle("POST /flaky", httpx.Tenant, func(w http.ResponseWriter, r *http.Request) error {
		f.calls.Add(1)
		if !f.failed.Swap(true) {
			return fmt.Errorf("dynamodb is having a bad day")
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	f.rt.Handle("POST /secret", httpx.Tenant, func(w http.ResponseWriter, r *http.Request) error {
		f.calls.Add(1)
		httpx.ForbidReplay(r.Context())
		httpx.WriteJSON(w, http.StatusCreated, map[string]string{"secret": "s3cr3t"})
		return nil
	})
	return f
}

// gate is the channel that releases call n of POST /slow.
func (f *fixture) gate(n int32) chan int {
	f.gatesMu.Lock()
	defer f.gatesMu.Unlock()
	if f.gates[n] == nil {
		f.gates[n] = make(chan int, 1)
	}
	return f.gates[n]
}

// call is the handler call a response of /things or /slow came from.
func call(t *testing.T, r *httptest.ResponseRecorder) int {
	t.Helper()
	var body struct{ Call int }
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), &body), r.Body.String())
	return body.Call
}

func (f *fixture) post(path, org, key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("X-Org", org)
	if key != "" {
		req.Header.Set(idempotency.Header, key)
	}
	rec := httptest.NewRecorder()
	f.rt.ServeHTTP(rec, req)
	return rec
}

func TestSameKeySameBodyReplaysTheFirstResponse(t *testing.T) {
	f := newFixture(t)
	first := f.post("/things", "org_a", "k1", `{"a":1}`)
	require.Equal(t, http.StatusCreated, first.Code)
	again := f.post("/things", "org_a", "k1", `{"a":1}`)
	assert.Equal(t, http.StatusCreated, again.Code)
	assert.Equal(t, first.Body.String(), again.Body.String())
	assert.Equal(t, "true", again.Header().Get("Idempotent-Replayed"))
	assert.Empty(t, first.Header().Get("Idempotent-Replayed"))
	assert.EqualValues(t, 1, f.calls.Load(), "the handler ran once")

	assert.Equal(t, http.StatusCreated, f.post("/things", "org_b", "k1", `{"a":1}`).Code, "keys are per tenant")
	assert.Equal(t, http.StatusCreated, f.post("/things", "org_a", "", `{"a":1}`).Code, "no key, no replay")
	assert.EqualValues(t, 3, f.calls.Load())
}

func TestSameKeyDifferentBodyIs422(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.post("/things", "org_a", "k1", `{"a":1}`).Code)
	r := f.post("/things", "org_a", "k1", `{"a":2}`)
	assert.Equal(t, http.StatusUnprocessableEntity, r.Code)
	assert.Contains(t, r.Body.String(), "UNPROCESSABLE_ENTITY")
}

func TestKeyIsKept24Hours(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.post("/things", "org_a", "k1", `{}`).Code)
	f.clock.Advance(23 * time.Hour)
	assert.Equal(t, "true", f.post("/things", "org_a", "k1", `{}`).Header().Get("Idempotent-Replayed"))
	f.clock.Advance(time.Hour + time.Second)
	r := f.post("/things", "org_a", "k1", `{}`)
	assert.Empty(t, r.Header().Get("Idempotent-Replayed"), "expired after 24 h: a new request")
	assert.EqualValues(t, 2, f.calls.Load())
}

func TestWhileTheFirstIsRunningASecondIs409(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var first *httptest.ResponseRecorder
	wg.Go(func() { first = f.post("/slow", "org_a", "k1", `{}`) })
	require.EqualValues(t, 1, <-f.started)
	r := f.post("/slow", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusConflict, r.Code)
	assert.Contains(t, r.Body.String(), "still being processed")
	f.gate(1) <- http.StatusAccepted
	wg.Wait()
	assert.Equal(t, http.StatusAccepted, first.Code)
	assert.EqualValues(t, 1, f.calls.Load())
}

// goPost sends a POST in the background; the channel yields its response
// once the middleware has recorded the outcome and answered.
func (f *fixture) goPost(path, org, key, body string) <-chan *httptest.ResponseRecorder {
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- f.post(path, org, key, body) }()
	return done
}

// A request that outlives its lock must not overwrite the answer of the one
// that took the key over: the replay is the second request's.
func TestALockLeftByADeadRequestIsTakenOver(t *testing.T) {
	f := newFixture(t)
	firstDone := f.goPost("/slow", "org_a", "k1", `{}`)
	require.EqualValues(t, 1, <-f.started, "request 1 runs the handler")
	f.clock.Advance(idempotency.LockTTL + time.Second) // request 1's Lambda timed out, or stalls
	secondDone := f.goPost("/slow", "org_a", "k1", `{}`)
	require.EqualValues(t, 2, <-f.started, "request 2 takes the lapsed lock over and runs the handler")

	f.gate(2) <- http.StatusCreated // request 2 finishes first and stores its answer
	second := <-secondDone
	f.gate(1) <- http.StatusAccepted // then the stalled request 1 finishes
	first := <-firstDone
	require.Equal(t, http.StatusCreated, second.Code)
	assert.Equal(t, 2, call(t, second))
	assert.Equal(t, http.StatusAccepted, first.Code, "request 1's own client still gets its answer")
	assert.Equal(t, 1, call(t, first))

	r := f.post("/slow", "org_a", "k1", `{}`)
	assert.Equal(t, "true", r.Header().Get("Idempotent-Replayed"))
	assert.Equal(t, http.StatusCreated, r.Code, "the replay is request 2's answer")
	assert.Equal(t, 2, call(t, r))
	assert.EqualValues(t, 2, f.calls.Load())
}

// Request 1 finishing (or failing) while request 2 holds the key changes
// nothing: a third request still waits for request 2, and then replays its
// answer.
func TestARequestThatLostItsLockLeavesTheRecordAlone(t *testing.T) {
	for name, status := range map[string]int{"answer": http.StatusAccepted, "failure": http.StatusInternalServerError} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			firstDone := f.goPost("/slow", "org_a", "k1", `{}`)
			require.EqualValues(t, 1, <-f.started)
			f.clock.Advance(idempotency.LockTTL + time.Second)
			secondDone := f.goPost("/slow", "org_a", "k1", `{}`)
			require.EqualValues(t, 2, <-f.started)

			f.gate(1) <- status // request 1 ends while request 2 still runs
			assert.Equal(t, status, (<-firstDone).Code)
			third := f.post("/slow", "org_a", "k1", `{}`)
			assert.Equal(t, http.StatusConflict, third.Code, "request 2 still holds the key")
			assert.Contains(t, third.Body.String(), "still being processed")

			f.gate(2) <- http.StatusCreated
			require.Equal(t, http.StatusCreated, (<-secondDone).Code)
			r := f.post("/slow", "org_a", "k1", `{}`)
			assert.Equal(t, "true", r.Header().Get("Idempotent-Replayed"))
			assert.Equal(t, 2, call(t, r))
			assert.EqualValues(t, 2, f.calls.Load())
		})
	}
}

// A record that disappears between the conditional put that found it and
// the read (TTL, a failed request's release) is claimed again, not a 500.
func TestARecordThatVanishesBeforeTheReadIsClaimedAgain(t *testing.T) {
	f := newFixture(t)
	first := f.post("/things", "org_a", "k1", `{}`)
	require.Equal(t, http.StatusCreated, first.Code)
	puts := f.faults.Attempts("DynamoDB.PutItem")
	f.faults.Before("DynamoDB.GetItem", func(n int) {
		if n == 1 {
			// Not require: this runs inside the SDK's call.
			_ = f.env.Store.Delete(context.Background(), store.IdempotencyKey("org_a", "k1"))
		}
	})
	r := f.post("/things", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	assert.Empty(t, r.Header().Get("Idempotent-Replayed"), "the record was gone: a new request")
	assert.Equal(t, 2, call(t, r))
	assert.Equal(t, 1, f.faults.Attempts("DynamoDB.GetItem"), "the record was read once, after its deletion")
	assert.Equal(t, 3, f.faults.Attempts("DynamoDB.PutItem")-puts, "claimed twice, then finished")

	again := f.post("/things", "org_a", "k1", `{}`)
	assert.Equal(t, "true", again.Header().Get("Idempotent-Replayed"))
	assert.Equal(t, 2, call(t, again))
}

// The query string is part of the request: the same key and body with
// another query is another request; the same parameters in another order
// are the same one.
func TestTheFingerprintCoversTheQueryString(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.post("/things?dryRun=true&a=1", "org_a", "k1", `{}`).Code)
	r := f.post("/things?dryRun=false&a=1", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusUnprocessableEntity, r.Code)
	r = f.post("/things", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusUnprocessableEntity, r.Code)
	r = f.post("/things?a=1&dryRun=true", "org_a", "k1", `{}`)
	assert.Equal(t, "true", r.Header().Get("Idempotent-Replayed"))
	assert.EqualValues(t, 1, f.calls.Load())
}

// Throttling of the claim is a 503 with Retry-After, and runs nothing.
func TestAThrottledClaimIs503(t *testing.T) {
	f := newFixture(t)
	f.faults.FailFrom("DynamoDB.PutItem", 1, awsx.ProvisionedThroughputExceeded)
	r := f.post("/things", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusServiceUnavailable, r.Code)
	assert.Contains(t, r.Body.String(), httpx.CodeUnavailable)
	assert.NotEmpty(t, r.Header().Get("Retry-After"))
	assert.EqualValues(t, 0, f.calls.Load())
	assert.Equal(t, 3, f.faults.Attempts("DynamoDB.PutItem"), "the SDK retried")
	var rec map[string]any
	assert.ErrorIs(t, f.env.Store.Get(context.Background(), store.IdempotencyKey("org_a", "k1"), &rec), errs.ErrNotFound)
}

func TestFailuresAreNotStored(t *testing.T) {
	f := newFixture(t)
	assert.Equal(t, http.StatusInternalServerError, f.post("/flaky", "org_a", "k1", `{}`).Code)
	r := f.post("/flaky", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusCreated, r.Code, "a retry after a 500 runs again")
	assert.Empty(t, r.Header().Get("Idempotent-Replayed"))
}

func TestResponsesWithSecretsAreNeverReplayed(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.post("/secret", "org_a", "k1", `{}`).Code)
	r := f.post("/secret", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusConflict, r.Code)
	assert.NotContains(t, r.Body.String(), "s3cr3t")
	assert.EqualValues(t, 1, f.calls.Load())
}

func TestKeyLongerThan255Is400(t *testing.T) {
	f := newFixture(t)
	assert.Equal(t, http.StatusCreated, f.post("/things", "org_a", strings.Repeat("k", 255), `{}`).Code)
	r := f.post("/things", "org_a", strings.Repeat("k", 256), `{}`)
	assert.Equal(t, http.StatusBadRequest, r.Code)
	assert.Contains(t, r.Body.String(), "Idempotency-Key")
}

// A claim whose write was applied but whose answer was lost (the SDK
// retries it, and the retry meets its own record) is the request's own:
// it runs, once, and is not answered 409.
func TestAClaimWhoseAnswerWasLostIsStillOurs(t *testing.T) {
	f := newFixture(t)
	f.faults.LoseAnswerOfNth("DynamoDB.PutItem", 1, awsx.InternalServerError)
	r := f.post("/things", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	assert.Equal(t, 1, call(t, r))
	assert.Equal(t, 1, f.faults.Fired("DynamoDB.PutItem"))

	again := f.post("/things", "org_a", "k1", `{}`)
	assert.Equal(t, "true", again.Header().Get("Idempotent-Replayed"), "finished and kept as usual")
	assert.Equal(t, 1, call(t, again))
}

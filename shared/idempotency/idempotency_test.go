package idempotency_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/idempotency"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type fixture struct {
	rt      *httpx.Router
	clock   *clock.Fake
	calls   atomic.Int32
	release chan struct{}
	started chan struct{}
	failed  atomic.Bool
}

func newFixture(t *testing.T) *fixture {
	env := testenv.New(t)
	f := &fixture{clock: clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)), release: make(chan struct{}), started: make(chan struct{}, 1)}
	asTenant := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := &tenant.Principal{OrgID: r.Header.Get("X-Org"), Kind: tenant.KindAPIKey}
			next.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), p)))
		})
	}
	keeper := idempotency.New(env.Store, f.clock)
	f.rt = httpx.NewRouter(map[httpx.Access][]httpx.Middleware{httpx.Tenant: {asTenant, keeper.Middleware}}, f.clock)
	f.rt.Handle("POST /things", httpx.Tenant, func(w http.ResponseWriter, r *http.Request) error {
		n := f.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"call": n, "echo": string(body)})
		return nil
	})
	f.rt.Handle("POST /slow", httpx.Tenant, func(w http.ResponseWriter, r *http.Request) error {
		f.calls.Add(1)
		f.started <- struct{}{}
		<-f.release
		w.WriteHeader(http.StatusAccepted)
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
	<-f.started
	r := f.post("/slow", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusConflict, r.Code)
	assert.Contains(t, r.Body.String(), "still being processed")
	close(f.release)
	wg.Wait()
	assert.Equal(t, http.StatusAccepted, first.Code)
	assert.EqualValues(t, 1, f.calls.Load())
}

func TestALockLeftByADeadRequestIsTakenOver(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	wg.Go(func() { f.post("/slow", "org_a", "k1", `{}`) })
	<-f.started
	f.clock.Advance(idempotency.LockTTL + time.Second) // the first request's Lambda timed out
	f.started <- struct{}{}                            // room for the second run to start
	<-f.started
	go func() { f.release <- struct{}{}; f.release <- struct{}{} }()
	r := f.post("/slow", "org_a", "k1", `{}`)
	assert.Equal(t, http.StatusAccepted, r.Code)
	wg.Wait()
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

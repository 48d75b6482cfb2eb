package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/app"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/imports/importworker"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/openapi"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const testSecret = "test-secret-test-secret-test-secret-0123"

// testLinkSecret signs the links in sent mail; not the JWT secret, as in AWS.
const testLinkSecret = "test-link-secret-test-link-secret-0123"

// testWebhookKey seals webhook secrets in the tests; 127.0.0.1 (the tests'
// receivers) is allowed as WEBHOOK_ALLOWED_HOSTS allows it under make run.
const testWebhookKey = "test-webhook-key-test-webhook-key-0123"

var t0 = time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC)

// api is the whole API over real HTTP, on a fresh table in moto, with a fake
// clock; every response it sees is validated against the OpenAPI document.
type api struct {
	t     testing.TB
	env   *testenv.Env
	clock *clock.Fake
	deps  *platform.Deps
	srv   *httptest.Server
	oas   routers.Router
}

// settings are what options change: the functions' configuration and the
// AWS clients' middleware.
type settings struct {
	config.Config
	faults *awsx.Faults
}

type option func(*settings)

func withRateLimit(n int) option { return func(s *settings) { s.RateLimitPerMinute = n } }

// withFaults builds the API's clients with the fault-injecting middleware f
// (and quick SDK retries), so a test can make DynamoDB answer as it would
// under contention or throttling, which moto never does.
func withFaults(f *awsx.Faults) option { return func(s *settings) { s.faults = f } }

func newAPI(t testing.TB, opts ...option) *api {
	t.Helper()
	env := testenv.New(t)
	return newAPIOn(t, env, clock.NewFake(t0), opts...)
}

// newAPIOn starts another "instance" of the API over the same table and clock,
// as a second Lambda instance would be.
func newAPIOn(t testing.TB, env *testenv.Env, clk *clock.Fake, opts ...option) *api {
	t.Helper()
	res := env.Resources(t)
	cfg := config.Config{TableName: env.Store.Table, JWTSecret: []byte(testSecret), LinkSecret: []byte(testLinkSecret), RateLimitPerMinute: 1000,
		WebhookKey: []byte(testWebhookKey), WebhookAllowedHosts: "127.0.0.1", WebhookQueueURL: res.WebhookQueueURL,
		ImportsBucket: res.ImportsBucket, ImportQueueURL: res.ImportQueueURL, DomainEventsQueueURL: res.DomainEventsQueueURL, S3PathStyle: true,
		SendQueueURL: res.SendQueueURL, SegmentQueueURL: res.SegmentQueueURL, SequenceQueueURL: res.SequenceQueueURL, ConfigurationSet: res.ConfigurationSet,
		PublicBaseURL: "https://api.sendwell.test"}
	// The SES adapter's local setting, as config.FromEnv reads it (the
	// domains tests set it both ways).
	cfg.SESLocalAutoVerify = os.Getenv("SES_LOCAL_AUTO_VERIFY") == "true"
	set := settings{Config: cfg}
	for _, o := range opts {
		o(&set)
	}
	awsCfg := env.Config.Copy()
	if set.faults != nil {
		set.faults.Instrument(&awsCfg)
		awsx.QuickRetries(&awsCfg, 3)
	}
	deps, err := platform.NewDeps(awsCfg, set.Config, clk)
	require.NoError(t, err)
	h, err := app.All(deps)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &api{t: t, env: env, clock: clk, deps: deps, srv: srv, oas: oasRouter(t)}
}

func oasRouter(t testing.TB) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Document)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	doc.Servers = nil // match paths whatever the test server's address
	r, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	return r
}

// resp is a response, its body kept.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *resp) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), string(r.Body))
	return m
}

func (r *resp) ErrCode(t testing.TB) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	require.NotNil(t, e, "expected an error envelope, got %s", r.Body)
	return e["code"].(string)
}

func (r *resp) ErrMessage(t testing.TB) string {
	t.Helper()
	return r.JSON(t)["error"].(map[string]any)["message"].(string)
}

// do sends a request; headers come in pairs ("Authorization", "Bearer …").
func (a *api) do(method, path string, body any, headers ...string) *resp {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(a.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	require.NoError(a.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.srv.Client().Do(req)
	require.NoError(a.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(a.t, err)
	out := &resp{Status: res.StatusCode, Header: res.Header, Body: raw}
	assert.NotEmpty(a.t, res.Header.Get("X-Request-Id"), "%s %s: every response carries X-Request-Id", method, path)
	a.validate(req, out)
	return out
}

// validate checks the response against the OpenAPI document. Only requests
// to routes the document lacks (the 404s of unknown routes) are not checked.
func (a *api) validate(req *http.Request, r *resp) {
	a.t.Helper()
	route, params, err := a.oas.FindRoute(req)
	if err != nil {
		assert.Contains(a.t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, r.Status, "%s %s is not in the OpenAPI document", req.Method, req.URL.Path)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  r.Status,
		Header:  r.Header,
		Body:    io.NopCloser(bytes.NewReader(r.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	err = openapi3filter.ValidateResponse(context.Background(), in)
	assert.NoError(a.t, err, "%s %s → %d %s does not match the OpenAPI document", req.Method, req.URL.Path, r.Status, r.Body)
}

// session is a signed-up user: its token and organisation.
type session struct {
	Token string
	OrgID string
	Email string
}

func (a *api) signup(email string) session {
	a.t.Helper()
	r := a.do("POST", "/api/auth/signup", map[string]string{"email": email, "password": "correct horse battery", "name": "Ada", "organisation": "Acme " + email})
	require.Equal(a.t, http.StatusCreated, r.Status, string(r.Body))
	m := r.JSON(a.t)
	return session{Token: m["token"].(string), OrgID: m["organisation"].(map[string]any)["id"].(string), Email: email}
}

func (a *api) newKey(s session, name string) (id, key string) {
	a.t.Helper()
	r := a.do("POST", "/api/api-keys", map[string]string{"name": name}, "Authorization", "Bearer "+s.Token)
	require.Equal(a.t, http.StatusCreated, r.Status, string(r.Body))
	m := r.JSON(a.t)
	return m["id"].(string), m["key"].(string)
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// pollImports feeds the import queue to the import worker until ctx ends,
// as Lambda's event source mapping (and `make run`) does.
func (a *api) pollImports(ctx context.Context) {
	h, err := importworker.Function.Build(a.deps)
	if err != nil {
		panic(err)
	}
	_ = localaws.PollQueue(ctx, sqs.NewFromConfig(a.env.Config), a.deps.Config.ImportQueueURL, localaws.SQSHandler(h))
}

// sent is a request and its answer, for checking after concurrent sends.
type sent struct {
	req *http.Request
	res *resp
}

// tryDo sends a request to the harness's server without asserting, so it
// may run in a goroutine; check the answer with a.validate afterwards.
func tryDo(a *api, method, path string, body any, headers ...string) (sent, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return sent{}, err
	}
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		return sent{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		return sent{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return sent{}, err
	}
	return sent{req: req, res: &resp{Status: res.StatusCode, Header: res.Header, Body: b}}, nil
}

// concurrently runs send(0) … send(n-1) at once and waits for them all. The
// sends assert nothing (they run in goroutines); afterwards each answer is
// checked against the OpenAPI document here, and counted by status.
func (a *api) concurrently(n int, send func(i int) (sent, error)) ([]sent, map[int]int) {
	a.t.Helper()
	answers := make([]sent, n)
	errors := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i], errors[i] = send(i) })
	}
	wg.Wait()
	byStatus := map[int]int{}
	for i := range n {
		require.NoError(a.t, errors[i])
		a.validate(answers[i].req, answers[i].res)
		byStatus[answers[i].res.Status]++
	}
	return answers, byStatus
}

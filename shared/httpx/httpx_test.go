package httpx

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
)

type body struct {
	Email string   `json:"email"`
	Age   int      `json:"age"`
	Tags  []string `json:"tags"`
	Inner struct {
		On bool `json:"on"`
	} `json:"inner"`
}

func (b *body) Validate() error {
	if b.Email == "" {
		return errs.Required("email")
	}
	return nil
}

func testRouter() *Router {
	rt := NewRouter(nil, clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	rt.Handle("POST /api/things", Public, func(w http.ResponseWriter, r *http.Request) error {
		var b body
		if err := Decode(r, &b); err != nil {
			return err
		}
		WriteJSON(w, http.StatusCreated, b)
		return nil
	})
	rt.Handle("GET /api/things/{id}", Public, func(w http.ResponseWriter, r *http.Request) error {
		switch r.PathValue("id") {
		case "boom":
			panic("secret internal detail")
		case "fail":
			return errSecret
		}
		return errs.NewNotFound("Thing not found.")
	})
	rt.Handle("DELETE /api/things/{id}", Public, func(w http.ResponseWriter, r *http.Request) error { return nil })
	return rt
}

var errSecret = &leaky{}

type leaky struct{}

func (*leaky) Error() string { return "dynamodb: table arn:aws:secret exploded" }

func serve(rt http.Handler, method, path, payload string) (*httptest.ResponseRecorder, ErrorBody) {
	req := httptest.NewRequest(method, path, strings.NewReader(payload))
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, req)
	var eb ErrorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &eb)
	return rec, eb
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	rt := testRouter()
	cases := []struct {
		name, payload string
		status        int
		code, message string
	}{
		{"malformed", `{"email":`, 400, CodeValidation, "The request body is not valid JSON."},
		{"syntax", `{email}`, 400, CodeValidation, "The request body is not valid JSON."},
		{"empty", ``, 400, CodeValidation, "The request body must be a JSON object."},
		{"array", `[1]`, 400, CodeValidation, "The request body must be a JSON object."},
		{"wrong type", `{"email":"a@b.co","age":"ten"}`, 400, CodeValidation, "The 'age' field must be a whole number."},
		{"nested type", `{"email":"a@b.co","inner":{"on":"yes"}}`, 400, CodeValidation, "The 'inner.on' field must be a boolean."},
		{"array type", `{"email":"a@b.co","tags":"x"}`, 400, CodeValidation, "The 'tags' field must be an array."},
		{"unknown field", `{"email":"a@b.co","admin":true}`, 400, CodeValidation, "The 'admin' field is not allowed."},
		{"missing required", `{"age":3}`, 400, CodeValidation, "The 'email' field is required."},
		{"trailing data", `{"email":"a@b.co"} {}`, 400, CodeValidation, "The request body must contain a single JSON object."},
		{"ok", `{"email":"a@b.co"}`, 201, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, eb := serve(rt, "POST", "/api/things", c.payload)
			assert.Equal(t, c.status, rec.Code)
			assert.Equal(t, c.code, eb.Error.Code)
			assert.Equal(t, c.message, eb.Error.Message)
			assert.NotEmpty(t, rec.Header().Get("X-Request-Id"))
		})
	}
}

func TestBodyOverOneMegabyteIs413(t *testing.T) {
	big := `{"email":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	rec, eb := serve(testRouter(), "POST", "/api/things", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Equal(t, CodePayloadTooLarge, eb.Error.Code)

	// Without a Content-Length the limit still holds while reading.
	req := httptest.NewRequest("POST", "/api/things", strings.NewReader(big))
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	testRouter().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
}

func TestUnknownRoutesAndMethodsAnswerInTheEnvelope(t *testing.T) {
	rt := testRouter()
	rec, eb := serve(rt, "GET", "/api/nothing-here", "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, CodeNotFound, eb.Error.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))

	rec, eb = serve(rt, "PUT", "/api/things/1", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, CodeMethodNotAllowed, eb.Error.Code)
	assert.Equal(t, "GET, DELETE", rec.Header().Get("Allow"))

	rec, eb = serve(rt, "GET", "/api/things", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "POST", rec.Header().Get("Allow"))
	assert.Equal(t, CodeMethodNotAllowed, eb.Error.Code)
}

func TestInternalErrorsNeverLeak(t *testing.T) {
	for _, id := range []string{"boom", "fail"} {
		rec, eb := serve(testRouter(), "GET", "/api/things/"+id, "")
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Equal(t, CodeInternal, eb.Error.Code)
		assert.Equal(t, "An unexpected error occurred.", eb.Error.Message)
		assert.NotContains(t, rec.Body.String(), "secret")
	}
}

func TestDomainErrorsMapToStatuses(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{errs.Invalid("x", "bad"), 400, CodeValidation},
		{errs.NewUnauthorised("no"), 401, CodeUnauthorised},
		{errs.NewForbidden("no"), 403, CodeForbidden},
		{errs.ErrNotFound, 404, CodeNotFound},
		{errs.NewConflict("dup"), 409, CodeConflict},
		{&errs.Unprocessable{Message: "full"}, 422, CodeUnprocessable},
		{&errs.RateLimited{RetryAfter: 7, Message: "slow"}, 429, CodeRateLimited},
		{errs.NewUnavailable(2, errSecret), 503, CodeUnavailable},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest("GET", "/", nil), c.err)
		var eb ErrorBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
		assert.Equal(t, c.status, rec.Code, c.code)
		assert.Equal(t, c.code, eb.Error.Code)
	}
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest("GET", "/", nil), &errs.RateLimited{RetryAfter: 7, Message: "slow"})
	assert.Equal(t, "7", rec.Header().Get("Retry-After"))
}

// An overloaded database is a 503 that says when to retry, in the header
// and the message, and never shows its cause.
func TestUnavailableIs503WithRetryAfter(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		header string
		msg    string
	}{
		{"one second", errs.NewUnavailable(1, errSecret), "1", "The service is busy; retry after 1 second."},
		{"seconds", fmt.Errorf("store: get ORG#/CEMAIL#: %w", errs.NewUnavailable(5, errSecret)), "5", "The service is busy; retry after 5 seconds."},
		{"no delay given", &errs.Unavailable{}, "1", "The service is busy; retry after 1 second."},
		{"own message", &errs.Unavailable{RetryAfter: 3, Message: "Imports are paused; retry after 3 seconds."}, "3", "Imports are paused; retry after 3 seconds."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, httptest.NewRequest("GET", "/", nil), c.err)
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			assert.Equal(t, c.header, rec.Header().Get("Retry-After"))
			var eb ErrorBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
			assert.Equal(t, ErrorDetail{Code: "SERVICE_UNAVAILABLE", Message: c.msg}, eb.Error)
			assert.NotContains(t, rec.Body.String(), "secret")
		})
	}
}

// A client that writes a whole oversized body before reading (Python's
// urllib and requests do) reads the 413 envelope, not a connection reset,
// over a real connection that then stays open, as behind API Gateway.
func TestOversizedBodyIsReadBeforeThe413(t *testing.T) {
	srv := httptest.NewServer(testRouter())
	defer srv.Close()
	body := `{"email":"` + strings.Repeat("a", 2<<20) + `"}`
	chunked := func(s string) string {
		var b strings.Builder
		for c := range slices.Chunk([]byte(s), 64<<10) {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
		}
		return b.String() + "0\r\n\r\n"
	}
	cases := []struct {
		name    string
		headers string
		payload string
	}{
		{"content length", fmt.Sprintf("Content-Length: %d\r\n", len(body)), body},
		{"chunked", "Transfer-Encoding: chunked\r\n", chunked(body)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
			r := bufio.NewReader(conn)

			_, err = io.WriteString(conn, "POST /api/things HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"+c.headers+"\r\n"+c.payload)
			require.NoError(t, err, "the server read the whole body")
			res, err := http.ReadResponse(r, nil)
			require.NoError(t, err)
			raw, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
			assert.JSONEq(t, `{"error":{"code":"PAYLOAD_TOO_LARGE","message":"The request body is larger than 1 MB."}}`, string(raw))
			assert.False(t, res.Close, "the connection stays open")

			// The same connection serves the next request.
			_, err = io.WriteString(conn, "DELETE /api/things/1 HTTP/1.1\r\nHost: test\r\n\r\n")
			require.NoError(t, err)
			res, err = http.ReadResponse(r, nil)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, res.StatusCode)
		})
	}
}

// A body declared longer than MaxDrainBytes is not read: the 413 goes out at
// once and closes the connection.
func TestHugeBodyIs413AndCloses(t *testing.T) {
	srv := httptest.NewServer(testRouter())
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = fmt.Fprintf(conn, "POST /api/things HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n{", MaxDrainBytes+1)
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.True(t, res.Close, "Connection: close")
}

func TestCursorsAreTamperProofAndTenantBound(t *testing.T) {
	c := NewCursors([]byte("0123456789abcdef0123456789abcdef"))
	key := map[string]string{"PK": "ORG#org_a", "SK": "CONTACT#cnt_1"}
	cur := c.Encode("org_a", "contacts", key)
	require.NotNil(t, cur)

	got, err := c.Decode("org_a", "contacts", *cur)
	require.NoError(t, err)
	assert.Equal(t, key, got)

	_, err = c.Decode("org_b", "contacts", *cur)
	assert.ErrorAs(t, err, new(*errs.Validation), "another tenant's cursor")

	_, err = c.Decode("org_a", "api-keys", *cur)
	assert.ErrorAs(t, err, new(*errs.Validation), "another list's cursor")

	tampered := []byte(*cur)
	tampered[3] ^= 1
	_, err = c.Decode("org_a", "contacts", string(tampered))
	assert.ErrorAs(t, err, new(*errs.Validation), "modified cursor")

	other := NewCursors([]byte("another-secret-another-secret-xx"))
	_, err = other.Decode("org_a", "contacts", *cur)
	assert.ErrorAs(t, err, new(*errs.Validation), "cursor signed with another key")

	for _, junk := range []string{"x", "a.b", "..", "eyJ0Ijoib3JnX2EifQ.AAAA"} {
		_, err = c.Decode("org_a", "contacts", junk)
		assert.ErrorAs(t, err, new(*errs.Validation), junk)
	}
	assert.Nil(t, c.Encode("org_a", "contacts", nil), "no next page, no cursor")
}

func TestParsePageLimits(t *testing.T) {
	c := NewCursors([]byte("0123456789abcdef0123456789abcdef"))
	for q, want := range map[string]int{"": 20, "limit=1": 1, "limit=100": 100} {
		p, err := c.ParsePage(httptest.NewRequest("GET", "/x?"+q, nil), "org_a", "x")
		require.NoError(t, err, q)
		assert.Equal(t, want, p.Limit)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "limit=abc", "limit=2.5", "limit=", "limit=5&limit=6"} {
		_, err := c.ParsePage(httptest.NewRequest("GET", "/x?"+q, nil), "org_a", "x")
		var v *errs.Validation
		require.ErrorAs(t, err, &v, q)
		assert.Equal(t, "limit", v.Field)
	}
}

// Two routes Go's mux would refuse together are served, one through a
// broader pattern, and each answers only its own paths.
func TestOverlappingRoutesThroughHandleVia(t *testing.T) {
	rt := NewRouter(nil, clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	rt.Handle("GET /api/things/imports/{id}", Public, func(w http.ResponseWriter, r *http.Request) error {
		WriteJSON(w, http.StatusOK, map[string]string{"import": r.PathValue("id")})
		return nil
	})
	rt.HandleVia("GET /api/things/{id}/events", "GET /api/things/{id}/{sub}", Public, func(w http.ResponseWriter, r *http.Request) error {
		if r.PathValue("sub") != "events" {
			return NoRoute(r)
		}
		WriteJSON(w, http.StatusOK, map[string]string{"events": r.PathValue("id")})
		return nil
	})
	assert.Equal(t, []string{"GET /api/things/imports/{id}", "GET /api/things/{id}/events"}, rt.Routes())

	rec, _ := serve(rt, "GET", "/api/things/imports/i1", "")
	assert.JSONEq(t, `{"import":"i1"}`, rec.Body.String())
	rec, _ = serve(rt, "GET", "/api/things/t1/events", "")
	assert.JSONEq(t, `{"events":"t1"}`, rec.Body.String())
	rec, eb := serve(rt, "GET", "/api/things/t1/other", "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, CodeNotFound, eb.Error.Code)
	rec, _ = serve(rt, "POST", "/api/things/t1/events", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

// A 422 about a source lists each problem with its line; every other error
// keeps the envelope as it was (no details key).
func TestUnprocessableCarriesDetails(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("PUT", "/api/templates/x", nil)
	WriteError(rec, req, &errs.Unprocessable{Message: "The MJML is not valid.", Details: []errs.Problem{{Part: "html", Line: 12, Message: "mj-colum is not a known tag"}}})
	assert.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	assert.JSONEq(t, `{"error":{"code":"UNPROCESSABLE_ENTITY","message":"The MJML is not valid.","details":[{"part":"html","line":12,"message":"mj-colum is not a known tag"}]}}`, rec.Body.String())

	rec = httptest.NewRecorder()
	WriteError(rec, req, &errs.Unprocessable{Message: "An organisation can have at most 10 active API keys."})
	assert.JSONEq(t, `{"error":{"code":"UNPROCESSABLE_ENTITY","message":"An organisation can have at most 10 active API keys."}}`, rec.Body.String())
}

// A path that carries an address or a signed link token (which holds the
// recipient) is logged as its route's pattern.
func TestLogsNeverCarryAddressesFromPaths(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	rt := testRouter()
	rt.Handle("GET /u/{token}", Public, func(w http.ResponseWriter, r *http.Request) error { return nil })
	serve(rt, "GET", "/u/eyJlIjoiZ3JhY2VAZXhhbXBsZS5jb20ifQ.mac", "")
	serve(rt, "GET", "/api/things/grace@example.com", "")
	serve(rt, "GET", "/api/things/thing_1", "")
	out := logs.String()
	assert.NotContains(t, out, "eyJlIjoiZ3JhY2VAZXhhbXBsZS5jb20ifQ")
	assert.NotContains(t, out, "grace@example.com")
	assert.Contains(t, out, `"path":"/u/{token}"`)
	assert.Contains(t, out, `"path":"/api/things/{id}"`)
	assert.Contains(t, out, `"path":"/api/things/thing_1"`)
}

// Two groups may serve routes through one broader mux pattern: each request
// reaches the route its path matches, and any other path is a 404.
func TestRoutesShareABroaderPattern(t *testing.T) {
	rt := NewRouter(nil, clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	rt.Handle("GET /api/contacts/imports/{id}", Public, func(w http.ResponseWriter, r *http.Request) error {
		WriteJSON(w, http.StatusOK, "import")
		return nil
	})
	for _, sub := range []string{"events", "segments"} {
		rt.HandleVia("GET /api/contacts/{id}/"+sub, "GET /api/contacts/{id}/{sub}", Public, func(w http.ResponseWriter, r *http.Request) error {
			WriteJSON(w, http.StatusOK, sub+" of "+r.PathValue("id"))
			return nil
		})
	}
	for path, want := range map[string]string{
		"/api/contacts/imports/imp_1":  `"import"`,
		"/api/contacts/cnt_1/events":   `"events of cnt_1"`,
		"/api/contacts/cnt_1/segments": `"segments of cnt_1"`,
	} {
		rec, _ := serve(rt, "GET", path, "")
		assert.Equal(t, http.StatusOK, rec.Code, path)
		assert.JSONEq(t, want, rec.Body.String(), path)
	}
	rec, eb := serve(rt, "GET", "/api/contacts/cnt_1/nope", "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "NOT_FOUND", eb.Error.Code)
}

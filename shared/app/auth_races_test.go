package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/app"
	"github.com/sendwell/sendwell/shared/httpx"
)

// gatewayClient delivers requests as API Gateway does in AWS: as events
// through the Lambda adapter, the caller's address in the request context
// (sourceIp). Its responses are checked against the OpenAPI document.
type gatewayClient struct {
	a       *api
	handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)
}

func newGatewayClient(a *api) *gatewayClient {
	a.t.Helper()
	h, err := app.All(a.deps)
	require.NoError(a.t, err)
	return &gatewayClient{a: a, handler: httpx.Lambda(h)}
}

// try sends one request from sourceIP without asserting anything, so it may
// run in a goroutine; headers come in pairs.
func (g *gatewayClient) try(method, path string, body any, sourceIP string, headers ...string) (sent, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return sent{}, err
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, Body: string(raw),
		Headers: map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "api.example.com", Stage: "$default", RequestID: "gw-test",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: sourceIP},
		},
	}
	for i := 0; i+1 < len(headers); i += 2 {
		ev.Headers[strings.ToLower(headers[i])] = headers[i+1]
	}
	out, err := g.handler(context.Background(), ev)
	if err != nil {
		return sent{}, err
	}
	res := &resp{Status: out.StatusCode, Header: http.Header{}, Body: []byte(out.Body)}
	for k, v := range out.Headers {
		res.Header.Set(k, v)
	}
	for k, vs := range out.MultiValueHeaders {
		for _, v := range vs {
			res.Header.Add(k, v)
		}
	}
	if out.IsBase64Encoded {
		if res.Body, err = base64.StdEncoding.DecodeString(out.Body); err != nil {
			return sent{}, err
		}
	}
	return sent{req: httptest.NewRequest(method, path, bytes.NewReader(raw)), res: res}, nil
}

// do sends one request from sourceIP and checks the answer against the
// OpenAPI document.
func (g *gatewayClient) do(method, path string, body any, sourceIP string, headers ...string) *resp {
	g.a.t.Helper()
	s, err := g.try(method, path, body, sourceIP, headers...)
	require.NoError(g.a.t, err)
	g.a.validate(s.req, s.res)
	return s.res
}

func (g *gatewayClient) login(email, password, sourceIP string, headers ...string) *resp {
	g.a.t.Helper()
	return g.do("POST", "/api/auth/login", map[string]string{"email": email, "password": password}, sourceIP, headers...)
}

const rightPassword = "correct horse battery" // the password harness signups use

// The login throttle's limits, as the issue sets them: failures per email
// and source address, and per email from all sources, in 15 minutes.
const (
	perSourceLimit = 10
	perEmailLimit  = 100
)

// Twenty wrong passwords for one email from one address, all at once: each
// attempt is counted before its password is checked, so exactly ten are
// checked (401) and ten are refused unchecked (429). Every check reads the
// email's login lookup first, and nothing else on this path reads an item:
// ten reads are ten checks.
func TestParallelWrongPasswordsAreCountedBeforeTheyAreChecked(t *testing.T) {
	a := newAPI(t)
	gw := newGatewayClient(a)
	a.signup("target@example.com")
	a.env.Counter.Reset()

	const n = 2 * perSourceLimit
	answers, _ := a.concurrently(n, func(i int) (sent, error) {
		return gw.try("POST", "/api/auth/login", map[string]string{"email": "target@example.com", "password": fmt.Sprintf("guess number %d", i)}, "198.51.100.7")
	})
	count := map[int]int{}
	for _, s := range answers {
		count[s.res.Status]++
		if s.res.Status == http.StatusTooManyRequests {
			assert.Equal(t, "870", s.res.Header.Get("Retry-After"), "10:00:30 → the window ends at 10:15:00")
		}
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: perSourceLimit, http.StatusTooManyRequests: n - perSourceLimit}, count)
	assert.Equal(t, perSourceLimit, a.env.Counter.Count("DynamoDB.GetItem"), "passwords checked")

	r := gw.login("target@example.com", rightPassword, "198.51.100.7")
	assert.Equal(t, http.StatusTooManyRequests, r.Status, "this address has used its budget, even for the right password")
}

// An attacker exhausting the budget of one address does not stop the user
// logging in from another.
func TestAnAttackerFromOneAddressDoesNotLockTheUserOutElsewhere(t *testing.T) {
	a := newAPI(t)
	gw := newGatewayClient(a)
	a.signup("victim@example.com")
	const attacker, user = "203.0.113.66", "192.0.2.10"
	for i := range perSourceLimit {
		require.Equal(t, http.StatusUnauthorized, gw.login("victim@example.com", "wrong password!", attacker).Status, "failure %d", i+1)
	}
	r := gw.login("victim@example.com", rightPassword, attacker)
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.Equal(t, "RATE_LIMITED", r.ErrCode(t))

	assert.Equal(t, http.StatusOK, gw.login("VICTIM@example.com", rightPassword, user).Status, "the user, elsewhere, is not locked out")
	assert.Equal(t, http.StatusUnauthorized, gw.login("victim@example.com", "a typo in it", user).Status, "and has a budget of their own")
}

// Failures from many addresses add up per email: a hundred of them lock the email for every address until the window ends.
func TestFailuresFromManyAddressesLockTheEmailForAll(t *testing.T) {
	a := newAPI(t)
	gw := newGatewayClient(a)
	a.signup("popular@example.com")
	a.signup("bystander@example.com")

	const sources = perEmailLimit / perSourceLimit
	_, statuses := a.concurrently(perEmailLimit, func(i int) (sent, error) { // every address at once, 10 attempts each
		return gw.try("POST", "/api/auth/login", map[string]string{"email": "popular@example.com", "password": "wrong password!"}, fmt.Sprintf("198.18.0.%d", i%sources+1))
	})
	require.Equal(t, map[int]int{http.StatusUnauthorized: perEmailLimit}, statuses, "each address stayed within its own budget")

	r := gw.login("popular@example.com", rightPassword, "192.0.2.200")
	assert.Equal(t, http.StatusTooManyRequests, r.Status, "a fresh address is refused: the email is locked for all")
	assert.Equal(t, "870", r.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, gw.login("bystander@example.com", rightPassword, "192.0.2.200").Status, "other emails are not")

	a.clock.Advance(870 * time.Second)
	assert.Equal(t, http.StatusOK, gw.login("popular@example.com", rightPassword, "192.0.2.200").Status, "a new window")
}

// The window is a fixed 15-minute bucket: Retry-After counts down to its
// end, and at its end the budget is back.
func TestLoginRetryAfterCountsDownToTheWindowsEnd(t *testing.T) {
	a := newAPI(t)
	gw := newGatewayClient(a)
	a.signup("clock@example.com")
	const ip = "192.0.2.77"
	for range perSourceLimit {
		require.Equal(t, http.StatusUnauthorized, gw.login("clock@example.com", "wrong password!", ip).Status)
		a.clock.Advance(time.Minute)
	}
	// 10:00:30 + 10 min: the window [10:00, 10:15) has 4 min 30 s left.
	r := gw.login("clock@example.com", rightPassword, ip)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.Equal(t, "270", r.Header.Get("Retry-After"))
	assert.Equal(t, "Too many failed logins. Retry after 270 seconds.", r.ErrMessage(t))

	a.clock.Advance(269*time.Second + 500*time.Millisecond)
	r = gw.login("clock@example.com", rightPassword, ip)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.Equal(t, "1", r.Header.Get("Retry-After"), "half a second left is rounded up")

	a.clock.Advance(500 * time.Millisecond)
	assert.Equal(t, http.StatusOK, gw.login("clock@example.com", rightPassword, ip).Status, "10:15:00, a new window")
}

// A successful login gives back its attempt: only failures use the budget.
func TestASuccessfulLoginGivesItsAttemptBack(t *testing.T) {
	a := newAPI(t)
	gw := newGatewayClient(a)
	a.signup("regular@example.com")
	const ip = "192.0.2.5"
	for range perSourceLimit - 1 {
		require.Equal(t, http.StatusUnauthorized, gw.login("regular@example.com", "wrong password!", ip).Status)
	}
	for i := range 5 {
		assert.Equal(t, http.StatusOK, gw.login("regular@example.com", rightPassword, ip).Status, "success %d", i+1)
	}
	assert.Equal(t, http.StatusUnauthorized, gw.login("regular@example.com", "wrong password!", ip).Status, "the tenth failure is still checked")
	assert.Equal(t, http.StatusTooManyRequests, gw.login("regular@example.com", rightPassword, ip).Status)
}

// Only API Gateway's sourceIp names the address: a client's
// X-Forwarded-For neither spreads its attempts over made-up addresses nor
// spends another address's budget.
func TestForwardedForHeadersAreNotTrusted(t *testing.T) {
	t.Run("behind API Gateway", func(t *testing.T) {
		a := newAPI(t)
		gw := newGatewayClient(a)
		a.signup("spoof@example.com")
		const attacker, user = "203.0.113.9", "192.0.2.44"
		for i := range perSourceLimit {
			require.Equal(t, http.StatusUnauthorized,
				gw.login("spoof@example.com", "wrong password!", attacker, "X-Forwarded-For", fmt.Sprintf("%s, 10.0.0.%d", user, i)).Status)
		}
		assert.Equal(t, http.StatusTooManyRequests, gw.login("spoof@example.com", "wrong password!", attacker, "X-Forwarded-For", "10.9.9.9").Status)
		assert.Equal(t, http.StatusOK, gw.login("spoof@example.com", rightPassword, user).Status, "the address the header named kept its budget")
	})
	t.Run("local server", func(t *testing.T) {
		a := newAPI(t)
		a.signup("spoof@example.com")
		for i := range perSourceLimit {
			r := a.do("POST", "/api/auth/login", map[string]string{"email": "spoof@example.com", "password": "wrong password!"}, "X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i))
			require.Equal(t, http.StatusUnauthorized, r.Status)
		}
		r := a.do("POST", "/api/auth/login", map[string]string{"email": "spoof@example.com", "password": rightPassword}, "X-Forwarded-For", "10.1.1.1")
		assert.Equal(t, http.StatusTooManyRequests, r.Status, "every attempt came from the same TCP peer")
	})
}

// An IPv6 subscriber's /64 is one address to the throttle.
func TestIPv6AddressesCountPerSlash64(t *testing.T) {
	a := newAPI(t)
	gw := newGatewayClient(a)
	a.signup("six@example.com")
	for i := range perSourceLimit {
		require.Equal(t, http.StatusUnauthorized, gw.login("six@example.com", "wrong password!", fmt.Sprintf("2001:db8:1:2::%x", i+1)).Status)
	}
	assert.Equal(t, http.StatusTooManyRequests, gw.login("six@example.com", rightPassword, "2001:db8:1:2:ffff::1").Status, "same /64")
	assert.Equal(t, http.StatusOK, gw.login("six@example.com", rightPassword, "2001:db8:1:3::1").Status, "another /64")
}

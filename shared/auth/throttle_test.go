package auth

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The throttle's source address: API Gateway's sourceIp first, then the TCP
// peer; never X-Forwarded-For; IPv6 per /64.
func TestSourceAddress(t *testing.T) {
	t.Run("behind API Gateway, its context wins", func(t *testing.T) {
		var acc core.RequestAccessorV2
		r, err := acc.EventToRequestWithContext(context.Background(), events.APIGatewayV2HTTPRequest{
			RawPath: "/api/auth/login",
			Headers: map[string]string{"x-forwarded-for": "192.0.2.99"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", SourceIP: "203.0.113.7"},
			},
		})
		require.NoError(t, err)
		r.RemoteAddr = "10.0.0.1:4321" // what a proxy in between would show
		assert.Equal(t, "203.0.113.7", SourceAddress(r))
	})
	cases := map[string]string{
		"192.0.2.1:5555":             "192.0.2.1",
		"192.0.2.1":                  "192.0.2.1",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:443":         "fe80::/64",
		"not an address":             unknownSource,
		"":                           unknownSource,
		"[2001:db8:1:2:ffff::1]:1":   "2001:db8:1:2::/64",
		"198.51.100.250:1":           "198.51.100.250",
	}
	for remote, want := range cases {
		r := httptest.NewRequest("POST", "/api/auth/login", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "192.0.2.99")
		assert.Equal(t, want, SourceAddress(r), remote)
	}
}

package safehttp

import (
	"context"
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dial checks its address itself, whatever checked the URL before.
func TestDialRefuses(t *testing.T) {
	p := Policy{Resolve: func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}}
	for _, addr := range []string{
		"127.1:443", "2130706433:443", "0x7f000001:443", "0177.0.0.1:443",
		"017700000001:443", "127.0.0.1:443", "[::1]:443", "[::ffff:127.0.0.1]:443",
		"localhost:443", "evil.test:443", "no port",
	} {
		t.Run(addr, func(t *testing.T) {
			conn, err := p.dial(t.Context(), "tcp", addr)
			var refused *Refused
			assert.ErrorAs(t, err, &refused)
			assert.Nil(t, conn)
		})
	}
}

func TestClientSettings(t *testing.T) {
	c := Policy{}.Client()
	assert.Equal(t, Timeout, c.Timeout)
	assert.ErrorIs(t, c.CheckRedirect(nil, nil), http.ErrUseLastResponse)
	g, ok := c.Transport.(guard)
	require.True(t, ok)
	transport, ok := g.next.(*http.Transport)
	require.True(t, ok)
	assert.Nil(t, transport.Proxy)
	assert.True(t, transport.DisableKeepAlives)
	assert.NotZero(t, transport.TLSHandshakeTimeout)
	assert.Nil(t, transport.TLSClientConfig, "TLS must verify the URL's host name as usual")
}

// The edges of the blocked ranges.
func TestBlockedKind(t *testing.T) {
	cases := map[string]string{
		"8.8.8.8":                "",
		"9.255.255.255":          "",
		"11.0.0.0":               "",
		"100.63.255.255":         "",
		"100.64.0.0":             "a shared (carrier-grade NAT) address",
		"100.127.255.255":        "a shared (carrier-grade NAT) address",
		"100.128.0.0":            "",
		"126.255.255.255":        "",
		"127.255.255.255":        "a loopback address",
		"172.15.255.255":         "",
		"172.31.255.255":         "a private address",
		"172.32.0.0":             "",
		"192.167.255.255":        "",
		"192.169.0.0":            "",
		"198.17.255.255":         "",
		"198.19.255.255":         "a benchmarking address",
		"198.20.0.0":             "",
		"223.255.255.255":        "",
		"239.255.255.255":        "a multicast address",
		"240.0.0.1":              "a reserved address",
		"2606:4700:4700::1111":   "",
		"::ffff:8.8.8.8":         "",
		"::ffff:10.1.2.3":        "a private address",
		"fd00:ec2::254":          "a private address",
		"fe80::1%eth0":           "a link-local address",
		"100::1":                 "a reserved address",
		"2001:0:4136:e378::1":    "a Teredo address",
		"64:ff9b::808:808":       "a NAT64 address",
		"64:ff9b:1::a00:1":       "a reserved address",
		"3fff::1":                "a documentation address",
		"4000::1":                "a reserved address",
		"2002:808:808::1":        "a 6to4 address",
		"2600:1f18:aaaa:bbbb::1": "",
	}
	for addr, want := range cases {
		t.Run(addr, func(t *testing.T) {
			assert.Equal(t, want, blockedKind(netip.MustParseAddr(addr)))
		})
	}
}

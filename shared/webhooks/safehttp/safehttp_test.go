package safehttp_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/webhooks/safehttp"
)

// server is a local httptest server that counts the connections it accepts
// (a connection, not a request: an https delivery to this plain http server
// would never reach the handler) and the requests it handles.
type server struct {
	*httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
}

func newServer(t *testing.T, handler http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		handler(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) port() string {
	return strconv.Itoa(s.Listener.Addr().(*net.TCPAddr).Port)
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// fakeResolver answers the names of answers and no other.
func fakeResolver(answers map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var ips []netip.Addr
		for _, a := range answers[host] {
			ips = append(ips, netip.MustParseAddr(a))
		}
		if ips == nil {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return ips, nil
	}
}

func policy(t *testing.T, allowedHosts string, answers map[string][]string) safehttp.Policy {
	t.Helper()
	p, err := safehttp.NewPolicy(allowedHosts)
	require.NoError(t, err)
	p.Resolve = fakeResolver(answers)
	return p
}

func post(t *testing.T, client *http.Client, target string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(`{"event":"test"}`))
	require.NoError(t, err)
	return client.Do(req)
}

// withPort gives a URL with a host and no port the local server's port, so
// that a check that failed would connect to that server and be counted.
func withPort(t *testing.T, raw, port string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	if u.Host != "" && u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u.String()
}

// Every URL is refused at registration, and again at delivery, where the
// fake resolver points each name at a local server that must see no
// connection.
func TestSSRFIsRefused(t *testing.T) {
	srv := newServer(t, ok)
	p := policy(t, "", map[string][]string{
		"example.com":   {"127.0.0.1"},
		"evil.test":     {"127.0.0.1"},
		"evil6.test":    {"::ffff:127.0.0.1"},
		"mixed.test":    {"93.184.215.14", "10.0.0.1"},
		"metadata.test": {"93.184.215.14", "169.254.169.254"},
		"app.localhost": {"127.0.0.1"},
		"localhost":     {"127.0.0.1"},
		"localhost.":    {"127.0.0.1"},
	})
	cases := []struct {
		url    string
		reason string
	}{
		{"http://169.254.169.254/latest/meta-data/", "must use https"},
		{"https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
		{"https://127.0.0.1/", "127.0.0.1 is a loopback address"},
		{"https://127.1/", "127.1 is not a valid host"},
		{"https://2130706433/", "not a valid host"},
		{"https://0x7f000001/", "not a valid host"},
		{"https://0177.0.0.1/", "not a valid host"},
		{"https://017700000001/", "not a valid host"},
		{"https://0x7f.1/", "not a valid host"},
		{"https://127.0.0.1./", "not a valid host"},
		{"https://[::1]/", "::1 is a loopback address"},
		{"https://[::ffff:127.0.0.1]/", "loopback"},
		{"https://[::ffff:7f00:1]/", "loopback"},
		{"https://[::127.0.0.1]/", "reserved"},
		{"https://[fd00:ec2::254]/", "private"},
		{"https://[fe80::1]/", "link-local"},
		{"https://[fe80::1%25eth0]/", "not a valid host"},
		{"https://localhost/", "localhost is a local name"},
		{"https://LOCALHOST/", "localhost is a local name"},
		{"https://localhost./", "local name"},
		{"https://app.localhost/", "local name"},
		{"https://10.0.0.1/", "10.0.0.1 is a private address"},
		{"https://172.16.5.4/", "private"},
		{"https://192.168.1.1/", "private"},
		{"https://100.64.0.1/", "carrier-grade NAT"},
		{"https://0.0.0.0/", "unspecified"},
		{"https://0.1.2.3/", "reserved"},
		{"https://[::]/", "unspecified"},
		{"https://224.0.0.1/", "multicast"},
		{"https://[ff02::1]/", "multicast"},
		{"https://255.255.255.255/", "broadcast"},
		{"https://198.18.0.1/", "benchmarking"},
		{"https://192.0.2.1/", "documentation"},
		{"https://[2001:db8::1]/", "documentation"},
		{"https://[64:ff9b::7f00:1]/", "NAT64"},
		{"https://[2002:7f00:1::1]/", "6to4"},
		{"https://[::ffff:169.254.169.254]/", "link-local"},
		{"https://[::ffff:a9fe:a9fe]/", "link-local"},
		{"https://user:pass@example.com/", "must not contain credentials"},
		{"https://user@example.com/", "credentials"},
		{"ftp://example.com/", "must use https"},
		{"gopher://example.com/", "must use https"},
		{"file:///etc/passwd", "must use https"},
		{"http://example.com/", "must use https"},
		{"https://example.com/#top", "fragment"},
		{"https://evil.test/hook", "evil.test resolves to 127.0.0.1, a loopback address"},
		{"https://evil6.test/hook", "loopback"},
		{"https://mixed.test/hook", "mixed.test resolves to 10.0.0.1, a private address"},
		{"https://metadata.test/hook", "link-local"},
		{"https://nxdomain.test/hook", "nxdomain.test does not resolve"},
	}
	client := p.Client()
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			var refused *safehttp.Refused
			err := p.CheckURL(t.Context(), c.url)
			require.ErrorAs(t, err, &refused)
			assert.Contains(t, refused.Reason, c.reason)

			resp, err := post(t, client, withPort(t, c.url, srv.port()))
			if resp != nil {
				_ = resp.Body.Close()
			}
			var urlErr *url.Error
			assert.ErrorAs(t, err, &urlErr)
			assert.ErrorAs(t, err, &refused)
			assert.Zero(t, srv.conns.Load())
		})
	}
	assert.Zero(t, srv.requests.Load())
}

// URLs refused at registration for their form alone.
func TestCheckURLRefusesMalformedURLs(t *testing.T) {
	p := policy(t, "", map[string][]string{"example.com": {"93.184.215.14"}})
	cases := []struct {
		name   string
		url    string
		reason string
	}{
		{"too long", "https://example.com/" + strings.Repeat("a", safehttp.MaxURLLength), "longer than 2,048"},
		{"unparsable", "https://exa mple.com/", "could not be parsed"},
		{"bad escape", "https://%31%32%37.0.0.1/", "could not be parsed"},
		{"relative", "/hooks/1", "absolute"},
		{"empty", "", "absolute"},
		{"opaque", "https:example.com", "must have a host"},
		{"no host", "https:///hook", "must have a host"},
		{"port only", "https://:443/", "must have a host"},
		{"port zero", "https://example.com:0/", "port 0 is not valid"},
		{"port too big", "https://example.com:65536/", "not valid"},
		{"label starts with a hyphen", "https://-example.com/", "not a valid host"},
		{"empty label", "https://example..com/", "not a valid host"},
		{"non-ASCII host", "https://exämple.com/", "not a valid host"},
		{"long label", "https://" + strings.Repeat("a", 64) + ".com/", "not a valid host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var refused *safehttp.Refused
			require.ErrorAs(t, p.CheckURL(t.Context(), c.url), &refused)
			assert.Contains(t, refused.Reason, c.reason)
		})
	}
}

func TestCheckURLAllowsPublicURLs(t *testing.T) {
	p := policy(t, "", map[string][]string{
		"example.com":    {"93.184.215.14"},
		"example.com.":   {"93.184.215.14"},
		"v6.example.com": {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", "93.184.215.14"},
		"my_hooks.io":    {"172.32.0.1"},
	})
	for _, u := range []string{
		"https://example.com/hook",
		"https://EXAMPLE.com:8443/hooks/1?token=abc",
		"https://example.com./hook",
		"https://v6.example.com/",
		"https://my_hooks.io/",
		"https://93.184.215.14/hook",
		"https://100.128.0.1/",
		"https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook",
	} {
		t.Run(u, func(t *testing.T) {
			assert.NoError(t, p.CheckURL(t.Context(), u))
		})
	}
}

// A resolver that fails because our context ended is not the customer's
// fault: the error is not a refusal.
func TestCheckURLReportsAnEndedContext(t *testing.T) {
	p, err := safehttp.NewPolicy("")
	require.NoError(t, err)
	p.Resolve = func(ctx context.Context, _ string) ([]netip.Addr, error) { return nil, ctx.Err() }
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	err = p.CheckURL(ctx, "https://example.com/")
	require.ErrorIs(t, err, context.Canceled)
	var refused *safehttp.Refused
	assert.False(t, errors.As(err, &refused))
}

func TestNewPolicy(t *testing.T) {
	cases := []struct {
		setting string
		wantErr bool
	}{
		{"", false},
		{" , ", false},
		{"localhost,127.0.0.1", false},
		{" hooks.test , hooks.test:8443 ,", false},
		{"::1", false},
		{"[::1]", false},
		{"[::1]:8080", false},
		{"exa mple.com", true},
		{"hooks.test:0", true},
		{"hooks.test:65536", true},
		{"hooks.test:http", true},
		{"hooks.test:", true},
		{"127.1", true},
		{"0x7f000001", true},
		{"http://hooks.test", true},
		{"[::1", true},
		{"fe80::1%eth0", true},
	}
	for _, c := range cases {
		t.Run(c.setting, func(t *testing.T) {
			_, err := safehttp.NewPolicy(c.setting)
			if c.wantErr {
				assert.ErrorContains(t, err, "safehttp: allowed host")
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

// Allowlisted hosts may use http and local addresses, and deliveries reach them.
func TestAllowlistedHostsAreDelivered(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost", "LocalHost"} {
		t.Run(host, func(t *testing.T) {
			srv := newServer(t, ok)
			p := policy(t, "localhost,127.0.0.1", map[string][]string{"localhost": {"127.0.0.1"}})
			target := "http://" + net.JoinHostPort(host, srv.port()) + "/hook"
			require.NoError(t, p.CheckURL(t.Context(), target))

			resp, err := post(t, p.Client(), target)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			assert.EqualValues(t, 1, srv.requests.Load())
		})
	}
}

// An entry with a port allowlists that port only.
func TestAllowlistedPort(t *testing.T) {
	p := policy(t, "127.0.0.1:9", nil)
	for u, allowed := range map[string]bool{
		"http://127.0.0.1:9/":   true,
		"https://127.0.0.1:9/":  true,
		"http://127.0.0.1/":     false,
		"https://127.0.0.1/":    false,
		"http://127.0.0.1:10/":  false,
		"http://127.0.0.2:9/":   false,
		"http://[::1]:9/":       false,
		"http://localhost:9/":   false,
		"https://127.0.0.1:90/": false,
	} {
		t.Run(u, func(t *testing.T) {
			err := p.CheckURL(t.Context(), u)
			if allowed {
				assert.NoError(t, err)
			} else {
				var refused *safehttp.Refused
				assert.ErrorAs(t, err, &refused)
			}
		})
	}

	t.Run("delivery", func(t *testing.T) {
		allowed, other := newServer(t, ok), newServer(t, ok)
		p := policy(t, "127.0.0.1:"+allowed.port(), nil)
		client := p.Client()

		resp, err := post(t, client, allowed.URL)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.EqualValues(t, 1, allowed.requests.Load())

		_, err = post(t, client, other.URL)
		var refused *safehttp.Refused
		assert.ErrorAs(t, err, &refused)
		assert.Zero(t, other.conns.Load())
	})
}

// A name that resolves to a public address at registration and to a local
// one at delivery is refused at delivery: the dial resolves and checks again.
func TestDNSRebindingIsRefused(t *testing.T) {
	srv := newServer(t, ok)
	var lookups atomic.Int64
	p, err := safehttp.NewPolicy("")
	require.NoError(t, err)
	p.Resolve = func(context.Context, string) ([]netip.Addr, error) {
		if lookups.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	target := "https://rebind.test:" + srv.port() + "/hook"
	require.NoError(t, p.CheckURL(t.Context(), target))

	_, err = post(t, p.Client(), target)
	var refused *safehttp.Refused
	require.ErrorAs(t, err, &refused)
	assert.Contains(t, refused.Reason, "resolves to 127.0.0.1")
	assert.EqualValues(t, 2, lookups.Load())
	assert.Zero(t, srv.conns.Load())
}

// A 3xx is the delivery's answer: its Location is never followed.
func TestRedirectsAreNotFollowed(t *testing.T) {
	elsewhere := newServer(t, ok) // allowlisted too: only not following keeps it unvisited
	for _, location := range []string{"http://169.254.169.254/latest/meta-data/", elsewhere.URL + "/"} {
		t.Run(location, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, location, http.StatusFound)
			})
			p := policy(t, "127.0.0.1", nil)

			resp, err := post(t, p.Client(), srv.URL+"/hook")
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusFound, resp.StatusCode)
			assert.Equal(t, location, resp.Header.Get("Location"))
			assert.EqualValues(t, 1, srv.requests.Load())
			assert.Zero(t, elsewhere.conns.Load())
		})
	}
}

// HTTP_PROXY and HTTPS_PROXY would send deliveries to the proxy, past the
// dial's checks: the client ignores them. http.ProxyFromEnvironment reads the
// environment once per process, so in a full run an earlier request may have
// read it before this test sets it; TestClientSettings checks Proxy is nil.
func TestEnvironmentProxiesAreIgnored(t *testing.T) {
	proxy, target := newServer(t, ok), newServer(t, ok)
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(name, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	// A name, not 127.0.0.1: Go never proxies a loopback address, so a
	// loopback target would pass this test whatever the client did.
	p := policy(t, "hooks.test", map[string][]string{"hooks.test": {"127.0.0.1"}})

	resp, err := post(t, p.Client(), "http://hooks.test:"+target.port()+"/hook")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.EqualValues(t, 1, target.requests.Load())
	assert.Zero(t, proxy.conns.Load())
}

func TestRefusedError(t *testing.T) {
	err := &safehttp.Refused{Reason: "The URL must use https."}
	assert.Equal(t, "safehttp: refused: The URL must use https.", err.Error())
}

package safehttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Timeouts of a delivery.
const (
	// Timeout bounds a whole delivery, from the dial to the end of the body.
	Timeout = 10 * time.Second
	// dialTimeout bounds one TCP connection attempt.
	dialTimeout = 5 * time.Second
	// tlsTimeout bounds the TLS handshake.
	tlsTimeout = 5 * time.Second
)

// Client returns the HTTP client webhook deliveries use. Its requests:
//
//   - are checked like CheckURL (scheme, credentials, host syntax) before
//     anything is sent, and its connections are checked again at every dial:
//     the host is resolved once, every address is checked, and the connection
//     goes to a checked address by IP, so DNS rebinding fails. A refusal is a
//     *Refused inside the *url.Error that Do returns, and no connection is
//     made;
//   - never follow redirects: a 3xx is returned as it is, since its Location
//     could point anywhere;
//   - ignore HTTP_PROXY and HTTPS_PROXY, which would connect to the proxy
//     instead of the checked address;
//   - use a new connection each time (no keep-alives) and give up after
//     Timeout.
//
// TLS still verifies the certificate against the URL's host name: only the
// address dialled is replaced. The client may be kept and shared.
func (p Policy) Client() *http.Client {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         p.dial,
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: tlsTimeout,
	}
	return &http.Client{
		Timeout:   Timeout,
		Transport: guard{policy: p, next: transport},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// guard refuses a request whose URL fails the checks that need no DNS, so a
// URL stored before a policy change (an http URL no longer allowlisted, say)
// is not delivered; the dial checks the addresses.
type guard struct {
	policy Policy
	next   http.RoundTripper
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, _, _, err := g.policy.checkURL(req.URL); err != nil {
		// A RoundTripper must close the body, even on error.
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}

// dial connects to addr (host:port) only if the policy allows it: an
// allowlisted host or host:port is dialled unchecked, any other host must be
// a valid host whose every address is allowed, and the connection goes to one
// of those very addresses.
func (p Policy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	rawHost, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, refuse("The URL's address %s is not valid.", addr)
	}
	host, ok := normaliseHost(rawHost)
	if !ok {
		return nil, invalidHost(rawHost)
	}
	var ips []netip.Addr
	if p.isAllowed(host, port) {
		ips, err = p.lookup(ctx, host)
	} else {
		ips, err = p.checkedAddrs(ctx, host)
	}
	if err != nil {
		return nil, err
	}
	// Try each address in the resolver's order, as net.Dialer would: a
	// Lambda without IPv6 fails on an AAAA answer and must try the A one.
	d := net.Dialer{Timeout: dialTimeout}
	err = errors.New("safehttp: no address to dial")
	for _, ip := range ips {
		var conn net.Conn
		conn, err = d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
	}
	return nil, err
}

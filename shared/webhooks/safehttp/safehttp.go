// Package safehttp keeps webhook deliveries from reaching internal addresses
// (SSRF). A customer's URL is checked when it is registered (CheckURL) and
// again at every connection (Client): the name is resolved once, every
// address is checked, and the connection goes to the checked address, so a
// DNS answer that changes between the two (DNS rebinding) gains nothing.
package safehttp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength is the longest URL CheckURL accepts, in bytes.
const MaxURLLength = 2048

// Refused says a URL or a connection was refused by the policy. Reason is a
// full sentence for the customer: it is shown in API 400s and in delivery
// attempts.
type Refused struct {
	Reason string
}

func (e *Refused) Error() string { return "safehttp: refused: " + e.Reason }

func refuse(format string, args ...any) *Refused {
	return &Refused{Reason: fmt.Sprintf(format, args...)}
}

// Policy decides which URLs webhooks may be delivered to. The zero value
// allows no host to skip the checks and resolves with net.DefaultResolver.
// A Policy is read-only once built and safe for concurrent use.
type Policy struct {
	// Resolve returns the addresses of a DNS name. Nil means
	// net.DefaultResolver.LookupNetIP(ctx, "ip", host); tests set it to make a
	// name resolve to anything.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)

	// allowed holds the allowlisted entries, each a normalised host or a
	// host:port as net.JoinHostPort writes it.
	allowed map[string]bool
}

// NewPolicy builds a Policy from the WEBHOOK_ALLOWED_HOSTS setting: a
// comma-separated list of host or host:port entries (an IPv6 address is
// written ::1 or [::1]:8080). Spaces around entries and empty entries are
// ignored, so "" allows nothing. An entry exempts exactly that host, and only
// that port when one is given, from the address checks and allows http for
// it; it exists for local development and tests. Hosts are compared
// case-insensitively and IP addresses in canonical form.
func NewPolicy(allowedHosts string) (Policy, error) {
	p := Policy{allowed: map[string]bool{}}
	for _, entry := range strings.Split(allowedHosts, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		host, port := entry, ""
		switch {
		case strings.HasPrefix(entry, "[") && strings.HasSuffix(entry, "]"):
			host = entry[1 : len(entry)-1]
		case strings.HasPrefix(entry, "[") || strings.Count(entry, ":") == 1:
			var err error
			if host, port, err = net.SplitHostPort(entry); err != nil {
				return Policy{}, fmt.Errorf("safehttp: allowed host %q: %w", entry, err)
			}
			if !validPort(port) {
				return Policy{}, fmt.Errorf("safehttp: allowed host %q: invalid port", entry)
			}
		}
		key, ok := normaliseHost(host)
		if !ok {
			return Policy{}, fmt.Errorf("safehttp: allowed host %q: invalid host", entry)
		}
		if port != "" {
			key = net.JoinHostPort(key, port)
		}
		p.allowed[key] = true
	}
	return p, nil
}

// CheckURL is the registration check: it returns a *Refused when raw is not
// an absolute http(s) URL webhooks may be delivered to, or when its host is
// or resolves to any blocked address. It returns another error only when
// ctx ends while the host is being resolved.
//
// Beyond the address checks, a URL is refused when it has credentials (they
// would be stored and shown with the URL), a fragment (never sent to the
// server, so it can only be a mistake), or a
// host that merely looks numeric (127.1, 0x7f000001, 2130706433, 0177.0.0.1):
// such hosts are read as IPv4 addresses by inet_aton and browsers, so they
// are refused rather than interpreted. Hosts must be ASCII: an international
// name is registered in its xn-- form.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	if len(raw) > MaxURLLength {
		return refuse("The URL is longer than 2,048 characters.")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return refuse("The URL could not be parsed.")
	}
	host, _, allowed, err := p.checkURL(u)
	if err != nil || allowed {
		return err
	}
	_, err = p.checkedAddrs(ctx, host)
	return err
}

// checkURL makes the checks of u that need no DNS. It returns u's normalised
// host, its port (the scheme's default when u has none) and whether the pair
// is allowlisted.
func (p Policy) checkURL(u *url.URL) (host, port string, allowed bool, err error) {
	if !u.IsAbs() {
		return "", "", false, refuse("The URL must be absolute, starting with https://.")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", "", false, refuse("The URL must use https.")
	}
	if u.User != nil {
		return "", "", false, refuse("The URL must not contain credentials.")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return "", "", false, refuse("The URL must have a host.")
	}
	if u.Fragment != "" {
		return "", "", false, refuse("The URL must not contain a fragment (#).")
	}
	host, ok := normaliseHost(u.Hostname())
	if !ok {
		return "", "", false, invalidHost(u.Hostname())
	}
	port = u.Port()
	switch {
	case port == "" && u.Scheme == "https":
		port = "443"
	case port == "":
		port = "80"
	case !validPort(port):
		return "", "", false, refuse("The URL's port %s is not valid.", port)
	}
	allowed = p.isAllowed(host, port)
	if u.Scheme == "http" && !allowed {
		return "", "", false, refuse("The URL must use https.")
	}
	return host, port, allowed, nil
}

// isAllowed reports whether the normalised host, or host:port, is allowlisted.
func (p Policy) isAllowed(host, port string) bool {
	return p.allowed[host] || p.allowed[net.JoinHostPort(host, port)]
}

// checkedAddrs returns the addresses of the normalised host, refusing it when
// it is a local name or when any of its addresses is blocked: one bad answer
// among good ones is enough to refuse, as the dial could pick it.
func (p Policy) checkedAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		host == "localhost." || strings.HasSuffix(host, ".localhost.") {
		return nil, refuse("The URL's host %s is a local name.", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if kind := blockedKind(ip); kind != "" {
			return nil, refuse("The URL's host %s is %s.", host, kind)
		}
		return []netip.Addr{ip}, nil
	}
	ips, err := p.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if kind := blockedKind(ip); kind != "" {
			return nil, refuse("The URL's host %s resolves to %s, %s.", host, ip, kind)
		}
	}
	return ips, nil
}

// lookup returns the addresses of the normalised host, unchecked: the host
// itself when it is an IP address.
func (p Policy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	resolve := p.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ips, err := resolve(ctx, host)
	if ctx.Err() != nil {
		// Our deadline, not the customer's DNS: not a reason to refuse.
		return nil, fmt.Errorf("safehttp: resolve %s: %w", host, ctx.Err())
	}
	if err != nil || len(ips) == 0 {
		return nil, refuse("The URL's host %s does not resolve.", host)
	}
	return ips, nil
}

func invalidHost(host string) *Refused {
	return refuse("The URL's host %s is not a valid host name or IP address.", host)
}

// normaliseHost returns host in the form the policy compares: lower case,
// and an IP address in canonical form. It reports false for a host that is
// neither a canonical IP address without a zone nor an ASCII DNS name, which
// includes every numeric-looking host netip does not parse.
func normaliseHost(host string) (string, bool) {
	host = strings.ToLower(host)
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String(), ip.Zone() == ""
	}
	if looksNumeric(host) || !validHostName(host) {
		return "", false
	}
	return host, true
}

// looksNumeric reports whether host's last label is a number (decimal, or hex
// with 0x), which is what makes a browser (the WHATWG URL standard) or
// inet_aton read the whole host as an IPv4 address: 127.1, 2130706433,
// 0x7f000001, 0177.0.0.1.
func looksNumeric(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// validHostName reports whether the lower-case host is a DNS name: labels of
// 1 to 63 letters, digits, hyphens or underscores, not starting or ending with
// a hyphen, 253 bytes at most, with an optional final dot.
func validHostName(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		if strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && port[0] != '+'
}

// blocked lists the address ranges webhooks must not reach, each with the
// words the refusal uses. The first match wins, so a narrower range comes
// before a wider one.
var blocked = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/32"), "an unspecified address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "a reserved address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a reserved address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "a broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	// NAT64, Teredo and 6to4 embed an IPv4 address that could be internal.
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address"},
	{netip.MustParsePrefix("3fff::/20"), "a documentation address"},
	// fc00::/7 includes AWS's fd00:ec2::254 (metadata) and fd00:ec2::253 (DNS).
	{netip.MustParsePrefix("fc00::/7"), "a private address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// globalUnicast6 is the only IPv6 range that is routed on the internet: the
// rest (IPv4-compatible ::a.b.c.d, discard 100::/64, and so on) is refused.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// blockedKind says what kind of blocked address ip is ("a private address"),
// or "" when webhooks may reach it. An IPv4-mapped IPv6 address is judged as
// its IPv4 address.
func blockedKind(ip netip.Addr) string {
	// Prefix.Contains never matches an address with a zone: drop it first.
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return "an invalid address"
	}
	for _, b := range blocked {
		if b.prefix.Contains(ip) {
			return b.kind
		}
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return "a reserved address"
	}
	return ""
}

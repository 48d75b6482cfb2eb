// Package links serves the public function's signed links: one-click
// unsubscribe (RFC 8058) and the open and click tracking of sent email.
// Anyone may call them; what a link may do comes only from its signed
// token (sends.Signer), which names the tenant, the send and the recipient,
// and for a click the URL it leads to.
package links

import (
	"strings"
)

// mask hides most of an address's local part, so the unsubscribe page
// confirms whose address it is without showing it whole to whoever holds
// the link: jane@example.com → j***@example.com.
func mask(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}

// Proxies that fetch images on the recipient's behalf.
const (
	proxyApple  = "apple"
	proxyGoogle = "google"
)

// mailProxy names the mail privacy proxy that fetched an open pixel, or ""
// for anything else. The rules are conservative, so that a person's open is
// never flagged as a machine's:
//   - Gmail's image proxy says so: "… (via ggpht.com GoogleImageProxy)".
//     It fetches when the message is opened but hides who and where.
//   - Apple Mail Privacy Protection preloads every image of a message
//     through Apple's relays, whether it is read or not, with a bare
//     "Mozilla/5.0" user agent: no platform, engine or browser token, which
//     no browser or mail client sends. Only that exact value is flagged
//     (Apple's relay IP ranges would catch more, but change and are not
//     ours to track).
func mailProxy(userAgent string) string {
	ua := strings.TrimSpace(userAgent)
	switch {
	case strings.Contains(ua, "GoogleImageProxy"):
		return proxyGoogle
	case ua == "Mozilla/5.0":
		return proxyApple
	}
	return ""
}

package domains

import (
	"net"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/sendwell/sendwell/shared/errs"
)

// Limits of a domain name (RFC 1035), and of what is read before checking.
const (
	MaxNameLen  = 253
	MaxLabelLen = 63
	maxInputLen = 1024
)

// NormaliseName turns what a user typed into the domain name SES and DNS
// know: trimmed, lower-cased, internationalised names in punycode. It
// refuses, with a 400 naming `name`, a URL (scheme, path, port), a trailing
// dot, an IP address, a bad label, fewer than two labels, and a bare public
// suffix (`com`, `co.uk`, `github.io`), which nobody can verify as theirs.
func NormaliseName(raw string) (string, error) {
	bad := func(format string, args ...any) error { return errs.Invalid("name", format, args...) }
	s := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case s == "":
		return "", errs.Required("name")
	case len(s) > maxInputLen:
		return "", bad("The 'name' field must be a domain name of at most %d characters.", MaxNameLen)
	case strings.Contains(s, "://"):
		return "", bad("The 'name' field must be a domain name such as example.com, without a scheme (https://).")
	case strings.ContainsAny(s, "/?#"):
		return "", bad("The 'name' field must be a domain name such as example.com, without a path.")
	case strings.Contains(s, "@"):
		return "", bad("The 'name' field must be a domain name such as example.com, not an email address.")
	case isIP(s):
		return "", bad("The 'name' field must be a domain name, not an IP address.")
	case strings.Contains(s, ":"):
		return "", bad("The 'name' field must be a domain name such as example.com, without a port.")
	case strings.HasSuffix(s, "."):
		return "", bad("The 'name' field must be a domain name without a trailing dot.")
	}
	ascii, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", bad("The 'name' field is not a valid domain name.")
	}
	if len(ascii) > MaxNameLen {
		return "", bad("The 'name' field must be a domain name of at most %d characters.", MaxNameLen)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", bad("The 'name' field must be a domain name with at least two labels, such as example.com.")
	}
	for _, l := range labels {
		if !validLabel(l) {
			return "", bad("Each label of the 'name' field must be 1 to %d characters of a-z, 0-9 and '-', not starting or ending with '-'.", MaxLabelLen)
		}
	}
	if isIP(ascii) || allDigits(labels[len(labels)-1]) {
		return "", bad("The 'name' field must be a domain name, not an IP address.")
	}
	if _, err := publicsuffix.EffectiveTLDPlusOne(ascii); err != nil {
		return "", bad("The 'name' field is a public suffix, which no one can own; use a domain registered under it.")
	}
	return ascii, nil
}

// normaliseSubdomain checks a MAIL FROM subdomain: one label.
func normaliseSubdomain(raw string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if !validLabel(s) {
		return "", errs.Invalid("mailFromSubdomain", "The 'mailFromSubdomain' field must be one label of 1 to %d characters of a-z, 0-9 and '-', not starting or ending with '-'.", MaxLabelLen)
	}
	return s, nil
}

// checkMailFrom holds the MAIL FROM domain (sub.name) to the length of a
// domain name.
func checkMailFrom(sub, name string) error {
	if len(sub)+1+len(name) > MaxNameLen {
		return errs.Invalid("mailFromSubdomain", "The MAIL FROM domain ('mailFromSubdomain' and 'name') must be at most %d characters.", MaxNameLen)
	}
	return nil
}

// validLabel reports whether l is a DNS label of 1 to 63 characters of
// [a-z0-9-] that neither starts nor ends with '-'.
func validLabel(l string) bool {
	if l == "" || len(l) > MaxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func isIP(s string) bool {
	return net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")) != nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

package sends

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// Kinds of signed link.
const (
	LinkOpen        = "o"
	LinkClick       = "c"
	LinkUnsubscribe = "u"
)

// MaxTokenLen is the longest token Verify reads.
const MaxTokenLen = 4096

// Link is what a signed link carries: whose send it is, and for a click
// the URL it leads to (the redirect's only source, so no open redirect),
// for an unsubscribe the recipient.
type Link struct {
	Kind      string `json:"k"`
	OrgID     string `json:"o"`
	SendID    string `json:"s"`
	URL       string `json:"u,omitempty"`
	Email     string `json:"e,omitempty"`
	ContactID string `json:"c,omitempty"`
}

// Signer signs and verifies links with a key derived from the link secret
// (HMAC-SHA256, truncated to 128 bits).
type Signer struct{ key []byte }

// NewSigner derives the links' key from secret: the link secret
// (config.Config.LinkSecret), never the JWT secret, whose rotation must not
// break the unsubscribe links of mail already sent.
func NewSigner(secret []byte) *Signer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sendwell links v1"))
	return &Signer{key: m.Sum(nil)}
}

// ErrBadToken is what Verify answers for a token it did not sign.
var ErrBadToken = errors.New("sends: the link is not valid")

// Sign is the token of l: the payload and its MAC, base64url.
func (s *Signer) Sign(l Link) string {
	payload, _ := json.Marshal(l) // strings only: cannot fail
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(payload))
}

// Verify is the link of a token Sign made; ErrBadToken for anything else.
func (s *Signer) Verify(token string) (Link, error) {
	if len(token) > MaxTokenLen {
		return Link{}, ErrBadToken
	}
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return Link{}, ErrBadToken
	}
	enc := base64.RawURLEncoding.Strict() // one spelling per token: unused bits must be zero
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(payload)) {
		return Link{}, ErrBadToken
	}
	var l Link
	if err := json.Unmarshal(payload, &l); err != nil || l.OrgID == "" || l.SendID == "" {
		return Link{}, ErrBadToken
	}
	switch l.Kind {
	case LinkOpen, LinkUnsubscribe:
	case LinkClick:
		if !strings.HasPrefix(l.URL, "https://") && !strings.HasPrefix(l.URL, "http://") {
			return Link{}, ErrBadToken
		}
	default:
		return Link{}, ErrBadToken
	}
	return l, nil
}

func (s *Signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)[:16]
}

// Paths of the public function's link routes, before the token.
const (
	PathUnsubscribe = "/u/"
	PathOpen        = "/t/o/"
	PathClick       = "/t/c/"
)

// URL is the absolute link of token l on the public function at base.
func (s *Signer) URL(base string, l Link) string {
	path := PathOpen
	switch l.Kind {
	case LinkClick:
		path = PathClick
	case LinkUnsubscribe:
		path = PathUnsubscribe
	}
	return base + path + s.Sign(l)
}

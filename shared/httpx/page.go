package httpx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/sendwell/sendwell/shared/errs"
)

// Page limits.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Page is the body of every list response.
type Page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// PageParams are the parsed limit and (verified) cursor position of a list request.
type PageParams struct {
	Limit int
	Start map[string]string
}

// Cursors signs and verifies list cursors. A cursor names the tenant it was
// issued to and the key to resume after, under an HMAC: a changed cursor, or
// one issued to another tenant, is refused.
type Cursors struct{ key []byte }

// NewCursors derives the cursor signing key from secret.
func NewCursors(secret []byte) *Cursors {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sendwell cursor v1"))
	return &Cursors{key: m.Sum(nil)}
}

type cursorBody struct {
	Tenant string            `json:"t"`
	Scope  string            `json:"s"`
	Key    map[string]string `json:"k"`
}

// Encode returns the opaque cursor for resuming after key, or nil if key is
// nil. scope names the list and its filters: a cursor only resumes the list
// it came from.
func (c *Cursors) Encode(tenant, scope string, key map[string]string) *string {
	if key == nil {
		return nil
	}
	raw, _ := json.Marshal(cursorBody{Tenant: tenant, Scope: scope, Key: key})
	s := base64.RawURLEncoding.EncodeToString(raw) + "." + base64.RawURLEncoding.EncodeToString(c.sign(raw))
	return &s
}

func (c *Cursors) sign(raw []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(raw)
	return m.Sum(nil)
}

// Decode verifies a cursor for tenant and scope and returns the key it resumes after.
func (c *Cursors) Decode(tenant, scope, s string) (map[string]string, error) {
	bad := errs.Invalid("cursor", "The 'cursor' parameter is invalid.")
	body, sig, ok := strings.Cut(s, ".")
	if !ok {
		return nil, bad
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, c.sign(raw)) {
		return nil, bad
	}
	var cb cursorBody
	if err := json.Unmarshal(raw, &cb); err != nil || cb.Tenant != tenant || cb.Scope != scope || len(cb.Key) == 0 {
		return nil, bad
	}
	return cb.Key, nil
}

// ParsePage reads limit (default 20, 1 to 100) and a cursor of scope from the query.
func (c *Cursors) ParsePage(r *http.Request, tenant, scope string) (PageParams, error) {
	p := PageParams{Limit: DefaultLimit}
	q := r.URL.Query()
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > MaxLimit || len(v) > 1 {
			return p, errs.Invalid("limit", "The 'limit' parameter must be a whole number from 1 to %d.", MaxLimit)
		}
		p.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		key, err := c.Decode(tenant, scope, v)
		if err != nil {
			return p, err
		}
		p.Start = key
	}
	return p, nil
}

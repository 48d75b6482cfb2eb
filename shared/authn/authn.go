// Package authn authenticates every request of the API functions: API keys
// (by their SHA-256 hash, cached per instance) and users' JWTs. It is part of
// the platform kit, so a function serving contacts does not link the auth
// group (signup, passwords, argon2).
package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/logx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Cache lifetimes. A verified key is trusted for at most KeyCacheTTL, so a
// revoked key is refused by every instance within that time.
const (
	KeyCacheTTL     = 60 * time.Second
	negativeKeyTTL  = 10 * time.Second
	orgCacheTTL     = 60 * time.Second
	maxCacheEntries = 10_000
)

// KeyHashItem is the global key-hash → organisation lookup used to
// authenticate an API key in one read. The auth group writes it when a key
// is made.
type KeyHashItem struct {
	store.Key
	OrgID string `dynamodbav:"orgId"`
	KeyID string `dynamodbav:"keyId"`
}

// orgPlan is the part of an organisation's item authentication reads.
type orgPlan struct {
	Plan string `dynamodbav:"plan"`
}

// Authenticator turns a request's credentials into a principal. In steady
// state it reads nothing from DynamoDB: verified keys and organisations' plans
// are cached per instance.
type Authenticator struct {
	repo   repo
	tokens *Tokens
	clock  clock.Clock

	mu   sync.Mutex
	keys map[string]cachedKey // key hash -> principal (nil: unknown key)
	orgs map[string]cachedOrg // org id -> plan
}

type cachedKey struct {
	p       *tenant.Principal
	expires time.Time
}

type cachedOrg struct {
	plan    string
	expires time.Time
}

// NewAuthenticator returns an Authenticator over the table.
func NewAuthenticator(s *store.Store, t *Tokens, clk clock.Clock) *Authenticator {
	return &Authenticator{repo: repo{s}, tokens: t, clock: clk, keys: map[string]cachedKey{}, orgs: map[string]cachedOrg{}}
}

// Middleware authenticates the request and puts the principal in its context;
// missing or invalid credentials get 401.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r.Context(), r)
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		logx.SetTenant(r.Context(), p.OrgID)
		next.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), p)))
	})
}

// RequireUser lets only a signed-in user (JWT) through: API keys get 403.
func RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := tenant.From(r.Context()); !ok || p.Kind != tenant.KindUser {
			httpx.WriteError(w, r, errs.NewForbidden("This route needs a signed-in user's token (JWT); an API key cannot call it."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Authenticate reads `Authorization: Bearer <key or JWT>` or, when there is
// no Authorization header, `X-Api-Key: <key>`. X-Api-Key takes API keys only:
// a user's token belongs in Authorization.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (*tenant.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(value) == "" {
			return nil, errs.NewUnauthorised("The Authorization header must be 'Bearer <API key or token>'.")
		}
		cred := strings.TrimSpace(value)
		if strings.HasPrefix(cred, KeyPrefix) {
			return a.byKey(ctx, cred)
		}
		return a.byToken(ctx, cred)
	}
	key := strings.TrimSpace(r.Header.Get("X-Api-Key"))
	switch {
	case key == "":
		return nil, errs.NewUnauthorised("Missing authentication: send 'Authorization: Bearer <API key or token>' or 'X-Api-Key: <API key>'.")
	case !strings.HasPrefix(key, KeyPrefix):
		return nil, errs.NewUnauthorised("The X-Api-Key header takes an API key (sw_live_…); send a user's token as 'Authorization: Bearer <token>'.")
	}
	return a.byKey(ctx, key)
}

// byToken authenticates a user's JWT.
func (a *Authenticator) byToken(ctx context.Context, token string) (*tenant.Principal, error) {
	claims, err := a.tokens.Verify(token)
	if err != nil {
		return nil, errs.NewUnauthorised("Invalid or expired token.")
	}
	plan, err := a.plan(ctx, claims.Org)
	if err != nil {
		return nil, err
	}
	return &tenant.Principal{OrgID: claims.Org, Kind: tenant.KindUser, UserID: claims.Subject, Plan: plan}, nil
}

var errBadKey = errs.NewUnauthorised("Invalid API key.")

func (a *Authenticator) byKey(ctx context.Context, key string) (*tenant.Principal, error) {
	if !looksLikeKey(key) {
		return nil, errBadKey
	}
	hash := HashKey(key)
	now := a.clock.Now()
	a.mu.Lock()
	c, ok := a.keys[hash]
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		if c.p == nil {
			return nil, errBadKey
		}
		return c.p, nil
	}

	lookup, err := a.repo.keyByHash(ctx, hash)
	if errors.Is(err, errs.ErrNotFound) {
		a.remember(hash, nil, now.Add(negativeKeyTTL))
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	plan, err := a.plan(ctx, lookup.OrgID)
	if err != nil {
		return nil, err
	}
	p := &tenant.Principal{OrgID: lookup.OrgID, Kind: tenant.KindAPIKey, KeyID: lookup.KeyID, Plan: plan}
	a.touch(ctx, p, now)
	a.remember(hash, p, now.Add(KeyCacheTTL))
	return p, nil
}

// touch records when a key was last used. It runs once per key per cache
// period, so lastUsedAt is accurate to a minute and costs no write per request.
func (a *Authenticator) touch(ctx context.Context, p *tenant.Principal, now time.Time) {
	err := a.repo.touchKey(ctx, p.OrgID, p.KeyID, now)
	if err != nil && !errors.Is(err, errs.ErrConflict) {
		slog.WarnContext(ctx, "authn: could not record key use", "keyId", p.KeyID, "error", err.Error())
	}
}

func (a *Authenticator) remember(hash string, p *tenant.Principal, expires time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.keys) >= maxCacheEntries {
		clear(a.keys)
	}
	a.keys[hash] = cachedKey{p: p, expires: expires}
}

// Forget drops a key from this instance's cache (after it is revoked here).
func (a *Authenticator) Forget(hash string) {
	a.mu.Lock()
	delete(a.keys, hash)
	a.mu.Unlock()
}

// plan returns the organisation's plan, cached for a minute. An organisation
// that no longer exists makes its credentials invalid.
func (a *Authenticator) plan(ctx context.Context, orgID string) (string, error) {
	now := a.clock.Now()
	a.mu.Lock()
	c, ok := a.orgs[orgID]
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.plan, nil
	}
	plan, err := a.repo.orgPlan(ctx, orgID)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return "", errs.NewUnauthorised("The organisation of these credentials no longer exists.")
		}
		return "", fmt.Errorf("authn: organisation %s: %w", orgID, err)
	}
	a.mu.Lock()
	if len(a.orgs) >= maxCacheEntries {
		clear(a.orgs)
	}
	a.orgs[orgID] = cachedOrg{plan: plan, expires: now.Add(orgCacheTTL)}
	a.mu.Unlock()
	return plan, nil
}

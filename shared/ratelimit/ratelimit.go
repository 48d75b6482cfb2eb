// Package ratelimit enforces each tenant's requests-per-minute budget with a
// counter in DynamoDB, so every Lambda instance shares one budget.
package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Limiter counts requests per tenant in fixed one-minute windows: one atomic
// UpdateItem per request, nothing read.
type Limiter struct {
	store    *store.Store
	clock    clock.Clock
	override int // RATE_LIMIT_PER_MINUTE; 0 means the plan decides
}

// New returns a Limiter. A positive override replaces every plan's limit.
func New(s *store.Store, clk clock.Clock, override int) *Limiter {
	return &Limiter{store: s, clock: clk, override: override}
}

// Result is the state of a tenant's budget after one request.
type Result struct {
	Limit     int
	Remaining int
	Reset     time.Time
	Allowed   bool
}

// Allow counts one request of orgID against limit. The counter lives in the
// tenant's rate-limit partition (store.RateLimitKey), apart from its main
// one; a throttled or failing DynamoDB is an *errs.Unavailable (503).
func (l *Limiter) Allow(ctx context.Context, orgID string, limit int) (Result, error) {
	now := l.clock.Now()
	reset := now.Truncate(time.Minute).Add(time.Minute)
	n, err := l.store.Increment(ctx, store.RateLimitKey(orgID, now), reset.Add(time.Hour))
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: count request: %w", err)
	}
	return Result{Limit: limit, Remaining: max(limit-n, 0), Reset: reset, Allowed: n <= limit}, nil
}

// Middleware applies the caller's budget and sets the X-RateLimit-* headers
// on every authenticated response; past the limit it answers 429.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := tenant.From(r.Context())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		limit := tenant.PlanByName(p.Plan).RateLimitPerMinute
		if l.override > 0 {
			limit = l.override
		}
		res, err := l.Allow(r.Context(), p.OrgID, limit)
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(res.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(res.Remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(res.Reset.Unix(), 10))
		if !res.Allowed {
			retry := int(res.Reset.Sub(l.clock.Now()).Seconds() + 0.999)
			retry = max(retry, 1)
			httpx.WriteError(w, r, &errs.RateLimited{RetryAfter: retry, Message: fmt.Sprintf("Rate limit exceeded. Retry after %d seconds.", retry)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// Login throttling. Every attempt is counted before its password is
// checked, on two counters: the email from this source address (at most
// MaxLoginFailures per window) and the email from every source (at most
// MaxLoginFailuresPerEmail). An attempt that would go past either answers
// 429 without its password being checked. An attacker guessing from one
// address therefore locks out only that address, not the user logging in
// from elsewhere; only an attack from many addresses locks the email for all.
//
// Windows are fixed: LoginWindow-long buckets aligned on the clock (10:00,
// 10:15, …), each counter a single item reserved by one conditional
// UpdateItem, so the limits are exact within a window whatever the
// concurrency. A successful login gives its reservation back, so only
// failures (and attempts in flight) use up the budget.
const (
	MaxLoginFailures         = 10
	MaxLoginFailuresPerEmail = 100
	LoginWindow              = 15 * time.Minute
)

// unknownSource is the source of an attempt whose address is not known (a
// login made inside the process, as `make run` does for its demo key).
const unknownSource = "unknown"

// attempt is a login attempt counted on the keys of its counters.
type attempt struct{ keys []store.Key }

// reserveAttempt counts a login attempt for email from source, or answers
// 429 (errs.RateLimited) when either counter is full.
func (s *Service) reserveAttempt(ctx context.Context, email, source string) (*attempt, error) {
	now := s.clock.Now()
	window := now.Truncate(LoginWindow)
	end := window.Add(LoginWindow)
	expires := end.Add(time.Hour) // TTL deletion is lazy; the window's end is what counts
	counters := []struct {
		key   store.Key
		limit int
	}{
		// The source's counter first: attempts refused there never touch
		// the email's shared counter.
		{store.LoginFailSourceKey(email, source, window), MaxLoginFailures},
		{store.LoginFailKey(email, window), MaxLoginFailuresPerEmail},
	}
	a := &attempt{}
	for _, c := range counters {
		err := s.repo.reserveAttempt(ctx, c.key, c.limit, expires)
		if err == nil {
			a.keys = append(a.keys, c.key)
			continue
		}
		s.releaseAttempt(ctx, a)
		if errors.Is(err, errAttemptsMax) {
			retry := max(int(math.Ceil(end.Sub(now).Seconds())), 1)
			return nil, &errs.RateLimited{RetryAfter: retry, Message: fmt.Sprintf("Too many failed logins. Retry after %d seconds.", retry)}
		}
		return nil, err
	}
	return a, nil
}

// releaseAttempt gives back the reservations of an attempt that was not a
// failure (it succeeded, or could not be checked). It runs even when the
// client has gone; a failure to give back is logged, not answered: the
// attempt then merely counts as a failure.
func (s *Service) releaseAttempt(ctx context.Context, a *attempt) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range a.keys {
		if err := s.repo.releaseAttempt(ctx, k); err != nil {
			slog.WarnContext(ctx, "auth: could not give back a login attempt", "error", err.Error())
		}
	}
}

// SourceAddress is the address a request comes from, as the login throttle
// counts it. Behind API Gateway it is the request context's sourceIp: the
// peer of API Gateway's own TCP connection, which no header can change.
// Elsewhere (the local server, tests) it is this server's TCP peer. A
// client's X-Forwarded-For is never read: anyone can write one.
//
// An IPv6 address counts as its /64, the block one subscriber gets: its
// owner could otherwise take a fresh address, and a fresh budget, per
// attempt.
func SourceAddress(r *http.Request) string {
	raw := ""
	if gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok {
		raw = gw.HTTP.SourceIP
	}
	if raw == "" {
		raw = r.RemoteAddr
		if host, _, err := net.SplitHostPort(raw); err == nil {
			raw = host
		}
	}
	return normaliseSource(raw)
}

// normaliseSource is the counter's form of an address: IPv4 in dotted form
// (an IPv4-mapped IPv6 address included), IPv6 as its /64 prefix, and
// unknownSource for anything else.
func normaliseSource(raw string) string {
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return unknownSource
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, err := addr.Prefix(64)
		if err != nil {
			return unknownSource
		}
		return p.String()
	}
	return addr.String()
}

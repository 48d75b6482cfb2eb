package contacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/tenant"
)

// The plan's contacts quota. Every write that makes a contact counts it on
// the tenant's counter (see repo.go) on the condition that the plan leaves
// room, so no interleaving of creates, upserts, imports and events by email
// takes a tenant past its quota.

// reserveAttempts bounds how often the batch path reads the counter and
// asks again for what is left when concurrent writers took the room it saw.
const reserveAttempts = 3

// planKey carries a worker's tenant plan in a context (WithPlan).
type planKey struct{}

type orgPlan struct{ orgID, plan string }

// WithPlan returns ctx carrying the organisation's plan, read here once. A
// worker that writes contacts with no request principal in its context (an
// import run) calls it so that its batches do not each read the plan.
func (s *Service) WithPlan(ctx context.Context, orgID string) (context.Context, error) {
	plan, err := s.repo.orgPlan(ctx, orgID)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, planKey{}, orgPlan{orgID, plan}), nil
}

// quota is orgID's contacts quota: from the request's principal (the plan
// authentication read), from WithPlan, or else read from the organisation.
func (s *Service) quota(ctx context.Context, orgID string) (int, error) {
	if p, ok := tenant.From(ctx); ok && p.OrgID == orgID {
		return tenant.PlanByName(p.Plan).Quotas.Contacts, nil
	}
	if p, ok := ctx.Value(planKey{}).(orgPlan); ok && p.orgID == orgID {
		return tenant.PlanByName(p.plan).Quotas.Contacts, nil
	}
	plan, err := s.repo.orgPlan(ctx, orgID)
	if err != nil {
		return 0, err
	}
	return tenant.PlanByName(plan).Quotas.Contacts, nil
}

// quotaReached is the answer for a contact the plan has no room for.
func quotaReached(quota int) error {
	return &errs.Unprocessable{Message: fmt.Sprintf("The organisation has reached its plan's quota of %s contacts.", thousands(quota))}
}

// thousands writes n with commas between groups of three digits (2,000).
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// reserve takes room on the counter for up to want new contacts and says
// how many it got: all of them when they fit, else what the plan has left
// (read consistently, then reserved on the condition it is still left).
func (s *Service) reserve(ctx context.Context, orgID string, want, quota int) (int, error) {
	n := min(want, quota)
	for range reserveAttempts {
		if n <= 0 {
			return 0, nil
		}
		err := s.repo.reserve(ctx, orgID, n, quota)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, errQuotaFull) {
			return 0, err
		}
		have, err := s.repo.counted(ctx, orgID)
		if err != nil {
			return 0, err
		}
		n = min(want, quota-have)
	}
	return 0, nil
}

// release gives back n reserved contacts that were not written. It runs
// even when the client has gone; a failure is logged, not answered: the
// counter then merely counts too many.
func (s *Service) release(ctx context.Context, orgID string, n int) {
	if n <= 0 {
		return
	}
	if err := s.repo.release(context.WithoutCancel(ctx), orgID, n); err != nil {
		slog.WarnContext(ctx, "contacts: could not give back reserved contacts", "count", n, "error", err.Error())
	}
}

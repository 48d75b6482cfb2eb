package domains

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// errNotFound is the answer for a domain the tenant does not have.
var errNotFound = errs.NewNotFound("Domain not found.")

// Service manages a tenant's sending domains.
type Service struct {
	repo  repo
	ses   Identities
	clock clock.Clock
}

// NewService returns the domains service over the table and the SES adapter.
func NewService(s *store.Store, ses Identities, clk clock.Clock) *Service {
	return &Service{repo: repo{s}, ses: ses, clock: clk}
}

// Create adds a domain to the tenant: the name's claim and the domain in one
// transaction (409 when any tenant, this one included, has the name), then
// the SES identity and its MAIL FROM domain. When SES fails, the claim and
// the domain are removed again (and an identity SES made is deleted), so
// nothing is left half-made, and SES's failure is the answer. req must be
// validated.
func (s *Service) Create(ctx context.Context, orgID string, req CreateRequest) (Domain, error) {
	now := s.clock.Now().UTC()
	mailFrom := *req.MailFromSubdomain + "." + req.Name
	id := ids.New(idPrefix, now)
	it := item{Key: store.DomainKey(orgID, id), Type: itemType, OrgID: orgID, ID: id, Name: req.Name,
		MailFromDomain: mailFrom, Status: StatusPending, CreatedAt: now, Version: 1}
	if err := s.repo.create(ctx, it); err != nil {
		if errors.Is(err, errNameClaimed) {
			return Domain{}, s.claimedBy(ctx, orgID, req.Name)
		}
		return Domain{}, err
	}
	tokens, err := s.ses.Create(ctx, it.Name)
	if err == nil {
		if err = s.ses.SetMailFrom(ctx, it.Name, mailFrom); err != nil {
			s.undoIdentity(ctx, it)
		}
	}
	if err != nil {
		s.undoClaim(ctx, it)
		return Domain{}, err
	}
	// The records are known only now; the item holds them from here on.
	it.Records = records(it.Name, mailFrom, s.ses.Region, tokens)
	it.Version++
	if err := s.repo.save(ctx, it, it.Version-1); err != nil {
		s.undoIdentity(ctx, it)
		s.undoClaim(ctx, it)
		return Domain{}, err
	}
	return it.API(), nil
}

// claimedBy words the 409 of a name that has a claim.
func (s *Service) claimedBy(ctx context.Context, orgID, name string) error {
	c, err := s.repo.claim(ctx, name)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		// Released since the transaction saw it: the client may try again.
		return errs.NewConflict("The domain was being added or deleted at the same time; retry.")
	case err != nil:
		return err
	case c.OrgID == orgID:
		return errs.NewConflict(fmt.Sprintf("The domain is already added to this organisation (%s).", c.DomainID))
	}
	return errs.NewConflict("The domain belongs to another organisation.")
}

// undoIdentity deletes the SES identity of a domain whose creation failed,
// even if the request is cancelled; a failure is logged (ids only).
func (s *Service) undoIdentity(ctx context.Context, it item) {
	if err := s.ses.Delete(context.WithoutCancel(ctx), it.Name); err != nil {
		slog.ErrorContext(ctx, "domains: cannot delete the SES identity of a failed create", "domainId", it.ID, "error", err.Error())
	}
}

// undoClaim deletes the domain and its claim after its creation failed.
func (s *Service) undoClaim(ctx context.Context, it item) {
	if err := s.repo.remove(context.WithoutCancel(ctx), it); err != nil {
		slog.ErrorContext(ctx, "domains: cannot remove the claim of a failed create", "domainId", it.ID, "error", err.Error())
	}
}

// Get reads one of the tenant's domains.
func (s *Service) Get(ctx context.Context, orgID, id string) (Domain, error) {
	it, err := s.get(ctx, orgID, id)
	if err != nil {
		return Domain{}, err
	}
	return it.API(), nil
}

func (s *Service) get(ctx context.Context, orgID, id string) (item, error) {
	if !ids.Valid(idPrefix, id) {
		return item{}, errNotFound
	}
	it, err := s.repo.get(ctx, orgID, id)
	if errors.Is(err, errs.ErrNotFound) || (err == nil && it.Records == nil) {
		// A domain without records is one whose creation is under way (or
		// died before its SES identity existed): not there yet.
		return item{}, errNotFound
	}
	return it, err
}

// List reads one page of the tenant's domains, newest first.
func (s *Service) List(ctx context.Context, orgID string, limit int, start map[string]string) ([]Domain, map[string]string, error) {
	items, next, err := s.repo.list(ctx, orgID, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Domain, 0, len(items))
	for i := range items {
		if items[i].Records != nil {
			out = append(out, items[i].API())
		}
	}
	return out, next, nil
}

// Verify reads the identity's verification from SES now, stores the
// domain's and each record's status with the time of the check, and
// returns the domain.
func (s *Service) Verify(ctx context.Context, orgID, id string) (Domain, error) {
	it, err := s.get(ctx, orgID, id)
	if err != nil {
		return Domain{}, err
	}
	c, err := s.ses.Check(ctx, it.Name)
	if err != nil {
		return Domain{}, err
	}
	read := it.Version
	apply(&it, c, s.clock.Now())
	it.Version++
	if err := s.repo.save(ctx, it, read); err != nil {
		if !errors.Is(err, errs.ErrConflict) {
			return Domain{}, err
		}
		// Deleted (404) or checked by a concurrent request: answer what is stored now.
		return s.Get(ctx, orgID, id)
	}
	return it.API(), nil
}

// Delete deletes the SES identity (one SES does not have is fine), then the
// domain and its claim, which frees the name for any tenant.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	it, err := s.get(ctx, orgID, id)
	if err != nil {
		return err
	}
	if err := s.ses.Delete(ctx, it.Name); err != nil {
		return err
	}
	if err := s.repo.remove(ctx, it); err != nil {
		if errors.Is(err, errGone) {
			return errNotFound
		}
		return err
	}
	return nil
}

package contacts

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Service reads and writes contacts.
type Service struct {
	repo  repo
	clock clock.Clock
}

// NewService returns the contacts service.
func NewService(s *store.Store, clk clock.Clock) *Service {
	return &Service{repo: repo{st: s}, clock: clk}
}

// writeAttempts bounds how often a write that lost to a concurrent one (the
// contact or its lookup changed between the read and the write) is read and
// tried again before the client is told to retry.
const writeAttempts = 5

var (
	errNotFound   = errs.NewNotFound("Contact not found.")
	errEmailTaken = errs.NewConflict("A contact with this email already exists.")
	errBusy       = errs.NewConflict("The contact kept changing during the request; retry.")
)

// Get reads one contact: one GetItem.
func (s *Service) Get(ctx context.Context, orgID, id string) (*Item, error) {
	if !ids.Valid(ids.Contact, id) {
		return nil, errNotFound
	}
	it, err := s.repo.get(ctx, orgID, id, false)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errNotFound
	}
	return it, err
}

// ByEmail reads the contact of an email: the lookup, then the contact. An
// orphaned lookup (see resolve) is no contact.
func (s *Service) ByEmail(ctx context.Context, orgID, email string) (*Item, error) {
	r, err := s.resolve(ctx, orgID, email)
	if err != nil {
		return nil, err
	}
	if r.contact == nil {
		return nil, errNotFound
	}
	return r.contact, nil
}

// resolution is what an email's lookup leads to.
type resolution struct {
	// contact is the email's contact; nil when there is none.
	contact *Item
	// orphan says the email has a lookup but no contact stands behind it:
	// a batch writer claimed the email and failed or died before writing
	// the contact, or the lookup is damaged. lookupID is what it names;
	// adopt says it is a contact id no contact has, which the new contact
	// takes (a damaged lookup is replaced by a new id's).
	orphan   bool
	lookupID string
	adopt    bool
}

// resolve reads an email's lookup and the contact it names. It is the one
// place that tells a contact from an orphaned lookup; create is the one
// place that adopts it. Reading the lookup alone cannot tell them apart, so
// a known email costs two GetItems; a miss on the contact is read again,
// consistently, before the lookup is called an orphan.
func (s *Service) resolve(ctx context.Context, orgID, email string) (resolution, error) {
	id, err := s.repo.lookup(ctx, orgID, email)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return resolution{}, nil
	case err != nil:
		return resolution{}, err
	case !ids.Valid(ids.Contact, id):
		return resolution{orphan: true, lookupID: id}, nil
	}
	it, err := s.repo.get(ctx, orgID, id, false)
	if errors.Is(err, errs.ErrNotFound) {
		it, err = s.repo.get(ctx, orgID, id, true)
	}
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return resolution{orphan: true, lookupID: id, adopt: true}, nil
	case err != nil:
		return resolution{}, err
	case it.Email != email: // a lookup that names another contact: damaged
		return resolution{orphan: true, lookupID: id}, nil
	}
	return resolution{contact: it}, nil
}

// create writes a new contact for in, given what its email's lookup led to
// (r has no contact). An orphaned lookup is adopted: the contact takes the
// id the lookup names, so a writer that claimed it and is only slow finds
// its contact written (its own conditional write fails and it updates
// instead); a damaged lookup is replaced. Otherwise the email is claimed.
// errStale or errLookupTaken when another writer got there first; 422
// when the plan's contacts quota is reached.
func (s *Service) create(ctx context.Context, orgID string, in *Input, source string, r resolution) (*Item, error) {
	it := s.newItem(orgID, in, source)
	if err := checkPropertiesSize(it.Properties); err != nil {
		return nil, err
	}
	var lookupWas *string
	if r.orphan {
		lookupWas = &r.lookupID
	}
	if r.adopt {
		it.ID = r.lookupID
		it.setIndexKeys()
	}
	quota, err := s.quota(ctx, orgID)
	if err != nil {
		return nil, err
	}
	err = s.repo.create(ctx, it, lookupWas, quota)
	if errors.Is(err, errQuotaFull) {
		return nil, quotaReached(quota)
	}
	if err != nil {
		return nil, err
	}
	return it, nil
}

// byEmail makes sure in's email has a contact: it creates one from in when
// none stands behind the email's lookup (adopting an orphaned lookup), or
// hands the contact to found. A write that loses to a concurrent writer is
// read and tried again, up to writeAttempts times. blind skips the first
// read: the create claims the email on the bet that it is free, so a new
// email costs one transaction. created says the contact was made here.
func (s *Service) byEmail(ctx context.Context, orgID string, in *Input, source string, blind bool, found func(*Item) (*Item, error)) (it *Item, created bool, err error) {
	for attempt := range writeAttempts {
		var r resolution
		if attempt > 0 || !blind {
			if r, err = s.resolve(ctx, orgID, in.Email); err != nil {
				return nil, false, err
			}
		}
		if r.contact != nil {
			it, err = found(r.contact)
		} else {
			it, err = s.create(ctx, orgID, in, source, r)
			created = err == nil
		}
		if !errors.Is(err, errStale) && !errors.Is(err, errLookupTaken) {
			return it, created, err
		}
	}
	return nil, false, errBusy
}

// newItem makes the item for a new contact from a validated input.
func (s *Service) newItem(orgID string, in *Input, source string) *Item {
	now := s.clock.Now()
	it := &Item{OrgID: orgID, ID: ids.New(ids.Contact, now), Email: in.Email, Subscribed: true, CreatedAt: now, Source: source}
	it.apply(&in.Patch, now)
	it.UpdatedAt = now
	return it
}

// Create adds a contact. The contact, its email lookup and its tag entries
// go in one transaction whose conditions make the email unique: one call
// for a new email. An email whose lookup is orphaned is adopted; one that
// has its contact is a conflict.
func (s *Service) Create(ctx context.Context, orgID string, in Input) (*Item, error) {
	it, _, err := s.byEmail(ctx, orgID, &in, "", true, func(*Item) (*Item, error) { return nil, errEmailTaken })
	return it, err
}

// ForEmail returns the contact of an email, creating it (subscribed,
// nothing else set) when there is none, as tracking an event by email does.
func (s *Service) ForEmail(ctx context.Context, orgID, email string) (*Item, error) {
	in := Input{Email: email}
	it, _, err := s.byEmail(ctx, orgID, &in, "", false, func(c *Item) (*Item, error) { return c, nil })
	return it, err
}

// Patch changes a contact. It is a read and a conditional write on the
// contact's version, read and tried again when another write came in
// between.
func (s *Service) Patch(ctx context.Context, orgID, id string, p Patch) (*Item, error) {
	for range writeAttempts {
		old, err := s.Get(ctx, orgID, id)
		if err != nil {
			return nil, err
		}
		it, err := s.update(ctx, old, &p)
		if errors.Is(err, errLookupTaken) {
			return nil, errEmailTaken
		}
		if !errors.Is(err, errStale) {
			return it, err
		}
	}
	return nil, errBusy
}

// update writes old changed by p, on old's version; it does nothing when
// nothing changes.
func (s *Service) update(ctx context.Context, old *Item, p *Patch) (*Item, error) {
	it := *old
	it.Properties = clonedProps(old.Properties)
	it.Tags = slices.Clone(old.Tags)
	if !it.apply(p, s.clock.Now()) {
		return old, nil
	}
	if err := checkPropertiesSize(it.Properties); err != nil {
		return nil, err
	}
	if err := s.repo.update(ctx, old, &it); err != nil {
		return nil, err
	}
	return &it, nil
}

// Delete removes a contact with its email lookup and its tag entries, after
// which the email is free again: a read and one transaction on the version
// read, read and tried again when the contact changed in between (its
// email or tags may have). Its events are not touched here, however many:
// the contact's removal reaches the changes function through the table's
// stream, which queues a PurgeJob for them.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	for range writeAttempts {
		it, err := s.Get(ctx, orgID, id)
		if err != nil {
			return err
		}
		if err := s.repo.remove(ctx, it); !errors.Is(err, errStale) {
			return err
		}
	}
	return errBusy
}

// Now is the service's clock reading (the events service stamps with it).
func (s *Service) Now() time.Time { return s.clock.Now() }

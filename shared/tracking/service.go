package tracking

import (
	"context"
	"time"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Service records and lists events.
type Service struct {
	repo      repo
	contacts  *contacts.Service
	retention time.Duration
}

// NewService returns the events service; events expire retention after they happened.
func NewService(s *store.Store, c *contacts.Service, retention time.Duration) *Service {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Service{repo: repo{st: s}, contacts: c, retention: retention}
}

// Track records one event: the contact is read (by id; by email, its
// lookup and the contact, creating the contact when the email has none or
// adopting an orphaned lookup) and the event is one PutItem.
func (s *Service) Track(ctx context.Context, orgID string, in Input) (*Item, error) {
	now := s.contacts.Now()
	ts := now
	if in.Timestamp != nil {
		ts = in.Timestamp.UTC()
	}
	if ts.After(now.Add(MaxFuture)) {
		return nil, errs.Invalid("timestamp", "The 'timestamp' field may be at most 5 minutes in the future.")
	}
	if ts.Add(s.retention).Before(now) {
		return nil, errs.Invalid("timestamp", "The 'timestamp' field is older than the event retention period (%d days).", int(s.retention.Hours()/24))
	}
	c, err := s.contactFor(ctx, orgID, &in)
	if err != nil {
		return nil, err
	}
	it := &Item{OrgID: orgID, ID: ids.New(ids.Event, ts), ContactID: c.ID, Name: in.Name,
		Timestamp: ts, TTL: ts.Add(s.retention).Unix()}
	if len(in.Properties) > 0 {
		it.Properties = in.Properties // none is stored as no attribute
	}
	it.SetKeys()
	if err := s.repo.put(ctx, it); err != nil {
		return nil, err
	}
	return it, nil
}

// contactFor is whose event it is.
func (s *Service) contactFor(ctx context.Context, orgID string, in *Input) (*contacts.Item, error) {
	if in.ContactID != "" {
		return s.contacts.Get(ctx, orgID, in.ContactID)
	}
	return s.contacts.ForEmail(ctx, orgID, in.Email)
}

// List pages through a contact's events, newest first, optionally of one name.
func (s *Service) List(ctx context.Context, orgID, contactID, name string, limit int, start map[string]string) ([]Item, map[string]string, error) {
	if _, err := s.contacts.Get(ctx, orgID, contactID); err != nil {
		return nil, nil, err
	}
	return s.repo.list(ctx, orgID, contactID, name, limit, start)
}

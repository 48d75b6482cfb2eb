package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/automation/engine"
	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/segments/rules"
	"github.com/sendwell/sendwell/shared/validate"
)

// simContactID is the id of a dry run's made-up contact.
const simContactID = "cnt_simulated"

// Limits of a dry run's made-up contact.
const (
	maxSimProperties = 100
	maxSimTags       = 50
	maxTagLen        = 64
)

// Validate checks a dry run's body.
func (r *SimulateRequest) Validate() error {
	switch {
	case r.ContactID != "" && r.Contact != nil:
		return errs.Invalid("contactId", "Give one of 'contactId' and 'contact', not both.")
	case r.ContactID == "" && r.Contact == nil:
		return errs.Invalid("contactId", "The 'contactId' or 'contact' field is required.")
	}
	if c := r.Contact; c != nil {
		if c.Email != "" {
			e, err := validate.Email("contact.email", c.Email)
			if err != nil {
				return err
			}
			c.Email = e
		}
		if len(c.Properties) > maxSimProperties {
			return errs.Invalid("contact.properties", "The 'contact.properties' field may have at most %d properties.", maxSimProperties)
		}
		for k := range c.Properties {
			if !validate.Identifier(k, 64, "") {
				return errs.Invalid("contact.properties", "The 'contact.properties' field names '%s', which is not a property name ([A-Za-z0-9_]{1,64}).", k)
			}
		}
		if len(c.Tags) > maxSimTags {
			return errs.Invalid("contact.tags", "The 'contact.tags' field may have at most %d tags.", maxSimTags)
		}
		for i, t := range c.Tags {
			if t = strings.TrimSpace(t); t == "" || len([]rune(t)) > maxTagLen {
				return errs.Invalid(fmt.Sprintf("contact.tags[%d]", i), "The 'contact.tags[%d]' field must be a tag: a non-empty string of at most %d characters.", i, maxTagLen)
			}
			c.Tags[i] = t
		}
	}
	if len(r.Events) > MaxSimEvents {
		return errs.Invalid("events", "The 'events' field may have at most %d events.", MaxSimEvents)
	}
	for i, e := range r.Events {
		if !validate.Identifier(e.Name, 100, ".:-") {
			return errs.Invalid(fmt.Sprintf("events[%d].name", i), "The 'events[%d].name' field must be an event name ([A-Za-z0-9_.:-]{1,100}).", i)
		}
		if e.At == nil {
			return errs.Required(fmt.Sprintf("events[%d].at", i))
		}
	}
	if r.Version < 0 {
		return errs.Invalid("version", "The 'version' field must be a version number of the sequence (1 or more).")
	}
	return nil
}

// Simulate is the dry run: the path a contact (stored, or made up) would
// take through a version of the sequence (default the current) from start
// (default now), with its events arriving at their times, on a virtual
// clock. It writes nothing and sends nothing.
func (s *Service) Simulate(ctx context.Context, orgID, id string, req SimulateRequest) (SimulateResponse, error) {
	seq, err := s.get(ctx, orgID, id, false)
	if err != nil {
		return SimulateResponse{}, err
	}
	n, raw := seq.Version, seq.Definition
	if req.Version != 0 && req.Version != seq.Version {
		v, err := s.versionOf(ctx, seq, req.Version)
		if err != nil {
			return SimulateResponse{}, err
		}
		n, raw = v.N, v.Definition
	}
	def, err := sequence.Parse(json.RawMessage(raw))
	if err != nil {
		return SimulateResponse{}, fmt.Errorf("automation: stored definition of %s v%d: %w", id, n, err)
	}
	start := s.clock.Now().UTC()
	if req.Start != nil {
		start = req.Start.UTC()
	}
	var (
		facts rules.Facts
		tz    string
	)
	if req.ContactID != "" {
		if !ids.Valid(ids.Contact, req.ContactID) {
			return SimulateResponse{}, errContactNotFound
		}
		ok, err := s.repo.contactExists(ctx, orgID, req.ContactID)
		if err != nil {
			return SimulateResponse{}, err
		}
		if !ok {
			return SimulateResponse{}, errContactNotFound
		}
		facts, tz, err = engine.LoadFacts(ctx, s.store, orgID, req.ContactID, def)
		if errors.Is(err, errs.ErrNotFound) {
			return SimulateResponse{}, errContactNotFound
		}
		if err != nil {
			return SimulateResponse{}, err
		}
	} else {
		facts, tz = inlineFacts(req.Contact, start)
	}
	events := make([]engine.SimEvent, len(req.Events))
	for i, e := range req.Events {
		events[i] = engine.SimEvent{Name: e.Name, At: e.At.UTC(), Properties: e.Properties}
	}
	slices.SortStableFunc(events, func(a, b engine.SimEvent) int { return a.At.Compare(b.At) })
	path, err := engine.Simulate(def, facts, tz, events, start)
	if err != nil {
		return SimulateResponse{}, err
	}
	return SimulateResponse{SequenceID: id, Version: n, Path: path}, nil
}

// versionOf reads version n of a sequence: 404 when it has none such.
func (s *Service) versionOf(ctx context.Context, seq *journey.Sequence, n int) (*journey.Version, error) {
	notFound := errs.NewNotFound(fmt.Sprintf("The sequence has no version %d (its current version is %d).", n, seq.Version))
	if n < 1 || n > seq.Version {
		return nil, notFound
	}
	v, err := s.repo.version(ctx, seq.OrgID, seq.ID, n)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, notFound
	}
	return v, err
}

// inlineFacts are the facts of a dry run's made-up contact, created at
// start: subscribed unless it says not, in no segment, with no past events
// or sends. Its time zone is its "timezone" property when it has one.
func inlineFacts(c *SimContact, start time.Time) (rules.Facts, string) {
	contact := rules.Contact{ID: simContactID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName,
		Subscribed: c.Subscribed == nil || *c.Subscribed, CreatedAt: start, Properties: c.Properties, Tags: c.Tags}
	if contact.Properties == nil {
		contact.Properties = map[string]any{}
	}
	tz, _ := c.Properties["timezone"].(string)
	return rules.Facts{Contact: contact, Events: map[string][]time.Time{}, Segments: map[string]bool{}}, tz
}

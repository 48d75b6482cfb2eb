package segments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/segments/rules"
	"github.com/sendwell/sendwell/shared/store"
)

// errNotFound is the answer for a segment the tenant does not have.
var errNotFound = errs.NewNotFound("Segment not found.")

// errContactNotFound is the answer for a contact the tenant does not have.
var errContactNotFound = errs.NewNotFound("Contact not found.")

// writeAttempts is how often a write re-reads the tenant's segments and
// tries again when another write of the tenant's segments came first.
const writeAttempts = 3

// errBusy is the answer when the tenant's segments keep changing under a write.
var errBusy = errs.NewConflict("The segments were changed by a concurrent request; retry.")

// Service manages a tenant's segment definitions and reads memberships.
type Service struct {
	repo  repo
	clock clock.Clock
}

// NewService returns the segments service over the table.
func NewService(s *store.Store, clk clock.Clock) *Service {
	return &Service{repo: repo{s}, clock: clk}
}

// checked is a definition validated against the tenant's segments.
type checked struct {
	rule *rules.Rule
	json string
	refs []string
}

// check parses a definition and checks that every segment it references
// is one of the tenant's and, when it is self's new definition, that no
// cycle follows. Errors name the path in the definition.
func (s *Service) check(t tenantSet, self string, raw json.RawMessage) (checked, error) {
	r, err := rules.Parse(raw)
	if err != nil {
		return checked{}, err
	}
	canon := r.JSON()
	if len(canon) > MaxDefinitionBytes {
		return checked{}, errs.Invalid("definition", "The 'definition' field must be at most %d KB as JSON.", MaxDefinitionBytes>>10)
	}
	refs := r.Deps().Segments
	paths := segmentRefPaths(raw)
	for _, id := range refs {
		if t.find(id) == nil {
			path := paths[id]
			if path == "" {
				path = "definition"
			}
			return checked{}, errs.Invalid(path, "The '%s' field names segment '%s', which this organisation does not have.", path, id)
		}
	}
	if self != "" && len(refs) > 0 {
		defs := make(map[string]*rules.Rule, len(t.items))
		for i := range t.items {
			it := &t.items[i]
			if it.ID == self {
				continue
			}
			if other, err := rules.Parse(json.RawMessage(it.Definition)); err == nil {
				defs[it.ID] = other
			}
		}
		defs[self] = r
		if err := rules.Cycles(defs); err != nil {
			return checked{}, err
		}
	}
	return checked{rule: r, json: string(canon), refs: refs}, nil
}

// Create validates and adds a segment: status building until the worker
// (queued by the stream's changes function) has built it. One consistent
// read of the tenant's segments (references; the segments limit) and one
// transaction (the segment, the tenant's segments version).
func (s *Service) Create(ctx context.Context, orgID string, req CreateRequest) (Segment, error) {
	for attempt := 1; ; attempt++ {
		t, err := s.repo.load(ctx, orgID)
		if err != nil {
			return Segment{}, err
		}
		if len(t.items) >= MaxSegments {
			return Segment{}, &errs.Unprocessable{Message: fmt.Sprintf("An organisation may have at most %d segments.", MaxSegments)}
		}
		c, err := s.check(t, "", req.Definition)
		if err != nil {
			return Segment{}, err
		}
		now := s.clock.Now().UTC()
		id := ids.New(idPrefix, now)
		it := Item{Key: store.SegmentKey(orgID, id), Type: ItemType, OrgID: orgID, ID: id, Name: req.Name,
			Description: req.Description, Definition: c.json, Refs: c.refs, Status: StatusBuilding,
			CreatedAt: now, UpdatedAt: now, Version: 1}
		err = s.repo.create(ctx, it, t.version)
		if retry, err := s.retry(ctx, err, attempt); retry {
			continue
		} else if err != nil {
			return Segment{}, err
		}
		return it.API(), nil
	}
}

// retry says whether a write that failed with err should be made again
// after re-reading: a failed condition means another write of the
// tenant's segments came first.
func (s *Service) retry(ctx context.Context, err error, attempt int) (bool, error) {
	if err == nil || !errors.Is(err, errs.ErrConflict) {
		return false, err
	}
	if attempt >= writeAttempts {
		slog.InfoContext(ctx, "segments: write lost to concurrent writes", "attempts", strconv.Itoa(attempt))
		return false, errBusy
	}
	return true, nil
}

// Get reads one of the tenant's segments (1 GetItem).
func (s *Service) Get(ctx context.Context, orgID, id string) (Segment, error) {
	if !ids.Valid(idPrefix, id) {
		return Segment{}, errNotFound
	}
	it, err := s.repo.get(ctx, orgID, id)
	if errors.Is(err, errs.ErrNotFound) {
		return Segment{}, errNotFound
	}
	if err != nil {
		return Segment{}, err
	}
	return it.API(), nil
}

// List reads one page of the tenant's segments, newest first.
func (s *Service) List(ctx context.Context, orgID string, limit int, start map[string]string) ([]Segment, map[string]string, error) {
	items, next, err := s.repo.list(ctx, orgID, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Segment, len(items))
	for i := range items {
		out[i] = items[i].API()
	}
	return out, next, nil
}

// Patch changes a segment's name, description or definition. A new
// definition (one whose canonical form differs) sets the segment building
// again, and the worker rebuilds it; a patch that changes nothing writes
// nothing.
func (s *Service) Patch(ctx context.Context, orgID, id string, p PatchRequest) (Segment, error) {
	if !ids.Valid(idPrefix, id) {
		return Segment{}, errNotFound
	}
	for attempt := 1; ; attempt++ {
		t, err := s.repo.load(ctx, orgID)
		if err != nil {
			return Segment{}, err
		}
		old := t.find(id)
		if old == nil {
			return Segment{}, errNotFound
		}
		it := *old
		if p.Name.Set {
			it.Name = p.Name.Value
		}
		if p.Description.Set {
			it.Description = nil
			if !p.Description.Null {
				d := p.Description.Value
				it.Description = &d
			}
		}
		rebuild := false
		if p.Definition.Set {
			c, err := s.check(t, id, p.Definition.Value)
			if err != nil {
				return Segment{}, err
			}
			rebuild = c.json != old.Definition
			it.Definition, it.Refs = c.json, c.refs
		}
		if !rebuild && it.Name == old.Name && equalPtr(it.Description, old.Description) {
			return old.API(), nil
		}
		it.UpdatedAt = s.clock.Now().UTC()
		it.Version = old.Version + 1
		if rebuild {
			it.Status, it.Processed, it.Total = StatusBuilding, 0, nil
		}
		err = s.repo.update(ctx, *old, it, rebuild, t.version)
		if retry, err := s.retry(ctx, err, attempt); retry {
			continue
		} else if err != nil {
			return Segment{}, err
		}
		return it.API(), nil
	}
}

// Delete deletes a segment no other segment references (409 otherwise).
// Its members are purged afterwards by the worker, queued by the stream.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	if !ids.Valid(idPrefix, id) {
		return errNotFound
	}
	for attempt := 1; ; attempt++ {
		t, err := s.repo.load(ctx, orgID)
		if err != nil {
			return err
		}
		it := t.find(id)
		if it == nil {
			return errNotFound
		}
		for _, other := range t.items {
			if other.ID != id && slices.Contains(other.Refs, id) {
				return errs.NewConflict(fmt.Sprintf("The segment is used by segment %s; change that segment's definition first.", other.ID))
			}
		}
		retry, err := s.retry(ctx, s.repo.remove(ctx, *it, t.version), attempt)
		if !retry {
			return err
		}
	}
}

// Members reads one page of a segment's members: one Query. An empty first
// page costs a GetItem more, to tell an empty segment from one the tenant
// does not have (404).
func (s *Service) Members(ctx context.Context, orgID, id string, limit int, start map[string]string) ([]Member, map[string]string, error) {
	if !ids.Valid(idPrefix, id) {
		return nil, nil, errNotFound
	}
	items, next, err := s.repo.members(ctx, orgID, id, limit, start)
	if err != nil {
		return nil, nil, err
	}
	if len(items) == 0 && start == nil {
		if _, err := s.Get(ctx, orgID, id); err != nil {
			return nil, nil, err
		}
	}
	out := make([]Member, len(items))
	for i, m := range items {
		out[i] = Member{ContactID: m.ContactID, EnteredAt: m.EnteredAt}
	}
	return out, next, nil
}

// ContactSegments reads the segments a contact is in: one Query of the
// contact's memberships partition. When it is empty (a contact never
// evaluated, or none), a GetItem tells an existing contact from one the
// tenant does not have (404).
func (s *Service) ContactSegments(ctx context.Context, orgID, contactID string) ([]Membership, error) {
	if !ids.Valid(ids.Contact, contactID) {
		return nil, errContactNotFound
	}
	ms, found, err := s.repo.contactPartition(ctx, orgID, contactID)
	if err != nil {
		return nil, err
	}
	if !found {
		ok, err := s.repo.contactExists(ctx, orgID, contactID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errContactNotFound
		}
	}
	out := make([]Membership, len(ms))
	for i, m := range ms {
		out[i] = Membership{SegmentID: m.SegmentID, EnteredAt: m.EnteredAt}
	}
	return out, nil
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// segmentRefPaths finds the {"segment": id} conditions of a definition and
// the path of each, as "definition.all[1].segment", for errors that point
// at the reference.
func segmentRefPaths(raw json.RawMessage) map[string]string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	out := map[string]string{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			if id, ok := x["segment"].(string); ok {
				if _, seen := out[id]; !seen {
					out[id] = path + ".segment"
				}
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(x[k], path+"."+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(v, "definition")
	return out
}

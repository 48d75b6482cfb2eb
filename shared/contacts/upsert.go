package contacts

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// Outcomes of one upserted item.
const (
	StatusCreated = "created"
	StatusUpdated = "updated"
	StatusError   = "error"
)

// UpsertItem is one item of a batch: a validated input, or the error that
// its validation gave, and the import row it comes from (if any).
type UpsertItem struct {
	Input  Input
	Err    error
	Source string
}

// UpsertResult is what happened to one item.
type UpsertResult struct {
	Status  string
	Contact *Item
	Err     error
}

// Upsert creates or updates contacts by email, at most MaxBatch at a time.
// One bad item does not fail the others. It reads the email lookups and the
// existing contacts in two BatchGetItems and writes in as few transactions as
// fit; a transaction that fails on a condition (a concurrent write) is redone
// item by item. An email that appears twice is applied in order.
func (s *Service) Upsert(ctx context.Context, orgID string, items []UpsertItem) []UpsertResult {
	results := make([]UpsertResult, len(items))
	pending := make([]int, 0, len(items))
	for i, it := range items {
		if it.Err != nil {
			results[i] = UpsertResult{Status: StatusError, Err: it.Err}
			continue
		}
		pending = append(pending, i)
	}
	// Rounds of distinct emails: a repeated email waits for the next round.
	for len(pending) > 0 {
		seen := map[string]bool{}
		var round, later []int
		for _, i := range pending {
			if e := items[i].Input.Email; seen[e] {
				later = append(later, i)
			} else {
				seen[e] = true
				round = append(round, i)
			}
		}
		s.upsertRound(ctx, orgID, items, round, results)
		pending = later
	}
	return results
}

type planned struct {
	idx     int
	old, it *Item
	ops     []types.TransactWriteItem
	emailAt int
}

func (s *Service) upsertRound(ctx context.Context, orgID string, items []UpsertItem, round []int, results []UpsertResult) {
	existing, err := s.existing(ctx, orgID, items, round)
	if err != nil {
		for _, i := range round {
			results[i] = UpsertResult{Status: StatusError, Err: err}
		}
		return
	}
	var plans []planned
	for _, i := range round {
		in := &items[i].Input
		old := existing[in.Email]
		p := planned{idx: i, old: old}
		if old == nil {
			p.it = s.newItem(orgID, in, items[i].Source)
		} else {
			it := *old
			it.Properties = clonedProps(old.Properties)
			it.Tags = append([]string(nil), old.Tags...)
			if !it.apply(&in.Patch, s.clock.Now()) {
				results[i] = s.outcome(old, old, items[i].Source)
				continue
			}
			p.it = &it
		}
		if err := checkPropertiesSize(p.it.Properties); err != nil {
			results[i] = UpsertResult{Status: StatusError, Err: err}
			continue
		}
		if p.ops, p.emailAt, err = writeOps(old, p.it); err != nil {
			results[i] = UpsertResult{Status: StatusError, Err: err}
			continue
		}
		plans = append(plans, p)
	}
	// Pack whole items into transactions of at most 100 operations.
	for len(plans) > 0 {
		var batch []planned
		var ops []types.TransactWriteItem
		for len(plans) > 0 && len(ops)+len(plans[0].ops) <= maxTxItems {
			batch = append(batch, plans[0])
			ops = append(ops, plans[0].ops...)
			plans = plans[1:]
		}
		if err := s.store.Transact(ctx, ops); err != nil {
			if !errors.Is(err, errs.ErrConflict) {
				slog.WarnContext(ctx, "contacts: batch transaction failed; retrying item by item", "error", err.Error())
			}
			for _, p := range batch {
				results[p.idx] = s.upsertOne(ctx, orgID, items[p.idx])
			}
			continue
		}
		for _, p := range batch {
			results[p.idx] = s.outcome(p.old, p.it, items[p.idx].Source)
		}
	}
}

// outcome is created when there was no contact, or when the contact was
// created by this very import row (a resumed import doing it again).
func (s *Service) outcome(old, it *Item, source string) UpsertResult {
	if old == nil || (source != "" && old.Source == source) {
		return UpsertResult{Status: StatusCreated, Contact: it}
	}
	return UpsertResult{Status: StatusUpdated, Contact: it}
}

// upsertOne is the careful path for one item: read, write, and on a lost
// race read again.
func (s *Service) upsertOne(ctx context.Context, orgID string, item UpsertItem) UpsertResult {
	for attempt := 0; attempt < 5; attempt++ {
		var old *Item
		id, err := s.IDByEmail(ctx, orgID, item.Input.Email)
		switch {
		case err == nil:
			if old, err = s.Get(ctx, orgID, id); err != nil && !errors.Is(err, errs.ErrNotFound) {
				return UpsertResult{Status: StatusError, Err: err}
			}
		case !errors.Is(err, errs.ErrNotFound):
			return UpsertResult{Status: StatusError, Err: err}
		}
		if old == nil {
			it := s.newItem(orgID, &item.Input, item.Source)
			ops, _, err := writeOps(nil, it)
			if err == nil {
				err = s.store.Transact(ctx, ops)
			}
			if errors.Is(err, errs.ErrConflict) {
				continue // created concurrently: update it instead
			}
			if err != nil {
				return UpsertResult{Status: StatusError, Err: err}
			}
			return UpsertResult{Status: StatusCreated, Contact: it}
		}
		it, err := s.update(ctx, old, &item.Input.Patch)
		if errors.Is(err, errs.ErrConflict) && !errors.Is(err, errEmailTaken) {
			continue
		}
		if err != nil {
			return UpsertResult{Status: StatusError, Err: err}
		}
		return s.outcome(old, it, item.Source)
	}
	return UpsertResult{Status: StatusError, Err: errs.NewConflict("The contact kept changing during the upsert; retry it.")}
}

// existing reads the contacts of the round's emails: the lookups, then the
// contacts, one BatchGetItem each.
func (s *Service) existing(ctx context.Context, orgID string, items []UpsertItem, round []int) (map[string]*Item, error) {
	keys := make([]store.Key, 0, len(round))
	for _, i := range round {
		keys = append(keys, store.ContactEmailKey(orgID, items[i].Input.Email))
	}
	raw, err := s.store.BatchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	var lookups []emailItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &lookups); err != nil {
		return nil, err
	}
	keys = keys[:0]
	for _, l := range lookups {
		keys = append(keys, store.ContactKey(orgID, l.ContactID))
	}
	raw, err = s.store.BatchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	var found []Item
	if err := attributevalue.UnmarshalListOfMaps(raw, &found); err != nil {
		return nil, err
	}
	out := make(map[string]*Item, len(found))
	for i := range found {
		out[found[i].Email] = &found[i]
	}
	return out, nil
}

package contacts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Outcomes of one upserted item.
const (
	StatusCreated = "created"
	StatusUpdated = "updated"
	StatusError   = "error"
)

// writeConcurrency bounds the conditional writes a batch sends at once.
const writeConcurrency = 16

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

// Upsert creates or updates contacts by email, at most MaxBatch at a time;
// one bad item does not fail the others, and an email that appears twice is
// applied in order.
//
// Batches do not use transactions (a hundred contacts would need several,
// at twice the write cost). Instead a new contact first claims its email
// with a conditional PutItem of the lookup, which is what makes the email
// unique; the contacts and tag entries then go in BatchWriteItems. A worker
// that dies in between leaves a lookup whose contact is missing; whoever
// meets it next creates the contact under the id it names ("adopts" it),
// so nothing is lost or duplicated. An update is a conditional PutItem on
// the contact's version; a lost race is redone alone.
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

// plan is one item's write: old is nil for a new contact; claim says the
// email lookup must still be claimed.
type plan struct {
	idx     int
	old, it *Item
	claim   bool
}

func (s *Service) upsertRound(ctx context.Context, orgID string, items []UpsertItem, round []int, results []UpsertResult) {
	existing, orphans, err := s.existing(ctx, orgID, items, round)
	if err != nil {
		for _, i := range round {
			results[i] = UpsertResult{Status: StatusError, Err: err}
		}
		return
	}
	var plans []plan
	for _, i := range round {
		in := &items[i].Input
		p := plan{idx: i, old: existing[in.Email]}
		switch {
		case p.old != nil:
			it := *p.old
			it.Properties = clonedProps(p.old.Properties)
			it.Tags = slices.Clone(p.old.Tags)
			if !it.apply(&in.Patch, s.clock.Now()) {
				results[i] = outcome(p.old, p.old, items[i].Source)
				continue
			}
			it.Version = p.old.Version + 1
			p.it = &it
		default:
			p.it = s.newItem(orgID, in, items[i].Source)
			if id, ok := orphans[in.Email]; ok {
				p.it.ID = id // adopt the lookup a dead writer left
				p.it.setIndexKeys()
			} else {
				p.claim = true
			}
			p.it.Version = 1
		}
		if err := checkPropertiesSize(p.it.Properties); err != nil {
			results[i] = UpsertResult{Status: StatusError, Err: err}
			continue
		}
		plans = append(plans, p)
	}

	// 1. Claim the new emails.
	lost := make([]bool, len(plans))
	s.parallel(len(plans), func(k int) {
		if p := plans[k]; p.claim {
			lost[k] = s.claim(ctx, p.it) != nil
		}
	})
	// 2. New contacts and every tag entry that is added.
	var puts []any
	for k, p := range plans {
		if lost[k] {
			continue
		}
		if p.old == nil {
			puts = append(puts, p.it)
		}
		for _, t := range added(p.old, p.it) {
			puts = append(puts, tagItem{Key: store.ContactTagKey(orgID, t, p.it.ID), ContactID: p.it.ID})
		}
	}
	if err := s.putAll(ctx, puts); err != nil {
		for k, p := range plans {
			if !lost[k] {
				results[p.idx] = UpsertResult{Status: StatusError, Err: err}
				lost[k] = true // already answered
			}
		}
		return
	}
	// 3. Updates, each on its version.
	s.parallel(len(plans), func(k int) {
		p := plans[k]
		if lost[k] || p.old == nil {
			return
		}
		if err := s.putIfVersion(ctx, p.it, p.old.Version); err != nil {
			lost[k] = true
		}
	})
	// 4. Tag entries the updates removed.
	var dels []store.Key
	for k, p := range plans {
		if !lost[k] && p.old != nil {
			for _, t := range added(p.it, p.old) {
				dels = append(dels, store.ContactTagKey(orgID, t, p.it.ID))
			}
		}
	}
	delErr := s.store.DeleteAll(ctx, dels)
	for k, p := range plans {
		switch {
		case lost[k] && results[p.idx].Status == "":
			results[p.idx] = s.upsertOne(ctx, orgID, items[p.idx])
		case !lost[k] && delErr != nil:
			results[p.idx] = UpsertResult{Status: StatusError, Err: delErr}
		case !lost[k]:
			results[p.idx] = outcome(p.old, p.it, items[p.idx].Source)
		}
	}
}

// added lists the tags of it that from lacks.
func added(from, it *Item) []string {
	var out []string
	for _, t := range it.Tags {
		if from == nil || !slices.Contains(from.Tags, t) {
			out = append(out, t)
		}
	}
	return out
}

// claim takes the email for it; errs.ErrConflict when it is taken.
func (s *Service) claim(ctx context.Context, it *Item) error {
	return s.store.PutNew(ctx, emailItem{Key: store.ContactEmailKey(it.OrgID, it.Email), ContactID: it.ID})
}

func (s *Service) putIfVersion(ctx context.Context, it *Item, version int) error {
	av, err := store.Marshal(it)
	if err != nil {
		return err
	}
	_, err = s.store.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.store.Table,
		Item:                      av,
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}},
	})
	return store.MapErr(err)
}

// putAll writes items with BatchWriteItem, 25 at a time.
func (s *Service) putAll(ctx context.Context, items []any) error {
	for len(items) > 0 {
		n := min(len(items), 25)
		reqs := make([]types.WriteRequest, 0, n)
		for _, it := range items[:n] {
			av, err := store.Marshal(it)
			if err != nil {
				return err
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		}
		if err := s.store.BatchWrite(ctx, reqs); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

func (s *Service) parallel(n int, f func(k int)) {
	sem := make(chan struct{}, writeConcurrency)
	var wg sync.WaitGroup
	for k := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(k)
		})
	}
	wg.Wait()
}

// outcome is created when there was no contact, or when the contact was
// created by this very import row (a resumed import doing it again).
func outcome(old, it *Item, source string) UpsertResult {
	if old == nil || (source != "" && old.Source == source) {
		return UpsertResult{Status: StatusCreated, Contact: it}
	}
	return UpsertResult{Status: StatusUpdated, Contact: it}
}

// upsertOne is the careful path for one item, after a lost race: read,
// write in a transaction, and on another lost race read again.
func (s *Service) upsertOne(ctx context.Context, orgID string, item UpsertItem) UpsertResult {
	for attempt := 0; attempt < 5; attempt++ {
		var old *Item
		claimed := ""
		id, err := s.IDByEmail(ctx, orgID, item.Input.Email)
		switch {
		case err == nil:
			old, err = s.Get(ctx, orgID, id)
			if errors.Is(err, errs.ErrNotFound) {
				claimed, err = id, nil // an orphaned lookup: adopt its id
			}
			if err != nil {
				return UpsertResult{Status: StatusError, Err: err}
			}
		case !errors.Is(err, errs.ErrNotFound):
			return UpsertResult{Status: StatusError, Err: err}
		}
		if old == nil {
			it := s.newItem(orgID, &item.Input, item.Source)
			if claimed != "" {
				it.ID = claimed
				it.setIndexKeys()
			}
			ops, emailAt, err := writeOps(nil, it)
			if err == nil && claimed != "" {
				ops = slices.Delete(ops, emailAt, emailAt+1)
			}
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
		return outcome(old, it, item.Source)
	}
	return UpsertResult{Status: StatusError, Err: errs.NewConflict("The contact kept changing during the upsert; retry it.")}
}

// existing reads the round's emails: the lookups, then their contacts, one
// BatchGetItem each. A lookup whose contact is missing is an orphan.
func (s *Service) existing(ctx context.Context, orgID string, items []UpsertItem, round []int) (map[string]*Item, map[string]string, error) {
	keys := make([]store.Key, 0, len(round))
	for _, i := range round {
		keys = append(keys, store.ContactEmailKey(orgID, items[i].Input.Email))
	}
	raw, err := s.store.BatchGet(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	var lookups []emailItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &lookups); err != nil {
		return nil, nil, fmt.Errorf("contacts: decode lookups: %w", err)
	}
	keys = keys[:0]
	for _, l := range lookups {
		keys = append(keys, store.ContactKey(orgID, l.ContactID))
	}
	raw, err = s.store.BatchGet(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	var found []Item
	if err := attributevalue.UnmarshalListOfMaps(raw, &found); err != nil {
		return nil, nil, fmt.Errorf("contacts: decode: %w", err)
	}
	byID := make(map[string]*Item, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	existing, orphans := map[string]*Item{}, map[string]string{}
	for _, l := range lookups {
		email := l.SK[len("CEMAIL#"):]
		if it, ok := byID[l.ContactID]; ok {
			existing[email] = it
		} else if ids.Valid(ids.Contact, l.ContactID) {
			orphans[email] = l.ContactID
		}
	}
	return existing, orphans, nil
}

package contacts

import (
	"context"
	"errors"
	"slices"
	"sync"
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
// unique; its tag entries go in BatchWriteItems; then the contact itself is
// a PutItem on the condition that it does not exist yet. An update is a
// PutItem on the contact's version. A worker that dies between the claim and
// the contact leaves an orphaned lookup, which whoever meets the email next
// adopts (resolve, create). Every item that loses a race (its email was
// claimed, its contact written or changed by someone else meanwhile), and
// every email whose lookup is not plainly its contact's, takes the careful
// path alone: read, transactional write, and again on another lost race.
// So exactly one writer creates a contact; the others update it.
//
// Before any write, the round's new contacts take room on the plan's
// contacts quota with one UpdateItem; those the plan has no room for fail
// with the quota's message, and room not used is given back after.
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

// plan is one item's write in the batch path.
type plan struct {
	change
	idx     int
	careful bool // lost a race, or unclear: redo it alone
	wrote   bool // a new contact written here, on room reserved for it
}

func (s *Service) upsertRound(ctx context.Context, orgID string, items []UpsertItem, round []int, results []UpsertResult) {
	emails := make([]string, len(round))
	for k, i := range round {
		emails[k] = items[i].Input.Email
	}
	found, claimed, err := s.repo.byEmails(ctx, orgID, emails)
	if err != nil {
		for _, i := range round {
			results[i] = UpsertResult{Status: StatusError, Err: err}
		}
		return
	}
	plans := make([]*plan, 0, len(round))
	for _, i := range round {
		in := &items[i].Input
		p := &plan{idx: i, change: change{old: found[in.Email]}}
		switch {
		case p.old != nil:
			it := *p.old
			it.Properties = clonedProps(p.old.Properties)
			it.Tags = slices.Clone(p.old.Tags)
			if !it.apply(&in.Patch, s.clock.Now()) {
				results[i] = outcome(p.old, p.old, items[i].Source)
				continue
			}
			p.it = &it
		case claimed[in.Email]: // a lookup without its contact: resolve decides
			p.careful = true
		default:
			p.it = s.newItem(orgID, in, items[i].Source)
		}
		if p.it != nil {
			if err := checkPropertiesSize(p.it.Properties); err != nil {
				results[i] = UpsertResult{Status: StatusError, Err: err}
				continue
			}
		}
		plans = append(plans, p)
	}

	// 0. Room on the plan's contacts quota for the new contacts, in their
	// order; those past it fail. What is not used is given back (6).
	reserved := s.reserveRound(ctx, orgID, plans, results)

	// 1. Claim the new emails.
	fail := func(p *plan, err error) {
		switch {
		case errors.Is(err, errStale), errors.Is(err, errLookupTaken):
			p.careful = true
		case err != nil:
			results[p.idx] = UpsertResult{Status: StatusError, Err: err}
		}
	}
	live := func() []*plan {
		var out []*plan
		for _, p := range plans {
			if !p.careful && results[p.idx].Status == "" {
				out = append(out, p)
			}
		}
		return out
	}
	parallel(live(), func(p *plan) {
		if p.old == nil {
			fail(p, s.repo.claim(ctx, p.it))
		}
	})
	// 2. The tag entries that are added, before the contacts.
	batch := live()
	changes := make([]change, len(batch))
	for k, p := range batch {
		changes[k] = p.change
	}
	if err := s.repo.putTags(ctx, changes); err != nil {
		for _, p := range batch {
			fail(p, err)
		}
	}
	// 3. The contacts: new ones on their absence, updates on their version.
	parallel(live(), func(p *plan) {
		if p.old == nil {
			err := s.repo.putNew(ctx, p.it)
			p.wrote = err == nil
			fail(p, err)
		} else {
			fail(p, s.repo.putIfVersion(ctx, p.old, p.it))
		}
	})
	// 4. The tag entries the updates removed.
	batch = live()
	changes = changes[:0]
	for _, p := range batch {
		changes = append(changes, p.change)
	}
	if err := s.repo.deleteTags(ctx, changes); err != nil {
		for _, p := range batch {
			fail(p, err)
		}
	}
	for _, p := range batch {
		if results[p.idx].Status == "" {
			results[p.idx] = outcome(p.old, p.it, items[p.idx].Source)
		}
	}
	// 5. The room reserved for contacts that were not written (they turned
	// out to exist, lost a race or failed) goes back before the careful
	// path, whose creates count themselves in their transactions.
	for _, p := range plans {
		if p.wrote {
			reserved--
		}
	}
	s.release(ctx, orgID, reserved)
	// 6. The careful path, for the races lost and the unclear lookups.
	for _, p := range plans {
		if p.careful {
			results[p.idx] = s.upsertOne(ctx, orgID, items[p.idx])
		}
	}
}

// reserveRound reserves room on the quota for the round's new contacts
// (one UpdateItem when they fit) and fails those past it, and all of them
// when the room cannot be had. It returns how many it reserved.
func (s *Service) reserveRound(ctx context.Context, orgID string, plans []*plan, results []UpsertResult) int {
	var fresh []*plan
	for _, p := range plans {
		if !p.careful && p.old == nil {
			fresh = append(fresh, p)
		}
	}
	if len(fresh) == 0 {
		return 0
	}
	quota, err := s.quota(ctx, orgID)
	n := 0
	if err == nil {
		n, err = s.reserve(ctx, orgID, len(fresh), quota)
	}
	for k, p := range fresh {
		switch {
		case err != nil:
			results[p.idx] = UpsertResult{Status: StatusError, Err: err}
		case k >= n:
			results[p.idx] = UpsertResult{Status: StatusError, Err: quotaReached(quota)}
		}
	}
	return n
}

// parallel runs f for each plan, writeConcurrency at a time.
func parallel(plans []*plan, f func(p *plan)) {
	sem := make(chan struct{}, writeConcurrency)
	var wg sync.WaitGroup
	for _, p := range plans {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(p)
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

// upsertOne is the careful path for one item: resolve the email, then
// create (adopting an orphaned lookup) or update on the version read, in a
// transaction, and again when another writer got there first.
func (s *Service) upsertOne(ctx context.Context, orgID string, item UpsertItem) UpsertResult {
	var old *Item
	it, created, err := s.byEmail(ctx, orgID, &item.Input, item.Source, false, func(c *Item) (*Item, error) {
		old = c
		return s.update(ctx, c, &item.Input.Patch)
	})
	switch {
	case err != nil:
		return UpsertResult{Status: StatusError, Err: err}
	case created:
		return UpsertResult{Status: StatusCreated, Contact: it}
	}
	return outcome(old, it, item.Source)
}

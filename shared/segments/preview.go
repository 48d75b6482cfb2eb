package segments

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/segments/rules"
	"github.com/sendwell/sendwell/shared/store"
)

// Costs and bounds of a preview.
const (
	// previewPage is how many contacts one Query of the walk reads.
	previewPage = 1000
	// previewParallel is how many contacts' facts are read at once.
	previewParallel = 64
	// eventRetention is how far back events count ("ever" in a definition),
	// as the worker's counters keep them.
	eventRetention = 400 * 24 * time.Hour
	// maxCounted is how many events of one name a contact's facts hold (the
	// worker's counters keep the newest 1000).
	maxCounted = 1000
	// MaxPreviewEvents bounds the events one preview reads (all contacts'
	// events of the names it counts).
	MaxPreviewEvents = 2_000_000
	// recentSends is how many of a contact's sends email conditions see.
	recentSends = 100
)

// Preview evaluates a definition over every contact of the tenant, newest
// first, without saving anything: the exact count and the first
// PreviewSample matching contacts. It reads, per event name the definition
// counts, the tenant's events of that name over their retention
// (store.EventNameShards Queries, read in parallel, paged by 1 MB); then,
// per contact, a share of one Query per previewPage contacts, 1 Query of its
// sends when it has email conditions, and a share of one BatchGetItem per 100
// (contact, referenced segment) pairs. Audiences over MaxPreviewContacts, and
// definitions whose events pass MaxPreviewEvents, are refused (422).
func (s *Service) Preview(ctx context.Context, orgID string, req PreviewRequest) (Preview, error) {
	r, err := rules.Parse(req.Definition)
	if err != nil {
		return Preview{}, err
	}
	deps := r.Deps()
	if len(deps.Segments) > 0 {
		t, err := s.repo.load(ctx, orgID)
		if err != nil {
			return Preview{}, err
		}
		if _, err := s.check(t, "", req.Definition); err != nil {
			return Preview{}, err
		}
	}
	n, err := s.repo.contactCount(ctx, orgID)
	if err != nil {
		return Preview{}, err
	}
	if n > MaxPreviewContacts {
		return Preview{}, tooMany()
	}
	now := s.clock.Now().UTC()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the reader when we return early
	pages := s.readContacts(ctx, orgID)
	events, err := s.readEvents(ctx, orgID, deps.Counters, now)
	if err != nil {
		return Preview{}, err
	}
	out := Preview{Sample: []Contact{}}
	for p := range pages {
		if p.err != nil {
			return Preview{}, p.err
		}
		if out.Scanned+len(p.items) > MaxPreviewContacts {
			return Preview{}, tooMany()
		}
		member, err := s.evalPage(ctx, orgID, r, deps, events, p.items, now)
		if err != nil {
			return Preview{}, err
		}
		for i := range p.items {
			if !member[i] {
				continue
			}
			out.Count++
			if len(out.Sample) < PreviewSample {
				out.Sample = append(out.Sample, p.items[i].API())
			}
		}
		out.Scanned += len(p.items)
	}
	return out, nil
}

// contactPage is one page of a preview's walk, or the error that ended it.
type contactPage struct {
	items []contactItem
	err   error
}

// readContacts walks the tenant's contacts, newest first, a page ahead of
// their evaluation (so DynamoDB reads the next page while this one is
// evaluated), until the walk ends, fails or ctx is done.
func (s *Service) readContacts(ctx context.Context, orgID string) <-chan contactPage {
	pages := make(chan contactPage, 1)
	go func() {
		defer close(pages)
		var start map[string]string
		for {
			items, next, err := s.repo.contacts(ctx, orgID, previewPage, start)
			select {
			case pages <- contactPage{items, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || next == nil {
				return
			}
			start = next
		}
	}()
	return pages
}

func tooMany() error {
	return &errs.Unprocessable{Message: fmt.Sprintf("A preview evaluates at most %d contacts; this organisation has more. Save the segment instead: its build has no limit.", MaxPreviewContacts)}
}

// evalPage evaluates r for each contact of a page, reading the sends email
// conditions need previewParallel contacts at a time.
func (s *Service) evalPage(ctx context.Context, orgID string, r *rules.Rule, deps rules.Deps, events eventFacts, page []contactItem, now time.Time) ([]bool, error) {
	var memberships map[string]map[string]bool
	if len(deps.Segments) > 0 {
		keys := make([]store.Key, 0, len(page)*len(deps.Segments))
		for _, c := range page {
			for _, seg := range deps.Segments {
				keys = append(keys, store.ContactSegmentKey(orgID, c.ID, seg))
			}
		}
		var err error
		if memberships, err = s.repo.memberships(ctx, keys); err != nil {
			return nil, err
		}
	}
	member := make([]bool, len(page))
	failed := make([]error, len(page))
	eval := func(i int) {
		f, err := s.facts(ctx, orgID, deps, events, &page[i])
		if err != nil {
			failed[i] = err
			return
		}
		f.Segments = memberships[page[i].ID]
		member[i], _ = r.Eval(f, now)
	}
	if !deps.Email { // nothing to read per contact
		for i := range page {
			eval(i)
		}
		return member, nil
	}
	sem := make(chan struct{}, previewParallel)
	var wg sync.WaitGroup
	for i := range page {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			eval(i)
		})
	}
	wg.Wait()
	for _, err := range failed {
		if err != nil {
			return nil, err
		}
	}
	return member, nil
}

// eventFacts is what a preview knows of the tenant's events: for each
// contact, the times of its events each counter (rules.Counter.Key) matches,
// newest first.
type eventFacts map[string]map[string][]time.Time

// readEvents reads the tenant's events of each name the counters count, in
// every shard at once, and keeps for each contact the newest maxCounted of
// each name (as the worker's counters do).
func (s *Service) readEvents(ctx context.Context, orgID string, counters []rules.Counter, now time.Time) (eventFacts, error) {
	out := eventFacts{}
	if len(counters) == 0 {
		return out, nil
	}
	byName := map[string][]rules.Counter{}
	for _, ctr := range counters {
		byName[ctr.Event] = append(byName[ctr.Event], ctr)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		read   atomic.Int64
		wg     sync.WaitGroup
		failed = make(chan error, len(byName)*store.EventNameShards)
	)
	for name, ctrs := range byName {
		for shard := range store.EventNameShards {
			wg.Go(func() {
				// A shard holds whole contacts: its counts need no other shard's.
				seen := map[string]int{}
				found := eventFacts{}
				err := s.repo.eventsByName(ctx, orgID, name, shard, now.Add(-eventRetention), func(page []eventItem) error {
					if read.Add(int64(len(page))) > MaxPreviewEvents {
						return tooManyEvents()
					}
					for _, e := range page {
						if seen[e.ContactID]++; seen[e.ContactID] > maxCounted {
							continue
						}
						for _, ctr := range ctrs {
							if ctr.Matches(e.Properties) {
								c := found[e.ContactID]
								if c == nil {
									c = map[string][]time.Time{}
									found[e.ContactID] = c
								}
								c[ctr.Key] = append(c[ctr.Key], e.Timestamp)
							}
						}
					}
					return nil
				})
				if err != nil {
					failed <- err
					cancel()
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for id, keys := range found {
					if out[id] == nil {
						out[id] = keys
						continue
					}
					maps.Copy(out[id], keys)
				}
			})
		}
	}
	wg.Wait()
	close(failed)
	if err := <-failed; err != nil { // the first: the others are its cancellation
		return nil, err
	}
	return out, nil
}

func tooManyEvents() error {
	return &errs.Unprocessable{Message: fmt.Sprintf("A preview reads at most %d events; the events this definition counts are more. Save the segment instead: its build has no limit.", MaxPreviewEvents)}
}

// facts is what r needs to know of one contact beyond its item: the times
// of its matching events (from events), and its recent sends (read).
func (s *Service) facts(ctx context.Context, orgID string, deps rules.Deps, events eventFacts, c *contactItem) (rules.Facts, error) {
	f := rules.Facts{Contact: rules.Contact{ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName,
		Subscribed: c.Subscribed, CreatedAt: c.CreatedAt, Properties: c.Properties, Tags: c.Tags}}
	if len(deps.Counters) > 0 {
		f.Events = make(map[string][]time.Time, len(deps.Counters))
		for _, ctr := range deps.Counters {
			times := events[c.ID][ctr.Key]
			if times == nil {
				times = []time.Time{}
			}
			f.Events[ctr.Key] = times
		}
	}
	if deps.Email {
		sends, err := s.repo.sends(ctx, orgID, c.ID, recentSends)
		if err != nil {
			return rules.Facts{}, err
		}
		for _, sd := range sends {
			f.Sends = append(f.Sends, sd.rule())
		}
	}
	return f, nil
}

// rule is the send as email conditions see it: a send's status only moves
// forward, so a later status implies the earlier ones.
func (sd sendItem) rule() rules.Send {
	clicked := sd.Status == "clicked" || sd.Clicks > 0
	opened := clicked || sd.Status == "opened" || sd.Opens > 0
	delivered := opened || sd.Status == "delivered" || sd.Status == "complained"
	return rules.Send{TemplateID: sd.TemplateID, CreatedAt: sd.CreatedAt, At: sd.StatusAt,
		Delivered: delivered, Opened: opened, Clicked: clicked, Bounced: sd.Status == "bounced"}
}

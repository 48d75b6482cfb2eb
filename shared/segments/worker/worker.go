package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/segments/rules"
	"github.com/sendwell/sendwell/shared/store"
)

// SQSSender sends a message: the worker queues its own continuations
// (builds and purges that ran out of time) on the segment queue.
type SQSSender interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ SQSSender = (*sqs.Client)(nil)

// Worker handles the domain events queue and the segment queue.
type Worker struct {
	repo     repo
	clock    clock.Clock
	q        SQSSender
	queueURL string

	// reserved is the time kept back before the Lambda deadline to
	// checkpoint and queue a continuation; pagesPerMessage bounds the pages
	// of contacts (or members) one message works through before it queues
	// the rest, so one long build does not hold a worker.
	reserved        time.Duration
	pagesPerMessage int

	mu      sync.Mutex
	tenants map[string]*tenant // by org id, reloaded when its version changes
}

// newWorker is the worker over a store.
func newWorker(s *store.Store, clk clock.Clock, q SQSSender, queueURL string) *Worker {
	return &Worker{repo: repo{s}, clock: clk, q: q, queueURL: queueURL, reserved: 30 * time.Second,
		pagesPerMessage: 20, tenants: map[string]*tenant{}}
}

// message is any message of either queue: a domain event (Type set) or a
// segment job.
type message struct {
	domainEvent
	Job
}

// Handle processes a batch and reports the messages to retry. Once one
// fails, every later one is reported too: on the FIFO domain events queue
// that keeps a contact's changes in order.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	failed := false
	for _, m := range ev.Records {
		if !failed {
			if err := w.handle(ctx, m.Body); err != nil {
				slog.ErrorContext(ctx, "segments worker: message failed", "messageId", m.MessageId, "error", err.Error())
				failed = true
			}
		}
		if failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

func (w *Worker) handle(ctx context.Context, body string) error {
	var m message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		slog.WarnContext(ctx, "segments worker: unreadable message dropped", "error", err.Error())
		return nil
	}
	stopBy := w.stopBy(ctx)
	switch {
	case m.Build != nil:
		return w.runBuild(ctx, *m.Build, stopBy)
	case m.Purge != nil:
		return w.runPurge(ctx, *m.Purge, stopBy)
	case m.Evaluate != nil:
		t, err := w.tenant(ctx, m.Evaluate.OrgID)
		if err != nil {
			return err
		}
		return w.evaluateContact(ctx, m.Evaluate.OrgID, m.Evaluate.ContactID, t, t.all(), nil)
	case m.Type != "":
		return w.domainEvent(ctx, m.domainEvent)
	}
	slog.WarnContext(ctx, "segments worker: unknown message dropped")
	return nil
}

// stopBy is when a build or purge stops to leave w.reserved before the
// invocation's deadline, on the worker's clock (zero: no deadline).
func (w *Worker) stopBy(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	return w.clock.Now().Add(time.Until(d) - w.reserved)
}

func (w *Worker) pastStop(stopBy time.Time) bool {
	return !stopBy.IsZero() && !w.clock.Now().Before(stopBy)
}

// domainEvent re-evaluates the contact an event concerns, for the
// segments the event can affect.
func (w *Worker) domainEvent(ctx context.Context, ev domainEvent) error {
	decode := func(raw json.RawMessage, out any) bool {
		if err := json.Unmarshal(raw, out); err != nil {
			slog.WarnContext(ctx, "segments worker: unreadable domain event dropped", "type", ev.Type, "error", err.Error())
			return false
		}
		return true
	}
	var (
		contactID string
		pick      func(*tenant) []*segment
		counted   *eventData
	)
	switch {
	case ev.Type == evContactCreated || ev.Type == evContactUpdated:
		var cur contactData
		if !decode(ev.Data, &cur) {
			return nil
		}
		var old *contactData
		if ev.Type == evContactUpdated && len(ev.Previous) > 0 && string(ev.Previous) != "null" {
			old = &contactData{}
			if !decode(ev.Previous, old) {
				return nil
			}
		}
		contactID = cur.ID
		pick = func(t *tenant) []*segment { return t.forContactChange(old, &cur) }
	case ev.Type == evContactDeleted:
		var cur contactData
		if !decode(ev.Data, &cur) {
			return nil
		}
		return w.repo.removeContact(ctx, ev.OrgID, cur.ID)
	case ev.Type == evEventTracked:
		counted = &eventData{}
		if !decode(ev.Data, counted) {
			return nil
		}
		contactID = counted.ContactID
		pick = func(t *tenant) []*segment { return t.forEvent(counted.Name) }
	case ev.Type == evSegmentEntered || ev.Type == evSegmentExited:
		var ref refData
		if !decode(ev.Data, &ref) {
			return nil
		}
		contactID = ref.ContactID
		pick = func(t *tenant) []*segment { return t.forSegment(ref.SegmentID) }
	case strings.HasPrefix(ev.Type, evEmailPrefix):
		var ref refData
		if !decode(ev.Data, &ref) {
			return nil
		}
		contactID = ref.ContactID
		pick = func(t *tenant) []*segment { return t.forEmail() }
	default: // contact.unsubscribed comes with its contact.updated
		return nil
	}
	if contactID == "" || ev.OrgID == "" {
		return nil
	}
	t, err := w.tenant(ctx, ev.OrgID)
	if err != nil {
		return err
	}
	if counted != nil {
		if err := w.count(ctx, ev.OrgID, t, *counted); err != nil {
			return err
		}
	}
	segs := pick(t)
	if len(segs) == 0 {
		return nil
	}
	return w.evaluateContact(ctx, ev.OrgID, contactID, t, segs, nil)
}

// tenant is the tenant's definitions, read again when its version changed.
func (w *Worker) tenant(ctx context.Context, orgID string) (*tenant, error) {
	v, err := w.repo.segmentsVersion(ctx, orgID)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	t := w.tenants[orgID]
	w.mu.Unlock()
	if t != nil && t.version == v {
		return t, nil
	}
	items, err := w.repo.segments(ctx, orgID)
	if err != nil {
		return nil, err
	}
	t, problems := newTenant(v, items)
	for _, p := range problems {
		slog.ErrorContext(ctx, "segments worker: definition skipped", "orgId", orgID, "error", p.Error())
	}
	w.mu.Lock()
	w.tenants[orgID] = t
	w.mu.Unlock()
	return t, nil
}

// count records a tracked event in every counter of the tenant's rules it
// matches, pruning what falls out of the counter's bounds.
func (w *Worker) count(ctx context.Context, orgID string, t *tenant, e eventData) error {
	now := w.clock.Now()
	if e.ID == "" || e.Timestamp.Before(now.Add(-CounterRetention)) {
		return nil
	}
	for _, c := range t.counters[e.Name] {
		if !c.Matches(e.Properties) {
			continue
		}
		item, err := w.repo.addCounterEvent(ctx, orgID, e.ContactID, c.Key, e.ID, e.Timestamp)
		if err != nil {
			return err
		}
		if stale := prunable(item.Ev, now); len(stale) > 0 {
			if err := w.repo.pruneCounter(ctx, orgID, e.ContactID, c.Key, stale); err != nil {
				return err
			}
		}
	}
	return nil
}

// prunable is the entries of a counter older than CounterRetention, and
// those beyond the newest CounterMax.
func prunable(ev map[string]int64, now time.Time) []string {
	cutoff := now.Add(-CounterRetention).Unix()
	ids := slices.Collect(maps.Keys(ev))
	slices.SortFunc(ids, func(a, b string) int {
		if ev[a] != ev[b] {
			return int(ev[b] - ev[a]) // newest first
		}
		return strings.Compare(b, a)
	})
	var out []string
	for i, id := range ids {
		if i >= CounterMax || ev[id] < cutoff {
			out = append(out, id)
		}
	}
	return out
}

// evaluateContact brings a contact's memberships of segs up to date: it
// reads the contact (pre, when the caller has just read it), its state and
// memberships, the counters and sends the segments need, evaluates, and
// writes the changes in one transaction conditional on what it read. A
// conflict with a concurrent change reads everything again.
func (w *Worker) evaluateContact(ctx context.Context, orgID, contactID string, t *tenant, segs []*segment, pre *contactItem) error {
	for attempt := 1; ; attempt++ {
		c := pre
		pre = nil
		if c == nil {
			var err error
			if c, err = w.repo.contact(ctx, orgID, contactID); err != nil {
				return err
			}
		}
		if c == nil {
			return w.repo.removeContact(ctx, orgID, contactID)
		}
		err := w.evaluateOnce(ctx, orgID, c, t, segs)
		if err == nil || !errors.Is(err, errs.ErrConflict) || attempt >= MaxAttempts {
			return err
		}
	}
}

func (w *Worker) evaluateOnce(ctx context.Context, orgID string, c *contactItem, t *tenant, segs []*segment) error {
	state, members, err := w.repo.contactSegments(ctx, orgID, c.ID)
	if err != nil {
		return err
	}
	counters, err := w.repo.counters(ctx, orgID, c.ID, counterKeys(segs))
	if err != nil {
		return err
	}
	facts := rules.Facts{Contact: ruleContact(c), Events: counters}
	if needsSends(segs) {
		sends, err := w.repo.recentSends(ctx, orgID, c.ID)
		if err != nil {
			return err
		}
		facts.Sends = ruleSends(sends)
	}
	now := w.clock.Now()
	plan := planEvaluation(t, c.ID, segs, facts, members, state, now)
	if plan == nil {
		return nil
	}
	readRev := 0
	if state != nil {
		readRev = state.Rev
	}
	plan.state.Key = store.ContactSegStateKey(orgID, c.ID)
	plan.state.OrgID = orgID
	return w.repo.writeEvaluation(ctx, orgID, c, readRev, plan.state, plan.changes, now)
}

// plan is what an evaluation writes.
type plan struct {
	state   stateItem
	changes []change
}

// planEvaluation evaluates segs for a contact and says what to write: the
// membership changes and the new state; nil when nothing changes. It does
// no I/O (the benchmark measures it).
func planEvaluation(t *tenant, contactID string, segs []*segment, facts rules.Facts, members map[string]time.Time, state *stateItem, now time.Time) *plan {
	memberships := make(map[string]bool, len(members)+len(segs))
	for id := range members {
		memberships[id] = true
	}
	outs := evaluate(segs, facts, memberships, now)
	var old map[string]int64
	if state != nil {
		old = state.Nexts
	}
	nexts := make(map[string]int64, len(old))
	for id, n := range old {
		if t.segs[id] != nil { // a deleted segment's window no longer matters
			nexts[id] = n
		}
	}
	var changes []change
	for _, o := range outs {
		_, was := members[o.seg.ID]
		if o.member != was {
			changes = append(changes, change{segmentID: o.seg.ID, enter: o.member})
		}
		if o.next.IsZero() {
			delete(nexts, o.seg.ID)
		} else {
			nexts[o.seg.ID] = ceilSecond(o.next)
		}
	}
	st := stateItem{Type: StateType, ContactID: contactID, Nexts: nexts}
	if len(nexts) > 0 {
		earliest := int64(0)
		for _, n := range nexts {
			if earliest == 0 || n < earliest {
				earliest = n
			}
		}
		next := time.Unix(earliest, 0).UTC()
		st.Next = &next
	}
	st.setDue()
	// The scheduler moves the Due keys to a re-check mark when it queues
	// the evaluation: writing them afresh clears the mark.
	var oldPK, oldSK string
	if state != nil {
		oldPK, oldSK = state.DuePK, state.DueSK
	}
	if len(changes) == 0 && maps.Equal(nexts, old) && st.DuePK == oldPK && st.DueSK == oldSK {
		return nil
	}
	return &plan{state: st, changes: changes}
}

// ceilSecond is t's unix second, rounded up: an evaluation at that second
// already sees the window flipped.
func ceilSecond(t time.Time) int64 {
	s := t.Unix()
	if t.After(time.Unix(s, 0)) {
		s++
	}
	return s
}

// setDue sets (or clears) the state's Due-index keys from its Next.
func (s *stateItem) setDue() {
	s.DuePK, s.DueSK = "", ""
	if s.Next != nil {
		s.DuePK, s.DueSK = store.DuePK(*s.Next, store.DueShard(s.ContactID)), store.DueSK(*s.Next, s.ContactID)
	}
}

func ruleContact(c *contactItem) rules.Contact {
	return rules.Contact{ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Subscribed: c.Subscribed,
		CreatedAt: c.CreatedAt, Properties: c.Properties, Tags: c.Tags}
}

func ruleSends(items []sendItem) []rules.Send {
	out := make([]rules.Send, 0, len(items))
	for _, s := range items {
		clicked := s.Status == sendClicked || s.Clicks > 0
		opened := clicked || s.Status == sendOpened || s.Opens > 0
		delivered := opened || s.Status == sendDelivered || s.Status == sendComplained
		out = append(out, rules.Send{TemplateID: s.TemplateID, CreatedAt: s.CreatedAt, Delivered: delivered, Opened: opened,
			Clicked: clicked, Bounced: s.Status == sendBounced, At: s.StatusAt})
	}
	return out
}

// runBuild builds a segment from its checkpoint, and queues the rest when
// it stops before the end.
func (w *Worker) runBuild(ctx context.Context, ref SegmentRef, stopBy time.Time) error {
	done, err := w.build(ctx, ref, stopBy)
	if errors.Is(err, errStale) {
		slog.InfoContext(ctx, "segments worker: build superseded", "orgId", ref.OrgID, "segmentId", ref.SegmentID)
		return nil
	}
	if err != nil || done {
		return err
	}
	return w.requeue(ctx, Job{Build: &ref})
}

// build walks the tenant's contacts from the segment's checkpoint: for
// each, it fills the segment's counters from the contact's events, then
// evaluates the contact for every segment (the incremental path's
// evaluation), and checkpoints after each page. done is false when it
// stopped for time or after its pages, with the checkpoint saved.
func (w *Worker) build(ctx context.Context, ref SegmentRef, stopBy time.Time) (done bool, err error) {
	seg, err := w.repo.segment(ctx, ref.OrgID, ref.SegmentID)
	if err != nil || seg == nil || seg.Status != StatusBuilding {
		return true, err // gone or built: a repeated message
	}
	t, err := w.tenant(ctx, ref.OrgID)
	if err != nil {
		return false, err
	}
	def := t.segs[seg.ID]
	if def == nil || def.Version != seg.Version {
		// The definitions read predate this version (or do not parse): the
		// segment's item and the version are written together, so read again.
		w.mu.Lock()
		delete(w.tenants, ref.OrgID)
		w.mu.Unlock()
		if t, err = w.tenant(ctx, ref.OrgID); err != nil {
			return false, err
		}
		if def = t.segs[seg.ID]; def == nil {
			slog.ErrorContext(ctx, "segments worker: build of a definition that does not parse dropped", "orgId", ref.OrgID, "segmentId", seg.ID)
			return true, nil
		}
	}
	total := seg.Total
	if total == 0 {
		if total, err = w.repo.contactCount(ctx, ref.OrgID); err != nil {
			return false, err
		}
	}
	byEvent := map[string][]rules.Counter{}
	for _, c := range def.Deps.Counters {
		byEvent[c.Event] = append(byEvent[c.Event], c)
	}
	cursor, processed := seg.Cursor, seg.Processed
	for page := 1; ; page++ {
		contacts, more, err := w.repo.contactsPage(ctx, ref.OrgID, cursor, BuildPage)
		if err != nil {
			return false, err
		}
		for i := range contacts {
			c := &contacts[i]
			if err := w.backfill(ctx, ref.OrgID, c.ID, byEvent); err != nil {
				return false, err
			}
			if err := w.evaluateContact(ctx, ref.OrgID, c.ID, t, t.all(), c); err != nil {
				return false, err
			}
			processed++
			cursor = c.ID
			if i < len(contacts)-1 && w.pastStop(stopBy) {
				// Out of time mid-page: keep what is done, whatever the
				// store's pace, and let the next message go on from here.
				total = max(total, processed)
				return false, w.repo.checkpoint(ctx, ref.OrgID, seg.ID, seg.Definition, cursor, processed, total)
			}
		}
		total = max(total, processed)
		if !more {
			size, err := w.repo.memberCount(ctx, ref.OrgID, seg.ID)
			if err != nil {
				return false, err
			}
			return true, w.repo.finish(ctx, ref.OrgID, seg.ID, seg.Definition, processed, size)
		}
		if err := w.repo.checkpoint(ctx, ref.OrgID, seg.ID, seg.Definition, cursor, processed, total); err != nil {
			return false, err
		}
		if page >= w.pagesPerMessage || w.pastStop(stopBy) {
			return false, nil
		}
	}
}

// backfill fills a contact's counters from its events of the last
// CounterRetention (one Query per event name).
func (w *Worker) backfill(ctx context.Context, orgID, contactID string, byEvent map[string][]rules.Counter) error {
	since := w.clock.Now().Add(-CounterRetention)
	for name, counters := range byEvent {
		evs, err := w.repo.eventsOf(ctx, orgID, contactID, name, since)
		if err != nil {
			return err
		}
		for _, c := range counters {
			matched := map[string]int64{}
			for _, e := range evs {
				if !e.Timestamp.Before(since) && c.Matches(e.Properties) {
					matched[e.ID] = e.Timestamp.Unix()
				}
			}
			if stale := prunable(matched, w.clock.Now()); len(stale) > 0 {
				for _, id := range stale {
					delete(matched, id)
				}
			}
			if err := w.repo.mergeCounter(ctx, orgID, contactID, c.Key, matched); err != nil {
				return err
			}
		}
	}
	return nil
}

// runPurge deletes a deleted segment's members a page at a time, and
// queues the rest when it stops before the end.
func (w *Worker) runPurge(ctx context.Context, ref SegmentRef, stopBy time.Time) error {
	for page := 1; ; page++ {
		more, err := w.repo.purgePage(ctx, ref.OrgID, ref.SegmentID, BuildPage)
		if err != nil || !more {
			return err
		}
		if page >= w.pagesPerMessage || w.pastStop(stopBy) {
			return w.requeue(ctx, Job{Purge: &ref})
		}
	}
}

// requeue queues a job on the segment queue; if that fails, the message
// being handled fails and comes back from the queue.
func (w *Worker) requeue(ctx context.Context, job Job) error {
	body, err := json.Marshal(job)
	if err != nil {
		return err
	}
	_, err = w.q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &w.queueURL, MessageBody: aws.String(string(body))})
	return err
}

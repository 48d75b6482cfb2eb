package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/validate"
)

// Answers the API gives for what the tenant does not have.
var (
	errNotFound           = errs.NewNotFound("No sequence with this id exists in the organisation.")
	errEnrollmentNotFound = errs.NewNotFound("No enrollment with this id exists in the organisation.")
	errContactNotFound    = errs.NewNotFound("Contact not found.")
	errBusy               = errs.NewConflict("The sequence was changed by a concurrent request; retry.")
)

// writeAttempts is how often a write reads the sequence again and retries
// when a concurrent write of it came first.
const writeAttempts = 3

// generationPrefix prefixes a sequence's generation ids.
const generationPrefix = "gen"

// ExitDeleted is the reason of the enrollments a forced delete exits.
const ExitDeleted = "the sequence was deleted"

// ExitByAPI is the reason of an enrollment exited by DELETE /api/enrollments/{id}.
const ExitByAPI = "exited through the API"

// Service manages a tenant's sequences and their enrollments.
type Service struct {
	repo     repo
	store    *store.Store
	clock    clock.Clock
	enroller *journey.Enroller
}

// NewService returns the sequences service over the table.
func NewService(st *store.Store, clk clock.Clock) *Service {
	return &Service{repo: repo{st}, store: st, clock: clk, enroller: &journey.Enroller{Store: st, Clock: clk}}
}

// validID reports whether id is a sequence id (the template id rule).
func validID(id string) bool { return validate.TemplateID(id) }

func badID() error {
	return errs.Invalid("id", "The 'id' in the path must be 1 to %d lower-case letters, digits, '_' and '-', starting with a letter or digit, such as welcome-series.", MaxIDLen)
}

// Put creates (created true) or changes sequence id. A document whose
// canonical form is the current version's changes nothing and writes
// nothing; another makes the next version, in one transaction with the
// sequence (conditional on its revision) and, while it is active, its
// trigger. "migrate": true moves the enrollments of earlier versions to the
// new one at their next step.
func (s *Service) Put(ctx context.Context, orgID, id string, raw json.RawMessage) (Sequence, bool, error) {
	if !validID(id) {
		return Sequence{}, false, badID()
	}
	doc, err := canonicalise(raw)
	if err != nil {
		return Sequence{}, false, err
	}
	def, err := sequence.Parse(doc.canonical)
	if err != nil {
		return Sequence{}, false, err
	}
	checked := false
	for range writeAttempts {
		old, err := s.repo.sequence(ctx, orgID, id, true)
		if err != nil && !errors.Is(err, errs.ErrNotFound) {
			return Sequence{}, false, err
		}
		if old != nil && old.Hash == doc.hash {
			return sequenceAPI(old, false), false, nil
		}
		if !checked {
			if err := s.checkRefs(ctx, orgID, def); err != nil {
				return Sequence{}, false, err
			}
			checked = true
		}
		now := s.clock.Now().UTC()
		next := &journey.Sequence{Key: store.SequenceKey(orgID, id), Type: journey.SequenceType, OrgID: orgID, ID: id,
			Status: journey.Draft, Generation: ids.New(generationPrefix, now), Version: 1, CreatedAt: now, Rev: 1}
		oldRev := 0
		if old != nil {
			cp := *old
			next, oldRev = &cp, old.Rev
			next.Version, next.Rev = old.Version+1, old.Rev+1
		}
		next.Name, next.CampaignID, next.Definition, next.Hash, next.UpdatedAt = def.Name, def.CampaignID, string(doc.canonical), doc.hash, now
		ver := &journey.Version{Key: store.SequenceVersionKey(orgID, id, next.Version), Type: journey.VersionType, OrgID: orgID,
			SequenceID: id, N: next.Version, Definition: next.Definition, Hash: doc.hash, CreatedAt: now}
		if doc.migrate && old != nil {
			next.MigrateFrom, ver.Migrate = next.Version, true
		}
		var trg *journey.Trigger
		if next.Status == journey.Active {
			trg = triggerItem(next, def)
		}
		err = s.repo.write(ctx, next, oldRev, ver, trg, false)
		if errors.Is(err, errs.ErrConflict) {
			continue
		}
		if err != nil {
			return Sequence{}, false, err
		}
		return sequenceAPI(next, false), old == nil, nil
	}
	return Sequence{}, false, errBusy
}

// triggerItem is the trigger item of an active sequence at its current version.
func triggerItem(seq *journey.Sequence, def *sequence.Definition) *journey.Trigger {
	return &journey.Trigger{Key: store.SequenceTriggerKey(seq.OrgID, seq.ID), Type: journey.TriggerType, OrgID: seq.OrgID,
		SequenceID: seq.ID, Version: seq.Version, Generation: seq.Generation, Kind: string(def.Trigger.Kind),
		Event: def.Trigger.Event, Segment: def.Trigger.Segment}
}

// ref is a reference of a document to an item the tenant must have.
type ref struct {
	key        store.Key
	path, what string
}

// checkRefs checks that the campaign, the templates (and versions) and the
// segments a definition names exist: a 422 names the first missing one's
// path. One BatchGetItem.
func (s *Service) checkRefs(ctx context.Context, orgID string, def *sequence.Definition) error {
	var refs []ref
	if def.CampaignID != "" {
		refs = append(refs, ref{store.CampaignKey(orgID, def.CampaignID), "campaignId", "campaign '" + def.CampaignID + "'"})
	}
	if def.Trigger.Segment != "" {
		path := "trigger." + string(def.Trigger.Kind)
		refs = append(refs, ref{store.SegmentKey(orgID, def.Trigger.Segment), path, "segment '" + def.Trigger.Segment + "'"})
	}
	for i := range def.Steps {
		st := &def.Steps[i]
		switch {
		case st.Send != nil:
			path := fmt.Sprintf("steps[%d].templateId", i)
			refs = append(refs, ref{store.TemplateKey(orgID, st.Send.TemplateID), path, "template '" + st.Send.TemplateID + "'"})
			if st.Send.Version > 0 {
				refs = append(refs, ref{store.TemplateVersionKey(orgID, st.Send.TemplateID, st.Send.Version), fmt.Sprintf("steps[%d].version", i),
					fmt.Sprintf("version %d of template '%s'", st.Send.Version, st.Send.TemplateID)})
			}
		case st.Branch != nil:
			for _, seg := range st.Branch.If.Deps().Segments {
				refs = append(refs, ref{store.SegmentKey(orgID, seg), fmt.Sprintf("steps[%d].if", i), "segment '" + seg + "'"})
			}
		}
	}
	if def.ExitWhen != nil && def.ExitWhen.Condition != nil {
		for _, seg := range def.ExitWhen.Condition.Deps().Segments {
			refs = append(refs, ref{store.SegmentKey(orgID, seg), "exitWhen.condition", "segment '" + seg + "'"})
		}
	}
	keys := make([]store.Key, len(refs))
	for i, r := range refs {
		keys[i] = r.key
	}
	found, err := s.repo.existing(ctx, keys)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if !found[r.key] {
			return &errs.Unprocessable{Message: fmt.Sprintf("The '%s' field names %s, which this organisation does not have.", r.path, r.what)}
		}
	}
	return nil
}

// get reads a sequence of the tenant; errNotFound when it has none.
func (s *Service) get(ctx context.Context, orgID, id string, consistent bool) (*journey.Sequence, error) {
	if !validID(id) {
		return nil, errNotFound
	}
	seq, err := s.repo.sequence(ctx, orgID, id, consistent)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errNotFound
	}
	return seq, err
}

// Get reads a sequence with its stats: 1 GetItem, 1 Query of its counter
// shards and one Query per send counter shard of its steps' sends.
func (s *Service) Get(ctx context.Context, orgID, id string) (Sequence, error) {
	seq, err := s.get(ctx, orgID, id, false)
	if err != nil {
		return Sequence{}, err
	}
	out := sequenceAPI(seq, false)
	if out.Stats, err = s.stats(ctx, seq); err != nil {
		return Sequence{}, err
	}
	return out, nil
}

// stats sums a sequence's counters, with a zero entry for every step of the
// current version and the send counters of each step's sends.
func (s *Service) stats(ctx context.Context, seq *journey.Sequence) (*Stats, error) {
	c, err := journey.SequenceCounters(ctx, s.store, seq.OrgID, seq.ID)
	if err != nil {
		return nil, err
	}
	sources, err := journey.SourceCounters(ctx, s.store, seq.OrgID, journey.SequenceSourcePrefix(seq.ID))
	if err != nil {
		return nil, err
	}
	st := &Stats{Enrolled: c[journey.StatEnrolled], Active: c[journey.StatActive], Completed: c[journey.StatCompleted],
		Exited: c[journey.StatExited], Failed: c[journey.StatFailed], Steps: map[string]journey.Counters{}}
	step := func(id string) journey.Counters {
		if st.Steps[id] == nil {
			st.Steps[id] = journey.Counters{journey.StepEntered: 0, journey.StepSent: 0, journey.StepSkipped: 0, journey.StepFailed: 0}
		}
		return st.Steps[id]
	}
	if def, err := sequence.Parse(json.RawMessage(seq.Definition)); err == nil {
		for i := range def.Steps {
			step(def.Steps[i].ID)
		}
	}
	for k, v := range c {
		rest, ok := strings.CutPrefix(k, "s:")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 {
			continue
		}
		step(rest[:i])[rest[i+1:]] += v
	}
	prefix := journey.SequenceSourcePrefix(seq.ID)
	for src, counts := range sources {
		id, ok := strings.CutPrefix(src, prefix)
		if !ok || id == "" {
			continue
		}
		sc := step(id)
		for k, v := range counts {
			switch k {
			case journey.StepSent:
				// The step's own count of the sends it made, when the
				// worker keeps one; else the sends' ledger's.
				if sc[journey.StepSent] == 0 {
					sc[k] = v
				}
			case journey.StepFailed:
				sc[SendFailed] += v // the step's own "failed" is the enrollments it failed
			case journey.StepEntered, journey.StepSkipped:
			default:
				sc[k] += v
			}
		}
	}
	return st, nil
}

// SendFailed is the per-step stat of the step's sends that failed (the
// sends' "failed" counter, renamed: a step's "failed" counts the
// enrollments that failed at it).
const SendFailed = "sendFailed"

// List reads one page of the tenant's sequences (summaries: no steps, no
// stats), in id order.
func (s *Service) List(ctx context.Context, orgID, status, campaignID string, limit int, start map[string]string) ([]Sequence, map[string]string, error) {
	items, next, err := s.repo.list(ctx, orgID, status, campaignID, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Sequence, len(items))
	for i := range items {
		out[i] = sequenceAPI(&items[i], true)
	}
	return out, next, nil
}

// Versions reads one page of a sequence's versions, newest first.
func (s *Service) Versions(ctx context.Context, orgID, id string, limit int, start map[string]string) ([]Version, map[string]string, error) {
	seq, err := s.get(ctx, orgID, id, false)
	if err != nil {
		return nil, nil, err
	}
	items, next, err := s.repo.versions(ctx, orgID, id, seq.Version, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Version, len(items))
	for i, v := range items {
		out[i] = Version{Version: v.N, CreatedAt: v.CreatedAt, Migrate: v.Migrate, Definition: json.RawMessage(v.Definition)}
	}
	return out, next, nil
}

// Status actions.
const (
	ActionActivate = "activate"
	ActionPause    = "pause"
	ActionArchive  = "archive"
)

// targetOf is the status an action leads to.
var targetOf = map[string]string{ActionActivate: journey.Active, ActionPause: journey.Paused, ActionArchive: journey.Archived}

// refusal says why an action cannot move a sequence from status ("" when it can).
func refusal(action, status string) string {
	switch action {
	case ActionActivate:
		if status == journey.Archived {
			return "The sequence is archived: an archived sequence cannot be activated again; PUT it under a new id instead."
		}
	case ActionPause:
		switch status {
		case journey.Draft:
			return "The sequence is a draft: only an active sequence can be paused."
		case journey.Archived:
			return "The sequence is archived: only an active sequence can be paused."
		}
	}
	return ""
}

// Transition applies a status action: activate (draft or paused → active),
// pause (active → paused), archive (any → archived). The status and the
// trigger item (written on activate, deleted otherwise) change in one
// transaction conditional on the sequence's revision. An action that
// leaves the status as it is writes nothing.
func (s *Service) Transition(ctx context.Context, orgID, id, action string) (Sequence, error) {
	target := targetOf[action]
	for range writeAttempts {
		seq, err := s.get(ctx, orgID, id, true)
		if err != nil {
			return Sequence{}, err
		}
		if seq.Status == target {
			return sequenceAPI(seq, false), nil
		}
		if msg := refusal(action, seq.Status); msg != "" {
			return Sequence{}, errs.NewConflict(msg)
		}
		next := *seq
		next.Status, next.UpdatedAt, next.Rev = target, s.clock.Now().UTC(), seq.Rev+1
		var trg *journey.Trigger
		if target == journey.Active {
			def, err := sequence.Parse(json.RawMessage(seq.Definition))
			if err != nil {
				return Sequence{}, fmt.Errorf("automation: stored definition of %s: %w", id, err)
			}
			trg = triggerItem(&next, def)
		}
		err = s.repo.write(ctx, &next, seq.Rev, nil, trg, trg == nil)
		if errors.Is(err, errs.ErrConflict) {
			continue
		}
		if err != nil {
			return Sequence{}, err
		}
		return sequenceAPI(&next, false), nil
	}
	return Sequence{}, errBusy
}

// exitPage is how many active enrollments a forced delete reads at a time.
const exitPage = 100

// Delete deletes a sequence, its trigger, its versions and its counters.
// While it has active enrollments it is a 409 unless force, which first
// archives it (nothing enrols any more) and then exits each of them.
// Finished enrollments are kept: they are the record of what was sent.
func (s *Service) Delete(ctx context.Context, orgID, id string, force bool) error {
	seq, err := s.get(ctx, orgID, id, true)
	if err != nil {
		return err
	}
	active, err := s.repo.hasActive(ctx, orgID, id)
	if err != nil {
		return err
	}
	if active {
		if !force {
			return errs.NewConflict("The sequence has active enrollments; pause or archive it and wait for them to finish, or delete it with ?force=true to exit them.")
		}
		if _, err := s.Transition(ctx, orgID, id, ActionArchive); err != nil {
			return err
		}
		if err := s.exitAll(ctx, orgID, id); err != nil {
			return err
		}
	}
	if err := s.repo.purge(ctx, orgID, id); err != nil {
		return err
	}
	for range writeAttempts {
		if seq, err = s.get(ctx, orgID, id, true); err != nil {
			return err
		}
		err = s.repo.remove(ctx, seq)
		if !errors.Is(err, errs.ErrConflict) {
			return err
		}
	}
	return errBusy
}

// exitAll exits every active enrollment of a sequence, page by page.
func (s *Service) exitAll(ctx context.Context, orgID, id string) error {
	var start map[string]string
	types := stepTypes{}
	for {
		page, next, err := s.repo.enrollments(ctx, sequenceEnrollments(orgID, id, journey.EnrActive), "", exitPage, start)
		if err != nil {
			return err
		}
		for i := range page {
			err := s.exit(ctx, &page[i], ExitDeleted, types)
			if err != nil && !errors.Is(err, errFinished) {
				return err
			}
		}
		if next == nil {
			return nil
		}
		start = next
	}
}

// errFinished is an exit of an enrollment that has already finished.
var errFinished = errors.New("automation: the enrollment has finished")

// exit takes an active enrollment out of its sequence with a reason, as
// its next step (journey.Advance: the enrollment and its counters in one
// conditional write). When a step of the worker comes first, it reads the
// enrollment again and tries once more; errFinished when it has finished.
func (s *Service) exit(ctx context.Context, enr *journey.Enrollment, reason string, types stepTypes) error {
	for attempt := 1; ; attempt++ {
		if enr.Status != journey.EnrActive {
			return errFinished
		}
		tr := journey.Transition{Record: journey.StepRecord{Step: enr.Step, Type: s.stepType(ctx, enr, types), Result: journey.ResultExited, Reason: reason},
			Status: journey.EnrExited, Reason: reason}
		err := journey.Advance(ctx, s.store, enr, tr, s.clock.Now().UTC())
		if !errors.Is(err, journey.ErrMoved) {
			return err
		}
		if attempt >= writeAttempts {
			slog.InfoContext(ctx, "automation: exit lost to concurrent steps", "enrollment", enr.ID)
			return errs.NewConflict("The enrollment is taking a step right now; retry.")
		}
		fresh, err := s.repo.enrollment(ctx, enr.OrgID, enr.ID, true)
		if err != nil {
			return err
		}
		*enr = *fresh
	}
}

// stepTypes caches, by version, the type of each step of a sequence.
type stepTypes map[int]map[string]string

// stepType is the type of the step an enrollment is at, as the worker
// records it when a step exits the contact; "exit" when its version can no
// longer be read.
func (s *Service) stepType(ctx context.Context, enr *journey.Enrollment, types stepTypes) string {
	steps, ok := types[enr.Version]
	if !ok {
		steps = map[string]string{}
		v, err := s.repo.version(ctx, enr.OrgID, enr.SequenceID, enr.Version)
		if err == nil {
			if def, err := sequence.Parse(json.RawMessage(v.Definition)); err == nil {
				for i := range def.Steps {
					steps[def.Steps[i].ID] = string(def.Steps[i].Type)
				}
			}
		}
		types[enr.Version] = steps
	}
	if t := steps[enr.Step]; t != "" {
		return t
	}
	return string(sequence.StepExit)
}

package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/sendwell/sendwell/shared/automation/engine"
	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/sends"
)

// Reasons the worker ends enrollments with.
const (
	ReasonSequenceDeleted = "the sequence was deleted"
	ReasonContactDeleted  = "the contact was deleted"
)

// runStep runs step number job.Seq of an enrollment; wokeByEvent says the
// wait it is in ends because its event arrived.
func (w *Worker) runStep(ctx context.Context, job journey.StepJob, wokeByEvent bool) error {
	enr, err := w.enrollment(ctx, job.OrgID, job.EnrollmentID)
	if err != nil || enr == nil || enr.Seq != job.Seq || enr.Status != journey.EnrActive {
		return err // gone, or the step was taken: a copy, or the other end of a wait
	}
	return w.step(ctx, enr, wokeByEvent)
}

// step runs the enrollment's next step, as read (strongly consistent).
func (w *Worker) step(ctx context.Context, enr *journey.Enrollment, wokeByEvent bool) error {
	now := w.clock.Now().UTC()
	if !wokeByEvent && enr.WakeAt != nil && now.Before(*enr.WakeAt) {
		return nil // a wait never ends early: its Due entry brings it back
	}
	seq, err := w.sequence(ctx, enr.OrgID, enr.SequenceID)
	if err != nil {
		return err
	}
	switch {
	case seq == nil || seq.Generation != enr.Generation:
		return w.finish(ctx, enr, engine.Exit(&sequence.Step{ID: enr.Step}, ReasonSequenceDeleted), now)
	case seq.Status == journey.Paused:
		if enr.Held || wokeByEvent {
			// An event that comes while its sequence is paused does not end
			// the wait (a hold before the wait's end would leave it with no
			// Due entry): the timeout still does, and is held then.
			return nil
		}
		return w.hold(ctx, enr)
	case !wokeByEvent && seq.MigrateFrom > enr.Version && seq.Version > enr.Version:
		// A wait its event ends finishes on the version it began on; the
		// step after it migrates.
		return w.migrate(ctx, enr, seq, now)
	}
	def, err := w.definition(ctx, enr.OrgID, enr.SequenceID, enr.Version)
	if err != nil {
		return err
	}
	if def == nil {
		d := engine.Fail(enr.Step, "", fmt.Sprintf("version %d of the sequence cannot be read", enr.Version))
		return w.finish(ctx, enr, d, now)
	}
	facts, tz, err := engine.LoadFactsFor(ctx, w.st, enr.OrgID, enr.ContactID, engine.StepConditions(def, enr.Step))
	if errors.Is(err, errs.ErrNotFound) {
		step, _ := def.Step(enr.Step)
		return w.finish(ctx, enr, engine.Exit(step, ReasonContactDeleted), now)
	}
	if err != nil {
		return err
	}
	d := engine.Decide(engine.Input{Def: def, Facts: facts, Timezone: tz, Now: now,
		Pos: engine.Position{Step: enr.Step, WakeAt: enr.WakeAt, WaitEvent: enr.WaitEvent, WokeByEvent: wokeByEvent}})
	if d.NotDue {
		return nil
	}
	if err := w.effect(ctx, enr, def, &d); err != nil {
		return err
	}
	return w.finish(ctx, enr, d, now)
}

// effect makes the step's effect and completes the decision with its
// outcome. An error is one to retry (throttling, a quota, AWS).
func (w *Worker) effect(ctx context.Context, enr *journey.Enrollment, def *sequence.Definition, d *engine.Decision) error {
	switch {
	case d.Send != nil:
		return w.send(ctx, enr, d)
	case d.Update != nil:
		err := w.contacts.Update(ctx, enr.OrgID, enr.ContactID, d.Update)
		var v *errs.Validation
		switch {
		case errors.Is(err, errs.ErrNotFound):
			step, _ := def.Step(enr.Step)
			entered := d.Entered
			*d = engine.Exit(step, ReasonContactDeleted)
			d.Entered = entered
		case errors.As(err, &v):
			d.Failed("the update cannot be made: " + v.Message)
		case err != nil:
			return err
		}
	}
	return nil
}

// send makes a send step's send, under an id derived from the enrollment
// and the step's number, so a retried step finds the send it made.
func (w *Worker) send(ctx context.Context, enr *journey.Enrollment, d *engine.Decision) error {
	s := d.Send
	req, err := sendRequest(enr, s)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		d.Failed("the send step cannot be sent: " + err.Error())
		return nil
	}
	ctx, err = w.withPlan(ctx, enr.OrgID)
	if err != nil {
		return err
	}
	id := messages.SendID(enr.EnrolledAt, enr.ID+"#"+strconv.Itoa(enr.Seq))
	out, _, err := w.sender.SendAs(ctx, enr.OrgID, id, journey.StepSource(enr.SequenceID, enr.Step), req)
	var (
		unp *errs.Unprocessable
		inv *errs.Validation
	)
	switch {
	case err == nil:
		d.Sent(out.ID)
	case errors.As(err, &unp):
		d.Skipped(unp.Message)
	case errors.Is(err, errs.ErrNotFound):
		msg, _ := errs.PublicMessage(err)
		if msg == "" {
			msg = err.Error()
		}
		d.Failed(fmt.Sprintf("template %s: %s", s.TemplateID, msg))
	case errors.As(err, &inv):
		d.Failed("the send step cannot be sent: " + inv.Message)
	default:
		return err
	}
	return nil
}

// sendRequest is a send step's request: marketing mail to the contact, with
// the enrollment's data under the step's (the step's keys win).
func sendRequest(enr *journey.Enrollment, s *sequence.Send) (messages.SendRequest, error) {
	to, _ := json.Marshal(map[string]string{"contactId": enr.ContactID})
	kind := sends.Marketing
	tid := s.TemplateID
	req := messages.SendRequest{To: to, TemplateID: &tid, Type: &kind}
	if s.Version > 0 {
		v := s.Version
		req.Version = &v
	}
	if s.From != "" {
		from := s.From
		req.From = &from
	}
	data, err := mergeData(enr.Data, s.Data)
	req.Data = data
	return req, err
}

// mergeData is the enrollment's data object overlaid with the step's.
func mergeData(enrollment string, step json.RawMessage) (json.RawMessage, error) {
	if enrollment == "" {
		return step, nil
	}
	if len(step) == 0 {
		return json.RawMessage(enrollment), nil
	}
	var a, b map[string]any
	if err := json.Unmarshal([]byte(enrollment), &a); err != nil {
		return nil, fmt.Errorf("the enrollment's data is not a JSON object: %w", err)
	}
	if err := json.Unmarshal(step, &b); err != nil {
		return nil, fmt.Errorf("the step's data is not a JSON object: %w", err)
	}
	if a == nil {
		a = map[string]any{}
	}
	maps.Copy(a, b)
	return json.Marshal(a)
}

// finish writes the step (one journey.Advance) and queues the next one when
// it is due within MaxDelay.
func (w *Worker) finish(ctx context.Context, enr *journey.Enrollment, d engine.Decision, now time.Time) error {
	tr := transition(d, now)
	if err := journey.Advance(ctx, w.st, enr, tr, now); errors.Is(err, journey.ErrMoved) {
		return nil
	} else if err != nil {
		return err
	}
	if enr.Status != journey.EnrActive || !tr.Queued {
		return nil
	}
	job := journey.StepJob{OrgID: enr.OrgID, EnrollmentID: enr.ID, Seq: enr.Seq}
	if err := w.queueStep(ctx, job, tr.Due.Sub(now)); err != nil {
		// The step is written: a retry of this message would find it
		// taken. The Due entry's re-check queues the next step instead.
		slog.ErrorContext(ctx, "sequence worker: next step not queued; the scheduler's re-check will", "orgId", enr.OrgID,
			"enrollmentId", enr.ID, "seq", enr.Seq, "error", err.Error())
	}
	return nil
}

// transition is the decision as a journey.Transition with its counters.
// A step due within MaxDelay is queued by the worker (Queued: its Due
// entry is only a re-check); a later one is the scheduler's.
func transition(d engine.Decision, now time.Time) journey.Transition {
	tr := journey.Transition{Record: d.Record, Status: d.Status, Reason: d.Reason, Step: d.Next,
		WakeAt: d.WakeAt, WaitEvent: d.WaitEvent, Counters: map[string]int{}}
	if tr.Status == journey.EnrActive {
		tr.Due = d.Due
		tr.Queued = !d.Due.After(now.Add(MaxDelay))
	}
	step := d.Record.Step
	if d.Entered && step != "" {
		tr.Counters[journey.StepCounter(step, journey.StepEntered)]++
	}
	switch d.Record.Result {
	case journey.ResultSent:
		tr.Counters[journey.StepCounter(step, journey.StepSent)]++
	case journey.ResultSkipped:
		tr.Counters[journey.StepCounter(step, journey.StepSkipped)]++
	case journey.ResultFailed:
		if step != "" {
			tr.Counters[journey.StepCounter(step, journey.StepFailed)]++
		}
	}
	return tr
}

// migrate moves an enrollment to its sequence's current version at the
// step with the same id (result "migrated"; a wait keeps its end), or
// exits it when that version has no such step. The step runs next.
func (w *Worker) migrate(ctx context.Context, enr *journey.Enrollment, seq *journey.Sequence, now time.Time) error {
	def, err := w.definition(ctx, enr.OrgID, enr.SequenceID, seq.Version)
	if err != nil {
		return err
	}
	var step *sequence.Step
	if def != nil {
		step, _ = def.Step(enr.Step)
	}
	if step == nil {
		reason := fmt.Sprintf("step %s is not in version %d", enr.Step, seq.Version)
		d := engine.Exit(&sequence.Step{ID: enr.Step}, reason)
		return w.finish(ctx, enr, d, now)
	}
	tr := journey.Transition{
		Record: journey.StepRecord{Step: step.ID, Type: string(step.Type), Result: journey.ResultMigrated, Version: seq.Version,
			Reason: fmt.Sprintf("moved from version %d to version %d", enr.Version, seq.Version)},
		Status: journey.EnrActive, Step: step.ID, Version: seq.Version, Due: now, Queued: true,
		WakeAt: enr.WakeAt, WaitEvent: enr.WaitEvent,
	}
	if err := journey.Advance(ctx, w.st, enr, tr, now); errors.Is(err, journey.ErrMoved) {
		return nil
	} else if err != nil {
		return err
	}
	if err := w.queueStep(ctx, journey.StepJob{OrgID: enr.OrgID, EnrollmentID: enr.ID, Seq: enr.Seq}, 0); err != nil {
		slog.ErrorContext(ctx, "sequence worker: next step not queued; the scheduler's re-check will", "orgId", enr.OrgID,
			"enrollmentId", enr.ID, "seq", enr.Seq, "error", err.Error())
	}
	return nil
}

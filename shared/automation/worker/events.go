package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/sendwell/sendwell/shared/automation/engine"
	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
)

// Domain event types the worker acts on (shared/changes names them; not
// imported, so the worker does not link the changes function).
const (
	evContactCreated = "contact.created"
	evEventTracked   = "event.tracked"
	evSegmentEntered = "segment.entered"
	evSegmentExited  = "segment.exited"
)

// trackedData is the data of event.tracked (a tracking.Event).
type trackedData struct {
	ID         string         `json:"id"`
	ContactID  string         `json:"contactId"`
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties"`
}

// refData is the data of contact.created (a contact: its id) and of
// segment.* (a membership).
type refData struct {
	ID        string `json:"id"`
	ContactID string `json:"contactId"`
	SegmentID string `json:"segmentId"`
}

// trigger is what a domain event can enrol in.
type trigger struct {
	contactID string
	kind      sequence.TriggerKind
	name      string // the event's name, or the segment's id
	props     map[string]any
	label     string // journey.Enrollment.Trigger
	data      string
}

// domainEvent enrols the contact in the sequences the event triggers; a
// tracked event first wakes and exits the contact's enrollments.
func (w *Worker) domainEvent(ctx context.Context, m message) error {
	if m.OrgID == "" || m.ID == "" {
		return nil
	}
	var t trigger
	switch m.Type {
	case evContactCreated:
		var r refData
		if !decode(ctx, m, &r) {
			return nil
		}
		t = trigger{contactID: r.ID, kind: sequence.TriggerContactCreated, label: string(sequence.TriggerContactCreated)}
	case evSegmentEntered, evSegmentExited:
		var r refData
		if !decode(ctx, m, &r) {
			return nil
		}
		kind := sequence.TriggerSegmentEntered
		if m.Type == evSegmentExited {
			kind = sequence.TriggerSegmentExited
		}
		t = trigger{contactID: r.ContactID, kind: kind, name: r.SegmentID, label: string(kind) + ":" + r.SegmentID}
	case evEventTracked:
		var e trackedData
		if !decode(ctx, m, &e) {
			return nil
		}
		data := ""
		if len(e.Properties) > 0 {
			b, err := json.Marshal(e.Properties)
			if err != nil {
				return err
			}
			data = string(b)
		}
		t = trigger{contactID: e.ContactID, kind: sequence.TriggerEvent, name: e.Name, props: e.Properties,
			label: "event:" + e.Name, data: data}
		if t.contactID != "" {
			if err := w.onTracked(ctx, m.OrgID, e, m.OccurredAt); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	if t.contactID == "" {
		return nil
	}
	return w.enrol(ctx, m, t)
}

func decode(ctx context.Context, m message, out any) bool {
	if err := json.Unmarshal(m.Data, out); err != nil {
		slog.WarnContext(ctx, "sequence worker: unreadable domain event dropped", "type", m.Type, "error", err.Error())
		return false
	}
	return true
}

// enrol enrols the contact in every active sequence whose trigger matches,
// and queues each new enrollment's first step. Every sequence is tried;
// the first error is returned (a retry enrols each once: the enrollment's
// id derives from the domain event's).
func (w *Worker) enrol(ctx context.Context, m message, t trigger) error {
	trgs, err := w.triggers(ctx, m.OrgID)
	if err != nil {
		return err
	}
	var first error
	for _, trg := range trgs {
		if sequence.TriggerKind(trg.Kind) != t.kind || (t.kind == sequence.TriggerEvent && trg.Event != t.name) ||
			((t.kind == sequence.TriggerSegmentEntered || t.kind == sequence.TriggerSegmentExited) && trg.Segment != t.name) {
			continue
		}
		if err := w.enrolIn(ctx, m, t, trg); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (w *Worker) enrolIn(ctx context.Context, m message, t trigger, trg journey.Trigger) error {
	def, err := w.definition(ctx, trg.OrgID, trg.SequenceID, trg.Version)
	if err != nil || def == nil {
		return err
	}
	if t.kind == sequence.TriggerEvent && !def.Trigger.Matches(t.name, t.props) {
		return nil
	}
	seq := &journey.Sequence{OrgID: m.OrgID, ID: trg.SequenceID, Generation: trg.Generation, Version: trg.Version, Status: journey.Active}
	enr, existed, err := w.enroller.Enroll(ctx, journey.EnrollRequest{Sequence: seq, Reentry: def.Reentry, Entry: def.Entry().ID,
		ContactID: t.contactID, Trigger: t.label, Data: t.data, Key: m.ID, At: m.OccurredAt})
	var ne *journey.NotEnrolled
	if errors.As(err, &ne) {
		slog.InfoContext(ctx, "sequence worker: not enrolled", "orgId", m.OrgID, "sequenceId", trg.SequenceID,
			"contactId", t.contactID, "reason", ne.Reason)
		return nil
	}
	if err != nil {
		return err
	}
	if existed && (enr.Seq != 0 || enr.Status != journey.EnrActive) {
		return nil // a redelivered event whose enrollment is under way
	}
	return w.queueStep(ctx, journey.StepJob{OrgID: enr.OrgID, EnrollmentID: enr.ID, Seq: 0}, 0)
}

// onTracked exits the contact's enrollments whose sequence's exitWhen
// names the event, and wakes those waiting for it: only enrollments (and
// waits) that began before the event. Each is a step conditional on the
// enrollment's Seq, so the event and a wait's timeout end it once.
func (w *Worker) onTracked(ctx context.Context, orgID string, e trackedData, at time.Time) error {
	enrs, err := w.activeEnrollments(ctx, orgID, e.ContactID)
	if err != nil {
		return err
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for i := range enrs {
		enr := &enrs[i]
		def, err := w.definition(ctx, orgID, enr.SequenceID, enr.Version)
		if err != nil {
			keep(err)
			continue
		}
		switch {
		case def != nil && def.ExitWhen != nil && def.ExitWhen.Event == e.Name && enr.EnrolledAt.Before(at):
			keep(w.exitOnEvent(ctx, orgID, enr.ID, e.Name))
		case enr.WaitEvent == e.Name:
			keep(w.wake(ctx, orgID, enr.ID, e.Name, at))
		}
	}
	return first
}

// wake ends the enrollment's wait for event, read again (the index's copy
// may lag), if the wait began before the event arrived at.
func (w *Worker) wake(ctx context.Context, orgID, id, event string, at time.Time) error {
	enr, err := w.enrollment(ctx, orgID, id)
	if err != nil || enr == nil || enr.Status != journey.EnrActive || enr.WaitEvent != event || !waitStart(enr).Before(at) {
		return err
	}
	return w.step(ctx, enr, true)
}

// waitStart is when the enrollment's running wait began (its "waiting" record).
func waitStart(enr *journey.Enrollment) time.Time {
	if n := len(enr.History); n > 0 && enr.History[n-1].Result == journey.ResultWaiting {
		return enr.History[n-1].At
	}
	return enr.UpdatedAt
}

// exitOnEvent exits an active enrollment at its current step, read again
// until the exit is written or it is no longer active.
func (w *Worker) exitOnEvent(ctx context.Context, orgID, id, event string) error {
	for range 3 {
		enr, err := w.enrollment(ctx, orgID, id)
		if err != nil || enr == nil || enr.Status != journey.EnrActive {
			return err
		}
		var step *sequence.Step
		if def, err := w.definition(ctx, orgID, enr.SequenceID, enr.Version); err != nil {
			return err
		} else if def != nil {
			step, _ = def.Step(enr.Step)
		}
		if step == nil {
			step = &sequence.Step{ID: enr.Step}
		}
		now := w.clock.Now().UTC()
		d := engine.Exit(step, engine.ExitEventReason(event))
		err = journey.Advance(ctx, w.st, enr, transition(d, now), now)
		if !errors.Is(err, journey.ErrMoved) {
			return err
		}
	}
	return nil
}

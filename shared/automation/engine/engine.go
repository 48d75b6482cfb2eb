// Package engine is the meaning of a sequence's steps, written once for the
// sequence worker and the dry run so the two cannot disagree: given a
// definition, where an enrollment stands (its next step, the wait it may be
// in), the contact's facts, its time zone and the time, Decide says what the
// step does: its record, the step after it and when that is due, the wait
// that begins, or the exit, completion or failure. Simulate runs Decide on
// a virtual clock (the dry run). It does no I/O but LoadFacts (and
// LoadFactsFor), which read what conditions need of a stored contact.
//
// The semantics, in short:
//   - exitWhen's condition is tested before every step: a contact meeting
//     it exits (result "exited"), the step is not taken. exitWhen's event
//     is the runner's: it exits the contact when the event arrives.
//   - A wait takes two steps: its start (result "waiting", WakeAt and the
//     event an until-wait waits for) and its end (result "woke", Branch
//     "event" or "timeout"), never before WakeAt unless its event came.
//     A duration goes on to Next; an until-wait to Next when woken by its
//     event and to Until.TimeoutNext at the timeout.
//   - A send outside the send window is deferred to the window's next
//     opening (result "deferred", WakeAt the opening), in the window's zone:
//     "contact" is the contact's timezone property when it names an IANA
//     zone, else UTC. Whether a send was made or skipped is the send's own
//     answer: Decide says which template to send.
//   - A step without a next completes the journey; an exit step exits it.
package engine

import (
	"encoding/json"
	"time"

	_ "time/tzdata" // zones work on Lambda's provided.al2023, which has no zoneinfo

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/segments/rules"
)

// Wake reasons of a running wait.
const (
	WokeByEvent   = "event"
	WokeByTimeout = "timeout"
)

// Position is where an enrollment stands when its next step is due.
type Position struct {
	Step string // the step to run
	// WakeAt is set while a wait runs (or a send waits for its window):
	// the step does nothing before it.
	WakeAt    *time.Time
	WaitEvent string
	// WokeByEvent says the wait's event arrived (the wait ends now, early).
	WokeByEvent bool
}

// Input is what a step is decided from.
type Input struct {
	Def      *sequence.Definition
	Pos      Position
	Facts    rules.Facts
	Timezone string // the contact's timezone property ("" when none)
	Now      time.Time
}

// Decision is what a step does. Record carries the step id, type and, but
// for a send, its result; a send's result (sent, skipped, failed) is the
// runner's, which then calls Sent, Skipped or Failed.
type Decision struct {
	// NotDue: the position's wait runs until WakeAt; nothing happens now.
	NotDue bool
	Record journey.StepRecord
	// Status is the enrollment's status after the step (journey.Enr…),
	// Reason why it exited or failed.
	Status, Reason string
	// Next is the step to run next ("" once finished) and Due when.
	Next string
	Due  time.Time
	// WakeAt and WaitEvent while a wait runs (or a send is deferred).
	WakeAt    *time.Time
	WaitEvent string
	// Entered says the step is entered now (the first of its records).
	Entered bool

	// The step's effect, for the runner: a send to make, an update to the
	// contact, a webhook's data (a JSON object).
	Send    *sequence.Send
	Update  *sequence.Update
	Webhook json.RawMessage
}

// Reasons of exits the engine decides.
const (
	ReasonExitCondition = "the contact met the sequence's exitWhen condition"
	ReasonExitStep      = "the journey reached an exit step"
)

// Decide decides the step at in.Pos.
func Decide(in Input) Decision {
	step, ok := in.Def.Step(in.Pos.Step)
	if !ok {
		return Fail(in.Pos.Step, "", "step "+in.Pos.Step+" is not in the sequence's definition")
	}
	if in.Pos.WakeAt != nil && !in.Pos.WokeByEvent && in.Now.Before(*in.Pos.WakeAt) {
		return Decision{NotDue: true, Next: step.ID, Due: *in.Pos.WakeAt, WakeAt: in.Pos.WakeAt, WaitEvent: in.Pos.WaitEvent}
	}
	if ew := in.Def.ExitWhen; ew != nil && ew.Condition != nil {
		if met, _ := ew.Condition.Eval(in.Facts, in.Now); met {
			return Exit(step, ReasonExitCondition)
		}
	}
	d := Decision{Record: journey.StepRecord{Step: step.ID, Type: string(step.Type)}, Entered: in.Pos.WakeAt == nil}
	switch step.Type {
	case sequence.StepSend:
		if opening, ok := deferral(in.Def.SendWindow, in.Timezone, in.Now); ok {
			d.Record.Result, d.Record.WakeAt = journey.ResultDeferred, &opening
			d.stay(step.ID, opening, "")
			return d
		}
		d.Send = step.Send
		d.goTo(step.Next, in.Now)
	case sequence.StepWait:
		decideWait(&d, step, in)
	case sequence.StepBranch:
		d.Record.Result, d.Record.Branch = journey.ResultBranch, "else"
		next := step.Branch.Else
		if ok, _ := step.Branch.If.Eval(in.Facts, in.Now); ok {
			d.Record.Branch, next = "then", step.Branch.Then
		}
		d.goTo(next, in.Now)
	case sequence.StepUpdate:
		d.Record.Result, d.Update = journey.ResultUpdated, step.Update
		d.goTo(step.Next, in.Now)
	case sequence.StepWebhook:
		d.Record.Result, d.Webhook = journey.ResultWebhook, step.Webhook.Data
		if len(d.Webhook) == 0 {
			d.Webhook = json.RawMessage("{}")
		}
		d.Record.Data = string(d.Webhook)
		d.goTo(step.Next, in.Now)
	case sequence.StepExit:
		ex := Exit(step, ReasonExitStep)
		ex.Entered = d.Entered
		return ex
	default:
		return Fail(step.ID, string(step.Type), "step "+step.ID+" has an unknown type")
	}
	return d
}

// decideWait starts a wait, or ends one that is due.
func decideWait(d *Decision, step *sequence.Step, in Input) {
	w := step.Wait
	if in.Pos.WakeAt == nil {
		wake, event := in.Now.Add(w.Duration), ""
		if w.Until != nil {
			wake, event = in.Now.Add(w.Until.Timeout), w.Until.Event
		}
		d.Record.Result, d.Record.WakeAt = journey.ResultWaiting, &wake
		d.stay(step.ID, wake, event)
		return
	}
	d.Record.Result = journey.ResultWoke
	next := step.Next
	switch {
	case in.Pos.WokeByEvent:
		d.Record.Branch = WokeByEvent
	default:
		d.Record.Branch = WokeByTimeout
		if w.Until != nil {
			next = w.Until.TimeoutNext
		}
	}
	d.goTo(next, in.Now)
}

// stay keeps the enrollment at step until wake (a wait, or a deferred send).
func (d *Decision) stay(step string, wake time.Time, event string) {
	d.Status, d.Next, d.Due, d.WakeAt, d.WaitEvent = journey.EnrActive, step, wake, &wake, event
	d.Record.Next = step
}

// goTo moves on to next now, or completes the journey when next is "".
func (d *Decision) goTo(next string, now time.Time) {
	d.Record.Next = next
	if next == "" {
		d.Status = journey.EnrCompleted
		return
	}
	d.Status, d.Next, d.Due = journey.EnrActive, next, now
}

// Sent is a send step's decision once the send was made.
func (d *Decision) Sent(sendID string) {
	d.Record.Result, d.Record.SendID = journey.ResultSent, sendID
}

// Skipped is a send step's decision once the send was refused for the
// contact (suppressed, unsubscribed): the journey goes on.
func (d *Decision) Skipped(reason string) {
	d.Record.Result, d.Record.Reason = journey.ResultSkipped, reason
}

// Failed turns a step's decision into the enrollment's failure.
func (d *Decision) Failed(reason string) {
	*d = Decision{Record: journey.StepRecord{Step: d.Record.Step, Type: d.Record.Type, Result: journey.ResultFailed, Reason: reason},
		Status: journey.EnrFailed, Reason: reason, Entered: d.Entered}
}

// Exit is the decision that takes the contact out of the sequence at step
// (nil when the step is unknown) with reason.
func Exit(step *sequence.Step, reason string) Decision {
	rec := journey.StepRecord{Result: journey.ResultExited, Reason: reason}
	if step != nil {
		rec.Step, rec.Type = step.ID, string(step.Type)
	}
	return Decision{Record: rec, Status: journey.EnrExited, Reason: reason}
}

// Fail is the decision that fails the enrollment at a step with reason.
func Fail(stepID, stepType, reason string) Decision {
	return Decision{Record: journey.StepRecord{Step: stepID, Type: stepType, Result: journey.ResultFailed, Reason: reason},
		Status: journey.EnrFailed, Reason: reason}
}

// ExitEventReason is why a contact that tracked exitWhen's event leaves.
func ExitEventReason(event string) string {
	return "the contact tracked '" + event + "', the sequence's exitWhen event"
}

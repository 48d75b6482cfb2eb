package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/segments/rules"
)

// SimEvent is an event the dry run's contact tracks at At.
type SimEvent struct {
	Name       string
	At         time.Time
	Properties map[string]any
}

// SimStep is one step of a dry run's path.
type SimStep struct {
	StepID     string     `json:"stepId"`
	Type       string     `json:"type"`
	At         time.Time  `json:"at"`
	Result     string     `json:"result"` // a journey.Result… value
	Branch     string     `json:"branch,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	TemplateID string     `json:"templateId,omitempty"`
	WakeAt     *time.Time `json:"wakeAt,omitempty"`
	Next       string     `json:"next,omitempty"`
}

// Path is where a dry run's contact goes: its steps and how it ends.
type Path struct {
	Steps []SimStep `json:"steps"`
	// Outcome is completed, exited or failed; OutcomeActive when the dry
	// run stopped at its bounds (Reason says which) with the contact still
	// in the sequence.
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	EndedAt time.Time `json:"endedAt"`
}

// OutcomeActive is a dry run that stopped at its bounds.
const OutcomeActive = "active"

// Bounds of a dry run: a journey that loops (a wait looping on itself)
// stops after this many steps or this much virtual time.
const (
	MaxSimSteps = 1000
	MaxSimSpan  = 2 * 365 * 24 * time.Hour
)

// Simulate runs def for a contact with facts from start on a virtual clock,
// with events arriving at their times, and returns its path. timezone is
// the contact's timezone property ("" when none). Nothing is read or written.
//
// It runs Decide as the worker does, step after step: a wait ends at its
// WakeAt, or at the first of its events that arrives after the wait began
// and before the timeout; exitWhen's event takes the contact out when it
// arrives; an event counts, from its time, in every counter of the
// definition's conditions whose where clause it matches. Sends are assumed
// made (result "sent"). Events at or before start are history: they count,
// but end no wait and exit no one.
func Simulate(def *sequence.Definition, facts rules.Facts, timezone string, events []SimEvent, start time.Time) (Path, error) {
	if def == nil || len(def.Steps) == 0 {
		return Path{}, errors.New("engine: simulate needs a definition")
	}
	s := newSim(def, facts, events)
	pos := Position{Step: def.Entry().ID}
	now := start
	path := Path{Steps: []SimStep{}}
	end := func(outcome, reason string, at time.Time) (Path, error) {
		path.Outcome, path.Reason, path.EndedAt = outcome, reason, at
		return path, nil
	}
	for len(path.Steps) < MaxSimSteps {
		if now.Sub(start) > MaxSimSpan {
			return end(OutcomeActive, fmt.Sprintf("the dry run stops after %d days of the journey", int(MaxSimSpan.Hours()/24)), now)
		}
		d := Decide(Input{Def: def, Pos: pos, Facts: s.factsAt(now), Timezone: timezone, Now: now})
		if d.NotDue {
			// A running wait (or a send waiting for its window): the first
			// of its event, exitWhen's event and its end comes next.
			exit, exits := s.exitEvent(now, d.Due)
			woke, wakes := s.waitEvent(pos.WaitEvent, now, d.Due)
			switch {
			case exits && (!wakes || !woke.At.Before(exit.At)):
				step, _ := def.Step(pos.Step)
				x := Exit(step, ExitEventReason(exit.Name))
				path.Steps = append(path.Steps, simStep(x, exit.At))
				return end(journey.EnrExited, x.Reason, exit.At)
			case wakes:
				now, pos.WokeByEvent = woke.At, true
			default:
				now = d.Due
			}
			continue
		}
		if d.Send != nil {
			d.Sent("")
		}
		step := simStep(d, now)
		if d.Send != nil {
			step.TemplateID = d.Send.TemplateID
		}
		path.Steps = append(path.Steps, step)
		if d.Status != journey.EnrActive {
			return end(d.Status, d.Reason, now)
		}
		// The next step is due now, or at the end of the wait just begun.
		pos = Position{Step: d.Next, WakeAt: d.WakeAt, WaitEvent: d.WaitEvent}
	}
	return end(OutcomeActive, fmt.Sprintf("the dry run stops after %d steps", MaxSimSteps), now)
}

// sim is a dry run's virtual world: the contact's facts and its events.
type sim struct {
	base    rules.Facts
	events  []SimEvent // by time
	counted [][]string // per event, the counter keys it matches
	exitOn  string     // exitWhen's event ("" when none)
}

func newSim(def *sequence.Definition, facts rules.Facts, events []SimEvent) *sim {
	evs := slices.Clone(events)
	slices.SortStableFunc(evs, func(a, b SimEvent) int { return a.At.Compare(b.At) })
	counters := Counters(def)
	s := &sim{base: facts, events: evs, counted: make([][]string, len(evs))}
	if def.ExitWhen != nil {
		s.exitOn = def.ExitWhen.Event
	}
	for i, e := range evs {
		for _, c := range counters {
			if c.Event == e.Name && c.Matches(e.Properties) {
				s.counted[i] = append(s.counted[i], c.Key)
			}
		}
	}
	return s
}

// factsAt is the contact's facts at now: its own, and the events arrived by then.
func (s *sim) factsAt(now time.Time) rules.Facts {
	f := s.base
	f.Events = make(map[string][]time.Time, len(s.base.Events))
	for k, v := range s.base.Events {
		f.Events[k] = slices.Clone(v)
	}
	for i, e := range s.events {
		if e.At.After(now) {
			break
		}
		for _, k := range s.counted[i] {
			f.Events[k] = append(f.Events[k], e.At)
		}
	}
	if f.Segments != nil {
		f.Segments = maps.Clone(f.Segments)
	}
	return f
}

// exitEvent is exitWhen's event when it arrives after from and by until.
func (s *sim) exitEvent(from, until time.Time) (SimEvent, bool) {
	if s.exitOn == "" {
		return SimEvent{}, false
	}
	return s.firstEvent(s.exitOn, from, until, true)
}

// waitEvent is the first event called name after the wait began (from)
// and before its end; none when name is "".
func (s *sim) waitEvent(name string, from, wake time.Time) (SimEvent, bool) {
	if name == "" {
		return SimEvent{}, false
	}
	return s.firstEvent(name, from, wake, false)
}

// firstEvent is the first event called name in (from, until), or
// (from, until] when inclusive.
func (s *sim) firstEvent(name string, from, until time.Time, inclusive bool) (SimEvent, bool) {
	for _, e := range s.events {
		if e.Name != name || !e.At.After(from) {
			continue
		}
		if e.At.Before(until) || inclusive && e.At.Equal(until) {
			return e, true
		}
		return SimEvent{}, false
	}
	return SimEvent{}, false
}

func simStep(d Decision, at time.Time) SimStep {
	r := d.Record
	return SimStep{StepID: r.Step, Type: r.Type, At: at, Result: r.Result, Branch: r.Branch, Reason: r.Reason,
		WakeAt: r.WakeAt, Next: r.Next}
}

// Counters are the distinct event counters of the definition's conditions
// (branches' ifs and exitWhen's condition).
func Counters(def *sequence.Definition) []rules.Counter { return counters(Conditions(def)) }

func counters(conds []*rules.Rule) []rules.Counter {
	var out []rules.Counter
	seen := map[string]bool{}
	for _, r := range conds {
		for _, c := range r.Deps().Counters {
			if !seen[c.Key] {
				seen[c.Key] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// Conditions are the definition's condition trees: its branches' ifs and
// exitWhen's condition.
func Conditions(def *sequence.Definition) []*rules.Rule {
	var out []*rules.Rule
	for i := range def.Steps {
		if b := def.Steps[i].Branch; b != nil && b.If != nil {
			out = append(out, b.If)
		}
	}
	if def.ExitWhen != nil && def.ExitWhen.Condition != nil {
		out = append(out, def.ExitWhen.Condition)
	}
	return out
}

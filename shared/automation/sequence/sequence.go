// Package sequence is the drip sequence definition language: the JSON
// document of PUT /api/sequences/{id} ({name, campaignId?, trigger, steps,
// exitWhen?, reentry?, sendWindow?}), parsed and validated once into a
// Definition the runner walks. It is pure Go: no store, no HTTP.
//
// Every error Parse returns is an *errs.Validation (a 400) whose Field is the
// path in the document, such as "steps[2].next" or "trigger.event". Condition
// trees (a branch's "if", exitWhen's "condition") and an event trigger's
// "where" are the segments' language, compiled by rules.Parse; their error
// paths are re-rooted under the document's path ("steps[3].if.all[0].operator").
//
// Choices worth knowing:
//   - A step's "next" is optional; without it the journey completes after
//     the step. An "exit" step has no "next" and ends the journey at once.
//   - A wait is either {"duration": d} or {"until": {"event", "timeout"},
//     "next"?, "timeoutNext"?}: "next" is taken when the event arrives,
//     "timeoutNext" when the timeout passes first; each, absent, ends the
//     journey. The timeout is required: no contact waits forever.
//   - Graph rules: every target names a step; every step is reachable from
//     the first; a cycle must pass through a wait step (a wait may loop on
//     itself, no other step may).
//   - Durations are ISO 8601 in days, hours, minutes and seconds (P2D,
//     PT12H, P1DT2H30M); years, months and weeks are refused. Waits, wait
//     timeouts and reentry's "after" run from PT1M to P365D.
//   - An explicit null is the same as an absent field.
package sequence

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/segments/rules"
)

// Limits of a definition.
const (
	MaxBytes     = 256 << 10 // the document as JSON
	MaxNameLen   = 200       // characters of the name
	MaxSteps     = 100
	MaxStepIDLen = 64
	MaxDataBytes = 32 << 10 // a send's or a webhook's data, as JSON
	MinWait      = time.Minute
	MaxWait      = 365 * 24 * time.Hour
	MaxSet       = 100 // properties an update sets or unsets
	MaxTags      = 50  // tags an update adds or removes
	MaxTagLen    = 64
	MaxFromLen   = 320
)

// Definition is a parsed, validated sequence. Treat it as read-only.
type Definition struct {
	Name       string
	CampaignID string // "" when none
	Trigger    Trigger
	// Steps in the document's order; Steps[0] is the entry.
	Steps      []Step
	ExitWhen   *ExitWhen   // nil when none
	Reentry    Reentry     // "never" when the document has none
	SendWindow *SendWindow // nil when none: send at any time

	index map[string]int
}

// TriggerKind says what enrols a contact.
type TriggerKind string

// Trigger kinds.
const (
	TriggerEvent          TriggerKind = "event"
	TriggerContactCreated TriggerKind = "contactCreated"
	TriggerSegmentEntered TriggerKind = "segmentEntered"
	TriggerSegmentExited  TriggerKind = "segmentExited"
	TriggerManual         TriggerKind = "manual"
)

// Trigger is what enrols a contact in the sequence.
type Trigger struct {
	Kind    TriggerKind
	Event   string // TriggerEvent: the event's name
	Segment string // TriggerSegmentEntered / TriggerSegmentExited: seg_…
	// Where is TriggerEvent's filter over the event's properties (nil: every
	// such event enrols). Where.Key is the segments' counter key of
	// (Event, where), Where.Matches tests an event's properties.
	Where *rules.Counter
}

// Matches reports whether an event enrols: its name is the trigger's event
// and its properties satisfy the where clause. False for other kinds.
func (t *Trigger) Matches(event string, props map[string]any) bool {
	if t.Kind != TriggerEvent || event != t.Event {
		return false
	}
	return t.Where == nil || t.Where.Matches(props)
}

// StepType is what a step does.
type StepType string

// Step types.
const (
	StepSend    StepType = "send"
	StepWait    StepType = "wait"
	StepBranch  StepType = "branch"
	StepUpdate  StepType = "update"
	StepWebhook StepType = "webhook"
	StepExit    StepType = "exit"
)

// Step is one step; exactly the field of its Type (Send, Wait, …) is set
// (none for an exit).
type Step struct {
	ID   string
	Type StepType
	// Next is the step after this one ("" ends the journey). For a wait
	// until an event, it is the step taken when the event arrives.
	Next string

	Send    *Send
	Wait    *Wait
	Branch  *Branch
	Update  *Update
	Webhook *Webhook
}

// Send sends a template to the contact.
type Send struct {
	TemplateID string
	Version    int             // 0: the template's published version
	From       string          // "" : the template's sender
	Data       json.RawMessage // a JSON object, nil when none
}

// Wait pauses the journey for Duration, or until an event.
type Wait struct {
	Duration time.Duration // 0 when Until is set
	Until    *Until
}

// Until waits for an event for at most Timeout; the journey goes on to the
// step's Next when the event arrives, to TimeoutNext when the timeout passes
// first ("" for either: the journey ends).
type Until struct {
	Event       string
	Timeout     time.Duration
	TimeoutNext string
}

// Branch goes to Then when If holds for the contact, else to Else.
type Branch struct {
	If         *rules.Rule
	Then, Else string
}

// Update changes the contact.
type Update struct {
	Set                 map[string]any // property → string, number, boolean, null or a list of those
	Unset               []string
	AddTags, RemoveTags []string
}

// Webhook emits a webhook event with Data (a JSON object, nil when none).
type Webhook struct {
	Data json.RawMessage
}

// Targets returns the steps this step can go to, with the field naming each,
// in a fixed order; "" targets (the journey ends) are left out.
func (s *Step) Targets() []Target {
	var out []Target
	add := func(field, id string) {
		if id != "" {
			out = append(out, Target{field, id})
		}
	}
	switch {
	case s.Branch != nil:
		add("then", s.Branch.Then)
		add("else", s.Branch.Else)
	default:
		add("next", s.Next)
		if s.Wait != nil && s.Wait.Until != nil {
			add("timeoutNext", s.Wait.Until.TimeoutNext)
		}
	}
	return out
}

// Target is an edge of the graph: Field of a step names step ID.
type Target struct {
	Field, ID string
}

// ExitWhen takes a contact out of the sequence when Condition starts to hold
// or when it tracks Event; exactly one is set.
type ExitWhen struct {
	Condition *rules.Rule
	Event     string
}

// ReentryMode says whether a contact who finished (or left) may enrol again.
type ReentryMode string

// Reentry modes.
const (
	ReentryNever  ReentryMode = "never"
	ReentryAlways ReentryMode = "always"
	ReentryAfter  ReentryMode = "after" // After its previous enrolment began
)

// Reentry is the reentry policy.
type Reentry struct {
	Mode  ReentryMode
	After time.Duration // ReentryAfter only
}

// SendWindow restricts sends to some days and hours: a send due outside it
// waits for its next opening.
type SendWindow struct {
	Days []time.Weekday // distinct, in the order Monday … Sunday
	// From and To are minutes after midnight, From < To: sends go out in
	// [From, To) local time.
	From, To int
	// Timezone is "contact" (the contact's own zone, read by the runner) or
	// an IANA zone name; Location is that zone, nil for "contact".
	Timezone string
	Location *time.Location
}

// Allows reports whether the window is open on a weekday at a minute after
// midnight, both in the window's zone.
func (w *SendWindow) Allows(day time.Weekday, minute int) bool {
	for _, d := range w.Days {
		if d == day {
			return minute >= w.From && minute < w.To
		}
	}
	return false
}

// Step returns the step with this id.
func (d *Definition) Step(id string) (*Step, bool) {
	i, ok := d.index[id]
	if !ok {
		return nil, false
	}
	return &d.Steps[i], true
}

// Entry returns the first step, where every journey begins.
func (d *Definition) Entry() *Step { return &d.Steps[0] }

// Parse validates a sequence document and compiles it. Every error is an
// *errs.Validation naming the path in the document.
func Parse(raw json.RawMessage) (*Definition, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, errs.Invalid("body", "The request body must be a sequence definition (a JSON object).")
	}
	if len(trimmed) > MaxBytes {
		return nil, errs.Invalid("body", "The sequence definition must be at most %d KB as JSON.", MaxBytes>>10)
	}
	if !json.Valid(trimmed) {
		return nil, errs.Invalid("body", "The request body must be valid JSON.")
	}
	m, err := object(trimmed, "body")
	if err != nil {
		return nil, err
	}
	if err := checkKeys(m, "", "a sequence", "name", "campaignId", "trigger", "steps", "exitWhen", "reentry", "sendWindow"); err != nil {
		return nil, err
	}
	d := &Definition{Reentry: Reentry{Mode: ReentryNever}}
	if d.Name, err = parseName(m["name"]); err != nil {
		return nil, err
	}
	if raw, ok := m["campaignId"]; ok {
		if d.CampaignID, err = parseCampaign(raw); err != nil {
			return nil, err
		}
	}
	if d.Trigger, err = parseTrigger(m["trigger"]); err != nil {
		return nil, err
	}
	if err := d.parseSteps(m["steps"]); err != nil {
		return nil, err
	}
	if err := d.checkGraph(); err != nil {
		return nil, err
	}
	if raw, ok := m["exitWhen"]; ok {
		if d.ExitWhen, err = parseExitWhen(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := m["reentry"]; ok {
		if d.Reentry, err = parseReentry(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := m["sendWindow"]; ok {
		if d.SendWindow, err = parseSendWindow(raw); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// condition compiles a segment-style condition tree at path, re-rooting the
// paths of rules' errors ("definition…") under path.
func condition(raw json.RawMessage, path string) (*rules.Rule, error) {
	r, err := rules.Parse(raw)
	if err != nil {
		return nil, reroot(err, path)
	}
	return r, nil
}

// reroot moves a rules error from its "definition" root to path, in its
// Field and in the paths its Message quotes.
func reroot(err error, path string) error {
	var v *errs.Validation
	if !errors.As(err, &v) {
		return err
	}
	field := path + strings.TrimPrefix(v.Field, "definition")
	msg := strings.ReplaceAll(v.Message, "'definition", "'"+path)
	return &errs.Validation{Field: field, Message: msg}
}

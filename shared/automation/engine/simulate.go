package engine

import (
	"errors"
	"time"

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
	Steps   []SimStep `json:"steps"`
	Outcome string    `json:"outcome"` // completed | exited | failed
	Reason  string    `json:"reason,omitempty"`
	EndedAt time.Time `json:"endedAt"`
}

// Simulate runs def for a contact with facts from start on a virtual clock,
// with events arriving at their times, and returns its path. timezone is
// the contact's timezone property ("" when none). Nothing is read or written.
func Simulate(def *sequence.Definition, facts rules.Facts, timezone string, events []SimEvent, start time.Time) (Path, error) {
	return Path{}, errors.New("engine: Simulate is not written yet")
}

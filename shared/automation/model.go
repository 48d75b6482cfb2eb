// Package automation is the automation group's sequences and enrollments
// API: PUT /api/sequences/{id} (a versioned JSON document, idempotent),
// its status transitions, the manual trigger, the enrollments (runs) of a
// sequence and of a contact, and the dry run. Its stored items are
// journey's; the steps run in the sequence worker. Campaigns and
// broadcasts are served by the campaigns package, mounted with it.
package automation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/sendwell/sendwell/shared/automation/engine"
	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/errs"
)

// Limits of the API.
const (
	// MaxBulkTrigger is the most contacts one trigger call enrols.
	MaxBulkTrigger = 100
	// MaxTriggerData is the largest data object a manual trigger carries, as JSON.
	MaxTriggerData = 32 << 10
	// MaxSimEvents is the most events a dry run takes.
	MaxSimEvents = 100
	// MaxIDLen is the longest sequence id (the template id rule).
	MaxIDLen = 64
)

// Sequence is a sequence as the API shows it: its current version's
// document (canonical JSON, its fields at the top level), its status, and
// on GET one its stats.
type Sequence struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	CampaignID string          `json:"campaignId,omitempty"`
	Status     string          `json:"status"`
	Version    int             `json:"version"`
	Trigger    json.RawMessage `json:"trigger"`
	Steps      json.RawMessage `json:"steps,omitempty"`
	ExitWhen   json.RawMessage `json:"exitWhen,omitempty"`
	Reentry    json.RawMessage `json:"reentry,omitempty"`
	SendWindow json.RawMessage `json:"sendWindow,omitempty"`
	CreatedAt  time.Time       `json:"createdAt"`
	UpdatedAt  time.Time       `json:"updatedAt"`
	Stats      *Stats          `json:"stats,omitempty"`
}

// Stats are a sequence's counters: its enrollments by outcome and, per
// step id, what the step did and the send counters of its sends.
type Stats struct {
	Enrolled  int                         `json:"enrolled"`
	Active    int                         `json:"active"`
	Completed int                         `json:"completed"`
	Exited    int                         `json:"exited"`
	Failed    int                         `json:"failed"`
	Steps     map[string]journey.Counters `json:"steps"`
}

// Version is one version of a sequence.
type Version struct {
	Version    int             `json:"version"`
	CreatedAt  time.Time       `json:"createdAt"`
	Migrate    bool            `json:"migrate"`
	Definition json.RawMessage `json:"definition"`
}

// Enrollment is one contact's run through a sequence. History (every step
// taken, the newest MaxHistory) is shown by GET one, DELETE and the
// trigger; lists leave it out.
type Enrollment struct {
	ID         string                `json:"id"`
	SequenceID string                `json:"sequenceId"`
	Version    int                   `json:"version"`
	ContactID  string                `json:"contactId"`
	Status     string                `json:"status"`
	Reason     string                `json:"reason,omitempty"`
	Trigger    string                `json:"trigger"`
	Data       json.RawMessage       `json:"data,omitempty"`
	Step       string                `json:"stepId,omitempty"` // the step to run next
	WakeAt     *time.Time            `json:"wakeAt,omitempty"`
	WaitEvent  string                `json:"waitEvent,omitempty"`
	Held       bool                  `json:"held,omitempty"`
	Steps      int                   `json:"steps"` // steps taken
	EnrolledAt time.Time             `json:"enrolledAt"`
	UpdatedAt  time.Time             `json:"updatedAt"`
	FinishedAt *time.Time            `json:"finishedAt,omitempty"`
	History    *[]journey.StepRecord `json:"history,omitempty"`
}

// TriggerTarget is one contact a manual trigger enrols: by id or by email,
// with the data its journey's templates see as `data`.
type TriggerTarget struct {
	ContactID string          `json:"contactId,omitempty"`
	Email     string          `json:"email,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// TriggerRequest is the body of POST /api/sequences/{id}/trigger: one
// contact, or up to MaxBulkTrigger in Contacts.
type TriggerRequest struct {
	TriggerTarget
	Contacts []TriggerTarget `json:"contacts,omitempty"`
}

// TriggerResult is one contact's outcome in a bulk trigger.
type TriggerResult struct {
	ContactID  string       `json:"contactId,omitempty"`
	Email      string       `json:"email,omitempty"`
	Enrollment *Enrollment  `json:"enrollment,omitempty"`
	Error      *ResultError `json:"error,omitempty"`
}

// ResultError is why one contact of a bulk trigger was not enrolled, in
// the error envelope's terms; EnrollmentID is the enrollment in the way.
type ResultError struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	EnrollmentID string `json:"enrollmentId,omitempty"`
}

// BulkTriggerResponse is the 202 body of a bulk trigger, in the order asked.
type BulkTriggerResponse struct {
	Data []TriggerResult `json:"data"`
}

// SimContact is a dry run's made-up contact.
type SimContact struct {
	Email      string         `json:"email,omitempty"`
	FirstName  *string        `json:"firstName,omitempty"`
	LastName   *string        `json:"lastName,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
	Tags       []string       `json:"tags,omitempty"`
	Subscribed *bool          `json:"subscribed,omitempty"` // default true
}

// SimEvent is an event a dry run's contact tracks at At.
type SimEvent struct {
	Name       string         `json:"name"`
	At         *time.Time     `json:"at"`
	Properties map[string]any `json:"properties,omitempty"`
}

// SimulateRequest is the body of POST /api/sequences/{id}/simulate: a
// stored contact or a made-up one, the events it tracks, the version to
// run (default the current) and when it enters (default now).
type SimulateRequest struct {
	ContactID string      `json:"contactId,omitempty"`
	Contact   *SimContact `json:"contact,omitempty"`
	Events    []SimEvent  `json:"events,omitempty"`
	Version   int         `json:"version,omitempty"`
	Start     *time.Time  `json:"start,omitempty"`
}

// SimulateResponse is a dry run's answer.
type SimulateResponse struct {
	SequenceID string      `json:"sequenceId"`
	Version    int         `json:"version"`
	Path       engine.Path `json:"path"`
}

// document is a sequence document in canonical form: every object's keys
// sorted, no insignificant space, nulls (absent fields) dropped at the top
// and in each step,
// and "migrate" taken out. Two bodies that mean the same have one form.
type document struct {
	canonical []byte
	hash      string
	migrate   bool
	fields    map[string]json.RawMessage
}

// canonicalise reads a PUT body. A body that is not a JSON object is left
// to sequence.Parse to refuse (its messages name the body).
func canonicalise(raw json.RawMessage) (document, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return document{canonical: raw}, nil
	}
	var d document
	if m, ok := top["migrate"]; ok {
		if string(m) != "null" {
			if err := json.Unmarshal(m, &d.migrate); err != nil {
				return document{}, errs.Invalid("migrate", "The 'migrate' field must be a boolean.")
			}
		}
		delete(top, "migrate")
	}
	d.fields = map[string]json.RawMessage{}
	for k, v := range top {
		if string(v) == "null" {
			continue
		}
		if k == "steps" {
			v = withoutNullFields(v)
		}
		c, err := canonicalJSON(v)
		if err != nil {
			return document{}, errs.Invalid("body", "The request body is not valid JSON.")
		}
		d.fields[k] = c
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // templates' data keep their <, > and &
	if err := enc.Encode(d.fields); err != nil {
		return document{}, errs.Invalid("body", "The request body is not valid JSON.")
	}
	d.canonical = bytes.TrimRight(buf.Bytes(), "\n")
	sum := sha256.Sum256(d.canonical)
	d.hash = hex.EncodeToString(sum[:])
	return d, nil
}

// withoutNullFields drops the null fields of each step (a null is an
// absent field there, as at the top), so a stored step never shows one.
// Nulls deeper down (an update's "set", a send's "data") are values.
func withoutNullFields(steps json.RawMessage) json.RawMessage {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(steps, &list); err != nil {
		return steps // not a list of objects: Parse says why
	}
	for _, step := range list {
		for k, v := range step {
			if string(v) == "null" {
				delete(step, k)
			}
		}
	}
	out, err := json.Marshal(list)
	if err != nil {
		return steps
	}
	return out
}

// canonicalJSON re-encodes a JSON value with sorted keys, numbers as written.
func canonicalJSON(raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// fieldsOf splits a stored canonical document into its top-level fields.
func fieldsOf(def string) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(def), &m)
	return m
}

// sequenceAPI is the API's view of a stored sequence (without stats).
func sequenceAPI(s *journey.Sequence, summary bool) Sequence {
	f := fieldsOf(s.Definition)
	out := Sequence{ID: s.ID, Name: s.Name, CampaignID: s.CampaignID, Status: s.Status, Version: s.Version,
		Trigger: f["trigger"], CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if !summary {
		out.Steps, out.ExitWhen, out.Reentry, out.SendWindow = f["steps"], f["exitWhen"], f["reentry"], f["sendWindow"]
	}
	return out
}

// enrollmentAPI is the API's view of an enrollment; withHistory adds its steps.
func enrollmentAPI(e *journey.Enrollment, withHistory bool) Enrollment {
	out := Enrollment{ID: e.ID, SequenceID: e.SequenceID, Version: e.Version, ContactID: e.ContactID, Status: e.Status,
		Reason: e.Reason, Trigger: e.Trigger, Step: e.Step, WakeAt: e.WakeAt, WaitEvent: e.WaitEvent, Held: e.Held,
		Steps: e.Steps, EnrolledAt: e.EnrolledAt, UpdatedAt: e.UpdatedAt, FinishedAt: e.FinishedAt}
	if e.Data != "" {
		out.Data = json.RawMessage(e.Data)
	}
	if withHistory {
		h := e.History
		if h == nil {
			h = []journey.StepRecord{}
		}
		out.History = &h
	}
	return out
}

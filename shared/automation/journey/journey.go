// Package journey is the automation group's stored model, shared by its API
// (shared/automation), its worker (shared/automation/worker), the changes
// function and the scheduler: sequences and their versions, the triggers of
// active sequences, enrollments with the steps they took, the guard of a
// contact's entries into a sequence, sequence counters, campaigns,
// broadcasts, and the jobs of the sequence queue.
//
// Exactly once, in short: an enrollment's steps are numbered (Seq); a step
// job names the number it runs, and the worker's write of the step's result
// is conditional on the enrollment still being at that number, so a copy of
// the job, or a second wake-up of a wait (the event and the timeout), finds
// the step taken and does nothing. A send step's send id derives from
// (enrollment, Seq), so a step retried after its send was made finds it.
package journey

import (
	"time"

	"github.com/sendwell/sendwell/shared/store"
)

// Item types (the `type` attribute).
const (
	SequenceType     = "sequence"
	VersionType      = "sequenceVersion"
	TriggerType      = "sequenceTrigger"
	EnrollmentType   = "enrollment"
	EntryType        = "sequenceEntry"
	SequenceStatType = "sequenceStats"
	CampaignType     = "campaign"
	BroadcastType    = "broadcast"
)

// Sequence statuses.
const (
	Draft    = "draft"    // nothing enrols
	Active   = "active"   // triggers enrol, enrollments run
	Paused   = "paused"   // enrollments hold where they are; triggering is a 409
	Archived = "archived" // nothing enrols; enrollments still running finish
)

// Enrollment statuses.
const (
	EnrActive    = "active"
	EnrCompleted = "completed"
	EnrExited    = "exited"
	EnrFailed    = "failed"
)

// Sequence is a sequence's item (store.SequenceKey): its current version's
// document and its status.
type Sequence struct {
	store.Key
	Type       string `dynamodbav:"type"`
	OrgID      string `dynamodbav:"orgId"`
	ID         string `dynamodbav:"id"`
	Name       string `dynamodbav:"name"`
	CampaignID string `dynamodbav:"campaignId,omitempty"`
	Status     string `dynamodbav:"status"`
	// Generation is a ULID made when the id was first PUT (again after a
	// delete): entry guards are per generation.
	Generation string `dynamodbav:"generation"`
	// Version is the current version (1 for the first); Definition is its
	// document (canonical JSON, without "migrate"), Hash its SHA-256.
	Version    int    `dynamodbav:"version"`
	Definition string `dynamodbav:"definition"`
	Hash       string `dynamodbav:"hash"`
	// MigrateFrom: enrollments on a version below it move to Version at
	// their next step (a change that said "migrate": true). 0: none.
	MigrateFrom int       `dynamodbav:"migrateFrom,omitempty"`
	CreatedAt   time.Time `dynamodbav:"createdAt"`
	UpdatedAt   time.Time `dynamodbav:"updatedAt"`
	// Rev is moved by every write: writers condition on it.
	Rev int `dynamodbav:"rev"`
}

// Version is one version of a sequence (store.SequenceVersionKey), written
// once and never changed: enrollments run on the version they entered.
type Version struct {
	store.Key
	Type       string    `dynamodbav:"type"`
	OrgID      string    `dynamodbav:"orgId"`
	SequenceID string    `dynamodbav:"sequenceId"`
	N          int       `dynamodbav:"n"`
	Definition string    `dynamodbav:"definition"`
	Hash       string    `dynamodbav:"hash"`
	Migrate    bool      `dynamodbav:"migrate,omitempty"` // the change moved enrollments of earlier versions here
	CreatedAt  time.Time `dynamodbav:"createdAt"`
}

// Trigger is an active sequence's trigger (store.SequenceTriggerKey),
// written when it becomes active or changes while active, removed when it
// stops being active. Kind, Event and Segment are the definition's trigger
// (sequence.TriggerKind…), so the worker filters without the definition.
type Trigger struct {
	store.Key
	Type       string `dynamodbav:"type"`
	OrgID      string `dynamodbav:"orgId"`
	SequenceID string `dynamodbav:"sequenceId"`
	Version    int    `dynamodbav:"version"`
	Generation string `dynamodbav:"generation"`
	Kind       string `dynamodbav:"kind"`
	Event      string `dynamodbav:"event,omitempty"`
	Segment    string `dynamodbav:"segment,omitempty"`
}

// Enrollment is one contact's run through a sequence
// (store.EnrollmentKey).
type Enrollment struct {
	store.Key
	Type       string `dynamodbav:"type"`
	OrgID      string `dynamodbav:"orgId"`
	ID         string `dynamodbav:"id"`
	SequenceID string `dynamodbav:"sequenceId"`
	Generation string `dynamodbav:"generation"`
	Version    int    `dynamodbav:"version"` // the version it runs on
	ContactID  string `dynamodbav:"contactId"`
	Status     string `dynamodbav:"status"`
	Reason     string `dynamodbav:"reason,omitempty"` // why it exited or failed
	// Trigger says what enrolled it: "event:<name>", "contactCreated",
	// "segmentEntered:<seg>", "segmentExited:<seg>", "manual".
	Trigger string `dynamodbav:"trigger"`
	Data    string `dynamodbav:"data,omitempty"` // JSON object: the manual trigger's data, the event's properties

	// Step is the step to run next ("" once finished); Seq the steps taken
	// so far: the next step job must name Seq.
	Step string `dynamodbav:"step,omitempty"`
	Seq  int    `dynamodbav:"seq"`
	// While a wait runs: WakeAt is when it ends (its Due keys say the same),
	// WaitEvent the event that ends an until-wait early.
	WakeAt    *time.Time `dynamodbav:"wakeAt,omitempty"`
	WaitEvent string     `dynamodbav:"waitEvent,omitempty"`
	// Held: the sequence was paused when the step came due; a resume
	// queues it again.
	Held bool `dynamodbav:"held,omitempty"`

	// History is every step taken, oldest first (the last MaxHistory).
	History []StepRecord `dynamodbav:"history"`
	// Steps counts them all, History keeps the last MaxHistory.
	Steps int `dynamodbav:"steps"`

	EnrolledAt time.Time  `dynamodbav:"enrolledAt"`
	UpdatedAt  time.Time  `dynamodbav:"updatedAt"`
	FinishedAt *time.Time `dynamodbav:"finishedAt,omitempty"`

	GSI1PK string `dynamodbav:"GSI1PK"` // the sequence's enrollments
	GSI1SK string `dynamodbav:"GSI1SK"`
	GSI2PK string `dynamodbav:"GSI2PK"` // … of this status
	GSI2SK string `dynamodbav:"GSI2SK"`
	GSI3PK string `dynamodbav:"GSI3PK"` // the contact's enrollments
	GSI3SK string `dynamodbav:"GSI3SK"`
	GSI4PK string `dynamodbav:"GSI4PK,omitempty"` // held by a paused sequence
	GSI4SK string `dynamodbav:"GSI4SK,omitempty"`
	DuePK  string `dynamodbav:"DuePK,omitempty"` // its next step's time (a wait's end, or a re-check)
	DueSK  string `dynamodbav:"DueSK,omitempty"`
}

// MaxHistory is the most step records an enrollment keeps (the newest).
const MaxHistory = 200

// Step results (StepRecord.Result).
const (
	ResultSent     = "sent"     // a send was made: SendID
	ResultSkipped  = "skipped"  // a send was not made: Reason
	ResultWaiting  = "waiting"  // a wait began: WakeAt, WaitEvent
	ResultWoke     = "woke"     // a wait ended: "event" or "timeout" in Branch
	ResultBranch   = "branched" // Branch is "then" or "else"
	ResultUpdated  = "updated"  // the contact was changed
	ResultWebhook  = "webhook"  // a sequence.step event was fired
	ResultDeferred = "deferred" // a send waited for the send window: WakeAt
	ResultExited   = "exited"   // Reason
	ResultFailed   = "failed"   // Reason
	ResultMigrated = "migrated" // moved to Version
)

// StepRecord is one step an enrollment took.
type StepRecord struct {
	Seq     int        `dynamodbav:"seq" json:"seq"`
	Step    string     `dynamodbav:"step" json:"stepId"`
	Type    string     `dynamodbav:"type" json:"type"`
	Version int        `dynamodbav:"version" json:"version"`
	At      time.Time  `dynamodbav:"at" json:"at"`
	Result  string     `dynamodbav:"result" json:"result"`
	SendID  string     `dynamodbav:"sendId,omitempty" json:"sendId,omitempty"`
	Reason  string     `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	Branch  string     `dynamodbav:"branch,omitempty" json:"branch,omitempty"`
	WakeAt  *time.Time `dynamodbav:"wakeAt,omitempty" json:"wakeAt,omitempty"`
	Next    string     `dynamodbav:"next,omitempty" json:"next,omitempty"`
	Data    string     `dynamodbav:"data,omitempty" json:"-"` // a webhook step's data (JSON), for the stream
}

// SetKeys fills the enrollment's key and index keys from its fields (not
// its Due keys, which the runner sets).
func (e *Enrollment) SetKeys() {
	e.Key = store.EnrollmentKey(e.OrgID, e.ID)
	e.Type = EnrollmentType
	e.GSI1PK, e.GSI1SK = store.SequenceEnrollmentsPK(e.OrgID, e.SequenceID), e.ID
	e.GSI2PK, e.GSI2SK = store.SequenceEnrollmentsByStatusPK(e.OrgID, e.SequenceID, e.Status), e.ID
	e.GSI3PK, e.GSI3SK = store.ContactEnrollmentsPK(e.OrgID, e.ContactID), e.ID
	e.GSI4PK, e.GSI4SK = "", ""
	if e.Held {
		e.GSI4PK, e.GSI4SK = store.SequenceHeldPK(e.OrgID, e.SequenceID), e.ID
	}
}

// Entry guards a contact's entries into one generation of a sequence
// (store.SequenceEntryKey): the enrollment it last entered, and when.
type Entry struct {
	store.Key
	Type         string    `dynamodbav:"type"`
	EnrollmentID string    `dynamodbav:"enrollmentId"`
	EnteredAt    time.Time `dynamodbav:"enteredAt"`
}

// Sequence counters (attributes of the store.SequenceStatsKey shards).
// Per step, StepCounter(step, StepEntered…).
const (
	StatEnrolled  = "enrolled"
	StatActive    = "active" // ADD 1 on entry, -1 when it finishes
	StatCompleted = "completed"
	StatExited    = "exited"
	StatFailed    = "failed"

	StepEntered = "entered"
	StepSent    = "sent"
	StepSkipped = "skipped"
	StepFailed  = "failed"
)

// StepCounter is the attribute of a step's counter.
func StepCounter(step, counter string) string { return "s:" + step + ":" + counter }

// StatsShard is the counter shard an enrollment's writes go to.
func StatsShard(enrollmentID string) int { return store.StatsShard(enrollmentID) }

// StepSource is the sends.Item.Source of a sequence step's sends; the
// prefix "seq:<sequence>:" reads every step's.
func StepSource(sequenceID, step string) string { return "seq:" + sequenceID + ":" + step }

// SequenceSourcePrefix is the prefix of a sequence's steps' sources.
func SequenceSourcePrefix(sequenceID string) string { return "seq:" + sequenceID + ":" }

// BroadcastSource is the sends.Item.Source of a broadcast's sends.
func BroadcastSource(broadcastID string) string { return "bc:" + broadcastID }

// Campaign statuses.
const (
	CampaignActive   = "active"
	CampaignArchived = "archived"
)

// Campaign is a named folder of sequences, broadcasts and templates
// (store.CampaignKey).
type Campaign struct {
	store.Key
	Type        string    `dynamodbav:"type"`
	OrgID       string    `dynamodbav:"orgId"`
	ID          string    `dynamodbav:"id"`
	Name        string    `dynamodbav:"name"`
	Description string    `dynamodbav:"description,omitempty"`
	Status      string    `dynamodbav:"status"`
	CreatedAt   time.Time `dynamodbav:"createdAt"`
	UpdatedAt   time.Time `dynamodbav:"updatedAt"`
}

// Broadcast statuses.
const (
	BcDraft     = "draft"
	BcScheduled = "scheduled" // send asked for a later sendAt: Due keys at it
	BcSending   = "sending"   // the fan-out runs
	BcSent      = "sent"      // every recipient queued or skipped
	BcCancelled = "cancelled"
)

// AudienceAll is the SegmentID of a broadcast to every contact.
const AudienceAll = "all"

// Attribute names of a broadcast's item that conditions and updates name.
const (
	AttrStatus    = "status"
	AttrRev       = "rev"
	AttrUpdatedAt = "updatedAt"
)

// Broadcast is a one-off send of a template to a segment's members or to
// every contact (store.BroadcastKey), with its fan-out's checkpoint.
type Broadcast struct {
	store.Key
	Type          string     `dynamodbav:"type"`
	OrgID         string     `dynamodbav:"orgId"`
	ID            string     `dynamodbav:"id"`
	Name          string     `dynamodbav:"name"`
	CampaignID    string     `dynamodbav:"campaignId,omitempty"`
	SegmentID     string     `dynamodbav:"segmentId"` // AudienceAll: every contact
	TemplateID    string     `dynamodbav:"templateId"`
	From          string     `dynamodbav:"from"`
	Data          string     `dynamodbav:"data,omitempty"`
	SendAt        *time.Time `dynamodbav:"sendAt,omitempty"`
	RatePerMinute int        `dynamodbav:"ratePerMinute,omitempty"` // 0: as fast as the fan-out goes
	Status        string     `dynamodbav:"status"`
	CreatedAt     time.Time  `dynamodbav:"createdAt"`
	UpdatedAt     time.Time  `dynamodbav:"updatedAt"`
	StartedAt     *time.Time `dynamodbav:"startedAt,omitempty"`
	FinishedAt    *time.Time `dynamodbav:"finishedAt,omitempty"`

	// The fan-out's checkpoint: the audience's cursor after the last page
	// done (empty before the first; Done once the audience is walked),
	// the page count (Pages: the next page job must name it), and the
	// recipients counted so far.
	Cursor  string `dynamodbav:"cursor,omitempty"`
	Pages   int    `dynamodbav:"pages"`
	Done    bool   `dynamodbav:"done,omitempty"`
	Total   int    `dynamodbav:"total"`   // audience members walked
	Queued  int    `dynamodbav:"queued"`  // sends made
	Skipped int    `dynamodbav:"skipped"` // unsubscribed, suppressed, or without an address
	Rev     int    `dynamodbav:"rev"`
	// QueuedPage is the last page whose job the fan-out queued (and
	// recorded so): a copy of a done page's job tells from it whether the
	// next page still needs queueing. Only the fan-out writes it.
	QueuedPage int `dynamodbav:"queuedPage,omitempty"`

	DuePK string `dynamodbav:"DuePK,omitempty"` // a scheduled broadcast's sendAt
	DueSK string `dynamodbav:"DueSK,omitempty"`
}

// Job is the body of a sequence queue message the system makes; domain
// events arrive on the same queue as their own bodies ({"id","type",…}).
// Exactly one field is set.
type Job struct {
	Step      *StepJob      `json:"step,omitempty"`
	Resume    *ResumeJob    `json:"resume,omitempty"`
	Broadcast *BroadcastJob `json:"broadcast,omitempty"`
}

// StepJob runs step number Seq of an enrollment.
type StepJob struct {
	OrgID        string `json:"orgId"`
	EnrollmentID string `json:"enrollmentId"`
	Seq          int    `json:"seq"`
}

// ResumeJob queues again the enrollments a paused sequence held.
type ResumeJob struct {
	OrgID      string `json:"orgId"`
	SequenceID string `json:"sequenceId"`
}

// BroadcastJob runs page number Page of a broadcast's fan-out.
type BroadcastJob struct {
	OrgID       string `json:"orgId"`
	BroadcastID string `json:"broadcastId"`
	Page        int    `json:"page"`
}

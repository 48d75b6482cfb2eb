// Package changes is the outbox's reader: it turns the table's stream of item
// changes into domain events (contact.created, event.tracked, …) and
// publishes them on the domain-events queue that segments, sequences and
// webhooks consume. It also turns a contact's removal into a purge job for
// its events, on the contacts group's work queue (the import queue), so no
// API request pages through a contact's events, and a send that becomes
// queued into a job on the send queue, so the API never writes to a queue.
// Segments: a membership written or removed becomes segment.entered or
// segment.exited, a send's delivery or engagement becomes email.*, and a
// segment created, redefined or deleted becomes a build or purge job on the
// segment queue. Handlers write only to DynamoDB; this is the one place
// their changes leave it.
package changes

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/domains/domainitem"
	"github.com/sendwell/sendwell/shared/imports/importitem"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tracking"
)

// Domain event types.
const (
	ContactCreated       = "contact.created"
	ContactUpdated       = "contact.updated"
	ContactDeleted       = "contact.deleted"
	ContactUnsubscribed  = "contact.unsubscribed"
	EventTracked         = "event.tracked"
	SegmentEntered       = "segment.entered"
	SegmentExited        = "segment.exited"
	EmailSent            = "email.sent"
	EmailDeliveryDelayed = "email.delivery_delayed"
	EmailDelivered       = "email.delivered"
	EmailOpened          = "email.opened"
	EmailClicked         = "email.clicked"
	EmailBounced         = "email.bounced"
	EmailComplained      = "email.complained"
	EmailFailed          = "email.failed"
	ImportCompleted      = "import.completed"
	DomainVerified       = "domain.verified"
	SequenceStep         = "sequence.step"
)

// sequenceTriggers are the domain events the sequence worker acts on:
// they enrol contacts, wake waits and meet exit conditions.
var sequenceTriggers = map[string]bool{ContactCreated: true, EventTracked: true, SegmentEntered: true, SegmentExited: true}

// emailEvents are the send statuses whose arrival is news (for segments'
// email conditions and for webhooks), and the domain event each becomes.
// A send SES rejected failed as surely as one that could not be sent.
var emailEvents = map[string]string{
	sends.Sent:            EmailSent,
	sends.DeliveryDelayed: EmailDeliveryDelayed,
	sends.Delivered:       EmailDelivered,
	sends.Opened:          EmailOpened,
	sends.Clicked:         EmailClicked,
	sends.Bounced:         EmailBounced,
	sends.Complained:      EmailComplained,
	sends.Failed:          EmailFailed,
	sends.Rejected:        EmailFailed,
}

// Item types of the segments group, read here by their attribute names so
// the changes function links nothing of it.
const (
	segmentType       = "segment"
	segmentMemberType = "segmentMember"
)

// Stream event names.
const (
	Insert = "INSERT"
	Modify = "MODIFY"
	Remove = "REMOVE"
)

// Record is one item change from the stream, in the table's attribute form,
// whether it came from Lambda's event or from the local stream poller.
type Record struct {
	EventID   string
	EventName string
	At        time.Time
	Old, New  map[string]types.AttributeValue
}

// DomainEvent is what the rest of the system consumes. ID is derived from
// the stream record, so a record delivered twice gives the same IDs and the
// queue drops the copy.
type DomainEvent struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	OrgID      string    `json:"orgId"`
	OccurredAt time.Time `json:"occurredAt"`
	Data       any       `json:"data"`
	Previous   any       `json:"previous,omitempty"`
	// ContactID is the contact the event concerns: the events of one
	// contact form one message group on the domain events queue. It is not
	// part of the body (the data says it).
	ContactID string `json:"-"`
}

// Translate turns one item change into its domain events (none for items
// that are not contacts, events, segment memberships or sends that reached
// a contact).
func Translate(rec Record) ([]DomainEvent, error) {
	out, err := translate(rec)
	return out.events, err
}

// output is what one item change produces.
type output struct {
	events []DomainEvent
	purge  *contacts.PurgeJob // a contact's removal
	send   *sends.Job         // a send that became queued
	seg    *SegmentJob        // a segment to build or purge
	seq    *SequenceJob       // an enrollment's first step, a resume, a broadcast's first page
}

// translate turns one item change into what it produces.
func translate(rec Record) (output, error) {
	img := rec.New
	if rec.EventName == Remove {
		img = rec.Old
	}
	kind, _ := img["type"].(*types.AttributeValueMemberS)
	if kind == nil {
		return output{}, nil
	}
	var o output
	add := func(typ, orgID, contactID string, data, prev any) {
		o.events = append(o.events, DomainEvent{ID: fmt.Sprintf("%s-%d", rec.EventID, len(o.events)), Type: typ, OrgID: orgID, OccurredAt: rec.At,
			Data: data, Previous: prev, ContactID: contactID})
	}
	switch kind.Value {
	case contacts.ItemType:
		var old, cur contacts.Item
		if err := decode(rec.Old, &old); err != nil {
			return output{}, err
		}
		if err := decode(rec.New, &cur); err != nil {
			return output{}, err
		}
		switch rec.EventName {
		case Insert:
			add(ContactCreated, cur.OrgID, cur.ID, cur.API(), nil)
		case Modify:
			add(ContactUpdated, cur.OrgID, cur.ID, cur.API(), old.API())
			if old.Subscribed && !cur.Subscribed {
				add(ContactUnsubscribed, cur.OrgID, cur.ID, cur.API(), nil)
			}
		case Remove:
			add(ContactDeleted, old.OrgID, old.ID, old.API(), nil)
			o.purge = &contacts.PurgeJob{OrgID: old.OrgID, ContactID: old.ID}
		}
	case tracking.ItemType:
		if rec.EventName != Insert { // expiry by TTL and the purge of a deleted contact are not news
			return output{}, nil
		}
		var ev tracking.Item
		if err := decode(rec.New, &ev); err != nil {
			return output{}, err
		}
		add(EventTracked, ev.OrgID, ev.ContactID, ev.API(), nil)
	case domainitem.ItemType:
		if rec.EventName != Modify {
			return output{}, nil
		}
		var old, cur domainitem.Item
		if err := decode(rec.Old, &old); err != nil {
			return output{}, err
		}
		if err := decode(rec.New, &cur); err != nil {
			return output{}, err
		}
		if cur.Status == domainitem.StatusVerified && old.Status != domainitem.StatusVerified {
			add(DomainVerified, cur.OrgID, "", cur.API(), nil)
		}
	case importitem.ItemType:
		if rec.EventName != Modify {
			return output{}, nil
		}
		var old, cur importitem.Item
		if err := decode(rec.Old, &old); err != nil {
			return output{}, err
		}
		if err := decode(rec.New, &cur); err != nil {
			return output{}, err
		}
		if cur.Status == importitem.StatusCompleted && old.Status != importitem.StatusCompleted {
			add(ImportCompleted, cur.OrgID, "", cur.API(), nil)
		}
	case sends.ItemType:
		job, err := sendJob(rec)
		if err != nil {
			return output{}, err
		}
		o.send = job
		ev, err := emailEvent(rec)
		if err != nil {
			return output{}, err
		}
		if ev != nil {
			add(ev.typ, ev.orgID, ev.contactID, ev.data, nil)
		}
	case segmentMemberType:
		var m memberImage
		if err := decode(img, &m); err != nil {
			return output{}, err
		}
		switch rec.EventName {
		case Insert:
			add(SegmentEntered, m.OrgID, m.ContactID, Membership{SegmentID: m.SegmentID, ContactID: m.ContactID, At: m.EnteredAt}, nil)
		case Remove:
			add(SegmentExited, m.OrgID, m.ContactID, Membership{SegmentID: m.SegmentID, ContactID: m.ContactID, At: rec.At}, nil)
		}
	case segmentType:
		job, err := segmentJob(rec)
		if err != nil {
			return output{}, err
		}
		o.seg = job
	case enrollmentType:
		var old, cur enrollmentImage
		if err := decode(rec.Old, &old); err != nil {
			return output{}, err
		}
		if err := decode(rec.New, &cur); err != nil {
			return output{}, err
		}
		switch rec.EventName {
		case Insert:
			if cur.Status == active {
				o.seq = &SequenceJob{Step: &StepRef{OrgID: cur.OrgID, EnrollmentID: cur.ID, Seq: cur.Seq}}
			}
		case Modify:
			if step, ok := webhookStep(old, cur); ok {
				add(SequenceStep, cur.OrgID, cur.ContactID, step, nil)
			}
		}
	case sequenceType:
		if rec.EventName != Modify {
			return output{}, nil
		}
		var old, cur statusImage
		if err := decode(rec.Old, &old); err != nil {
			return output{}, err
		}
		if err := decode(rec.New, &cur); err != nil {
			return output{}, err
		}
		if old.Status == paused && cur.Status == active {
			o.seq = &SequenceJob{Resume: &SequenceRef{OrgID: cur.OrgID, SequenceID: cur.ID}}
		}
	case broadcastType:
		if rec.EventName == Remove {
			return output{}, nil
		}
		var old, cur statusImage
		if err := decode(rec.Old, &old); err != nil {
			return output{}, err
		}
		if err := decode(rec.New, &cur); err != nil {
			return output{}, err
		}
		if cur.Status == sending && old.Status != sending {
			o.seq = &SequenceJob{Broadcast: &BroadcastRef{OrgID: cur.OrgID, BroadcastID: cur.ID, Page: cur.Pages}}
		}
	}
	return o, nil
}

// StepEvent is the data of sequence.step: a sequence's webhook step that a
// contact's enrollment took, with the step's data.
type StepEvent struct {
	SequenceID   string          `json:"sequenceId"`
	Version      int             `json:"version"`
	EnrollmentID string          `json:"enrollmentId"`
	ContactID    string          `json:"contactId"`
	StepID       string          `json:"stepId"`
	At           time.Time       `json:"at"`
	Data         json.RawMessage `json:"data"`
}

// Items of the automation group, read by their attribute names so the
// changes function links nothing of it (journey's types are the reference).
const (
	enrollmentType = "enrollment"
	sequenceType   = "sequence"
	broadcastType  = "broadcast"
	active         = "active"  // an enrollment's and a sequence's
	paused         = "paused"  // a sequence's
	sending        = "sending" // a broadcast's
	webhookResult  = "webhook" // a history record's result
)

// enrollmentImage is the part of an enrollment the stream consumer reads.
type enrollmentImage struct {
	OrgID      string `dynamodbav:"orgId"`
	ID         string `dynamodbav:"id"`
	SequenceID string `dynamodbav:"sequenceId"`
	ContactID  string `dynamodbav:"contactId"`
	Status     string `dynamodbav:"status"`
	Seq        int    `dynamodbav:"seq"`
	History    []struct {
		Seq     int       `dynamodbav:"seq"`
		Step    string    `dynamodbav:"step"`
		Version int       `dynamodbav:"version"`
		At      time.Time `dynamodbav:"at"`
		Result  string    `dynamodbav:"result"`
		Data    string    `dynamodbav:"data"`
	} `dynamodbav:"history"`
}

// statusImage is the part of a sequence or a broadcast the stream consumer reads.
type statusImage struct {
	OrgID  string `dynamodbav:"orgId"`
	ID     string `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
	Pages  int    `dynamodbav:"pages"`
}

// SequenceJob is a sequence queue message from the stream (the body of
// journey.Job): exactly one is set.
type SequenceJob struct {
	Step      *StepRef      `json:"step,omitempty"`
	Resume    *SequenceRef  `json:"resume,omitempty"`
	Broadcast *BroadcastRef `json:"broadcast,omitempty"`
}

// StepRef names step number Seq of an enrollment: an enrollment's first.
type StepRef struct {
	OrgID        string `json:"orgId"`
	EnrollmentID string `json:"enrollmentId"`
	Seq          int    `json:"seq"`
}

// SequenceRef names a sequence made active again after a pause.
type SequenceRef struct {
	OrgID      string `json:"orgId"`
	SequenceID string `json:"sequenceId"`
}

// BroadcastRef names a page of a broadcast's fan-out: the first.
type BroadcastRef struct {
	OrgID       string `json:"orgId"`
	BroadcastID string `json:"broadcastId"`
	Page        int    `json:"page"`
}

// webhookStep is the sequence.step of an enrollment change that took a
// webhook step: its new last history record.
func webhookStep(old, cur enrollmentImage) (StepEvent, bool) {
	if cur.Seq <= old.Seq || len(cur.History) == 0 {
		return StepEvent{}, false
	}
	r := cur.History[len(cur.History)-1]
	if r.Result != webhookResult || r.Seq != old.Seq {
		return StepEvent{}, false
	}
	data := json.RawMessage(r.Data)
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return StepEvent{SequenceID: cur.SequenceID, Version: r.Version, EnrollmentID: cur.ID, ContactID: cur.ContactID,
		StepID: r.Step, At: r.At, Data: data}, true
}

// Membership is the data of segment.entered and segment.exited: At is when
// the contact entered (the membership's enteredAt) or left (the removal's
// stream time).
type Membership struct {
	SegmentID string    `json:"segmentId"`
	ContactID string    `json:"contactId"`
	At        time.Time `json:"at"`
}

// memberImage is the part of a segment member item the stream consumer reads.
type memberImage struct {
	OrgID     string    `dynamodbav:"orgId"`
	SegmentID string    `dynamodbav:"segmentId"`
	ContactID string    `dynamodbav:"contactId"`
	EnteredAt time.Time `dynamodbav:"enteredAt"`
}

type emailEv struct {
	typ, orgID string
	contactID  string
	data       sends.Send
}

// emailEvent is the email.* event of a send whose status just moved to one
// of emailEvents: its data the send as the API shows it (without its
// timeline), whether it has a contact or not.
func emailEvent(rec Record) (*emailEv, error) {
	if rec.EventName != Modify {
		return nil, nil
	}
	var old sendImage
	if err := decode(rec.Old, &old); err != nil {
		return nil, err
	}
	var cur sends.Item
	if err := decode(rec.New, &cur); err != nil {
		return nil, err
	}
	typ, ok := emailEvents[cur.Status]
	if !ok || old.Status == cur.Status {
		return nil, nil
	}
	return &emailEv{typ: typ, orgID: cur.OrgID, contactID: cur.ContactID, data: cur.API()}, nil
}

// SegmentRef names a segment in a segment job.
type SegmentRef struct {
	OrgID     string `json:"orgId"`
	SegmentID string `json:"segmentId"`
}

// SegmentJob is a segment queue message from the stream: build a segment
// that is new or whose definition changed, or purge the members of one
// deleted. Exactly one is set.
type SegmentJob struct {
	Build *SegmentRef `json:"build,omitempty"`
	Purge *SegmentRef `json:"purge,omitempty"`
}

// segmentJob is the job of a segment item's change: its insert or a new
// definition builds it, its removal purges its members. Every other change
// (the build's own progress, a new name) queues nothing.
func segmentJob(rec Record) (*SegmentJob, error) {
	img := rec.New
	if rec.EventName == Remove {
		img = rec.Old
	}
	ref, ok := segmentRef(img)
	if !ok {
		return nil, nil // not a segment's key: retrying would only stop the stream
	}
	switch rec.EventName {
	case Insert:
		return &SegmentJob{Build: &ref}, nil
	case Modify:
		same, err := sameAttr(rec.Old["definition"], rec.New["definition"])
		if err != nil || same {
			return nil, err
		}
		return &SegmentJob{Build: &ref}, nil
	case Remove:
		return &SegmentJob{Purge: &ref}, nil
	}
	return nil, nil
}

// segmentRef reads the tenant and the segment from a segment item's keys
// (ORG#<org>, SEG#<segmentId>).
func segmentRef(img map[string]types.AttributeValue) (SegmentRef, bool) {
	pk, _ := img["PK"].(*types.AttributeValueMemberS)
	sk, _ := img["SK"].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil {
		return SegmentRef{}, false
	}
	org, ok := strings.CutPrefix(pk.Value, store.OrgPK(""))
	if !ok || org == "" || strings.Contains(org, "#") {
		return SegmentRef{}, false
	}
	seg, ok := strings.CutPrefix(sk.Value, store.SegmentPrefix())
	if !ok || seg == "" {
		return SegmentRef{}, false
	}
	return SegmentRef{OrgID: org, SegmentID: seg}, true
}

// sameAttr says whether two attribute values hold the same value.
func sameAttr(a, b types.AttributeValue) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}
	var x, y any
	if err := attributevalue.Unmarshal(a, &x); err != nil {
		return false, fmt.Errorf("changes: decode definition: %w", err)
	}
	if err := attributevalue.Unmarshal(b, &y); err != nil {
		return false, fmt.Errorf("changes: decode definition: %w", err)
	}
	return reflect.DeepEqual(x, y), nil
}

// sendImage is the part of a send item the stream consumer reads.
type sendImage struct {
	OrgID      string    `dynamodbav:"orgId"`
	ID         string    `dynamodbav:"id"`
	Status     string    `dynamodbav:"status"`
	StatusAt   time.Time `dynamodbav:"statusAt"`
	ContactID  string    `dynamodbav:"contactId"`
	TemplateID string    `dynamodbav:"templateId"`
}

// sendJob is the send queue's job for a send that has just become queued:
// accepted for now (INSERT) or moved into queued from another status
// (MODIFY: a scheduled send rescheduled to now). Every other change of a
// send (its claim, its events) queues nothing, and so does a claim the
// send worker released (sending back to queued): the worker hands that
// message back to SQS, which redelivers it after its visibility timeout, so
// a throttled send backs off instead of coming straight back through the
// stream.
func sendJob(rec Record) (*sends.Job, error) {
	if rec.EventName == Remove {
		return nil, nil
	}
	var old, cur sendImage
	if err := decode(rec.Old, &old); err != nil {
		return nil, err
	}
	if err := decode(rec.New, &cur); err != nil {
		return nil, err
	}
	if cur.Status != sends.Queued || (rec.EventName == Modify && (old.Status == sends.Queued || old.Status == sends.Sending)) {
		return nil, nil
	}
	return &sends.Job{OrgID: cur.OrgID, SendID: cur.ID}, nil
}

func decode(img map[string]types.AttributeValue, out any) error {
	if img == nil {
		return nil
	}
	if err := attributevalue.UnmarshalMap(img, out); err != nil {
		return fmt.Errorf("changes: decode image: %w", err)
	}
	return nil
}

// Publisher sends on what the stream's changes produce: domain events,
// purge jobs for the events of deleted contacts, send jobs and segment
// jobs.
type Publisher interface {
	// Publish sends domain events; a redelivered event is dropped by its ID.
	Publish(ctx context.Context, events []DomainEvent) error
	// Purge queues purge jobs. A redelivered record queues its job again:
	// harmless, as a purge is idempotent.
	Purge(ctx context.Context, jobs []contacts.PurgeJob) error
	// Send queues send jobs. A redelivered record queues its job again:
	// harmless, as the send worker's claim lets one job through per send.
	Send(ctx context.Context, jobs []sends.Job) error
	// Segment queues segment jobs. A redelivered record queues its job
	// again: harmless, as builds resume from their checkpoint and purges
	// find nothing more to delete.
	Segment(ctx context.Context, jobs []SegmentJob) error
	// Sequence queues sequence jobs. A redelivered record queues its job
	// again: harmless, as a step job names the step number it runs, a
	// resume queues held steps that are held no more at most once, and a
	// broadcast page job names the page it runs.
	Sequence(ctx context.Context, jobs []SequenceJob) error
}

// Process translates records and sends on their events in order, their
// purge jobs, their send jobs and their segment jobs, at most maxBatch to a call whatever
// record or tenant they come from. It returns the index of the first record
// not fully sent on (len(records) when all went through), so the caller
// retries from there: events already sent are dropped by the queue's
// deduplication, purge jobs already queued run twice, harmlessly, and send
// jobs already queued are dropped by the worker's claim. After a failure
// the other kinds are still sent for the records before it, so retrying
// from it loses nothing.
func Process(ctx context.Context, pub Publisher, records []Record) (int, error) {
	var (
		evs        []DomainEvent
		purges     []contacts.PurgeJob
		jobs       []sends.Job
		segs       []SegmentJob
		seqs       []SequenceJob
		seqFrom    []int
		evFrom     []int // evFrom[i]: the record evs[i] came from
		purgeFrom  []int
		jobFrom    []int
		segFrom    []int
		done       = len(records)
		translated error
	)
	for i, rec := range records {
		out, err := translate(rec)
		if err != nil {
			done, translated = i, err
			break
		}
		for range out.events {
			evFrom = append(evFrom, i)
		}
		evs = append(evs, out.events...)
		if out.purge != nil {
			purges, purgeFrom = append(purges, *out.purge), append(purgeFrom, i)
		}
		if out.send != nil {
			jobs, jobFrom = append(jobs, *out.send), append(jobFrom, i)
		}
		if out.seg != nil {
			segs, segFrom = append(segs, *out.seg), append(segFrom, i)
		}
		if out.seq != nil {
			seqs, seqFrom = append(seqs, *out.seq), append(seqFrom, i)
		}
	}
	err := translated
	if i, e := upTo(evs, evFrom, done, func(b []DomainEvent) error { return pub.Publish(ctx, b) }); e != nil {
		done, err = i, e
	}
	if i, e := upTo(purges, purgeFrom, done, func(b []contacts.PurgeJob) error { return pub.Purge(ctx, b) }); e != nil {
		done, err = i, e
	}
	if i, e := upTo(jobs, jobFrom, done, func(b []sends.Job) error { return pub.Send(ctx, b) }); e != nil {
		done, err = i, e
	}
	if i, e := upTo(segs, segFrom, done, func(b []SegmentJob) error { return pub.Segment(ctx, b) }); e != nil {
		done, err = i, e
	}
	if i, e := upTo(seqs, seqFrom, done, func(b []SequenceJob) error { return pub.Sequence(ctx, b) }); e != nil {
		done, err = i, e
	}
	return done, err
}

// upTo sends, in batches, the items that come from records before limit
// (from[i] is item i's record, in record order). On failure it returns the
// record of the first item not sent.
func upTo[T any](items []T, from []int, limit int, send func([]T) error) (int, error) {
	n := 0
	for n < len(items) && from[n] < limit {
		n++
	}
	if i, err := inBatches(items[:n], send); err != nil {
		return from[i], err
	}
	return limit, nil
}

// inBatches calls send with consecutive batches of at most maxBatch items
// and stops at the first failure: i is the index of the first item of the
// batch that failed.
func inBatches[T any](items []T, send func([]T) error) (i int, err error) {
	for batch := range slices.Chunk(items, maxBatch) {
		if err := send(batch); err != nil {
			return i, err
		}
		i += len(batch)
	}
	return i, nil
}

// Body is the JSON a domain event travels as.
func Body(e DomainEvent) (string, error) {
	b, err := json.Marshal(e)
	return string(b), err
}

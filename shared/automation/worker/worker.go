// Package worker is the sequence worker: one handler for the sequence
// queue, which carries the domain events that enrol, wake and exit
// (contact.created, event.tracked, segment.entered, segment.exited) and
// the jobs of journey.Job (a step, a resume, a broadcast page).
//
// A domain event reads the tenant's triggers (one Query) and enrols the
// contact in each active sequence whose trigger it matches, through
// journey.Enroller (the domain event's id and time name the enrollment, so
// a redelivered event enrols once). A tracked event also wakes the
// contact's enrollments waiting for it and exits those whose sequence's
// exitWhen names it.
//
// A step job runs one step: it reads the enrollment (dropped unless it is
// still at the job's Seq and active), its sequence (paused: held; deleted:
// exited; changed with migrate: moved to the new version) and the
// contact's facts, lets the engine decide, makes the step's effect (a send
// with an id derived from the enrollment and Seq, so a retried step finds
// its send; a contact update; a webhook record), writes the step with one
// journey.Advance and queues the next step's job when it is due within
// 15 minutes (later ones are the scheduler's, from the Due keys).
//
// Per step: one TransactWriteItems of two items (the enrollment and its
// counter shard) and at most one SQS message, beside the send itself or
// the contact's update.
package worker

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/store"
)

// Sender makes a send under an id the worker derives: messages.Service.
type Sender interface {
	SendAs(ctx context.Context, orgID, id, source string, in messages.SendRequest) (messages.Send, bool, error)
}

var _ Sender = (*messages.Service)(nil)

// SQSSender queues the worker's own jobs on the sequence queue.
type SQSSender interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ SQSSender = (*sqs.Client)(nil)

// BroadcastRunner runs one page of a broadcast's fan-out (fanout.Fanout).
type BroadcastRunner interface {
	Run(ctx context.Context, job journey.BroadcastJob) error
}

// ContactUpdater makes an update step's change to a contact, with the same
// semantics and the same contact.updated change as an API update.
// errs.ErrNotFound when the contact is gone.
type ContactUpdater interface {
	Update(ctx context.Context, orgID, contactID string, u *sequence.Update) error
}

// MaxDelay is the longest wait the worker queues itself (SQS's
// DelaySeconds); a step due later is the scheduler's.
const MaxDelay = 15 * time.Minute

// Worker handles the sequence queue.
type Worker struct {
	st         *store.Store
	clock      clock.Clock
	sender     Sender
	contacts   ContactUpdater
	q          SQSSender
	queueURL   string
	broadcasts BroadcastRunner
	enroller   *journey.Enroller

	mu    sync.Mutex
	defs  map[string]*sequence.Definition // by org/sequence/version: versions never change
	plans map[string]cachedPlan           // by org
}

// New is the sequence worker over the table st, on clk: sends go through
// sender (a messages.Service over the same table and clock), its own jobs
// to the sequence queue at queueURL through q (an *sqs.Client), broadcast
// pages to broadcasts (nil: they are dropped with a log). Update steps go
// through a contacts.Service over st; SetContactUpdater replaces it.
func New(st *store.Store, clk clock.Clock, sender Sender, q SQSSender, queueURL string, broadcasts BroadcastRunner) *Worker {
	return &Worker{st: st, clock: clk, sender: sender, contacts: ContactsUpdater{Service: contacts.NewService(st, clk)},
		q: q, queueURL: queueURL, broadcasts: broadcasts, enroller: &journey.Enroller{Store: st, Clock: clk},
		defs: map[string]*sequence.Definition{}, plans: map[string]cachedPlan{}}
}

// SetContactUpdater replaces the worker's contact updater.
func (w *Worker) SetContactUpdater(u ContactUpdater) { w.contacts = u }

// message is any message of the sequence queue: a domain event (Type set)
// or a job.
type message struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OrgID      string          `json:"orgId"`
	OccurredAt time.Time       `json:"occurredAt"`
	Data       json.RawMessage `json:"data"`
	journey.Job
}

// Handle processes a batch and reports the messages to retry: each
// message stands alone (the queue is a standard one; every effect is
// conditional, so order does not matter).
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		if err := w.handle(ctx, m.Body); err != nil {
			slog.ErrorContext(ctx, "sequence worker: message failed", "messageId", m.MessageId, "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

func (w *Worker) handle(ctx context.Context, body string) error {
	var m message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		slog.WarnContext(ctx, "sequence worker: unreadable message dropped", "error", err.Error())
		return nil
	}
	switch {
	case m.Step != nil:
		return w.runStep(ctx, *m.Step, false)
	case m.Resume != nil:
		return w.resume(ctx, *m.Resume)
	case m.Broadcast != nil:
		if w.broadcasts == nil {
			slog.WarnContext(ctx, "sequence worker: broadcast page dropped: no broadcast runner", "orgId", m.Broadcast.OrgID,
				"broadcastId", m.Broadcast.BroadcastID)
			return nil
		}
		return w.broadcasts.Run(ctx, *m.Broadcast)
	case m.Type != "":
		return w.domainEvent(ctx, m)
	}
	slog.WarnContext(ctx, "sequence worker: unknown message dropped")
	return nil
}

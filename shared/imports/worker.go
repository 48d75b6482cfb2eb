package imports

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
)

// BusyDelay is how long a message waits on the queue before it is tried
// again when the table stayed overloaded through every retry: the work
// resumes from its checkpoint then, not after the queue's visibility
// timeout (90 minutes for the import queue).
const BusyDelay = 30 * time.Second

// Continuation is the message that makes an import go on where it stopped.
type Continuation struct {
	OrgID    string `json:"orgId"`
	ImportID string `json:"importId"`
}

// Enqueuer puts a message body on the import queue, delivered after delay.
type Enqueuer func(ctx context.Context, body []byte, delay time.Duration) error

// Purger deletes a deleted contact's events until done or until stopBy
// (contacts.Service).
type Purger interface {
	PurgeEvents(ctx context.Context, job contacts.PurgeJob, stopBy time.Time) (finished bool, err error)
}

var _ Purger = (*contacts.Service)(nil)

// Processor handles the import queue, which is also the contacts group's
// work queue: S3's upload notices, continuations of imports, and purges of
// a deleted contact's events. Work that runs out of time queues itself again.
type Processor struct {
	svc      *Service
	purger   Purger
	enqueue  Enqueuer
	reserved time.Duration
}

// NewProcessor returns the import queue's processor. reserved is the time it
// keeps back before its deadline to checkpoint and queue a continuation.
func NewProcessor(svc *Service, purger Purger, enqueue Enqueuer, reserved time.Duration) *Processor {
	return &Processor{svc: svc, purger: purger, enqueue: enqueue, reserved: reserved}
}

// Handle processes a batch of SQS messages and reports the ones to retry.
func (w *Processor) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		if err := w.handle(ctx, m.Body); err != nil {
			slog.ErrorContext(ctx, "imports: message failed", "messageId", m.MessageId, "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// stopBy is when a message's work must stop to leave w.reserved before the
// invocation's deadline, on the service's clock: the time left is measured
// on the wall clock (Lambda's deadline is wall time) and counted from the
// service's now, so a test's fake clock and a real deadline agree.
func (w *Processor) stopBy(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	return w.svc.clock.Now().Add(time.Until(d) - w.reserved)
}

// message is any message of the queue: one of its parts is set.
type message struct {
	contacts.PurgeMessage
	Continuation
	Records []struct { // S3's upload notice (none in its s3:TestEvent)
		S3 struct {
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

func (w *Processor) handle(ctx context.Context, body string) error {
	stopBy := w.stopBy(ctx)
	var m message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		slog.WarnContext(ctx, "imports: unreadable message dropped", "error", err.Error())
		return nil
	}
	switch {
	case m.PurgeEvents != nil:
		return w.purge(ctx, []byte(body), *m.PurgeEvents, stopBy)
	case m.ImportID != "":
		return w.run(ctx, m.Continuation, stopBy)
	}
	for _, rec := range m.Records {
		key, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil {
			key = rec.S3.Object.Key
		}
		orgID, importID, ok := ParseObjectKey(key)
		if !ok {
			slog.WarnContext(ctx, "imports: upload outside the imports folder ignored", "key", key)
			continue
		}
		if err := w.run(ctx, Continuation{OrgID: orgID, ImportID: importID}, stopBy); err != nil {
			return err
		}
	}
	return nil
}

func (w *Processor) run(ctx context.Context, c Continuation, stopBy time.Time) error {
	err := w.svc.Run(ctx, c.OrgID, c.ImportID, stopBy)
	switch {
	case errors.Is(err, ErrUnfinished):
		return w.requeue(ctx, c, 0)
	case busy(err):
		slog.WarnContext(ctx, "imports: table busy, import continues later", "importId", c.ImportID, "error", err.Error())
		return w.requeue(ctx, c, BusyDelay)
	}
	return err
}

// purge runs a purge job, and queues the same message again when the job
// ran out of time or the table was too busy. A job that can never succeed
// (not errs.Retryable) is dropped.
func (w *Processor) purge(ctx context.Context, body []byte, job contacts.PurgeJob, stopBy time.Time) error {
	finished, err := w.purger.PurgeEvents(ctx, job, stopBy)
	switch {
	case err == nil && !finished:
		return w.enqueue(ctx, body, 0)
	case err == nil:
		return nil
	case busy(err):
		slog.WarnContext(ctx, "imports: table busy, purge continues later", "orgId", job.OrgID, "contactId", job.ContactID, "error", err.Error())
		return w.enqueue(ctx, body, BusyDelay)
	case !errs.Retryable(err):
		slog.WarnContext(ctx, "imports: purge job dropped", "orgId", job.OrgID, "contactId", job.ContactID, "error", err.Error())
		return nil
	}
	return err
}

// requeue queues msg to be handled again after delay; if that fails, the
// message being handled fails instead, and comes back from the queue.
func (w *Processor) requeue(ctx context.Context, msg any, delay time.Duration) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return w.enqueue(ctx, body, delay)
}

// busy reports whether err is the table overloaded even after the SDK's and
// the store's retries: worth trying again shortly, from the checkpoint.
func busy(err error) bool {
	var un *errs.Unavailable
	return errors.As(err, &un)
}

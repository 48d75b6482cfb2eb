package imports

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Continuation is the message that makes an import go on where it stopped.
type Continuation struct {
	OrgID    string `json:"orgId"`
	ImportID string `json:"importId"`
}

// Enqueuer queues a continuation on the import queue.
type Enqueuer func(ctx context.Context, c Continuation) error

// Processor handles the import queue: S3's upload notices and continuations.
type Processor struct {
	svc      *Service
	enqueue  Enqueuer
	reserved time.Duration
}

// NewProcessor returns the import queue's processor. reserved is the time it keeps back
// before its deadline to checkpoint and queue a continuation.
func NewProcessor(svc *Service, enqueue Enqueuer, reserved time.Duration) *Processor {
	return &Processor{svc: svc, enqueue: enqueue, reserved: reserved}
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

func (w *Processor) handle(ctx context.Context, body string) error {
	var stopBy time.Time
	if d, ok := ctx.Deadline(); ok {
		stopBy = d.Add(-w.reserved)
	}
	var c Continuation
	if err := json.Unmarshal([]byte(body), &c); err == nil && c.ImportID != "" {
		return w.run(ctx, c, stopBy)
	}
	var notice uploadNotice
	if err := json.Unmarshal([]byte(body), &notice); err != nil {
		slog.WarnContext(ctx, "imports: unreadable message dropped", "error", err.Error())
		return nil
	}
	for _, rec := range notice.Records { // none in S3's s3:TestEvent
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

// uploadNotice is the part of S3's event notification the worker reads.
type uploadNotice struct {
	Records []struct {
		S3 struct {
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

func (w *Processor) run(ctx context.Context, c Continuation, stopBy time.Time) error {
	err := w.svc.Run(ctx, c.OrgID, c.ImportID, stopBy)
	if errors.Is(err, ErrUnfinished) {
		return w.enqueue(ctx, c)
	}
	return err
}

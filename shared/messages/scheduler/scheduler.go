// Package scheduler is the scheduler function: every minute (every 5 s in
// the local stack) it reads the Due index's buckets from the watermark's
// minute to the current one, enqueues the scheduled sends that are due by
// the end of the current minute on the send queue, delayed to the second
// they are due (so nothing goes early), and marks each a send whose
// worker's claim lapsed as unknown.
//
// Exactly once: a due entry is marked (its Due keys moved 15 minutes on,
// conditionally on the ones read) before it is enqueued, so of two
// overlapping ticks only one enqueues it; the mark doubles as a re-check,
// so a job lost after the mark is enqueued again 15 minutes later; and the
// send worker's claim drops any copy. The segment worker's evaluation of a
// contact writes its state's Due keys afresh (or removes them), which
// clears the mark; a copy of an evaluate job evaluates the contact again,
// harmlessly.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

const (
	// Recheck is how long after enqueuing a send the scheduler looks at it
	// again: if the job was lost (the queue call failed after the mark),
	// the send is still scheduled then and is enqueued again.
	Recheck = 15 * time.Minute
	// FirstLookBack is where the first tick starts, with no watermark yet.
	FirstLookBack = 15 * time.Minute
	// MaxDelay is SQS's longest DelaySeconds.
	MaxDelay = 15 * time.Minute
	// reserve is the time a tick keeps back before its deadline: it stops
	// after the last whole minute read and the next tick goes on from there.
	reserve = 10 * time.Second
	// maxBatch is the most messages one SendMessageBatch takes.
	maxBatch = 10
)

// LapsedReason is the reason of a send whose claim lapsed.
const LapsedReason = "the send worker's claim lapsed before SES answered; not sent again"

// SQSSender is the part of the SQS client the scheduler uses.
type SQSSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Scheduler moves due sends onto the send queue, and contacts due for a
// segment re-evaluation onto the segment queue.
type Scheduler struct {
	repo             repo
	ledger           *sends.Ledger
	clock            clock.Clock
	sqs              SQSSender
	queueURL         string
	segmentQueueURL  string
	webhookQueueURL  string
	sequenceQueueURL string
}

// New is the scheduler over the function's table, send queue and segment
// queue.
func New(d *platform.Deps, q SQSSender) *Scheduler {
	return &Scheduler{repo: repo{d.Store}, ledger: &sends.Ledger{Store: d.Store}, clock: d.Clock, sqs: q,
		queueURL: d.Config.SendQueueURL, segmentQueueURL: d.Config.SegmentQueueURL, webhookQueueURL: d.Config.WebhookQueueURL,
		sequenceQueueURL: d.Config.SequenceQueueURL}
}

// StepJob is the body of a sequence queue message the scheduler sends:
// {"step":{"orgId","enrollmentId","seq"}}, an enrollment's step that is due.
type StepJob struct {
	Step *Step `json:"step"`
}

// Step names step number Seq of an enrollment.
type Step struct {
	OrgID        string `json:"orgId"`
	EnrollmentID string `json:"enrollmentId"`
	Seq          int    `json:"seq"`
}

// Evaluate is the segment queue's job the scheduler makes: evaluate one
// contact's segments again, as a time window has flipped.
type Evaluate struct {
	OrgID     string `json:"orgId"`
	ContactID string `json:"contactId"`
}

// WebhookAttempt asks the webhook worker for attempt N of a delivery.
type WebhookAttempt struct {
	OrgID      string `json:"orgId"`
	WebhookID  string `json:"webhookId"`
	DeliveryID string `json:"deliveryId"`
	N          int    `json:"n"`
}

// WebhookJob is the body of a webhook queue message the scheduler sends:
// {"attempt":{"orgId","webhookId","deliveryId","n"}}.
type WebhookJob struct {
	Attempt *WebhookAttempt `json:"attempt"`
}

// SegmentJob is the body of a segment queue message the scheduler sends:
// {"evaluate":{"orgId","contactId"}}.
type SegmentJob struct {
	Evaluate *Evaluate `json:"evaluate"`
}

// Result is what one tick did: the Due buckets (shard × minute) it read,
// the entries it found, the sends it enqueued and marked unknown, the
// contacts it enqueued for a segment re-evaluation, and the entries it
// left (another tick's, a claim still running, stale keys cleared).
type Result struct {
	Buckets   int `json:"buckets"`
	Due       int `json:"due"`
	Enqueued  int `json:"enqueued"`
	Unknown   int `json:"unknown"`
	Evaluated int `json:"evaluated"`
	Attempts  int `json:"attempts"` // webhook attempts queued
	Steps     int `json:"steps"`    // enrollment steps queued
	Started   int `json:"started"`  // scheduled broadcasts started
	Skipped   int `json:"skipped"`
}

func (r *Result) add(o Result) {
	r.Buckets += o.Buckets
	r.Due += o.Due
	r.Enqueued += o.Enqueued
	r.Unknown += o.Unknown
	r.Evaluated += o.Evaluated
	r.Attempts += o.Attempts
	r.Steps += o.Steps
	r.Started += o.Started
	r.Skipped += o.Skipped
}

// Tick reads every Due bucket from the watermark's minute to the current
// minute, inclusive (the watermark's minute again: entries may have been
// written into it after the last tick read it), then moves the watermark
// to the current minute. An error leaves the watermark where it was, so
// the next tick (or Lambda's retry) reads the same minutes again.
func (s *Scheduler) Tick(ctx context.Context) (Result, error) {
	now := s.clock.Now()
	last := unixMinute(now)
	mark, found, err := s.repo.watermark(ctx)
	if err != nil {
		return Result{}, err
	}
	first := mark
	if !found {
		first = unixMinute(now.Add(-FirstLookBack))
	}
	// After an outage the watermark may be hours back: every minute since
	// is read, as many as one tick has time for (it stops before its
	// deadline), and the next tick goes on from there. Nothing due is left
	// behind.

	var res Result
	done := first - 1 // the last minute read whole
	for m := first; m <= last; m++ {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < reserve && m > first {
			break
		}
		r, err := s.minute(ctx, m, now)
		res.add(r)
		if err != nil {
			s.log(ctx, res, err)
			return res, err
		}
		done = m
	}
	if !found || done > mark {
		err = s.repo.advance(ctx, done)
	}
	s.log(ctx, res, err)
	return res, err
}

func (s *Scheduler) log(ctx context.Context, r Result, err error) {
	attrs := []any{"buckets", r.Buckets, "due", r.Due, "enqueued", r.Enqueued, "unknown", r.Unknown, "evaluated", r.Evaluated,
		"attempts", r.Attempts, "steps", r.Steps, "started", r.Started, "skipped", r.Skipped}
	if err != nil {
		slog.ErrorContext(ctx, "scheduler: tick failed", append(attrs, "error", err.Error())...)
		return
	}
	if r.Due == 0 && r.Unknown == 0 {
		slog.DebugContext(ctx, "scheduler: tick", attrs...) // a quiet minute: no line at the default level
		return
	}
	slog.InfoContext(ctx, "scheduler: tick", attrs...)
}

// minute reads the shards of one minute at once.
func (s *Scheduler) minute(ctx context.Context, m int64, now time.Time) (Result, error) {
	at := time.Unix(m*60, 0).UTC()
	results := make([]Result, store.DueShards)
	failures := make([]error, store.DueShards)
	var wg sync.WaitGroup
	for shard := range store.DueShards {
		wg.Go(func() { results[shard], failures[shard] = s.bucket(ctx, store.DuePK(at, shard), now) })
	}
	wg.Wait()
	var res Result
	for _, r := range results {
		res.add(r)
	}
	return res, errors.Join(failures...)
}

// bucket handles the entries of one Due partition, enqueuing its due sends
// and segment evaluations maxBatch at a time per queue. The jobs marked
// before a failure are still enqueued.
func (s *Scheduler) bucket(ctx context.Context, duePK string, now time.Time) (Result, error) {
	res := Result{Buckets: 1}
	var sendBatch, segBatch, hookBatch, stepBatch []job
	flush := func(batch *[]job, url string, n *int) error {
		k, err := s.enqueue(ctx, url, *batch)
		*n += k
		*batch = (*batch)[:0]
		return err
	}
	err := s.repo.bucket(ctx, duePK, func(es []entry) error {
		for _, e := range es {
			res.Due++
			j, outcome, err := s.entry(ctx, e, now)
			if err != nil {
				return err
			}
			switch outcome {
			case enqueue:
				sendBatch = append(sendBatch, j)
				if len(sendBatch) == maxBatch {
					if err := flush(&sendBatch, s.queueURL, &res.Enqueued); err != nil {
						return err
					}
				}
			case evaluate:
				segBatch = append(segBatch, j)
				if len(segBatch) == maxBatch {
					if err := flush(&segBatch, s.segmentQueueURL, &res.Evaluated); err != nil {
						return err
					}
				}
			case attempt:
				hookBatch = append(hookBatch, j)
				if len(hookBatch) == maxBatch {
					if err := flush(&hookBatch, s.webhookQueueURL, &res.Attempts); err != nil {
						return err
					}
				}
			case step:
				stepBatch = append(stepBatch, j)
				if len(stepBatch) == maxBatch {
					if err := flush(&stepBatch, s.sequenceQueueURL, &res.Steps); err != nil {
						return err
					}
				}
			case started:
				res.Started++
			case unknown:
				res.Unknown++
			default:
				res.Skipped++
			}
		}
		return nil
	})
	qerr := flush(&sendBatch, s.queueURL, &res.Enqueued)
	serr := flush(&segBatch, s.segmentQueueURL, &res.Evaluated)
	herr := flush(&hookBatch, s.webhookQueueURL, &res.Attempts)
	perr := flush(&stepBatch, s.sequenceQueueURL, &res.Steps)
	return res, errors.Join(err, qerr, serr, herr, perr)
}

// What entry decided.
type outcome int

const (
	skip outcome = iota
	enqueue
	unknown
	evaluate
	attempt
	step
	started
)

// job is an item marked for a queue: its message body, its delay, and the
// Due keys to put back should the queue refuse it.
type job struct {
	body           any    // sends.Job or SegmentJob
	orgID, id      string // for logs
	key            store.Key
	delay          int32
	seenPK, seenSK string
	markPK, markSK string
}

// entry decides what one due entry needs, reading its item once
// (consistently: the index may lag behind the item).
func (s *Scheduler) entry(ctx context.Context, e entry, now time.Time) (job, outcome, error) {
	it, err := s.repo.item(ctx, e.Key)
	if errors.Is(err, errs.ErrNotFound) {
		return job{}, skip, nil
	}
	if err != nil {
		return job{}, skip, err
	}
	if it.DueSK != e.DueSK {
		return job{}, skip, nil // its Due keys moved since the index was written
	}
	switch it.Type {
	case sends.ItemType:
		var send sends.Item
		if err := it.decode(&send); err != nil {
			return job{}, skip, err
		}
		return s.sendEntry(ctx, e, send, now)
	case segmentStateType:
		var st segmentState
		if err := it.decode(&st); err != nil {
			return job{}, skip, err
		}
		return s.segmentEntry(ctx, e, st, now)
	case webhookDeliveryType:
		var d webhookDelivery
		if err := it.decode(&d); err != nil {
			return job{}, skip, err
		}
		return s.webhookEntry(ctx, e, d, now)
	case enrollmentType:
		var enr enrollment
		if err := it.decode(&enr); err != nil {
			return job{}, skip, err
		}
		return s.enrollmentEntry(ctx, e, enr, now)
	case broadcastType:
		var b broadcast
		if err := it.decode(&b); err != nil {
			return job{}, skip, err
		}
		return s.broadcastEntry(ctx, e, b, now)
	}
	return job{}, skip, nil
}

// enrollmentEntry marks an enrollment whose next step is due (its Due keys
// moved to the re-check) and makes the step's job, delayed to the second
// it is due. The step's write moves the Due keys on; a job lost after the
// mark is made again at the re-check, and a copy of it finds the step
// taken. A finished or held enrollment's keys are cleared.
func (s *Scheduler) enrollmentEntry(ctx context.Context, e entry, enr enrollment, now time.Time) (job, outcome, error) {
	if enr.Status != "active" || enr.Held {
		if err := s.repo.moveDue(ctx, enr.Key, e.DueSK, "", "", time.Time{}); err != nil && !errors.Is(err, errs.ErrConflict) {
			return job{}, skip, err
		}
		return job{}, skip, nil
	}
	recheck := now.Add(Recheck)
	pk, sk := store.DuePK(recheck, store.DueShard(enr.ID)), store.DueSK(recheck, enr.ID)
	err := s.repo.moveDue(ctx, enr.Key, e.DueSK, pk, sk, time.Time{})
	if errors.Is(err, errs.ErrConflict) {
		return job{}, skip, nil // another tick marked it, or the worker took the step since
	}
	if err != nil {
		return job{}, skip, err
	}
	var due *time.Time
	if at, ok := dueAt(e.DueSK); ok {
		due = &at
	}
	return job{body: StepJob{Step: &Step{OrgID: enr.OrgID, EnrollmentID: enr.ID, Seq: enr.Seq}}, orgID: enr.OrgID, id: enr.ID,
		key: enr.Key, delay: delay(due, now), seenPK: e.DuePK, seenSK: e.DueSK, markPK: pk, markSK: sk}, step, nil
}

// broadcastEntry starts a scheduled broadcast whose sendAt came: it
// becomes sending, which the stream turns into its fan-out's first page.
// Any other broadcast's keys are cleared.
func (s *Scheduler) broadcastEntry(ctx context.Context, e entry, b broadcast, now time.Time) (job, outcome, error) {
	if b.Status != "scheduled" {
		if err := s.repo.moveDue(ctx, b.Key, e.DueSK, "", "", time.Time{}); err != nil && !errors.Is(err, errs.ErrConflict) {
			return job{}, skip, err
		}
		return job{}, skip, nil
	}
	if at, ok := dueAt(e.DueSK); ok && at.After(now) {
		return job{}, skip, nil // due later this minute: the next tick starts it
	}
	err := s.repo.startBroadcast(ctx, b.Key, e.DueSK, now)
	if errors.Is(err, errs.ErrConflict) {
		return job{}, skip, nil
	}
	if err != nil {
		return job{}, skip, err
	}
	slog.InfoContext(ctx, "scheduler: broadcast started", "orgId", b.OrgID, "broadcastId", b.ID)
	return job{}, started, nil
}

// webhookEntry marks a delivery whose next attempt is due (its Due keys
// moved to the re-check) and makes the attempt's job, delayed to the
// second it is due. The worker's record of the attempt clears the mark;
// a job lost after the mark is made again at the re-check, and a copy of
// it finds the attempt made.
func (s *Scheduler) webhookEntry(ctx context.Context, e entry, d webhookDelivery, now time.Time) (job, outcome, error) {
	if d.Status != "pending" { // stale keys: nothing is due
		if err := s.repo.moveDue(ctx, d.Key, e.DueSK, "", "", time.Time{}); err != nil && !errors.Is(err, errs.ErrConflict) {
			return job{}, skip, err
		}
		return job{}, skip, nil
	}
	recheck := now.Add(Recheck)
	pk, sk := store.DuePK(recheck, store.DueShard(d.ID)), store.DueSK(recheck, d.ID)
	err := s.repo.moveDue(ctx, d.Key, e.DueSK, pk, sk, time.Time{})
	if errors.Is(err, errs.ErrConflict) {
		return job{}, skip, nil
	}
	if err != nil {
		return job{}, skip, err
	}
	var due *time.Time
	if at, ok := dueAt(e.DueSK); ok {
		due = &at
	}
	return job{body: WebhookJob{Attempt: &WebhookAttempt{OrgID: d.OrgID, WebhookID: d.WebhookID, DeliveryID: d.ID, N: len(d.Attempts) + 1}},
		orgID: d.OrgID, id: d.ID, key: d.Key, delay: delay(due, now), seenPK: e.DuePK, seenSK: e.DueSK, markPK: pk, markSK: sk}, attempt, nil
}

// segmentEntry marks a contact's due segment state (its Due keys moved to
// the re-check) and makes its evaluate job, delayed to the millisecond its
// Due sort key names, rounded up to the second.
func (s *Scheduler) segmentEntry(ctx context.Context, e entry, st segmentState, now time.Time) (job, outcome, error) {
	recheck := now.Add(Recheck)
	pk, sk := store.DuePK(recheck, store.DueShard(st.ContactID)), store.DueSK(recheck, st.ContactID)
	err := s.repo.moveDue(ctx, st.Key, e.DueSK, pk, sk, time.Time{})
	if errors.Is(err, errs.ErrConflict) {
		return job{}, skip, nil // another tick marked it, or the worker evaluated it since
	}
	if err != nil {
		return job{}, skip, err
	}
	var due *time.Time
	if at, ok := dueAt(e.DueSK); ok {
		due = &at
	}
	return job{body: SegmentJob{Evaluate: &Evaluate{OrgID: st.OrgID, ContactID: st.ContactID}}, orgID: st.OrgID, id: st.ContactID,
		key: st.Key, delay: delay(due, now), seenPK: e.DuePK, seenSK: e.DueSK, markPK: pk, markSK: sk}, evaluate, nil
}

// dueAt is the time a Due sort key names (store.DueSK: unix milliseconds,
// fixed width, then the id).
func dueAt(dueSK string) (time.Time, bool) {
	ms, _, ok := strings.Cut(dueSK, "#")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n).UTC(), true
}

// sendEntry decides what one due send needs.
func (s *Scheduler) sendEntry(ctx context.Context, e entry, it sends.Item, now time.Time) (job, outcome, error) {
	switch it.Status {
	case sends.Scheduled, sends.Queued:
		pk, sk := sends.DueKeys(it.ID, now.Add(Recheck))
		err := s.repo.moveDue(ctx, it.Key, e.DueSK, pk, sk, now)
		if errors.Is(err, errs.ErrConflict) {
			return job{}, skip, nil // another tick marked it, or the API moved it
		}
		if err != nil {
			return job{}, skip, err
		}
		return job{body: sends.Job{OrgID: it.OrgID, SendID: it.ID}, orgID: it.OrgID, id: it.ID, key: it.Key, delay: delay(it.SendAt, now),
			seenPK: e.DuePK, seenSK: e.DueSK, markPK: pk, markSK: sk}, enqueue, nil
	case sends.Sending:
		if it.LeaseUntil == nil || it.LeaseUntil.After(now) {
			return job{}, skip, nil // the claim runs; its entry is due when the lease ends
		}
		err := s.ledger.Record(ctx, &it, sends.Event{Type: sends.Unknown, At: *it.LeaseUntil, Key: "lease",
			Status: sends.Unknown, Reason: LapsedReason, Count: []string{sends.CountUnknown},
			When: func(it *sends.Item) bool {
				return it.Status == sends.Sending && it.LeaseUntil != nil && !it.LeaseUntil.After(now)
			}})
		if errors.Is(err, sends.ErrDuplicate) || errors.Is(err, sends.ErrStale) {
			return job{}, skip, nil
		}
		if err != nil {
			return job{}, skip, err
		}
		slog.InfoContext(ctx, "scheduler: claim lapsed, send unknown", "orgId", it.OrgID, "sendId", it.ID)
		return job{}, unknown, nil
	}
	// Sent, failed, cancelled…: nothing to do but clear what is left.
	if err := s.repo.moveDue(ctx, it.Key, e.DueSK, "", "", time.Time{}); err != nil && !errors.Is(err, errs.ErrConflict) {
		return job{}, skip, err
	}
	return job{}, skip, nil
}

// delay is the DelaySeconds that makes a job due at sendAt visible to its
// worker no earlier than then: the remaining seconds, rounded up.
func delay(sendAt *time.Time, now time.Time) int32 {
	if sendAt == nil || !sendAt.After(now) {
		return 0
	}
	d := math.Ceil(sendAt.Sub(now).Seconds())
	return int32(min(d, MaxDelay.Seconds()))
}

// enqueue sends the jobs to the queue at url in one call and returns how
// many the queue took. The jobs it refuses get their Due keys back, so the
// next tick tries them again rather than the re-check 15 minutes on.
func (s *Scheduler) enqueue(ctx context.Context, url string, jobs []job) (int, error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(jobs))
	for i, j := range jobs {
		body, err := json.Marshal(j.body)
		if err != nil {
			return 0, fmt.Errorf("scheduler: encode job: %w", err)
		}
		entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body)), DelaySeconds: j.delay}
	}
	out, err := s.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
	failed := map[int]bool{}
	if err != nil {
		for i := range jobs {
			failed[i] = true
		}
	} else {
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			failed[i] = true
		}
	}
	if len(failed) == 0 {
		return len(jobs), nil
	}
	for i := range failed {
		j := jobs[i]
		if uerr := s.repo.moveDue(ctx, j.key, j.markSK, j.seenPK, j.seenSK, time.Time{}); uerr != nil {
			slog.WarnContext(ctx, "scheduler: could not unmark a job the queue refused; the re-check will enqueue it",
				"orgId", j.orgID, "id", j.id, "error", uerr.Error())
		}
	}
	if err == nil {
		err = fmt.Errorf("scheduler: the queue refused %d of %d jobs, first: %s", len(out.Failed), len(jobs), aws.ToString(out.Failed[0].Message))
	} else {
		err = fmt.Errorf("scheduler: enqueue: %w", err)
	}
	return len(jobs) - len(failed), err
}

// unixMinute is the minute of t since the Unix epoch, as the Due buckets
// count them.
func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

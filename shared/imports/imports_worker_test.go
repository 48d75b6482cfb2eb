package imports

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
)

// queued is what a Processor put back on the queue.
type queued struct {
	body  string
	delay time.Duration
}

// queue records what a Processor enqueues.
type queue struct {
	mu   sync.Mutex
	msgs []queued
	err  error
}

func (q *queue) enqueue(_ context.Context, body []byte, delay time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.msgs = append(q.msgs, queued{string(body), delay})
	return nil
}

func (q *queue) taken() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.msgs
	q.msgs = nil
	return out
}

func sqsEvent(bodies ...string) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: b})
	}
	return ev
}

// When the table stays throttled through every retry, the worker does not
// fail the message (which would come back only after the queue's
// visibility timeout): it queues the import's continuation after
// BusyDelay, which resumes from the checkpoint and completes it exactly.
func TestProcessorContinuesABusyImportAfterADelay(t *testing.T) {
	f := newFixture(t)
	q := &queue{}
	w := NewProcessor(f.svc, f.contacts, q.enqueue, time.Minute)
	id := f.newImport("email,tags\nann@example.com,vip\nbob@example.com,vip\n") // tag entries are batch writes
	notice := fmt.Sprintf(`{"Records":[{"s3":{"object":{"key":%q}}}]}`, ObjectKey(f.orgID, id))

	f.faults.FailNext("DynamoDB.BatchWriteItem", 3, awsx.ProvisionedThroughputExceeded)
	res, err := w.Handle(t.Context(), sqsEvent(notice))
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures, "the continuation carries the work")
	again := q.taken()
	require.Len(t, again, 1)
	assert.Equal(t, BusyDelay, again[0].delay)
	assert.JSONEq(t, fmt.Sprintf(`{"orgId":%q,"importId":%q}`, f.orgID, id), again[0].body)
	assert.Equal(t, StatusRunning, f.get(id).Status)
	assert.Zero(t, f.get(id).Processed)

	res, err = w.Handle(t.Context(), sqsEvent(again[0].body))
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	assert.Empty(t, q.taken())
	got := f.get(id)
	assert.Equal(t, StatusCompleted, got.Status)
	assert.Equal(t, 2, got.Created)
}

// fakePurger answers PurgeEvents as told and records the jobs it was given.
type fakePurger struct {
	finished bool
	err      error
	jobs     []contacts.PurgeJob
	stopBy   []time.Time
}

func (p *fakePurger) PurgeEvents(_ context.Context, job contacts.PurgeJob, stopBy time.Time) (bool, error) {
	p.jobs = append(p.jobs, job)
	p.stopBy = append(p.stopBy, stopBy)
	return p.finished, p.err
}

// Purge jobs on the queue go to the contacts service; one that runs out of
// time is queued again as it came, a busy table delays it, a job that can
// never succeed is dropped, and any other failure is reported for SQS to
// deliver the message again.
func TestProcessorDispatchesPurgeJobs(t *testing.T) {
	const body = `{"purgeEvents":{"orgId":"org_01J00000000000000000000000","contactId":"cnt_01J00000000000000000000000"}}`
	job := contacts.PurgeJob{OrgID: "org_01J00000000000000000000000", ContactID: "cnt_01J00000000000000000000000"}
	for _, tc := range []struct {
		name     string
		finished bool
		err      error
		requeued []queued
		failed   bool
	}{
		{"finished", true, nil, nil, false},
		{"out of time", false, nil, []queued{{body, 0}}, false},
		{"table busy", false, errs.NewUnavailable(1, errors.New("throttled")), []queued{{body, BusyDelay}}, false},
		{"a job that can never succeed", false, errs.Invalid("purgeEvents", "contacts: bad job"), nil, false},
		{"another failure", false, errors.New("contacts: network down"), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			p := &fakePurger{finished: tc.finished, err: tc.err}
			q := &queue{}
			w := NewProcessor(&Service{clock: clk}, p, q.enqueue, time.Minute)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			res, err := w.Handle(ctx, sqsEvent(body))
			require.NoError(t, err)
			assert.Equal(t, []contacts.PurgeJob{job}, p.jobs)
			require.Len(t, p.stopBy, 1)
			assert.WithinDuration(t, clk.Now().Add(4*time.Minute), p.stopBy[0], 5*time.Second, "a minute kept back, on the service's clock")
			assert.Equal(t, tc.requeued, q.taken())
			assert.Equal(t, tc.failed, len(res.BatchItemFailures) == 1)
		})
	}

	t.Run("a requeue that fails fails the message", func(t *testing.T) {
		q := &queue{err: errors.New("sqs: down")}
		w := NewProcessor(&Service{clock: clock.NewFake(t0)}, &fakePurger{}, q.enqueue, time.Minute)
		res, err := w.Handle(t.Context(), sqsEvent(body))
		require.NoError(t, err)
		assert.Len(t, res.BatchItemFailures, 1)
	})

	t.Run("the queue's other messages are not purges", func(t *testing.T) {
		p := &fakePurger{}
		w := NewProcessor(&Service{clock: clock.NewFake(t0)}, p, (&queue{}).enqueue, time.Minute)
		res, err := w.Handle(t.Context(), sqsEvent(`{"Records":[]}`, `not json`, `{"purgeEvents":null}`))
		require.NoError(t, err)
		assert.Empty(t, res.BatchItemFailures)
		assert.Empty(t, p.jobs)
	})
}

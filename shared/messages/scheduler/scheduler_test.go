package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/messages/scheduler"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA"

// at is a time on the test day.
func at(hms string) time.Time {
	t, err := time.Parse(time.DateTime, "2026-12-01 "+hms)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// spy forwards to the real queue and keeps what was sent, for the
// DelaySeconds a receive cannot show (sends and segment evaluations
// apart); fail makes it refuse calls instead.
type spy struct {
	q       *sqs.Client
	segURL  string
	hookURL string
	seqURL  string
	steps   []stepSent
	mu      sync.Mutex
	sent    []sent
	evals   []evalSent
	hooks   []hookSent
	fail    bool
}

type hookSent struct {
	job   scheduler.WebhookAttempt
	delay int32
}

type evalSent struct {
	job   scheduler.Evaluate
	delay int32
}

type sent struct {
	job   sends.Job
	delay int32
}

func (s *spy) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return nil, errors.New("queue down")
	}
	out, err := s.q.SendMessageBatch(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range in.Entries {
		if aws.ToString(in.QueueUrl) == s.hookURL {
			var j scheduler.WebhookJob
			if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &j); err != nil || j.Attempt == nil {
				return nil, fmt.Errorf("not an attempt job: %s", aws.ToString(e.MessageBody))
			}
			s.hooks = append(s.hooks, hookSent{*j.Attempt, e.DelaySeconds})
			continue
		}
		if aws.ToString(in.QueueUrl) == s.seqURL {
			var j scheduler.StepJob
			if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &j); err != nil || j.Step == nil {
				return nil, fmt.Errorf("not a step job: %s", aws.ToString(e.MessageBody))
			}
			s.steps = append(s.steps, stepSent{*j.Step, e.DelaySeconds})
			continue
		}
		if aws.ToString(in.QueueUrl) == s.segURL {
			var j scheduler.SegmentJob
			if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &j); err != nil || j.Evaluate == nil {
				return nil, fmt.Errorf("not an evaluate job: %s", aws.ToString(e.MessageBody))
			}
			s.evals = append(s.evals, evalSent{*j.Evaluate, e.DelaySeconds})
			continue
		}
		var j sends.Job
		if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &j); err != nil {
			return nil, err
		}
		s.sent = append(s.sent, sent{j, e.DelaySeconds})
	}
	return out, nil
}

func (s *spy) take() []sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

func (s *spy) takeHooks() []hookSent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.hooks
	s.hooks = nil
	return out
}

func (s *spy) takeEvals() []evalSent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.evals
	s.evals = nil
	return out
}

type harness struct {
	env    *testenv.Env
	clk    *clock.Fake
	deps   *platform.Deps
	sched  *scheduler.Scheduler
	queue  *spy
	url    string
	segURL string
	faults *awsx.Faults
}

// newHarness is a scheduler over a fresh table and a send queue and a
// segment queue of its own, with its clock at now.
func newHarness(t *testing.T, now time.Time) *harness {
	t.Helper()
	env := testenv.New(t)
	cfg := env.Config.Copy()
	faults := awsx.NewFaults()
	faults.Instrument(&cfg)
	awsx.QuickRetries(&cfg, 3)
	q := sqs.NewFromConfig(cfg)
	out, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(env.Store.Table + "-send")})
	require.NoError(t, err)
	seg, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(env.Store.Table + "-segments")})
	require.NoError(t, err)
	hooks, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(env.Store.Table + "-webhooks")})
	require.NoError(t, err)
	seqs, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(env.Store.Table + "-sequences")})
	require.NoError(t, err)
	clk := clock.NewFake(now)
	d, err := platform.NewDeps(cfg, config.Config{TableName: env.Store.Table, SendQueueURL: *out.QueueUrl, SegmentQueueURL: *seg.QueueUrl,
		WebhookQueueURL: *hooks.QueueUrl, SequenceQueueURL: *seqs.QueueUrl}, clk)
	require.NoError(t, err)
	sp := &spy{q: q, segURL: *seg.QueueUrl, hookURL: *hooks.QueueUrl, seqURL: *seqs.QueueUrl}
	env.Counter.Reset()
	return &harness{env: env, clk: clk, deps: d, sched: scheduler.New(d, sp), queue: sp, url: *out.QueueUrl, segURL: *seg.QueueUrl, faults: faults}
}

// schedule stores a send scheduled for sendAt, as the API does (an
// unconditional put: the SDK's retry of a put whose answer was lost on the
// way back must not fail the test's setup).
func (h *harness) schedule(t *testing.T, id string, sendAt time.Time) sends.Item {
	t.Helper()
	it := sends.Item{OrgID: org, ID: id, Status: sends.Scheduled, StatusAt: sendAt.Add(-time.Hour), To: "ada@example.com",
		Kind: sends.Transactional, SendAt: &sendAt, CreatedAt: sendAt.Add(-time.Hour)}
	it.SetKeys()
	require.NoError(t, h.env.Store.Put(t.Context(), it))
	return it
}

func (h *harness) get(t *testing.T, id string) sends.Item {
	t.Helper()
	var it sends.Item
	require.NoError(t, h.env.Store.GetConsistent(t.Context(), store.SendKey(org, id), &it))
	return it
}

// setWatermark stores the watermark at the minute of t.
func (h *harness) setWatermark(t *testing.T, tm time.Time) {
	t.Helper()
	_, err := h.env.DB.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: &h.env.Store.Table, Item: map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: store.SchedulerWatermarkKey().PK},
		store.AttrSK: &types.AttributeValueMemberS{Value: store.SchedulerWatermarkKey().SK},
		"minute":     &types.AttributeValueMemberN{Value: fmt.Sprint(tm.Unix() / 60)},
	}})
	require.NoError(t, err)
}

func (h *harness) watermark(t *testing.T) time.Time {
	t.Helper()
	var w struct {
		Minute int64 `dynamodbav:"minute"`
	}
	require.NoError(t, h.env.Store.GetConsistent(t.Context(), store.SchedulerWatermarkKey(), &w))
	return time.Unix(w.Minute*60, 0).UTC()
}

func (h *harness) tickAt(t *testing.T, now time.Time) scheduler.Result {
	t.Helper()
	h.clk.Advance(now.Sub(h.clk.Now()))
	res, err := h.sched.Tick(t.Context())
	require.NoError(t, err)
	return res
}

// receive reads every message the queue holds now (only undelayed ones are
// visible), deleting them.
func (h *harness) receive(t *testing.T) []sends.Job {
	t.Helper()
	var out []sends.Job
	for {
		res, err := h.queue.q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &h.url, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			var j sends.Job
			require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &j))
			out = append(out, j)
			_, err := h.queue.q.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: &h.url, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
}

func msgID(i int) string { return fmt.Sprintf("msg_01JAAAAAAAAAAAAAAAAAAA%04d", i) }

// oneShard is n send ids of one Due shard.
func oneShard(n int) []string {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		if store.DueShard(msgID(i)) == 0 {
			ids = append(ids, msgID(i))
		}
	}
	return ids
}

// A scheduled send is never enqueued before the tick of its minute, and
// then with the seconds left as its delay, so the worker sees it no earlier
// than it is due; a tick that comes late enqueues it at once.
func TestNeverEarlyAndAtMostOneTickLate(t *testing.T) {
	cases := []struct {
		name   string
		sendAt time.Time
		ticks  []time.Time
		at     int // the tick that enqueues it
		delay  int32
	}{
		{"the tick of its minute", at("10:05:30"), []time.Time{at("10:04:00"), at("10:04:59"), at("10:05:01")}, 2, 29},
		{"the last second of its minute, rounded up", at("10:05:59.5"), []time.Time{at("10:04:59"), at("10:05:01")}, 1, 59},
		{"a tick missed: the next one, at once", at("10:05:30"), []time.Time{at("10:04:59"), at("10:06:00")}, 1, 0},
		{"due on the tick", at("10:05:01"), []time.Time{at("10:05:01")}, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.ticks[0])
			it := h.schedule(t, msgID(1), c.sendAt)
			for i, tick := range c.ticks {
				res := h.tickAt(t, tick)
				queued := h.queue.take()
				if i != c.at {
					assert.Zero(t, res.Enqueued, "tick %d", i)
					assert.Empty(t, queued, "tick %d: nothing early", i)
					continue
				}
				assert.Equal(t, 1, res.Enqueued)
				require.Equal(t, []sent{{sends.Job{OrgID: org, SendID: it.ID}, c.delay}}, queued)
				visible := tick.Add(time.Duration(c.delay) * time.Second)
				assert.False(t, visible.Before(c.sendAt), "visible at %s, due at %s", visible, c.sendAt)
				assert.LessOrEqual(t, visible.Sub(c.sendAt), time.Minute, "at most one tick late")
				// Marked: its Due keys moved to the re-check, still scheduled (the worker claims it).
				got := h.get(t, it.ID)
				assert.Equal(t, sends.Scheduled, got.Status)
				wantPK, wantSK := sends.DueKeys(it.ID, tick.Add(scheduler.Recheck))
				assert.Equal(t, wantPK, got.DuePK)
				assert.Equal(t, wantSK, got.DueSK)
			}
		})
	}
}

// Two ticks that overlap enqueue each send once: the second's conditional
// mark fails. A third tick, later in the same minute, enqueues nothing.
func TestOverlappingTicksEnqueueOnce(t *testing.T) {
	const n = 12 // more than one SendMessageBatch
	t.Run("concurrent", func(t *testing.T) {
		h := newHarness(t, at("10:01:00"))
		h.setWatermark(t, at("10:00:00"))
		for i := range n {
			h.schedule(t, msgID(i), at("10:00:10"))
		}
		var wg sync.WaitGroup
		results := make([]scheduler.Result, 2)
		for i := range results {
			wg.Go(func() {
				r, err := h.sched.Tick(t.Context())
				assert.NoError(t, err)
				results[i] = r
			})
		}
		wg.Wait()
		assert.Equal(t, n, results[0].Enqueued+results[1].Enqueued)
		assert.Len(t, h.receive(t), n, "one message per send")
	})
	t.Run("a whole tick between another's read and its mark", func(t *testing.T) {
		h := newHarness(t, at("10:01:00"))
		h.setWatermark(t, at("10:00:00"))
		want := map[string]bool{}
		for _, id := range oneShard(n) { // one bucket: read in order, so the hook stops the outer tick before any mark
			h.schedule(t, id, at("10:00:10"))
			want[id] = true
		}
		var inner scheduler.Result
		h.faults.Before("DynamoDB.UpdateItem", func(k int) {
			if k == 1 { // the outer tick's first mark
				var err error
				inner, err = h.sched.Tick(t.Context())
				assert.NoError(t, err)
			}
		})
		outer, err := h.sched.Tick(t.Context())
		require.NoError(t, err)
		assert.Equal(t, n, inner.Enqueued)
		assert.Zero(t, outer.Enqueued)
		assert.Equal(t, n, outer.Skipped)
		got := map[string]bool{}
		for _, j := range h.receive(t) {
			assert.False(t, got[j.SendID], "enqueued twice: %s", j.SendID)
			got[j.SendID] = true
		}
		assert.Equal(t, want, got)

		h.faults.Reset()
		again := h.tickAt(t, at("10:01:30"))
		assert.Zero(t, again.Enqueued)
		assert.Empty(t, h.receive(t))
	})
}

// A send whose worker died between its claim and SES's answer is left
// alone while the lease runs, then becomes unknown once (with its
// counter and timeline event), and is never enqueued again.
func TestALapsedClaimBecomesUnknown(t *testing.T) {
	h := newHarness(t, at("10:10:01"))
	h.setWatermark(t, at("10:09:00"))
	lease := at("10:10:30")
	it := sends.Item{OrgID: org, ID: msgID(1), Status: sends.Sending, StatusAt: at("10:05:30"), To: "ada@example.com",
		TemplateID: "welcome", Kind: sends.Transactional, CreatedAt: at("10:00:00"), LeaseUntil: &lease, Rev: 1}
	it.SetKeys()
	it.DuePK, it.DueSK = sends.DueKeys(it.ID, lease) // as the worker's claim sets them
	require.NoError(t, h.env.Store.Put(t.Context(), it))

	res := h.tickAt(t, at("10:10:01"))
	assert.Equal(t, scheduler.Result{Buckets: 2 * store.DueShards, Due: 1, Skipped: 1}, res, "the lease runs")
	assert.Equal(t, sends.Sending, h.get(t, it.ID).Status)

	res = h.tickAt(t, at("10:11:00"))
	assert.Equal(t, 1, res.Unknown)
	got := h.get(t, it.ID)
	assert.Equal(t, sends.Unknown, got.Status)
	assert.Equal(t, scheduler.LapsedReason, got.Reason)
	assert.Empty(t, got.DuePK, "no longer due")
	assert.Nil(t, got.LeaseUntil)
	var day map[string]any
	require.NoError(t, h.env.Store.Get(t.Context(), store.StatsDayKey(org, store.StatsShard(it.ID), lease), &day))
	assert.EqualValues(t, 1, day[sends.CountUnknown])
	var timeline []store.Key
	require.NoError(t, h.env.Store.QueryKeys(t.Context(), it.PK, "", func(k []store.Key) error { timeline = append(timeline, k...); return nil }))
	assert.Contains(t, timeline, store.Key{PK: it.PK, SK: store.TimelineSK(lease, sends.Unknown, "lease")})

	res = h.tickAt(t, at("10:11:30"))
	assert.Zero(t, res.Due+res.Unknown+res.Enqueued)
	assert.Empty(t, h.queue.take(), "never sent again")
}

// After an outage, the buckets from the watermark's minute on are read:
// an overdue send goes out at once, and the watermark moves to now.
func TestOverdueBucketsAreRead(t *testing.T) {
	h := newHarness(t, at("10:20:00"))
	h.setWatermark(t, at("10:10:00"))
	it := h.schedule(t, msgID(1), at("10:10:30"))
	res := h.tickAt(t, at("10:20:00"))
	assert.Equal(t, 11*store.DueShards, res.Buckets, "10:10 to 10:20 inclusive")
	assert.Equal(t, 1, res.Enqueued)
	assert.Equal(t, []sends.Job{{OrgID: org, SendID: it.ID}}, h.receive(t))
	assert.Equal(t, at("10:20:00"), h.watermark(t))
}

// The first tick, with no watermark, looks 15 minutes back.
func TestTheFirstTickLooksBackFifteenMinutes(t *testing.T) {
	h := newHarness(t, at("10:20:00"))
	kept := h.schedule(t, msgID(1), at("10:05:10"))
	h.schedule(t, msgID(2), at("10:04:50")) // before the look-back: left
	res := h.tickAt(t, at("10:20:00"))
	assert.Equal(t, 16*store.DueShards, res.Buckets)
	assert.Equal(t, []sends.Job{{OrgID: org, SendID: kept.ID}}, h.receive(t))
	assert.Equal(t, at("10:20:00"), h.watermark(t))
}

// A rescheduled send leaves its old bucket (its Due keys moved with it), so
// the old minute's tick enqueues nothing; a cancelled send whose Due keys
// were left behind has them cleared, and is not enqueued.
func TestRescheduledAndCancelledSendsAreNotEnqueued(t *testing.T) {
	h := newHarness(t, at("10:05:00"))
	h.setWatermark(t, at("10:05:00"))
	moved := h.schedule(t, msgID(1), at("10:05:30"))
	oldPK := moved.DuePK
	later := at("11:00:00")
	moved.SendAt = &later
	moved.Rev++
	moved.SetKeys()
	require.NoError(t, h.env.Store.Put(t.Context(), moved))
	out, err := h.env.DB.Query(t.Context(), &dynamodb.QueryInput{TableName: &h.env.Store.Table, IndexName: aws.String(store.IndexDue),
		KeyConditionExpression:    aws.String("DuePK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: oldPK}}})
	require.NoError(t, err)
	assert.Empty(t, out.Items, "the old bucket's entry is gone")

	cancelled := h.schedule(t, msgID(2), at("10:05:40"))
	cancelled.Status = sends.Cancelled // with its Due keys left behind
	require.NoError(t, h.env.Store.Put(t.Context(), cancelled))

	res := h.tickAt(t, at("10:05:01"))
	assert.Zero(t, res.Enqueued)
	assert.Equal(t, 1, res.Skipped)
	assert.Empty(t, h.queue.take())
	assert.Empty(t, h.get(t, cancelled.ID).DueSK, "stale Due keys cleared")
	_, laterSK := sends.DueKeys(moved.ID, later)
	assert.Equal(t, laterSK, h.get(t, moved.ID).DueSK, "still due at its new time")
}

// With nothing due, a tick costs one Query per shard and minute, one read
// of the watermark and one write to move it (none when the minute has not
// changed), and no queue call.
func TestCallsPerTick(t *testing.T) {
	h := newHarness(t, at("10:02:10"))
	h.setWatermark(t, at("10:00:00"))
	h.env.Counter.Reset()
	h.tickAt(t, at("10:02:10"))
	assert.Equal(t, map[string]int{"DynamoDB.Query": 3 * store.DueShards, "DynamoDB.GetItem": 1, "DynamoDB.UpdateItem": 1},
		h.env.Counter.Snapshot())

	h.env.Counter.Reset()
	h.tickAt(t, at("10:02:50"))
	assert.Equal(t, map[string]int{"DynamoDB.Query": store.DueShards, "DynamoDB.GetItem": 1}, h.env.Counter.Snapshot())
}

// When the queue refuses the jobs, the tick fails, the watermark stays and
// the sends get their Due keys back, so the next tick enqueues them (not
// the re-check 15 minutes on).
func TestARefusedJobIsTriedAgainNextTick(t *testing.T) {
	h := newHarness(t, at("10:05:01"))
	h.setWatermark(t, at("10:04:00"))
	it := h.schedule(t, msgID(1), at("10:05:30"))
	h.queue.fail = true
	_, err := h.sched.Tick(t.Context())
	require.Error(t, err)
	assert.Equal(t, it.DueSK, h.get(t, it.ID).DueSK, "unmarked")
	assert.Equal(t, at("10:04:00"), h.watermark(t), "the watermark stays")

	h.queue.fail = false
	res := h.tickAt(t, at("10:05:10"))
	assert.Equal(t, 1, res.Enqueued)
	assert.Equal(t, []sent{{sends.Job{OrgID: org, SendID: it.ID}, 20}}, h.queue.take())
}

// A DynamoDB failure fails the tick and leaves the watermark, so Lambda's
// retry (or the next tick) reads the same minutes.
func TestADynamoDBFailureLeavesTheWatermark(t *testing.T) {
	h := newHarness(t, at("10:05:01"))
	h.setWatermark(t, at("10:03:00"))
	h.faults.FailFrom("DynamoDB.Query", 10, awsx.InternalServerError) // from the second minute's shards on
	_, err := h.sched.Tick(t.Context())
	require.Error(t, err)
	assert.Equal(t, at("10:03:00"), h.watermark(t))
}

// The function's entry point ticks.
func TestTheFunctionTicks(t *testing.T) {
	h := newHarness(t, at("10:05:01"))
	h.setWatermark(t, at("10:05:00"))
	it := h.schedule(t, msgID(1), at("10:05:00"))
	handler, err := scheduler.Function.Build(h.deps)
	require.NoError(t, err)
	require.NoError(t, handler(t.Context(), events.EventBridgeEvent{DetailType: "Scheduled Event", Source: "aws.events"}))
	assert.Equal(t, []sends.Job{{OrgID: org, SendID: it.ID}}, h.receive(t))
}

package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/messages/scheduler"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

const contactID = "cnt_01JAAAAAAAAAAAAAAAAAAAAAAA"

// dueState stores a contact's segment state due at due, as the segment
// worker writes it (rev 3, next, and the Due keys of next).
func (h *harness) dueState(t *testing.T, cid string, due time.Time) {
	t.Helper()
	k := store.ContactSegStateKey(org, cid)
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	_, err := h.env.DB.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: &h.env.Store.Table, Item: map[string]types.AttributeValue{
		store.AttrPK: s(k.PK), store.AttrSK: s(k.SK), "type": s("segmentState"), "orgId": s(org), "contactId": s(cid),
		"rev": &types.AttributeValueMemberN{Value: "3"}, "next": s(due.Format(time.RFC3339Nano)),
		store.AttrDuePK: s(store.DuePK(due, store.DueShard(cid))), store.AttrDueSK: s(store.DueSK(due, cid)),
	}})
	require.NoError(t, err)
}

type stateSeen struct {
	Rev   int    `dynamodbav:"rev"`
	DuePK string `dynamodbav:"DuePK"`
	DueSK string `dynamodbav:"DueSK"`
}

func (h *harness) state(t *testing.T, cid string) stateSeen {
	t.Helper()
	var st stateSeen
	require.NoError(t, h.env.Store.GetConsistent(t.Context(), store.ContactSegStateKey(org, cid), &st))
	return st
}

// A contact's segment state is never enqueued before the tick of the
// minute its window flips, and then as one evaluate job on the segment
// queue (not the send queue) with the seconds left as its delay; its Due
// keys move to the re-check, its rev (the worker's lock) is left alone,
// and a second tick in the minute enqueues nothing.
func TestADueSegmentStateBecomesOneEvaluateJob(t *testing.T) {
	h := newHarness(t, at("10:04:00"))
	h.dueState(t, contactID, at("10:05:30"))

	res := h.tickAt(t, at("10:04:59"))
	assert.Zero(t, res.Evaluated)
	assert.Empty(t, h.queue.takeEvals(), "nothing early")

	res = h.tickAt(t, at("10:05:01"))
	assert.Equal(t, 1, res.Evaluated)
	assert.Zero(t, res.Enqueued, "no send job")
	assert.Equal(t, []evalSent{{scheduler.Evaluate{OrgID: org, ContactID: contactID}, 29}}, h.queue.takeEvals())
	assert.Empty(t, h.queue.take(), "nothing on the send queue")
	st := h.state(t, contactID)
	recheck := at("10:05:01").Add(scheduler.Recheck)
	assert.Equal(t, store.DuePK(recheck, store.DueShard(contactID)), st.DuePK)
	assert.Equal(t, store.DueSK(recheck, contactID), st.DueSK)
	assert.Equal(t, 3, st.Rev, "the worker's lock is not the scheduler's")

	res = h.tickAt(t, at("10:05:40"))
	assert.Zero(t, res.Evaluated)
	assert.Empty(t, h.queue.takeEvals(), "once")
}

// The job on the real segment queue is {"evaluate":{"orgId","contactId"}}.
func TestTheEvaluateJobOnTheSegmentQueue(t *testing.T) {
	h := newHarness(t, at("10:05:01"))
	h.setWatermark(t, at("10:05:00"))
	h.dueState(t, contactID, at("10:05:00"))
	res := h.tickAt(t, at("10:05:01"))
	require.Equal(t, 1, res.Evaluated)
	out, err := h.queue.q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &h.segURL, MaxNumberOfMessages: 10})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	assert.JSONEq(t, `{"evaluate":{"orgId":"`+org+`","contactId":"`+contactID+`"}}`, aws.ToString(out.Messages[0].Body))
	assert.Empty(t, h.receive(t), "the send queue has nothing")
}

// A job lost after the mark (the worker never rewrote the state) is
// enqueued again at the re-check; once the worker has evaluated the
// contact (its new Due keys, or none), the re-check finds nothing.
func TestAnUnevaluatedStateIsEnqueuedAgainAtTheRecheck(t *testing.T) {
	h := newHarness(t, at("10:05:01"))
	h.setWatermark(t, at("10:05:00"))
	h.dueState(t, contactID, at("10:05:10"))
	const other = "cnt_01JBBBBBBBBBBBBBBBBBBBBBBB"
	h.dueState(t, other, at("10:05:20"))
	require.Equal(t, 2, h.tickAt(t, at("10:05:01")).Evaluated)
	h.queue.takeEvals()

	// The worker evaluates other: its window flips next at 12:00.
	h.dueState(t, other, at("12:00:00"))
	for m := 6; m <= 19; m++ { // every minute until the re-check: nothing
		res := h.tickAt(t, at("10:05:01").Add(time.Duration(m-5)*time.Minute))
		assert.Zero(t, res.Evaluated, "minute %d", m)
	}
	res := h.tickAt(t, at("10:20:01"))
	assert.Equal(t, 1, res.Evaluated)
	assert.Equal(t, []evalSent{{scheduler.Evaluate{OrgID: org, ContactID: contactID}, 0}}, h.queue.takeEvals(), "only the lost one")
}

// When the segment queue refuses the job, the tick fails and the state
// gets its Due keys back, so the next tick enqueues it.
func TestARefusedEvaluateJobIsTriedAgainNextTick(t *testing.T) {
	h := newHarness(t, at("10:05:01"))
	h.setWatermark(t, at("10:04:00"))
	h.dueState(t, contactID, at("10:05:30"))
	before := h.state(t, contactID)
	h.queue.fail = true
	_, err := h.sched.Tick(t.Context())
	require.Error(t, err)
	assert.Equal(t, before, h.state(t, contactID), "unmarked")

	h.queue.fail = false
	res := h.tickAt(t, at("10:05:10"))
	assert.Equal(t, 1, res.Evaluated)
	assert.Equal(t, []evalSent{{scheduler.Evaluate{OrgID: org, ContactID: contactID}, 20}}, h.queue.takeEvals())
}

// Sends and segment states due in the same minute each go to their own
// queue, ten per call whatever their number.
func TestSendsAndSegmentStatesGoToTheirOwnQueues(t *testing.T) {
	h := newHarness(t, at("10:05:01"))
	h.setWatermark(t, at("10:05:00"))
	const n = 12
	var wantEvals []scheduler.Evaluate
	var wantSends []sends.Job
	for i := range n {
		cid := msgID(i) // any id does
		h.dueState(t, cid, at("10:05:00"))
		wantEvals = append(wantEvals, scheduler.Evaluate{OrgID: org, ContactID: cid})
	}
	it := h.schedule(t, msgID(100), at("10:05:00"))
	wantSends = append(wantSends, sends.Job{OrgID: org, SendID: it.ID})

	res := h.tickAt(t, at("10:05:01"))
	assert.Equal(t, n, res.Evaluated)
	assert.Equal(t, 1, res.Enqueued)
	var gotEvals []scheduler.Evaluate
	for _, e := range h.queue.takeEvals() {
		gotEvals = append(gotEvals, e.job)
	}
	assert.ElementsMatch(t, wantEvals, gotEvals)
	assert.Equal(t, wantSends, h.receive(t))
}

// dueDelivery stores a webhook delivery with n attempts made, status, and
// its next attempt due at due, as the webhook worker writes it.
func (h *harness) dueDelivery(t *testing.T, id, status string, n int, due time.Time) store.Key {
	t.Helper()
	k := store.WebhookDeliveryKey(org, "wh_01JAAAAAAAAAAAAAAAAAAAAAAA", id)
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	attempts := make([]types.AttributeValue, n)
	for i := range attempts {
		attempts[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: fmt.Sprint(i + 1)}}}
	}
	_, err := h.env.DB.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: &h.env.Store.Table, Item: map[string]types.AttributeValue{
		store.AttrPK: s(k.PK), store.AttrSK: s(k.SK), "type": s("webhookDelivery"), "orgId": s(org), "webhookId": s("wh_01JAAAAAAAAAAAAAAAAAAAAAAA"),
		"id": s(id), "status": s(status), "attempts": &types.AttributeValueMemberL{Value: attempts},
		store.AttrDuePK: s(store.DuePK(due, store.DueShard(id))), store.AttrDueSK: s(store.DueSK(due, id)),
	}})
	require.NoError(t, err)
	return k
}

// A webhook delivery whose next attempt is past SQS's delay is queued by
// the tick of its minute as the attempt after those made, delayed to its
// second, on the webhook queue; once. A delivery no longer pending loses
// its stale Due keys and queues nothing.
func TestADueWebhookDeliveryBecomesOneAttempt(t *testing.T) {
	h := newHarness(t, at("10:34:00"))
	const id = "dlv_01JAAAAAAAAAAAAAAAAAAAAAAA"
	h.dueDelivery(t, id, "pending", 2, at("10:35:30"))
	done := h.dueDelivery(t, "dlv_01JBBBBBBBBBBBBBBBBBBBBBBB", "succeeded", 3, at("10:35:10"))

	assert.Zero(t, h.tickAt(t, at("10:34:59")).Attempts, "nothing early")
	res := h.tickAt(t, at("10:35:01"))
	assert.Equal(t, 1, res.Attempts)
	assert.Equal(t, []hookSent{{scheduler.WebhookAttempt{OrgID: org, WebhookID: "wh_01JAAAAAAAAAAAAAAAAAAAAAAA", DeliveryID: id, N: 3}, 29}}, h.queue.takeHooks())
	assert.Empty(t, h.queue.take())
	assert.Empty(t, h.queue.takeEvals())
	assert.Zero(t, h.tickAt(t, at("10:35:40")).Attempts, "once")

	var left struct {
		DuePK string `dynamodbav:"DuePK"`
	}
	require.NoError(t, h.env.Store.GetConsistent(t.Context(), done, &left))
	assert.Empty(t, left.DuePK, "the stale keys are gone")
}

package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/messages/scheduler"
	"github.com/sendwell/sendwell/shared/store"
)

type stepSent struct {
	job   scheduler.Step
	delay int32
}

func (s *spy) takeSteps() []stepSent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.steps
	s.steps = nil
	return out
}

// dueItem stores an item of type typ with the attributes given and Due keys at due.
func (h *harness) dueItem(t *testing.T, k store.Key, typ, id string, due time.Time, attrs map[string]types.AttributeValue) {
	t.Helper()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	item := map[string]types.AttributeValue{store.AttrPK: s(k.PK), store.AttrSK: s(k.SK), "type": s(typ), "orgId": s(org), "id": s(id),
		store.AttrDuePK: s(store.DuePK(due, store.DueShard(id))), store.AttrDueSK: s(store.DueSK(due, id))}
	for a, v := range attrs {
		item[a] = v
	}
	_, err := h.env.DB.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: &h.env.Store.Table, Item: item})
	require.NoError(t, err)
}

// An enrollment whose wait ends past SQS's delay is queued by the tick of
// its minute as its current step number, delayed to its second, on the
// sequence queue; once. A finished or held enrollment queues nothing and
// loses its keys.
func TestADueEnrollmentBecomesOneStepJob(t *testing.T) {
	h := newHarness(t, at("10:34:00"))
	n := func(v int) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	st := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	const id = "enr_01JAAAAAAAAAAAAAAAAAAAAAAA"
	h.dueItem(t, store.EnrollmentKey(org, id), "enrollment", id, at("10:35:30"), map[string]types.AttributeValue{"status": st("active"), "seq": n(4)})
	done := store.EnrollmentKey(org, "enr_01JBBBBBBBBBBBBBBBBBBBBBBB")
	h.dueItem(t, done, "enrollment", "enr_01JBBBBBBBBBBBBBBBBBBBBBBB", at("10:35:10"), map[string]types.AttributeValue{"status": st("completed"), "seq": n(7)})
	held := store.EnrollmentKey(org, "enr_01JCCCCCCCCCCCCCCCCCCCCCCC")
	h.dueItem(t, held, "enrollment", "enr_01JCCCCCCCCCCCCCCCCCCCCCCC", at("10:35:20"),
		map[string]types.AttributeValue{"status": st("active"), "seq": n(2), "held": &types.AttributeValueMemberBOOL{Value: true}})

	assert.Zero(t, h.tickAt(t, at("10:34:59")).Steps, "nothing early")
	res := h.tickAt(t, at("10:35:01"))
	assert.Equal(t, 1, res.Steps)
	assert.Equal(t, []stepSent{{scheduler.Step{OrgID: org, EnrollmentID: id, Seq: 4}, 29}}, h.queue.takeSteps())
	assert.Empty(t, h.queue.take())
	assert.Zero(t, h.tickAt(t, at("10:35:40")).Steps, "once")
	for _, k := range []store.Key{done, held} {
		var left struct {
			DuePK string `dynamodbav:"DuePK"`
		}
		require.NoError(t, h.env.Store.GetConsistent(t.Context(), k, &left))
		assert.Empty(t, left.DuePK, "the stale keys are gone")
	}
}

// A scheduled broadcast becomes sending at the first tick at or after its
// sendAt (never before), once, with its start time; a cancelled one stays.
func TestADueBroadcastStartsOnce(t *testing.T) {
	h := newHarness(t, at("10:34:00"))
	st := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	const id = "bc_01JAAAAAAAAAAAAAAAAAAAAAAA"
	k := store.BroadcastKey(org, id)
	h.dueItem(t, k, "broadcast", id, at("10:35:30"), map[string]types.AttributeValue{"status": st("scheduled"), "rev": &types.AttributeValueMemberN{Value: "1"}})
	gone := store.BroadcastKey(org, "bc_01JBBBBBBBBBBBBBBBBBBBBBBB")
	h.dueItem(t, gone, "broadcast", "bc_01JBBBBBBBBBBBBBBBBBBBBBBB", at("10:35:00"), map[string]types.AttributeValue{"status": st("cancelled")})

	assert.Zero(t, h.tickAt(t, at("10:35:10")).Started, "not before sendAt")
	res := h.tickAt(t, at("10:35:31"))
	assert.Equal(t, 1, res.Started)
	assert.Zero(t, h.tickAt(t, at("10:35:50")).Started, "once")
	var b struct {
		Status    string    `dynamodbav:"status"`
		StartedAt time.Time `dynamodbav:"startedAt"`
		Rev       int       `dynamodbav:"rev"`
		DuePK     string    `dynamodbav:"DuePK"`
	}
	require.NoError(t, h.env.Store.GetConsistent(t.Context(), k, &b))
	assert.Equal(t, "sending", b.Status)
	assert.Equal(t, at("10:35:31"), b.StartedAt)
	assert.Equal(t, 2, b.Rev)
	assert.Empty(t, b.DuePK)
	var c struct {
		Status string `dynamodbav:"status"`
		DuePK  string `dynamodbav:"DuePK"`
	}
	require.NoError(t, h.env.Store.GetConsistent(t.Context(), gone, &c))
	assert.Equal(t, "cancelled", c.Status)
	assert.Empty(t, c.DuePK)
}

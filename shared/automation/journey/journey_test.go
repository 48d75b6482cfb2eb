package journey_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA"

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

// faulty is a store over a test's table whose DynamoDB client goes through
// Faults, with the SDK's retries minus their backoff: moto never answers
// TransactionConflict, DynamoDB does.
func faulty(t *testing.T) (*store.Store, *awsx.Faults, *testenv.Env) {
	env := testenv.New(t)
	cfg := env.Config.Copy()
	f := awsx.NewFaults()
	f.Instrument(&cfg)
	awsx.QuickRetries(&cfg, 3)
	return store.New(dynamodb.NewFromConfig(cfg), env.Store.Table), f, env
}

func sequenceOf(id string) *journey.Sequence {
	return &journey.Sequence{OrgID: org, ID: id, Generation: "gen1", Version: 1, Status: journey.Active}
}

func counters(t *testing.T, st *store.Store, seq string) journey.Counters {
	t.Helper()
	c, err := journey.SequenceCounters(t.Context(), st, org, seq)
	require.NoError(t, err)
	return c
}

// An enrolment DynamoDB cancels for TransactionConflict is sent again by
// the store and enrols once; a second trigger of the same contact is
// refused while the first journey runs (re-entry "always" lets it in once
// that journey ended), and the same trigger delivered twice makes one
// enrollment.
func TestEnrolUnderConflictsAndReentry(t *testing.T) {
	st, faults, _ := faulty(t)
	clk := clock.NewFake(t0)
	e := &journey.Enroller{Store: st, Clock: clk}
	req := journey.EnrollRequest{Sequence: sequenceOf("welcome"), Reentry: sequence.Reentry{Mode: sequence.ReentryAlways},
		Entry: "s1", ContactID: "cnt_1", Trigger: "manual", Key: "evt-1", At: t0}

	faults.FailNth("DynamoDB.TransactWriteItems", 1, awsx.TransactionConflict)
	first, existed, err := e.Enroll(t.Context(), req)
	require.NoError(t, err)
	assert.False(t, existed)
	assert.Equal(t, 1, faults.Fired("DynamoDB.TransactWriteItems"), "the conflict happened and was retried")

	again, existed, err := e.Enroll(t.Context(), req)
	require.NoError(t, err)
	assert.True(t, existed, "the same trigger again finds its enrollment")
	assert.Equal(t, first.ID, again.ID)

	other := req
	other.Key = "evt-2"
	_, _, err = e.Enroll(t.Context(), other)
	var refused *journey.NotEnrolled
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, first.ID, refused.Existing, "in the sequence now")

	require.NoError(t, journey.Advance(t.Context(), st, first, journey.Transition{Status: journey.EnrCompleted,
		Record: journey.StepRecord{Step: "s1", Type: "exit", Result: journey.ResultExited}}, clk.Now()))
	clk.Advance(time.Minute)
	second, existed, err := e.Enroll(t.Context(), other)
	require.NoError(t, err, "re-entry always: in again once the journey ended")
	assert.False(t, existed)
	assert.NotEqual(t, first.ID, second.ID)
	c := counters(t, st, "welcome")
	assert.Equal(t, 2, c[journey.StatEnrolled])
	assert.Equal(t, 1, c[journey.StatActive])
	assert.Equal(t, 1, c[journey.StatCompleted])
}

// A step whose transaction keeps meeting TransactionConflict past the
// store's retries writes nothing and is an error (the message is retried),
// not ErrMoved; the retry takes the step once, and a copy of it finds the
// step taken (ErrMoved) and writes nothing.
func TestAStepUnderPersistentConflictIsRetried(t *testing.T) {
	st, faults, env := faulty(t)
	clk := clock.NewFake(t0)
	e := &journey.Enroller{Store: st, Clock: clk}
	enr, _, err := e.Enroll(t.Context(), journey.EnrollRequest{Sequence: sequenceOf("drip"), Reentry: sequence.Reentry{Mode: sequence.ReentryNever},
		Entry: "s1", ContactID: "cnt_1", Trigger: "manual", Key: "k", At: t0})
	require.NoError(t, err)
	copyOf := *enr
	tr := journey.Transition{Status: journey.EnrActive, Step: "s2", Due: t0, Queued: true,
		Record:   journey.StepRecord{Step: "s1", Type: "send", Result: journey.ResultSent, SendID: "msg_1"},
		Counters: map[string]int{journey.StepCounter("s1", journey.StepEntered): 1, journey.StepCounter("s1", journey.StepSent): 1}}

	faults.FailFrom("DynamoDB.TransactWriteItems", 1, awsx.TransactionConflict)
	err = journey.Advance(t.Context(), st, enr, tr, clk.Now())
	require.Error(t, err)
	assert.False(t, errors.Is(err, journey.ErrMoved), "a conflict is not a step taken: %v", err)
	assert.Equal(t, 0, enr.Seq, "nothing moved")
	faults.Reset()

	env.Counter.Reset()
	require.NoError(t, journey.Advance(t.Context(), st, enr, tr, clk.Now()))
	assert.Equal(t, 1, enr.Seq)
	assert.Equal(t, map[string]int{"DynamoDB.TransactWriteItems": 1}, env.Counter.Snapshot(), "one transaction per step")
	require.ErrorIs(t, journey.Advance(t.Context(), st, &copyOf, tr, clk.Now()), journey.ErrMoved, "a copy of the step")
	c := counters(t, st, "drip")
	assert.Equal(t, 1, c[journey.StepCounter("s1", journey.StepSent)], "counted once")
	var stored journey.Enrollment
	require.NoError(t, st.GetConsistent(t.Context(), store.EnrollmentKey(org, enr.ID), &stored))
	require.Len(t, stored.History, 1)
	assert.Equal(t, "msg_1", stored.History[0].SendID)
	assert.NotEmpty(t, stored.DuePK, "the re-check of the queued step")
}

package contacts_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
	"github.com/sendwell/sendwell/shared/tracking"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA"

// rig is the contacts service over a test's table, its AWS calls going
// through Faults (to count them and to act between them), on a fake clock.
type rig struct {
	env    *testenv.Env
	faults *awsx.Faults
	clock  *clock.Fake
	svc    *contacts.Service
}

func newRig(t *testing.T) *rig {
	env := testenv.New(t)
	cfg := env.Config.Copy()
	f := awsx.NewFaults()
	f.Instrument(&cfg)
	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	return &rig{env: env, faults: f, clock: clk, svc: contacts.NewService(store.New(dynamodb.NewFromConfig(cfg), env.Store.Table), clk)}
}

// track writes n events of a contact straight into the table, as
// POST /api/events would, 25 to a call.
func (r *rig) track(t *testing.T, contactID string, n int) {
	items := make([]any, n)
	for i := range items {
		at := r.clock.Now().Add(time.Duration(i) * time.Millisecond)
		it := tracking.Item{OrgID: org, ID: ids.New(ids.Event, at), ContactID: contactID, Name: "viewed", Timestamp: at}
		it.SetKeys()
		items[i] = it
	}
	require.NoError(t, r.env.Store.PutAll(t.Context(), items))
}

func (r *rig) events(t *testing.T, contactID string) int {
	n := 0
	require.NoError(t, r.env.Store.QueryKeys(t.Context(), store.EventsPK(org, contactID), "", func(keys []store.Key) error {
		n += len(keys)
		return nil
	}))
	return n
}

// A deleted contact's 1,100 events are purged across several runs, each
// stopped by its deadline and queued again by its caller, until none is
// left; a redelivered job then finds nothing to do, and the events of a
// contact that exists are never touched.
func TestPurgeEventsFinishesAcrossContinuations(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	gone, err := r.svc.Create(ctx, org, contacts.Input{Email: "gone@example.com"})
	require.NoError(t, err)
	kept, err := r.svc.Create(ctx, org, contacts.Input{Email: "kept@example.com"})
	require.NoError(t, err)
	r.track(t, gone.ID, 1100)
	r.track(t, kept.ID, 30)
	require.NoError(t, r.svc.Delete(ctx, org, gone.ID))
	require.Equal(t, 1100, r.events(t, gone.ID), "deleting the contact leaves its events to the purge")

	// Each BatchWriteItem takes a second of the fake clock; each run may
	// take ten, so it stops after three chunks of a hundred keys.
	r.faults.Before("DynamoDB.BatchWriteItem", func(int) { r.clock.Advance(time.Second) })
	job := contacts.PurgeJob{OrgID: org, ContactID: gone.ID}
	runs, left := 0, []int{}
	for {
		runs++
		require.Less(t, runs, 20, "the purge does not progress")
		finished, err := r.svc.PurgeEvents(ctx, job, r.clock.Now().Add(10*time.Second))
		require.NoError(t, err)
		if finished {
			break
		}
		left = append(left, r.events(t, gone.ID))
	}
	assert.Equal(t, []int{800, 500, 200}, left, "each run deletes what its time allows, and the next goes on from there")
	assert.Equal(t, 4, runs)
	assert.Zero(t, r.events(t, gone.ID), "every event of the deleted contact is gone")
	assert.Equal(t, 30, r.events(t, kept.ID), "another contact's events are kept")

	writes := r.faults.Attempts("DynamoDB.BatchWriteItem")
	finished, err := r.svc.PurgeEvents(ctx, job, time.Time{})
	require.NoError(t, err)
	assert.True(t, finished, "a redelivered job finishes")
	assert.Equal(t, writes, r.faults.Attempts("DynamoDB.BatchWriteItem"), "with nothing to delete")

	// A job naming a contact that exists deletes nothing: ids are never
	// reused, so it is not the contact that was deleted.
	finished, err = r.svc.PurgeEvents(ctx, contacts.PurgeJob{OrgID: org, ContactID: kept.ID}, time.Time{})
	require.NoError(t, err)
	assert.True(t, finished)
	assert.Equal(t, 30, r.events(t, kept.ID))

	// A malformed job is an error no retry mends.
	_, err = r.svc.PurgeEvents(ctx, contacts.PurgeJob{OrgID: org, ContactID: "nope"}, time.Time{})
	require.Error(t, err)
	assert.False(t, errs.Retryable(err))
}

// A run whose deadline has already passed still deletes one chunk, so a job
// always progresses however late its worker picks it up.
func TestPurgeEventsAlwaysProgresses(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	c, err := r.svc.Create(ctx, org, contacts.Input{Email: "late@example.com"})
	require.NoError(t, err)
	r.track(t, c.ID, 250)
	require.NoError(t, r.svc.Delete(ctx, org, c.ID))
	for want := 150; want >= 0; want -= 100 {
		finished, err := r.svc.PurgeEvents(ctx, contacts.PurgeJob{OrgID: org, ContactID: c.ID}, r.clock.Now().Add(-time.Minute))
		require.NoError(t, err)
		assert.Equal(t, max(want, 0), r.events(t, c.ID), fmt.Sprintf("after a run, %d left", max(want, 0)))
		if want > 0 {
			assert.False(t, finished)
		}
	}
}

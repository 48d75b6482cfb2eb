package worker

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/engine"
	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/store"
)

// The 3-step sequence takes each path exactly once, its wait ends neither
// a second early nor late, and delivering every message of the run again
// changes nothing: no second send, no second history entry.
func TestThreeStepSequenceRunsEachPathOnce(t *testing.T) {
	for _, c := range []struct {
		name      string
		activate  bool
		want      []string
		templates []string
	}{
		{"without the event: the nudge", false,
			[]string{"hello:sent", "pause:waiting", "pause:woke:timeout", "check:branched:else", "nudge:sent"}, []string{"hello", "nudge"}},
		{"with the event: the tips", true,
			[]string{"hello:sent", "pause:waiting", "pause:woke:timeout", "check:branched:then", "tips:sent"}, []string{"hello", "tips"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.putSequence(journey.Active, 1, threeSteps, 0)
			ada := f.contact("ada@example.com", nil)

			f.deliverAll(f.trackedBody(ada, "signed_up"))
			e := f.only()
			assert.Equal(t, []string{"hello:sent", "pause:waiting"}, steps(e))
			require.NotNil(t, e.WakeAt)
			assert.Equal(t, t0.Add(48*time.Hour), *e.WakeAt)
			assert.Empty(t, f.q.pending(), "a 2-day wait is the scheduler's, not a queued message")

			if c.activate {
				f.clk.Advance(time.Hour)
				f.track(ada, "activated", nil)
			}
			// A second before the end, nothing moves, even when its job comes early.
			f.clk.Advance(t0.Add(48*time.Hour - time.Second).Sub(f.clk.Now()))
			f.handle(stepBody(e.ID, e.Seq))
			f.schedule()
			f.drain()
			assert.Equal(t, e.Seq, f.only().Seq, "waits never end early")

			f.advance(time.Second)
			e = f.only()
			assert.Equal(t, c.want, steps(e))
			assert.Equal(t, journey.EnrCompleted, e.Status)
			for _, r := range e.History[2:] {
				assert.Equal(t, t0.Add(48*time.Hour), r.At, "on time: %s", r.Step)
			}
			assert.Equal(t, c.templates, f.sendsOf(ada))
			calls := f.sender.calls.Load()

			// Every message again: nothing changes.
			f.mu.Lock()
			again := append([]string(nil), f.delivered...)
			f.mu.Unlock()
			for _, b := range again {
				require.Empty(t, f.handle(b))
			}
			f.advance(72 * time.Hour)
			assert.Equal(t, e.History, f.only().History)
			assert.Equal(t, c.templates, f.sendsOf(ada))
			assert.Equal(t, calls, f.sender.calls.Load(), "no send is even attempted again")
		})
	}
}

// The dry run of the same contact and events gives the real run's steps:
// the same ids, results, branches and times.
func TestDryRunAgreesWithARealRun(t *testing.T) {
	f := newFixture(t)
	doc := `{"name": "Agree", "trigger": {"event": "signed_up"},
		"steps": [
			{"id": "hello", "type": "send", "templateId": "hello", "next": "pause"},
			{"id": "pause", "type": "wait", "duration": "P2D", "next": "check"},
			{"id": "check", "type": "branch", "if": {"event": "activated"}, "then": "paid", "else": "nudge"},
			{"id": "paid", "type": "wait", "until": {"event": "paid", "timeout": "P3D"}, "next": "tips", "timeoutNext": "nudge"},
			{"id": "tips", "type": "send", "templateId": "tips"},
			{"id": "nudge", "type": "send", "templateId": "nudge"}
		],
		"sendWindow": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00", "timezone": "contact"}}`
	f.putSequence(journey.Active, 1, doc, 0)
	ada := f.contact("ada@example.com", map[string]any{"timezone": "Europe/Paris"})
	def, err := sequence.Parse(json.RawMessage(doc))
	require.NoError(t, err)
	facts, tz, err := engine.LoadFacts(context.Background(), f.env.Store, testOrg, ada, def)
	require.NoError(t, err)
	assert.Equal(t, "Europe/Paris", tz)

	// 08:00 UTC is 09:00 in Paris: the first send goes at once.
	start := f.clk.Now()
	f.deliverAll(f.trackedBody(ada, "signed_up"))
	f.advance(5 * time.Hour)
	f.track(ada, "activated", nil)
	// The wait ends on Wednesday 08:00 UTC; then "paid" two hours later…
	f.advance(43 * time.Hour)
	f.advance(2 * time.Hour)
	paidAt := f.clk.Now()
	f.track(ada, "paid", nil)
	f.advance(time.Hour)
	e := f.only()
	require.Equal(t, journey.EnrCompleted, e.Status)

	path, err := engine.Simulate(def, facts, tz, []engine.SimEvent{
		{Name: "activated", At: start.Add(5 * time.Hour)}, {Name: "paid", At: paidAt}}, start)
	require.NoError(t, err)
	require.Len(t, path.Steps, len(e.History))
	for i, r := range e.History {
		s := path.Steps[i]
		assert.Equal(t, r.Step, s.StepID, "step %d", i)
		assert.Equal(t, r.Type, s.Type, "step %d", i)
		assert.Equal(t, r.Result, s.Result, "step %d", i)
		assert.Equal(t, r.Branch, s.Branch, "step %d", i)
		assert.True(t, r.At.Equal(s.At), "step %d: %s, dry run %s", i, r.At, s.At)
		assert.Equal(t, r.Next, s.Next, "step %d", i)
	}
	assert.Equal(t, journey.EnrCompleted, path.Outcome)
	assert.Equal(t, "tips:sent", steps(e)[len(e.History)-1])
}

// A paused sequence holds its enrollments where they are when their step
// comes due, without taking it; a resume queues them and they go on.
func TestPauseHoldsAndResumeContinues(t *testing.T) {
	f := newFixture(t)
	f.putSequence(journey.Active, 1, threeSteps, 0)
	ada := f.contact("ada@example.com", nil)
	f.deliverAll(f.trackedBody(ada, "signed_up"))
	f.setStatus(journey.Paused)

	f.advance(48 * time.Hour)
	e := f.only()
	assert.True(t, e.Held)
	assert.Equal(t, []string{"hello:sent", "pause:waiting"}, steps(e), "no step taken")
	assert.Empty(t, e.DuePK, "a held enrollment waits for its resume, not the scheduler")
	assert.NotEmpty(t, e.GSI4PK)
	f.advance(24 * time.Hour)
	assert.Equal(t, e.Seq, f.only().Seq)

	f.setStatus(journey.Active)
	b, _ := json.Marshal(journey.Job{Resume: &journey.ResumeJob{OrgID: testOrg, SequenceID: seqID}})
	f.deliverAll(string(b))
	e = f.only()
	assert.False(t, e.Held)
	assert.Empty(t, e.GSI4PK)
	assert.Equal(t, journey.EnrCompleted, e.Status)
	assert.Equal(t, []string{"hello:sent", "pause:waiting", "pause:woke:timeout", "check:branched:else", "nudge:sent"}, steps(e))
}

// A content change of a live sequence leaves enrollments on their version;
// with migrate they move to the step of the same id in the new version at
// their next step, or exit when it is gone.
func TestLiveChanges(t *testing.T) {
	v2 := `{"name": "Welcome", "trigger": {"event": "signed_up"},
		"steps": [
			{"id": "hello", "type": "send", "templateId": "hello", "next": "pause"},
			{"id": "pause", "type": "wait", "duration": "P1D", "next": "thanks"},
			{"id": "thanks", "type": "send", "templateId": "thanks"}
		]}`
	gone := `{"name": "Welcome", "trigger": {"event": "signed_up"},
		"steps": [{"id": "hello", "type": "send", "templateId": "hello"}]}`
	for _, c := range []struct {
		name        string
		doc         string
		migrateFrom int
		want        []string
		status      string
		reason      string
	}{
		{"without migrate: its own version", v2, 0,
			[]string{"hello:sent", "pause:waiting", "pause:woke:timeout", "check:branched:else", "nudge:sent"}, journey.EnrCompleted, ""},
		{"with migrate: the step of the same id", v2, 2,
			[]string{"hello:sent", "pause:waiting", "pause:migrated", "pause:woke:timeout", "thanks:sent"}, journey.EnrCompleted, ""},
		{"with migrate, the step gone: exits", gone, 2,
			[]string{"hello:sent", "pause:waiting", "pause:exited"}, journey.EnrExited, "step pause is not in version 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.putSequence(journey.Active, 1, threeSteps, 0)
			ada := f.contact("ada@example.com", nil)
			f.deliverAll(f.trackedBody(ada, "signed_up"))
			f.putSequence(journey.Active, 2, c.doc, c.migrateFrom)

			f.advance(48 * time.Hour)
			e := f.only()
			assert.Equal(t, c.want, steps(e))
			assert.Equal(t, c.status, e.Status)
			assert.Equal(t, c.reason, e.Reason)
			if c.migrateFrom > 0 && c.status == journey.EnrCompleted {
				assert.Equal(t, 2, e.Version)
				assert.Equal(t, 2, e.History[len(e.History)-1].Version)
			} else {
				assert.Equal(t, 1, e.Version)
			}
		})
	}
}

// Ten triggers at once for one contact of a sequence whose reentry is
// never make one enrollment.
func TestReentryHoldsUnderConcurrentTriggers(t *testing.T) {
	f := newFixture(t)
	f.putSequence(journey.Active, 1, threeSteps, 0)
	ada := f.contact("ada@example.com", nil)
	bodies := make([]string, 10)
	for i := range bodies {
		bodies[i] = f.trackedBody(ada, "signed_up")
	}
	var wg sync.WaitGroup
	for _, b := range bodies {
		wg.Go(func() { assert.Empty(t, f.handle(b)) })
	}
	wg.Wait()
	f.drain()
	e := f.only()
	assert.Equal(t, []string{"hello:sent", "pause:waiting"}, steps(e))
	assert.Equal(t, []string{"hello"}, f.sendsOf(ada))

	// Finished, the contact never enters again.
	f.advance(48 * time.Hour)
	f.deliverAll(f.trackedBody(ada, "signed_up"))
	assert.Len(t, f.enrollments(), 1)
}

// A wait until an event ends at once when the event comes; the timeout's
// job, later, finds the step taken.
func TestWaitUntilEvent(t *testing.T) {
	f := newFixture(t)
	f.putSequence(journey.Active, 1, `{"name": "Until", "trigger": {"event": "signed_up"},
		"steps": [
			{"id": "w", "type": "wait", "until": {"event": "paid", "timeout": "P3D"}, "next": "thanks", "timeoutNext": "nudge"},
			{"id": "thanks", "type": "send", "templateId": "thanks"},
			{"id": "nudge", "type": "send", "templateId": "nudge"}
		]}`, 0)
	ada := f.contact("ada@example.com", nil)
	f.deliverAll(f.trackedBody(ada, "signed_up"))
	waiting := f.only()
	assert.Equal(t, "paid", waiting.WaitEvent)

	f.clk.Advance(time.Hour)
	f.track(ada, "paid", nil)
	e := f.only()
	assert.Equal(t, []string{"w:waiting", "w:woke:event", "thanks:sent"}, steps(e))
	assert.Equal(t, t0.Add(time.Hour), e.History[1].At, "at once, not at a tick")
	assert.Equal(t, journey.EnrCompleted, e.Status)

	// The timeout's job comes anyway: nothing.
	f.clk.Advance(72 * time.Hour)
	f.deliverAll(stepBody(waiting.ID, waiting.Seq))
	assert.Equal(t, e.History, f.only().History)
	assert.Equal(t, []string{"thanks"}, f.sendsOf(ada))
}

// exitWhen: its event takes the contact out when it arrives; its condition
// is tested before every step.
func TestExitWhen(t *testing.T) {
	t.Run("event", func(t *testing.T) {
		f := newFixture(t)
		f.putSequence(journey.Active, 1, `{"name": "X", "trigger": {"event": "signed_up"},
			"steps": [
				{"id": "hello", "type": "send", "templateId": "hello", "next": "pause"},
				{"id": "pause", "type": "wait", "duration": "P2D", "next": "nudge"},
				{"id": "nudge", "type": "send", "templateId": "nudge"}
			],
			"exitWhen": {"event": "churned"}}`, 0)
		ada := f.contact("ada@example.com", nil)
		f.deliverAll(f.trackedBody(ada, "signed_up"))
		f.clk.Advance(time.Hour)
		f.track(ada, "churned", nil)
		e := f.only()
		assert.Equal(t, journey.EnrExited, e.Status)
		assert.Equal(t, engine.ExitEventReason("churned"), e.Reason)
		assert.Equal(t, []string{"hello:sent", "pause:waiting", "pause:exited"}, steps(e))
		f.advance(48 * time.Hour)
		assert.Equal(t, []string{"hello"}, f.sendsOf(ada))
	})
	t.Run("condition", func(t *testing.T) {
		f := newFixture(t)
		f.putSequence(journey.Active, 1, `{"name": "X", "trigger": {"event": "signed_up"},
			"steps": [
				{"id": "hello", "type": "send", "templateId": "hello", "next": "pause"},
				{"id": "pause", "type": "wait", "duration": "P2D", "next": "nudge"},
				{"id": "nudge", "type": "send", "templateId": "nudge"}
			],
			"exitWhen": {"condition": {"property": "plan", "operator": "eq", "value": "paid"}}}`, 0)
		ada := f.contact("ada@example.com", nil)
		f.deliverAll(f.trackedBody(ada, "signed_up"))
		_, err := f.contacts.Patch(context.Background(), testOrg, ada, contacts.Patch{
			Properties: httpx.Optional[map[string]any]{Set: true, Value: map[string]any{"plan": "paid"}}})
		require.NoError(t, err)
		f.advance(48 * time.Hour)
		e := f.only()
		assert.Equal(t, journey.EnrExited, e.Status)
		assert.Equal(t, engine.ReasonExitCondition, e.Reason)
		assert.Equal(t, []string{"hello:sent", "pause:waiting", "pause:exited"}, steps(e))
		assert.Equal(t, []string{"hello"}, f.sendsOf(ada))
	})
}

// A send outside the window waits for its opening, in the contact's zone.
func TestSendWindowDefers(t *testing.T) {
	f := newFixture(t)
	f.putSequence(journey.Active, 1, `{"name": "W", "trigger": {"event": "signed_up"},
		"steps": [{"id": "hello", "type": "send", "templateId": "hello"}],
		"sendWindow": {"days": ["mon"], "from": "09:00", "to": "10:00", "timezone": "contact"}}`, 0)
	ada := f.contact("ada@example.com", map[string]any{"timezone": "America/New_York"})
	f.deliverAll(f.trackedBody(ada, "signed_up"))
	e := f.only()
	opening := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC) // 09:00 in New York
	assert.Equal(t, []string{"hello:deferred"}, steps(e))
	require.NotNil(t, e.WakeAt)
	assert.Equal(t, opening, *e.WakeAt)
	assert.Empty(t, f.sendsOf(ada))

	f.advance(opening.Sub(t0) - time.Minute)
	assert.Empty(t, f.sendsOf(ada), "never before the opening")
	f.advance(time.Minute)
	e = f.only()
	assert.Equal(t, []string{"hello:deferred", "hello:sent"}, steps(e))
	assert.Equal(t, opening, e.History[1].At)
	assert.Equal(t, []string{"hello"}, f.sendsOf(ada))
}

// A template deleted meanwhile fails the enrollment, with the reason; an
// unsubscribed contact's send is skipped and the journey goes on.
func TestSendOutcomes(t *testing.T) {
	t.Run("a deleted template fails the enrollment", func(t *testing.T) {
		f := newFixture(t)
		f.putSequence(journey.Active, 1, threeSteps, 0)
		ada := f.contact("ada@example.com", nil)
		f.deliverAll(f.trackedBody(ada, "signed_up"))
		f.deleteTemplate("nudge")
		f.advance(48 * time.Hour)
		e := f.only()
		assert.Equal(t, journey.EnrFailed, e.Status)
		assert.Contains(t, e.Reason, "template nudge")
		assert.Equal(t, "nudge:failed", steps(e)[len(e.History)-1])
		c, err := journey.SequenceCounters(context.Background(), f.env.Store, testOrg, seqID)
		require.NoError(t, err)
		assert.Equal(t, 1, c[journey.StatFailed])
		assert.Equal(t, 1, c[journey.StepCounter("nudge", journey.StepFailed)])
		assert.Equal(t, 1, c[journey.StepCounter("hello", journey.StepSent)])
	})
	t.Run("an unsubscribed contact is skipped", func(t *testing.T) {
		f := newFixture(t)
		f.putSequence(journey.Active, 1, threeSteps, 0)
		ada := f.contact("ada@example.com", nil)
		_, err := f.contacts.Patch(context.Background(), testOrg, ada, contacts.Patch{Subscribed: httpx.Optional[bool]{Set: true, Value: false}})
		require.NoError(t, err)
		f.deliverAll(f.trackedBody(ada, "signed_up"))
		e := f.only()
		assert.Equal(t, []string{"hello:skipped", "pause:waiting"}, steps(e))
		assert.Contains(t, e.History[0].Reason, "unsubscribed")
		assert.Equal(t, journey.EnrActive, e.Status)
	})
}

// An update step changes the contact as the API would; a webhook step is
// recorded with its data.
func TestUpdateAndWebhookSteps(t *testing.T) {
	f := newFixture(t)
	f.putSequence(journey.Active, 1, `{"name": "U", "trigger": {"event": "signed_up"},
		"steps": [
			{"id": "tag", "type": "update", "set": {"stage": "onboarding"}, "unset": ["trial"], "addTags": ["new"], "removeTags": ["old"], "next": "hook"},
			{"id": "hook", "type": "webhook", "data": {"stage": "onboarding"}}
		]}`, 0)
	ada := f.contact("ada@example.com", map[string]any{"trial": true})
	_, err := f.contacts.Patch(context.Background(), testOrg, ada, contacts.Patch{Tags: httpx.Optional[[]string]{Set: true, Value: []string{"old", "vip"}}})
	require.NoError(t, err)
	f.deliverAll(f.trackedBody(ada, "signed_up"))
	e := f.only()
	assert.Equal(t, []string{"tag:updated", "hook:webhook"}, steps(e))
	assert.JSONEq(t, `{"stage":"onboarding"}`, e.History[1].Data)
	c, err := f.contacts.Get(context.Background(), testOrg, ada)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"stage": "onboarding"}, c.Properties)
	assert.ElementsMatch(t, []string{"vip", "new"}, c.Tags)
}

// Per step: one TransactWriteItems (the enrollment and a counter shard)
// and at most one SQS message, beside the send itself.
func TestCallsPerStep(t *testing.T) {
	f := newFixture(t)
	f.putSequence(journey.Active, 1, threeSteps, 0)
	ada := f.contact("ada@example.com", nil)
	fake := &fakeSender{}
	f.w.sender = fake

	require.Empty(t, f.handle(f.trackedBody(ada, "signed_up")))
	type step struct {
		name          string
		writes, reads int
		sqs           int64
	}
	var got []step
	run := func(name string) {
		due := f.q.takeDue()
		require.Len(t, due, 1, name)
		f.env.Counter.Reset()
		calls := f.q.calls.Load()
		require.Empty(t, f.handle(due[0]))
		snap := f.env.Counter.Snapshot()
		writes := snap["DynamoDB.TransactWriteItems"] + snap["DynamoDB.PutItem"] + snap["DynamoDB.UpdateItem"] +
			snap["DynamoDB.DeleteItem"] + snap["DynamoDB.BatchWriteItem"]
		reads := snap["DynamoDB.GetItem"] + snap["DynamoDB.Query"] + snap["DynamoDB.BatchGetItem"]
		got = append(got, step{name: name, writes: writes, reads: reads, sqs: f.q.calls.Load() - calls})
	}
	run("hello (send)")
	run("pause (wait begins)")
	f.clk.Advance(48 * time.Hour)
	f.schedule()
	run("pause (wait ends)")
	run("check (branch)")
	run("nudge (send)")
	for _, s := range got {
		t.Logf("%-20s DynamoDB writes %d (reads %d), SQS messages %d", s.name, s.writes, s.reads, s.sqs)
		assert.Equal(t, 1, s.writes, s.name)
		assert.LessOrEqual(t, s.sqs, int64(1), s.name)
	}
	assert.Equal(t, int64(2), fake.calls.Load())
	assert.Equal(t, journey.EnrCompleted, f.only().Status)
}

// A contact or a sequence deleted mid-journey exits the enrollment with
// the reason, at its next step.
func TestDeletedContactOrSequenceExits(t *testing.T) {
	for _, c := range []struct {
		name   string
		del    func(f *fixture, contactID string)
		reason string
	}{
		{"contact", func(f *fixture, id string) { require.NoError(t, f.contacts.Delete(context.Background(), testOrg, id)) }, ReasonContactDeleted},
		{"sequence", func(f *fixture, _ string) {
			require.NoError(t, f.env.Store.DeleteAll(context.Background(), []store.Key{store.SequenceKey(testOrg, seqID), store.SequenceTriggerKey(testOrg, seqID)}))
		}, ReasonSequenceDeleted},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.putSequence(journey.Active, 1, threeSteps, 0)
			ada := f.contact("ada@example.com", nil)
			f.deliverAll(f.trackedBody(ada, "signed_up"))
			c.del(f, ada)
			f.advance(48 * time.Hour)
			e := f.only()
			assert.Equal(t, journey.EnrExited, e.Status)
			assert.Equal(t, c.reason, e.Reason)
			assert.Equal(t, []string{"hello:sent", "pause:waiting", "pause:exited"}, steps(e))
		})
	}
}

// A send refused for a quota or throttling is retried (the message is a
// batch item failure) and the step is taken once when it succeeds.
func TestThrottledSendIsRetried(t *testing.T) {
	f := newFixture(t)
	f.putSequence(journey.Active, 1, threeSteps, 0)
	ada := f.contact("ada@example.com", nil)
	flaky := &flakySender{next: f.sender, fails: 1}
	f.w.sender = flaky
	require.Empty(t, f.handle(f.trackedBody(ada, "signed_up")))
	due := f.q.takeDue()
	require.Len(t, due, 1)
	assert.Len(t, f.handle(due[0]), 1, "reported for a retry")
	assert.Empty(t, f.only().History, "nothing written")
	f.deliverAll(due[0]) // SQS delivers it again
	assert.Equal(t, []string{"hello:sent", "pause:waiting"}, steps(f.only()))
	assert.Equal(t, []string{"hello"}, f.sendsOf(ada))
}

// A wait of up to 15 minutes is a delayed SQS message (rounded up to a
// whole second), not the scheduler's; it is not delivered early.
func TestShortWaitIsADelayedMessage(t *testing.T) {
	f := newFixture(t)
	f.putSequence(journey.Active, 1, `{"name": "Short", "trigger": {"event": "signed_up"},
		"steps": [
			{"id": "pause", "type": "wait", "duration": "PT10M", "next": "hello"},
			{"id": "hello", "type": "send", "templateId": "hello"}
		]}`, 0)
	ada := f.contact("ada@example.com", nil)
	f.deliverAll(f.trackedBody(ada, "signed_up"))
	pending := f.q.pending()
	require.Len(t, pending, 1)
	assert.Equal(t, t0.Add(10*time.Minute), pending[0].at)
	e := f.only()
	assert.Equal(t, []string{"pause:waiting"}, steps(e))
	assert.NotEmpty(t, e.DuePK, "a re-check stays due should the message be lost")

	f.clk.Advance(10*time.Minute - time.Second)
	f.drain()
	assert.Equal(t, e.Seq, f.only().Seq)
	f.clk.Advance(time.Second)
	f.drain()
	e = f.only()
	assert.Equal(t, []string{"pause:waiting", "pause:woke:timeout", "hello:sent"}, steps(e))
	assert.Equal(t, t0.Add(10*time.Minute), e.History[1].At)
}

package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/campaigns"
	"github.com/sendwell/sendwell/shared/automation/internal/broadcasttest"
	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

// audience is a fixture's 250 contacts: every 10th unsubscribed (25), every
// 9th of the rest suppressed, all members of one segment since before t0.
type audience struct {
	contacts   []broadcasttest.Contact
	segmentID  string
	subscribed int // neither unsubscribed nor suppressed
}

func newAudience(f *fixture, n int) audience {
	cs := f.Contacts(n, 10, 9)
	a := audience{contacts: cs, segmentID: f.Segment(cs, t0.Add(-time.Hour))}
	for _, c := range cs {
		if c.Subscribed && !c.Suppressed {
			a.subscribed++
		}
	}
	return a
}

// check asserts each subscribed contact has exactly one send of the
// broadcast (made once, stored under the derived id with the broadcast's
// source), the others none, and the progress the API shows.
func (f *fixture) check(a audience, b journey.Broadcast) {
	t := f.T
	ctx := t.Context()
	for _, c := range a.contacts {
		want := 0
		if c.Subscribed && !c.Suppressed {
			want = 1
		}
		// A run cut short may have made a send without seeing it made (its
		// context ended): the send items and the usage counter below are
		// the proof; the calls seen never make two.
		require.LessOrEqual(t, f.sender.madeFor(c.ID), want, "sends made for %s", c.Email)
		var it sends.Item
		err := f.Env.Store.Get(ctx, store.SendKey(org, messages.SendID(*b.StartedAt, b.ID+"/"+c.ID)), &it)
		if want == 0 {
			require.ErrorIs(t, err, errs.ErrNotFound, c.Email)
			continue
		}
		require.NoError(t, err, c.Email)
		assert.Equal(t, journey.BroadcastSource(b.ID), it.Source)
		assert.Equal(t, c.Email, it.To)
		assert.Equal(t, sends.Marketing, it.Kind)
		assert.Equal(t, sends.Queued, it.Status)
	}
	var got campaigns.Broadcast
	f.Must(http.StatusOK, "GET", "/api/broadcasts/"+b.ID, "", &got)
	assert.Equal(t, journey.BcSent, got.Status)
	assert.NotNil(t, got.FinishedAt)
	assert.Equal(t, len(a.contacts), got.Progress.Total)
	assert.Equal(t, a.subscribed, got.Progress.Queued)
	assert.Equal(t, len(a.contacts)-a.subscribed, got.Progress.Skipped)
	require.NotNil(t, got.Progress.Sent)
	assert.Zero(t, *got.Progress.Sent, "the send worker has sent nothing yet")
	assert.Zero(t, *got.Progress.Failed)
	var usage struct {
		Emails int `dynamodbav:"emails"`
	}
	require.NoError(t, f.Env.Store.GetConsistent(ctx, store.UsageKey(org, *b.StartedAt), &usage))
	assert.Equal(t, a.subscribed, usage.Emails, "sends made in all: the month's usage counts each once")
}

// A broadcast to 250 contacts walks them in pages: each subscribed contact
// gets exactly one send, the unsubscribed and suppressed are skipped and
// counted, members who joined after the start are left out, and the
// progress adds up. It also measures the AWS calls per recipient.
func TestFanoutSendsOnceToEachSubscribedContact(t *testing.T) {
	f := newFixture(t)
	f.fanout.pageCap = 40
	a := newAudience(f, 250)
	late := f.Contacts(5, 0, 0)
	for i := range late {
		late[i].ID = ids.New(ids.Contact, t0.Add(-time.Minute).Add(time.Duration(i)*time.Millisecond))
	}
	b := f.broadcast(a.segmentID, "")
	f.Clock.Advance(time.Minute)
	job := f.Start(b.ID)
	f.Members(a.segmentID, late, f.Clock.Now().Add(time.Second)) // joined after the start

	f.Env.Counter.Reset()
	began := time.Now()
	require.NoError(t, f.fanout.Run(t.Context(), job))
	pages := 1 + f.drain(100)
	took := time.Since(began)
	assert.Equal(t, 7, pages, "250 members in pages of 40")
	assert.Zero(t, f.queue.len())
	calls := f.Env.Counter.Snapshot()

	f.check(a, f.Stored(b.ID))
	for _, c := range a.contacts {
		if c.Subscribed && !c.Suppressed {
			require.Equal(t, 1, f.sender.madeFor(c.ID), c.Email)
		}
	}
	for _, c := range late {
		assert.Zero(t, f.sender.madeFor(c.ID), "joined after the start")
	}
	assert.Equal(t, pages-1, f.queue.sent, "one SQS message per page after the first")

	var reads, writes int
	for op, n := range calls {
		switch {
		case strings.HasSuffix(op, ".GetItem"), strings.HasSuffix(op, ".Query"), strings.HasSuffix(op, ".BatchGetItem"):
			reads += n
		case strings.HasPrefix(op, "DynamoDB."):
			writes += n
		}
	}
	per := func(n int) float64 { return float64(n) / float64(len(a.contacts)) }
	t.Logf("calls for %d recipients (%d sends) in %d pages: %v", len(a.contacts), a.subscribed, pages, calls)
	t.Logf("per recipient: %.2f DynamoDB reads, %.2f DynamoDB write calls, %.3f SQS messages; %v (moto, 16 at once)",
		per(reads), per(writes), per(f.queue.sent), took/time.Duration(len(a.contacts)))
	// A send: its id checked, the contact, its suppression, the template's
	// head (4 reads), and one transaction (the send and the usage counter).
	assert.LessOrEqual(t, per(reads), 4.5)
	assert.LessOrEqual(t, per(writes), 1.1)
}

// "all" walks every contact created at or before the start, skipping the
// unsubscribed without a send call, and none created after.
func TestFanoutToAllContacts(t *testing.T) {
	f := newFixture(t)
	f.fanout.pageCap = 30
	cs := f.Contacts(70, 10, 9)
	a := audience{contacts: cs}
	for _, c := range cs {
		if c.Subscribed && !c.Suppressed {
			a.subscribed++
		}
	}
	b := f.broadcast(journey.AudienceAll, "")
	job := f.Start(b.ID)
	f.Clock.Advance(time.Second)
	newer := ids.New(ids.Contact, f.Clock.Now())
	require.NoError(t, f.Env.Store.Put(t.Context(), broadcasttest.ContactItem(newer, "new@example.org", true)))

	require.NoError(t, f.fanout.Run(t.Context(), job))
	f.drain(10)
	f.check(a, f.Stored(b.ID))
	assert.Zero(t, f.sender.madeFor(newer))
	f.sender.mu.Lock()
	calls := f.sender.calls
	f.sender.mu.Unlock()
	assert.Equal(t, 63, calls, "the 7 unsubscribed are skipped without a send call")
}

// A page whose worker died after some of its sends (its checkpoint never
// written), then whose checkpoint write failed after all its sends, is run
// again from the checkpoint each time: still one send per contact, and
// counts that count each member once.
func TestAResumedFanoutSendsOnceAndCountsRight(t *testing.T) {
	faults := awsx.NewFaults()
	f := newFixture(t, faults)
	f.fanout.pageCap = 50
	a := newAudience(f, 150)
	b := f.broadcast(a.segmentID, "")
	job := f.Start(b.ID)
	require.NoError(t, f.fanout.Run(t.Context(), job)) // page 0
	next, ok := f.queue.pop()
	require.True(t, ok)

	// Page 1: the worker dies after 20 sends.
	base := f.sender.calls
	f.sender.before = func(n int) error {
		if n-base > 20 {
			return errDied
		}
		return nil
	}
	err := f.fanout.Run(t.Context(), next.job)
	require.ErrorIs(t, err, errDied)
	assert.Equal(t, 1, f.Stored(b.ID).Pages, "no checkpoint")
	assert.Zero(t, f.queue.len(), "no next page")
	assert.Positive(t, f.sender.total())

	// Again: the sends go through, the checkpoint write fails.
	f.sender.before = nil
	faults.FailNext("DynamoDB.UpdateItem", 2, awsx.InternalServerError)
	err = f.fanout.Run(t.Context(), next.job)
	require.Error(t, err)
	assert.Equal(t, 2, faults.Fired("DynamoDB.UpdateItem"))
	assert.Equal(t, 1, f.Stored(b.ID).Pages, "no checkpoint")
	assert.Zero(t, f.queue.len())

	// The job's retry finishes the page, and the rest follows.
	require.NoError(t, f.fanout.Run(t.Context(), next.job))
	f.drain(20)
	f.check(a, f.Stored(b.ID))
}

// A copy of a page job whose page is done makes no send and changes no
// count; one for a page not reached yet does nothing at all.
func TestARedeliveredPageJobDoesNothing(t *testing.T) {
	f := newFixture(t)
	f.fanout.pageCap = 20
	a := newAudience(f, 60)
	b := f.broadcast(a.segmentID, "")
	job := f.Start(b.ID)
	require.NoError(t, f.fanout.Run(t.Context(), job))
	before, calls := f.Stored(b.ID), f.sender.calls
	next, _ := f.queue.pop()

	require.NoError(t, f.fanout.Run(t.Context(), job)) // a copy of page 0
	assert.Equal(t, calls, f.sender.calls, "no send call")
	after := f.Stored(b.ID)
	assert.Equal(t, before.Pages, after.Pages)
	assert.Equal(t, before.Queued, after.Queued)
	assert.Equal(t, before.Skipped, after.Skipped)
	assert.Equal(t, before.Rev, after.Rev, "nothing written")
	assert.Zero(t, f.queue.len(), "page 1 was queued, and recorded so")

	require.NoError(t, f.fanout.Run(t.Context(), journey.BroadcastJob{OrgID: org, BroadcastID: b.ID, Page: 2}))
	assert.Zero(t, f.queue.len())
	assert.Equal(t, calls, f.sender.calls)

	require.NoError(t, f.fanout.Run(t.Context(), next.job))
	require.NoError(t, f.fanout.Run(t.Context(), next.job)) // a copy, before page 2 ran
	assert.Equal(t, 1, f.queue.len(), "page 2 once")
	f.drain(10)
	f.check(a, f.Stored(b.ID))
	require.NoError(t, f.fanout.Run(t.Context(), job), "a copy after the end")
	assert.Zero(t, f.queue.len())
}

// Cancel stops the fan-out before its next page; a page running when the
// cancel comes finishes and counts its sends, and queues nothing.
func TestCancelStopsTheFanout(t *testing.T) {
	f := newFixture(t)
	f.fanout.pageCap = 20
	a := newAudience(f, 80)
	b := f.broadcast(a.segmentID, "")
	job := f.Start(b.ID)
	require.NoError(t, f.fanout.Run(t.Context(), job))
	next, _ := f.queue.pop()

	// Cancelled in the middle of page 1.
	base := f.sender.calls
	f.sender.before = func(n int) error {
		if n-base == 5 {
			_, err := f.svc.CancelBroadcast(t.Context(), org, b.ID)
			return err
		}
		return nil
	}
	require.NoError(t, f.fanout.Run(t.Context(), next.job))
	f.sender.before = nil
	assert.Zero(t, f.queue.len(), "no next page")
	st := f.Stored(b.ID)
	assert.Equal(t, journey.BcCancelled, st.Status)
	assert.Equal(t, 2, st.Pages)
	assert.Equal(t, 40, st.Total)
	assert.Equal(t, f.sender.total(), st.Queued, "the sends made are counted")
	made := f.sender.total()

	// A page job that was already queued finds it cancelled.
	require.NoError(t, f.fanout.Run(t.Context(), journey.BroadcastJob{OrgID: org, BroadcastID: b.ID, Page: 2}))
	assert.Equal(t, made, f.sender.total())
	assert.Zero(t, f.queue.len())
	var got campaigns.Broadcast
	f.Must(http.StatusOK, "GET", "/api/broadcasts/"+b.ID, "", &got)
	assert.Equal(t, 40, got.Progress.Total)
	assert.Equal(t, made, got.Progress.Queued)
}

// A quota's 429 (or any failure that is not the contact's) fails the page
// for a retry and writes no checkpoint; the template's deletion stops the
// broadcast before its next page.
func TestFanoutFailuresLeaveTheCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.fanout.pageCap = 20
	a := newAudience(f, 40)
	b := f.broadcast(a.segmentID, "")
	job := f.Start(b.ID)
	quota := &errs.RateLimited{RetryAfter: 60, Message: "quota"}
	f.sender.before = func(n int) error {
		if n == 3 {
			return quota
		}
		return nil
	}
	err := f.fanout.Run(t.Context(), job)
	var rl *errs.RateLimited
	require.ErrorAs(t, err, &rl)
	assert.Zero(t, f.Stored(b.ID).Pages)
	f.sender.before = nil

	f.queue.fail = errors.New("sqs down")
	require.Error(t, f.fanout.Run(t.Context(), job), "the next page could not be queued")
	assert.Equal(t, 1, f.Stored(b.ID).Pages, "the page is done")
	f.queue.fail = nil
	require.NoError(t, f.fanout.Run(t.Context(), job), "the retry queues the next page")
	next, ok := f.queue.pop()
	require.True(t, ok)
	assert.Equal(t, 1, next.job.Page)

	require.NoError(t, f.Env.Store.Delete(t.Context(), store.TemplateKey(org, template)))
	calls := f.sender.calls
	require.NoError(t, f.fanout.Run(t.Context(), next.job))
	assert.Equal(t, calls, f.sender.calls)
	assert.Equal(t, journey.BcCancelled, f.Stored(b.ID).Status)
}

// The pace: for each rate, pages of the pace's size, their sends spaced
// as the pace says, with the delays it gives, under a page's processing time
// (2 ms a send, 16 at once) and a queue's latency up to 900 ms, send at the
// rate within ±10% (at the cap of MaxSendsPerSecond for higher rates and for
// none); and no one-second window ever holds more than the cap's sends.
func TestPacingHoldsTheRate(t *testing.T) {
	for _, rate := range []int{1, 7, 60, 100, 599, 1000, 3000, 3001, 6000, 12345, 30000, 60000, 0} {
		for _, c := range []struct{ latency, late time.Duration }{{0, 0}, {300 * time.Millisecond, 0}, {900 * time.Millisecond, 0},
			{0, 4 * time.Minute}, {900 * time.Millisecond, 4 * time.Minute}} {
			latency := c.latency
			t.Run(fmt.Sprintf("%d per min, latency %v, first page %v late", rate, latency, c.late), func(t *testing.T) {
				p := paceOf(rate, maxPage)
				want := float64(p.rate)
				if rate > 0 && rate <= MaxSendsPerSecond*60 {
					assert.Equal(t, rate, p.rate)
				} else {
					assert.Equal(t, MaxSendsPerSecond*60, p.rate, "the cap")
				}
				assert.LessOrEqual(t, p.size, maxPage)
				total := max(p.size*30, int(want*3)) // 30 pages, or three minutes
				start := t0
				now := start.Add(c.late) // the first page queued behind other work: it catches up, within the rate's 10%
				queued := 0
				var sendTimes []time.Time
				for queued < total {
					pageStart := now
					n := min(p.size, total-queued)
					var last time.Time
					for i := range n {
						at := p.sendAt(start, queued, i, pageStart)
						if busy := pageStart.Add(time.Duration(i/16) * 2 * time.Millisecond); busy.After(at) {
							at = busy
						}
						sendTimes = append(sendTimes, at)
						last = at
					}
					now = last.Add(2 * time.Millisecond)
					queued += n
					d := p.delay(start, queued, n, pageStart, now)
					require.GreaterOrEqual(t, d, int32(0))
					require.LessOrEqual(t, d, int32(maxDelay))
					now = now.Add(time.Duration(d)*time.Second + latency)
				}
				// The rate from the first send to the start of the last page.
				lastPage := total - ((total-1)%p.size + 1)
				span := sendTimes[lastPage].Sub(sendTimes[0]).Minutes()
				got := float64(lastPage) / span
				assert.InDelta(t, want, got, want*0.10, "%.1f a minute", got)
				t.Logf("page %d, spacing %v: %.1f a minute (%+.1f%%)", p.size, p.spacing, got, (got-want)/want*100)
				for i, j := 0, 0; i < len(sendTimes); i++ {
					for sendTimes[i].Sub(sendTimes[j]) >= time.Second {
						j++
					}
					require.LessOrEqual(t, i-j+1, MaxSendsPerSecond, "sends in one second")
				}
			})
		}
	}
}

// A page whose context ends (the Lambda's deadline) writes no checkpoint.
func TestFanoutStopsWithItsContext(t *testing.T) {
	f := newFixture(t)
	a := newAudience(f, 5)
	b := f.broadcast(a.segmentID, "")
	job := f.Start(b.ID)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.Error(t, f.fanout.Run(ctx, job))
	assert.Zero(t, f.Stored(b.ID).Pages)
}

// A spaced page is cut to what half the time left before the deadline can
// send.
func TestASpacedPageFitsTheDeadline(t *testing.T) {
	p := paceOf(30000, maxPage)
	require.Equal(t, maxPage, p.size)
	assert.Equal(t, p, fitDeadline(t.Context(), p), "no deadline")
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	got := fitDeadline(ctx, p)
	assert.InDelta(t, 1000, got.size, 10, "2 s of sends at 500/s")
	slow := paceOf(60, maxPage)
	assert.Equal(t, slow, fitDeadline(ctx, slow), "a page that is not spaced is left alone")
}

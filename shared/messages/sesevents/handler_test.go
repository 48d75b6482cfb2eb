package sesevents

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The sample events' tags name org_sample and msg_sample; a test points
// them at its own send.
const (
	sampleOrg  = "org_sample"
	sampleSend = "msg_sample"
	sampleTo   = "ada@example.com"
)

var sentAt = time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC)

type harness struct {
	t      *testing.T
	env    *testenv.Env
	clock  *clock.Fake
	h      *Handler
	handle platform.EventHandler
	ledger *sends.Ledger
}

func newHarness(t *testing.T) *harness {
	env := testenv.New(t)
	clk := clock.NewFake(sentAt.Add(time.Hour))
	d := &platform.Deps{Store: env.Store, Clock: clk, AWS: env.Config}
	handle, err := Function.Build(d)
	require.NoError(t, err)
	return &harness{t: t, env: env, clock: clk, h: New(d), handle: handle, ledger: &sends.Ledger{Store: env.Store}}
}

// send stores a send in status, as the worker leaves it.
func (x *harness) send(id, status, contactID string) sends.Item {
	x.t.Helper()
	created := sentAt.Add(-time.Second)
	it := sends.Item{OrgID: sampleOrg, ID: id, Status: status, StatusAt: sentAt, To: sampleTo, ContactID: contactID,
		TemplateID: "order-shipped", Kind: sends.Transactional, CreatedAt: created}
	if status == sends.Sent {
		at := sentAt
		it.SESMessageID, it.SentAt = "0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000", &at
	}
	it.SetKeys()
	require.NoError(x.t, x.env.Store.Put(context.Background(), it))
	return it
}

// event is the sample EventBridge event in testdata/name, about send id.
func (x *harness) event(name, id string) events.EventBridgeEvent {
	x.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(x.t, err)
	b = bytes.ReplaceAll(b, []byte(`"`+sampleSend+`"`), []byte(`"`+id+`"`))
	var ev events.EventBridgeEvent
	require.NoError(x.t, json.Unmarshal(b, &ev))
	require.Equal(x.t, "aws.ses", ev.Source)
	return ev
}

// deliver feeds the function's Lambda handler the sample event.
func (x *harness) deliver(name, id string) error {
	return x.handle(context.Background(), x.event(name, id))
}

func (x *harness) get(id string) sends.Item {
	x.t.Helper()
	it, err := x.ledger.Get(context.Background(), sampleOrg, id)
	require.NoError(x.t, err)
	return it
}

// timeline is the send's stored timeline, in event-time order.
func (x *harness) timeline(id string) []sends.TimelineItem {
	x.t.Helper()
	var items []sends.TimelineItem
	out, err := x.env.DB.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 &x.env.Store.Table,
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :ev)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sv(store.SendPK(sampleOrg, id)), ":ev": sv(store.TimelinePrefix())},
	})
	require.NoError(x.t, err)
	for _, av := range out.Items {
		var it sends.TimelineItem
		require.NoError(x.t, attributevalue.UnmarshalMap(av, &it))
		items = append(items, it)
	}
	return items
}

// counter is one of the send's tenant-day counters on day.
func (x *harness) counter(id, name string, day time.Time) int {
	x.t.Helper()
	var m map[string]any
	err := x.env.Store.Get(context.Background(), store.StatsDayKey(sampleOrg, store.StatsShard(id), day), &m)
	if err != nil {
		require.ErrorIs(x.t, err, errs.ErrNotFound)
		return 0
	}
	n, _ := m[name].(float64)
	return int(n)
}

func (x *harness) suppression(email string) (sends.SuppressionItem, bool) {
	x.t.Helper()
	var s sends.SuppressionItem
	err := x.env.Store.Get(context.Background(), store.SuppressionKey(sampleOrg, email), &s)
	if err != nil {
		require.ErrorIs(x.t, err, errs.ErrNotFound)
		return s, false
	}
	return s, true
}

// Each SES event type moves the send to its status, adds its timeline entry
// and its counter, and a permanent bounce suppresses the address.
func TestEachEventTypeIsRecorded(t *testing.T) {
	x := newHarness(t)
	day := sentAt
	cases := []struct {
		file, id      string
		from          string
		status        string
		timelineType  string
		counter       string
		at            time.Time
		detail        map[string]any
		suppressedFor string
	}{
		{file: "delivery.json", id: "msg_delivery", from: sends.Sent, status: sends.Delivered, timelineType: sends.Delivered,
			counter: sends.CountDelivered, at: time.Date(2026, 12, 1, 10, 0, 2, 874e6, time.UTC),
			detail: map[string]any{"processingTimeMillis": 1754.0, "reportingMTA": "a8-19.smtp-out.amazonses.com"}},
		{file: "bounce-permanent.json", id: "msg_bounce", from: sends.Sent, status: sends.Bounced, timelineType: sends.Bounced,
			counter: sends.CountBounced, at: time.Date(2026, 12, 1, 10, 0, 2, 500e6, time.UTC),
			detail:        map[string]any{"bounceType": "Permanent", "bounceSubType": "General", "status": "5.1.1"},
			suppressedFor: sends.ReasonHardBounce},
		{file: "bounce-transient.json", id: "msg_soft", from: sends.Sent, status: sends.Sent, timelineType: sends.EventSoftBounce,
			at:     time.Date(2026, 12, 1, 10, 4, 59, 100e6, time.UTC),
			detail: map[string]any{"bounceType": "Transient", "bounceSubType": "MailboxFull"}},
		{file: "complaint.json", id: "msg_complaint", from: sends.Delivered, status: sends.Complained, timelineType: sends.Complained,
			counter: sends.CountComplained, at: time.Date(2026, 12, 1, 10, 59, 58, 0, time.UTC),
			detail: map[string]any{"complaintFeedbackType": "abuse"}, suppressedFor: sends.ReasonComplaint},
		{file: "reject.json", id: "msg_reject", from: sends.Sent, status: sends.Rejected, timelineType: sends.Rejected,
			counter: sends.CountFailed, at: time.Date(2026, 12, 1, 10, 0, 1, 120e6, time.UTC),
			detail: map[string]any{"reason": "Bad content"}},
		{file: "delivery-delay.json", id: "msg_delay", from: sends.Sent, status: sends.DeliveryDelayed, timelineType: sends.DeliveryDelayed,
			at:     time.Date(2026, 12, 1, 10, 29, 58, 641e6, time.UTC),
			detail: map[string]any{"delayType": "TransientCommunicationFailure", "status": "4.4.1"}},
		{file: "rendering-failure.json", id: "msg_render", from: sends.Sent, status: sends.Failed, timelineType: sends.EventRenderFailure,
			counter: sends.CountFailed, at: time.Date(2026, 12, 1, 10, 0, 1, 120e6, time.UTC),
			detail: map[string]any{"errorMessage": "Attribute 'name' is not present in the rendering data."}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			x.t = t
			// Each case has its own address, so suppressions do not mix.
			before := x.send(c.id, c.from, "")
			require.NoError(t, x.deliver(c.file, c.id))

			got := x.get(c.id)
			assert.Equal(t, c.status, got.Status)
			assert.Equal(t, before.Rev+1, got.Rev)
			assert.Equal(t, 1, got.Events)
			tl := x.timeline(c.id)
			require.Len(t, tl, 1)
			assert.Equal(t, c.timelineType, tl[0].EventType)
			assert.Equal(t, c.at, tl[0].At)
			var detail map[string]any
			require.NoError(t, json.Unmarshal([]byte(tl[0].Detail), &detail))
			for k, v := range c.detail {
				assert.Equal(t, v, detail[k], k)
			}
			assert.NotContains(t, tl[0].Detail, sampleTo+"\"", "no recipient list on the timeline")
			if c.counter != "" {
				assert.Equal(t, 1, x.counter(c.id, c.counter, day), c.counter)
			}
		})
	}
	x.t = t
	// Every permanent bounce and complaint above was about the one address:
	// the latest reason wins, and it names its send.
	s, ok := x.suppression(sampleTo)
	require.True(t, ok)
	assert.Equal(t, sends.ReasonComplaint, s.Reason)
	assert.Equal(t, "msg_complaint", s.SendID)
	assert.Equal(t, 0, x.counter("msg_soft", sends.CountBounced, day), "a transient bounce counts nothing")
}

// A permanent bounce puts the address on the suppression list with its
// reason and send; a transient one only adds to the timeline.
func TestBouncesAndSuppression(t *testing.T) {
	x := newHarness(t)
	x.send("msg_soft", sends.Sent, "")
	require.NoError(t, x.deliver("bounce-transient.json", "msg_soft"))
	_, ok := x.suppression(sampleTo)
	assert.False(t, ok, "a transient bounce suppresses nothing")
	assert.Equal(t, sends.Sent, x.get("msg_soft").Status)
	assert.Equal(t, 0, x.counter("msg_soft", sends.CountBounced, sentAt))

	x.send("msg_hard", sends.Sent, "")
	require.NoError(t, x.deliver("bounce-permanent.json", "msg_hard"))
	s, ok := x.suppression(sampleTo)
	require.True(t, ok)
	assert.Equal(t, sends.ReasonHardBounce, s.Reason)
	assert.Equal(t, "msg_hard", s.SendID)
	assert.Equal(t, sampleTo, s.Email)
	assert.Equal(t, time.Date(2026, 12, 1, 10, 0, 2, 500e6, time.UTC), s.CreatedAt)
	got := x.get("msg_hard")
	assert.Equal(t, sends.Bounced, got.Status)
	assert.Contains(t, got.Reason, "General")
}

// The same event twice changes nothing the second time: status, rev,
// timeline and counters stay as the first left them.
func TestTheSameEventTwiceChangesNothing(t *testing.T) {
	for _, file := range []string{"delivery.json", "bounce-permanent.json", "reject.json", "delivery-delay.json"} {
		t.Run(file, func(t *testing.T) {
			x := newHarness(t)
			x.send("msg_twice", sends.Sent, "")
			require.NoError(t, x.deliver(file, "msg_twice"))
			first := x.get("msg_twice")
			stats := x.statsSnapshot("msg_twice")
			require.NoError(t, x.deliver(file, "msg_twice"))
			again := x.get("msg_twice")
			assert.Equal(t, first, again)
			assert.Len(t, x.timeline("msg_twice"), 1)
			assert.Equal(t, stats, x.statsSnapshot("msg_twice"))
		})
	}
}

func (x *harness) statsSnapshot(id string) map[string]any {
	var m map[string]any
	err := x.env.Store.Get(context.Background(), store.StatsDayKey(sampleOrg, store.StatsShard(id), sentAt), &m)
	if err != nil {
		require.ErrorIs(x.t, err, errs.ErrNotFound)
	}
	return m
}

// A complaint suppresses the address and unsubscribes the send's contact;
// delivered again (Lambda's retry), it finishes the job without counting
// twice.
func TestComplaintUnsubscribesTheContact(t *testing.T) {
	x := newHarness(t)
	ctx := context.Background()
	svc := contacts.NewService(x.env.Store, x.clock)
	c, err := svc.Create(ctx, sampleOrg, contacts.Input{Email: sampleTo})
	require.NoError(t, err)
	require.True(t, c.Subscribed)
	x.send("msg_c", sends.Delivered, c.ID)

	require.NoError(t, x.deliver("complaint.json", "msg_c"))
	got, err := svc.Get(ctx, sampleOrg, c.ID)
	require.NoError(t, err)
	assert.False(t, got.Subscribed)
	require.NotNil(t, got.UnsubscribedAt)
	s, ok := x.suppression(sampleTo)
	require.True(t, ok)
	assert.Equal(t, sends.ReasonComplaint, s.Reason)
	assert.Equal(t, "msg_c", s.SendID)
	assert.Equal(t, sends.Complained, x.get("msg_c").Status)

	// The contact subscribes again; the same complaint redelivered is a
	// duplicate, and unsubscribes it again (the record may have succeeded
	// before a failed unsubscription).
	_, err = svc.Patch(ctx, sampleOrg, c.ID, contacts.Patch{Subscribed: optTrue()})
	require.NoError(t, err)
	require.NoError(t, x.deliver("complaint.json", "msg_c"))
	got, err = svc.Get(ctx, sampleOrg, c.ID)
	require.NoError(t, err)
	assert.False(t, got.Subscribed)
	assert.Equal(t, 1, x.counter("msg_c", sends.CountComplained, sentAt))
	assert.Len(t, x.timeline("msg_c"), 1)

	// A contact deleted since: the complaint is still recorded.
	x.send("msg_gone", sends.Delivered, "cnt_deleted")
	require.NoError(t, x.deliver("complaint.json", "msg_gone"))
	assert.Equal(t, sends.Complained, x.get("msg_gone").Status)
}

// Events that arrive out of order never move a status back: a Delivery
// after a Complaint is on the timeline, counted, and the send stays
// complained.
func TestOutOfOrderNeverMovesBack(t *testing.T) {
	x := newHarness(t)
	x.send("msg_ooo", sends.Sent, "")
	require.NoError(t, x.deliver("complaint.json", "msg_ooo"))
	require.NoError(t, x.deliver("delivery.json", "msg_ooo"))
	got := x.get("msg_ooo")
	assert.Equal(t, sends.Complained, got.Status)
	assert.Equal(t, 2, got.Events)
	tl := x.timeline("msg_ooo")
	require.Len(t, tl, 2)
	assert.Equal(t, sends.Delivered, tl[0].EventType, "the timeline is in event-time order")
	assert.Equal(t, sends.Complained, tl[1].EventType)
	assert.Equal(t, 1, x.counter("msg_ooo", sends.CountDelivered, sentAt))
}

// An event about no send, another tenant's send, without tags, of a type
// not recorded, or malformed, is dropped without error (Lambda would retry
// it forever otherwise) and changes nothing.
func TestEventsThatNameNoSendAreDropped(t *testing.T) {
	x := newHarness(t)
	ctx := context.Background()
	assert.NoError(t, x.deliver("delivery.json", "msg_nothere"))
	_, err := x.ledger.Get(ctx, sampleOrg, "msg_nothere")
	assert.ErrorIs(t, err, errs.ErrNotFound)

	// Another tenant's send, named with this tenant's org.
	other := sends.Item{OrgID: "org_other", ID: "msg_theirs", Status: sends.Sent, StatusAt: sentAt, To: sampleTo, Kind: sends.Transactional, CreatedAt: sentAt}
	other.SetKeys()
	require.NoError(t, x.env.Store.Put(ctx, other))
	assert.NoError(t, x.deliver("bounce-permanent.json", "msg_theirs"))
	theirs, err := x.ledger.Get(ctx, "org_other", "msg_theirs")
	require.NoError(t, err)
	assert.Equal(t, sends.Sent, theirs.Status)
	assert.Equal(t, 0, theirs.Rev)
	_, ok := x.suppression(sampleTo)
	assert.False(t, ok)

	x.send("msg_mine", sends.Sent, "")
	untagged := x.event("delivery.json", "msg_mine")
	untagged.Detail = bytes.ReplaceAll(untagged.Detail, []byte("sendwell_send"), []byte("someone_else"))
	assert.NoError(t, x.handle(ctx, untagged))
	assert.NoError(t, x.deliver("open.json", "msg_mine"))
	assert.NoError(t, x.h.Handle(ctx, []byte(`{"eventType":`)))
	assert.NoError(t, x.h.Handle(ctx, []byte(`{"eventType":"Delivery","mail":{"messageId":"m","tags":{"sendwell_org":["org_sample"],"sendwell_send":["msg_mine"]}}}`)),
		"a Delivery without its object")
	mine := x.get("msg_mine")
	assert.Equal(t, sends.Sent, mine.Status)
	assert.Equal(t, 0, mine.Rev)
	assert.Empty(t, x.timeline("msg_mine"))
}

// SES's Send event is not recorded for a send the worker recorded as sent;
// for a send whose worker died between claim and answer (unknown), it tells
// that SES took the email: the send becomes sent with SES's message id.
func TestSendEventResolvesAnUnknownSend(t *testing.T) {
	x := newHarness(t)
	x.send("msg_sent", sends.Sent, "")
	require.NoError(t, x.deliver("send.json", "msg_sent"))
	assert.Equal(t, 0, x.get("msg_sent").Rev)
	assert.Empty(t, x.timeline("msg_sent"))

	x.send("msg_unknown", sends.Unknown, "")
	require.NoError(t, x.deliver("send.json", "msg_unknown"))
	got := x.get("msg_unknown")
	assert.Equal(t, sends.Sent, got.Status)
	assert.Equal(t, "0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000", got.SESMessageID)
	assert.Equal(t, 1, x.counter("msg_unknown", sends.CountSent, sentAt))
	require.NoError(t, x.deliver("send.json", "msg_unknown"))
	assert.Equal(t, 1, x.counter("msg_unknown", sends.CountSent, sentAt))
}

// A table that stays unavailable through the SDK's retries fails the
// event, so Lambda retries it; the retry records it once.
func TestUnavailableTableFailsTheEventForARetry(t *testing.T) {
	x := newHarness(t)
	x.send("msg_retry", sends.Sent, "")
	cfg := x.env.Config.Copy()
	faults := awsx.NewFaults()
	faults.Instrument(&cfg)
	awsx.QuickRetries(&cfg, 3)
	st := store.New(dynamodb.NewFromConfig(cfg), x.env.Store.Table)
	d := &platform.Deps{Store: st, Clock: x.clock, AWS: cfg}
	h := New(d)
	detail := x.event("bounce-permanent.json", "msg_retry").Detail
	ctx := context.Background()

	faults.FailNext("DynamoDB.GetItem", 3, awsx.InternalServerError)
	assert.Error(t, h.Handle(ctx, detail))
	faults.FailNext("DynamoDB.TransactWriteItems", 3, awsx.Throttling)
	assert.Error(t, h.Handle(ctx, detail))
	assert.Equal(t, sends.Sent, x.get("msg_retry").Status, "nothing was recorded")
	_, ok := x.suppression(sampleTo)
	assert.False(t, ok)

	require.NoError(t, h.Handle(ctx, detail))
	require.NoError(t, h.Handle(ctx, detail))
	assert.Equal(t, sends.Bounced, x.get("msg_retry").Status)
	assert.Equal(t, 1, x.counter("msg_retry", sends.CountBounced, sentAt))
	_, ok = x.suppression(sampleTo)
	assert.True(t, ok)
}

func sv(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func optTrue() httpx.Optional[bool] { return httpx.Optional[bool]{Set: true, Value: true} }

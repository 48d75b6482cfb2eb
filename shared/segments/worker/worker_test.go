package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
	"github.com/sendwell/sendwell/shared/tracking"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Segment ids, valid as the rules want them.
var (
	segpro    = ids.New("seg", t0)
	segvip    = ids.New("seg", t0)
	segbuyers = ids.New("seg", t0)
	segbig    = ids.New("seg", t0)
	segother  = ids.New("seg", t0)
	segnew    = ids.New("seg", t0)
)

// fixture is one test's table, clock, queue and worker, for one tenant.
type fixture struct {
	t     *testing.T
	env   *testenv.Env
	clk   *clock.Fake
	sqs   *sqs.Client
	queue string
	w     *Worker
	org   string
	segV  int
}

func newFixture(t *testing.T) *fixture {
	env := testenv.New(t)
	clk := clock.NewFake(t0)
	q := sqs.NewFromConfig(env.Config)
	out, err := q.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(env.Store.Table + "-segments")})
	require.NoError(t, err)
	w := New(&platform.Deps{Store: env.Store, Clock: clk}, q, *out.QueueUrl)
	env.Counter.Reset()
	return &fixture{t: t, env: env, clk: clk, sqs: q, queue: *out.QueueUrl, w: w, org: ids.New(ids.Org, t0)}
}

// segment writes a segment item as the API does, bumping the tenant's version.
func (f *fixture) segment(id, status, definition string) {
	f.t.Helper()
	f.segV++
	item := map[string]any{
		"PK": store.SegmentKey(f.org, id).PK, "SK": store.SegmentKey(f.org, id).SK, "type": "segment",
		"orgId": f.org, "id": id, "name": id, "definition": definition, "status": status, "version": 1,
		"processed": 0, "total": 0, "size": 0,
	}
	require.NoError(f.t, f.env.Store.Put(context.Background(), item))
	vk := store.SegmentsVersionKey(f.org)
	require.NoError(f.t, f.env.Store.Put(context.Background(), map[string]any{"PK": vk.PK, "SK": vk.SK, "version": f.segV}))
}

// contact writes a contact as the contacts group stores it.
func (f *fixture) contact(id string, version int, props map[string]any, tags ...string) contacts.Item {
	f.t.Helper()
	it := contacts.Item{Key: store.ContactKey(f.org, id), Type: contacts.ItemType, OrgID: f.org, ID: id,
		Email: strings.ToLower(id) + "@example.com", Properties: props, Tags: tags, Subscribed: true,
		CreatedAt: t0.Add(-time.Hour), UpdatedAt: f.clk.Now(), Version: version}
	it.GSI1PK, it.GSI1SK = store.SubscribedPK(f.org, true), store.ContactSK(id)
	it.GSI2PK, it.GSI2SK = store.EmailIndexPK(f.org), it.Email
	require.NoError(f.t, f.env.Store.Put(context.Background(), it))
	return it
}

// event writes a tracked event as the tracking group stores it, and returns
// its domain event.
func (f *fixture) event(contactID, name string, at time.Time, props map[string]any) string {
	f.t.Helper()
	id := "evt_" + ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
	it := tracking.Item{OrgID: f.org, ID: id, ContactID: contactID, Name: name, Properties: props, Timestamp: at}
	it.SetKeys()
	require.NoError(f.t, f.env.Store.Put(context.Background(), it))
	return f.domainEvent("event.tracked", it.API(), nil)
}

func (f *fixture) domainEvent(typ string, data, prev any) string {
	body, err := json.Marshal(map[string]any{"id": ulid.Make().String(), "type": typ, "orgId": f.org,
		"occurredAt": f.clk.Now(), "data": data, "previous": prev})
	require.NoError(f.t, err)
	return string(body)
}

func (f *fixture) contactEvent(typ string, cur contacts.Item, prev *contacts.Item) string {
	var p any
	if prev != nil {
		p = prev.API()
	}
	return f.domainEvent(typ, cur.API(), p)
}

// handle feeds bodies to the worker (as one batch, like Lambda) and requires
// they all succeed; a failure is handled again alone, for its error.
func (f *fixture) handle(bodies ...string) {
	f.t.Helper()
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint(i), Body: b})
	}
	resp, err := f.w.Handle(context.Background(), ev)
	require.NoError(f.t, err)
	for _, fail := range resp.BatchItemFailures {
		var i int
		_, _ = fmt.Sscan(fail.ItemIdentifier, &i)
		require.NoError(f.t, f.w.handle(context.Background(), bodies[i]), "message %d failed", i)
	}
	require.Empty(f.t, resp.BatchItemFailures)
}

// members is the contact's memberships, read from both sides, which must agree.
func (f *fixture) members(contactID string) []string {
	f.t.Helper()
	ctx := context.Background()
	_, m, err := f.w.repo.contactSegments(ctx, f.org, contactID)
	require.NoError(f.t, err)
	var out []string
	for seg := range m {
		var it memberItem
		require.NoError(f.t, f.env.Store.GetConsistent(ctx, store.SegmentMemberKey(f.org, seg, contactID), &it), "mirror of %s", seg)
		assert.Equal(f.t, MemberType, it.Type)
		out = append(out, seg)
	}
	return out
}

func (f *fixture) state(contactID string) *stateItem {
	f.t.Helper()
	var st stateItem
	err := f.env.Store.GetConsistent(context.Background(), store.ContactSegStateKey(f.org, contactID), &st)
	if err == errs.ErrNotFound {
		return nil
	}
	require.NoError(f.t, err)
	return &st
}

func TestContactChangeEntersThenLeaves(t *testing.T) {
	f := newFixture(t)
	f.segment(segpro, StatusReady, `{"property":"plan","operator":"eq","value":"pro"}`)
	f.segment(segvip, StatusReady, `{"tag":"vip"}`)

	c := f.contact("cnt_1", 1, map[string]any{"plan": "pro"})
	f.handle(f.contactEvent("contact.created", c, nil))
	assert.ElementsMatch(t, []string{segpro}, f.members("cnt_1"))
	var reverse memberItem
	require.NoError(t, f.env.Store.GetConsistent(context.Background(), store.ContactSegmentKey(f.org, "cnt_1", segpro), &reverse))
	assert.Equal(t, ContactMemberType, reverse.Type)
	assert.Equal(t, t0, reverse.EnteredAt)
	st := f.state("cnt_1")
	require.NotNil(t, st)
	assert.Equal(t, 1, st.Rev)
	assert.Empty(t, st.DuePK, "no window: nothing due")

	prev := c
	c = f.contact("cnt_1", 2, map[string]any{"plan": "free"}, "vip")
	f.handle(f.contactEvent("contact.updated", c, &prev))
	assert.ElementsMatch(t, []string{segvip}, f.members("cnt_1"))
	_, err := dynamodbGet(f, store.SegmentMemberKey(f.org, segpro, "cnt_1"))
	assert.ErrorIs(t, err, errs.ErrNotFound, "the exit deletes the member item")

	// A deleted contact leaves everything.
	require.NoError(t, f.env.Store.Delete(context.Background(), store.ContactKey(f.org, "cnt_1")))
	f.handle(f.contactEvent("contact.deleted", c, nil))
	assert.Empty(t, f.members("cnt_1"))
	assert.Nil(t, f.state("cnt_1"))
	_, err = dynamodbGet(f, store.SegmentMemberKey(f.org, segvip, "cnt_1"))
	assert.ErrorIs(t, err, errs.ErrNotFound)
}

func dynamodbGet(f *fixture, k store.Key) (map[string]any, error) {
	var m map[string]any
	err := f.env.Store.GetConsistent(context.Background(), k, &m)
	return m, err
}

func TestEventWindowEntersAndLeavesWithTheClock(t *testing.T) {
	f := newFixture(t)
	f.segment(segbuyers, StatusReady, `{"event":"order.completed","count":{"gte":2},"within":"P30D"}`)
	f.contact("cnt_1", 1, nil)

	first := t0.Add(-5 * 24 * time.Hour)
	f.handle(f.event("cnt_1", "order.completed", first, map[string]any{"total": 10}))
	assert.Empty(t, f.members("cnt_1"), "one order is not two")

	f.clk.Advance(time.Minute)
	second := f.clk.Now()
	f.handle(f.event("cnt_1", "order.completed", second, nil))
	assert.Equal(t, []string{segbuyers}, f.members("cnt_1"))

	// The window flips when the first order is 30 days old: the state is due then.
	flip := first.Add(30 * 24 * time.Hour)
	st := f.state("cnt_1")
	require.NotNil(t, st)
	require.NotNil(t, st.Next)
	assert.Equal(t, flip, *st.Next)
	assert.Equal(t, store.DuePK(flip, store.DueShard("cnt_1")), st.DuePK)
	assert.Equal(t, store.DueSK(flip, "cnt_1"), st.DueSK)
	assert.Equal(t, StateType, st.Type)

	// Before the flip an evaluation changes nothing; at it, the contact leaves.
	evaluate := `{"evaluate":{"orgId":"` + f.org + `","contactId":"cnt_1"}}`
	// The scheduler queued it early and moved the Due keys to its re-check
	// mark: the evaluation puts them back at the flip.
	f.clk.Advance(flip.Sub(f.clk.Now()) - time.Second)
	mark := f.clk.Now().Add(15 * time.Minute)
	_, err := f.env.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: &f.env.Store.Table, Key: store.ContactSegStateKey(f.org, "cnt_1").KeyAV(),
		UpdateExpression: aws.String("SET DuePK = :pk, DueSK = :sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.DuePK(mark, store.DueShard("cnt_1"))},
			":sk": &types.AttributeValueMemberS{Value: store.DueSK(mark, "cnt_1")},
		},
	})
	require.NoError(t, err)
	f.handle(evaluate)
	assert.Equal(t, []string{segbuyers}, f.members("cnt_1"))
	assert.Equal(t, store.DueSK(flip, "cnt_1"), f.state("cnt_1").DueSK)
	f.clk.Advance(time.Second)
	f.handle(evaluate)
	assert.Empty(t, f.members("cnt_1"))
	st = f.state("cnt_1")
	require.NotNil(t, st)
	// One order is left in the window: no time alone can make it two.
	assert.Nil(t, st.Next)
	assert.Empty(t, st.DuePK)
}

func TestSameDomainEventTwiceChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.segment(segbig, StatusReady, `{"event":"order.completed","where":[{"property":"total","operator":"gt","value":100}]}`)
	f.contact("cnt_1", 1, nil)
	body := f.event("cnt_1", "order.completed", t0, map[string]any{"total": 150})
	f.handle(body)
	assert.Equal(t, []string{segbig}, f.members("cnt_1"))
	rev := f.state("cnt_1").Rev

	f.env.Counter.Reset()
	f.handle(body)
	assert.Zero(t, f.env.Counter.Count("DynamoDB.TransactWriteItems"), "nothing to write the second time")
	assert.Equal(t, rev, f.state("cnt_1").Rev)
	var counters []counterItem
	require.NoError(t, f.env.Store.QueryKeys(context.Background(), store.EventCountersPK(f.org, "cnt_1"), "", func(ks []store.Key) error {
		for _, k := range ks {
			var c counterItem
			require.NoError(t, f.env.Store.GetConsistent(context.Background(), k, &c))
			counters = append(counters, c)
		}
		return nil
	}))
	require.Len(t, counters, 1)
	assert.Len(t, counters[0].Ev, 1, "the event counts once")
	assert.Equal(t, t0.Add(CounterRetention).Unix(), counters[0].TTL)

	// An event that fails the where clause is not counted.
	f.handle(f.event("cnt_1", "order.completed", t0, map[string]any{"total": 5}))
	require.NoError(t, f.env.Store.GetConsistent(context.Background(), counters[0].Key, &counters[0]))
	assert.Len(t, counters[0].Ev, 1)
}

// Per change: the version, the contact, the CSEG Query, at most one counter
// BatchGet and one transaction.
func TestCallsPerChange(t *testing.T) {
	f := newFixture(t)
	f.segment(segpro, StatusReady, `{"all":[{"property":"plan","operator":"eq","value":"pro"},{"event":"login","within":"P7D"}]}`)
	f.segment(segother, StatusReady, `{"property":"country","operator":"eq","value":"fr"}`)
	c := f.contact("cnt_1", 1, map[string]any{"plan": "free"})
	f.handle(f.event("cnt_1", "login", t0, nil))
	prev := c
	c = f.contact("cnt_1", 2, map[string]any{"plan": "pro"})
	f.env.Counter.Reset()
	f.handle(f.contactEvent("contact.updated", c, &prev))
	assert.Equal(t, map[string]int{
		"DynamoDB.GetItem": 2, "DynamoDB.Query": 1, "DynamoDB.BatchGetItem": 1, "DynamoDB.TransactWriteItems": 1,
	}, f.env.Counter.Snapshot())
	assert.Equal(t, []string{segpro}, f.members("cnt_1"))

	// A change no segment reads costs the version read only.
	prev = c
	c = f.contact("cnt_1", 3, map[string]any{"plan": "pro", "shoe": 42})
	f.env.Counter.Reset()
	f.handle(f.contactEvent("contact.updated", c, &prev))
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, f.env.Counter.Snapshot())
}

func TestBuildResumesFromItsCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.w.pagesPerMessage = 1
	want := 0
	for i := range 250 {
		id := fmt.Sprintf("cnt_%03d", i)
		plan := "free"
		if i%3 == 0 {
			plan = "pro"
		}
		f.contact(id, 1, map[string]any{"plan": plan})
		if i%10 == 1 { // events written before the segment exists: the build backfills them
			f.event(id, "signup", t0.Add(-24*time.Hour), nil)
		}
		if plan == "pro" || i%10 == 1 {
			want++
		}
	}
	ck := store.ContactCountKey(f.org)
	require.NoError(t, f.env.Store.Put(context.Background(), map[string]any{"PK": ck.PK, "SK": ck.SK, "contacts": 250}))
	f.segment(segnew, StatusBuilding, `{"any":[{"property":"plan","operator":"eq","value":"pro"},{"event":"signup"}]}`)

	f.handle(`{"build":{"orgId":"` + f.org + `","segmentId":"` + segnew + `"}}`)
	seg, err := f.w.repo.segment(context.Background(), f.org, segnew)
	require.NoError(t, err)
	assert.Equal(t, StatusBuilding, seg.Status)
	assert.Equal(t, 100, seg.Processed)
	assert.Equal(t, 250, seg.Total)
	assert.Equal(t, "cnt_099", seg.Cursor)

	// A rename (a new version, the same definition) does not stop the build.
	sk := store.SegmentKey(f.org, segnew)
	_, err = f.env.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: &f.env.Store.Table, Key: sk.KeyAV(), UpdateExpression: aws.String("SET #n = :n, version = :v"),
		ExpressionAttributeNames:  map[string]string{"#n": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberS{Value: "renamed"}, ":v": &types.AttributeValueMemberN{Value: "2"}},
	})
	require.NoError(t, err)

	// The continuation is on the queue; each run resumes from the checkpoint.
	for range 2 {
		msgs, err := f.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &f.queue, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Len(t, msgs.Messages, 1)
		_, err = f.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &f.queue, ReceiptHandle: msgs.Messages[0].ReceiptHandle})
		require.NoError(t, err)
		f.handle(*msgs.Messages[0].Body)
	}
	seg, err = f.w.repo.segment(context.Background(), f.org, segnew)
	require.NoError(t, err)
	assert.Equal(t, StatusReady, seg.Status)
	assert.Equal(t, 250, seg.Processed)
	assert.Equal(t, want, seg.Size)
	assert.Empty(t, seg.Cursor)
	n, err := f.w.repo.memberCount(context.Background(), f.org, segnew)
	require.NoError(t, err)
	assert.Equal(t, want, n)
	assert.Equal(t, []string{segnew}, f.members("cnt_001"), "a backfilled event qualifies")
	assert.Empty(t, f.members("cnt_002"))

	// A repeated build message of a ready segment does nothing.
	f.env.Counter.Reset()
	f.handle(`{"build":{"orgId":"` + f.org + `","segmentId":"` + segnew + `"}}`)
	assert.Zero(t, f.env.Counter.Count("DynamoDB.TransactWriteItems"))

	// Purge: the deleted segment's members go, both sides.
	require.NoError(t, f.env.Store.Delete(context.Background(), store.SegmentKey(f.org, segnew)))
	f.handle(`{"purge":{"orgId":"` + f.org + `","segmentId":"` + segnew + `"}}`)
	for {
		msgs, err := f.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &f.queue, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		if len(msgs.Messages) == 0 {
			break
		}
		for _, m := range msgs.Messages {
			_, err = f.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &f.queue, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
			f.handle(*m.Body)
		}
	}
	n, err = f.w.repo.memberCount(context.Background(), f.org, segnew)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Empty(t, f.members("cnt_000"))
}

// What a build costs per contact: a Query of the contact's memberships, a
// transaction for each contact that enters, and per 100 contacts a page and
// a checkpoint; a segment with an event condition adds a Query of the
// contact's events of that name and a read of its counters. Besides those,
// a build of 200 contacts makes a few calls of its own: its pages (the last
// one empty), the member count, checkpoints, the segment and the tenant's
// definitions.
func TestBuildCallsPerContact(t *testing.T) {
	for _, tt := range []struct {
		name, definition string
		want             map[string]int
	}{
		{"properties", `{"property":"plan","operator":"eq","value":"pro"}`, map[string]int{
			"DynamoDB.Query": 4 + 200, "DynamoDB.TransactWriteItems": 100, "DynamoDB.UpdateItem": 2, "DynamoDB.GetItem": 3,
		}},
		{"an event window", `{"all":[{"property":"plan","operator":"eq","value":"pro"},{"event":"login","within":"P7D"}]}`, map[string]int{
			"DynamoDB.Query": 4 + 200 + 200, "DynamoDB.BatchGetItem": 200, "DynamoDB.TransactWriteItems": 0, "DynamoDB.UpdateItem": 2, "DynamoDB.GetItem": 3,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			for i := range 200 {
				plan := "free"
				if i%2 == 0 {
					plan = "pro"
				}
				f.contact(fmt.Sprintf("cnt_%03d", i), 1, map[string]any{"plan": plan})
			}
			ck := store.ContactCountKey(f.org)
			require.NoError(t, f.env.Store.Put(context.Background(), map[string]any{"PK": ck.PK, "SK": ck.SK, "contacts": 200}))
			f.segment(segnew, StatusBuilding, tt.definition)
			f.env.Counter.Reset()
			f.handle(`{"build":{"orgId":"` + f.org + `","segmentId":"` + segnew + `"}}`)
			got := f.env.Counter.Snapshot()
			for op, n := range tt.want {
				assert.Equal(t, n, got[op], "%s: %v", op, got)
			}
			seg, err := f.w.repo.segment(context.Background(), f.org, segnew)
			require.NoError(t, err)
			assert.Equal(t, StatusReady, seg.Status)
		})
	}
}

// A build that runs out of time mid-page keeps what it did, contact by
// contact, so a store slower than a page per invocation still finishes.
func TestABuildOutOfTimeMidPageKeepsItsProgress(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.contact(fmt.Sprintf("cnt_%d", i), 1, map[string]any{"plan": "pro"})
	}
	f.segment(segnew, StatusBuilding, `{"property":"plan","operator":"eq","value":"pro"}`)
	// Every reading of the clock is past the stop: one contact per message.
	f.w.reserved = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body := `{"build":{"orgId":"` + f.org + `","segmentId":"` + segnew + `"}}`
	messages := 0
	for {
		messages++
		resp, err := f.w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "1", Body: body}}})
		require.NoError(t, err)
		require.Empty(t, resp.BatchItemFailures)
		seg, err := f.w.repo.segment(ctx, f.org, segnew)
		require.NoError(t, err)
		if seg.Status == StatusReady {
			assert.Equal(t, 5, seg.Size)
			break
		}
		assert.Equal(t, messages, seg.Processed, "one contact kept per message")
		assert.Equal(t, fmt.Sprintf("cnt_%d", messages-1), seg.Cursor)
		msgs, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &f.queue, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Len(t, msgs.Messages, 1, "the continuation is queued")
		_, err = f.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &f.queue, ReceiptHandle: msgs.Messages[0].ReceiptHandle})
		require.NoError(t, err)
		body = *msgs.Messages[0].Body
		require.Less(t, messages, 10)
	}
	assert.Equal(t, 5, messages)
}

// A contact that changes between an evaluation's reads and its write makes
// the write fail on the contact's version: the evaluation reads again.
func TestConcurrentChangeIsNotLost(t *testing.T) {
	f := newFixture(t)
	f.segment(segpro, StatusReady, `{"property":"plan","operator":"eq","value":"pro"}`)
	c := f.contact("cnt_1", 1, map[string]any{"plan": "pro"})

	cfg := f.env.Config.Copy()
	faults := awsx.NewFaults()
	faults.Instrument(&cfg)
	f.w.repo = repo{store.New(dynamodb.NewFromConfig(cfg), f.env.Store.Table)}
	var once sync.Once
	var changed contacts.Item
	faults.Before("DynamoDB.TransactWriteItems", func(int) {
		once.Do(func() { changed = f.contact("cnt_1", 2, map[string]any{"plan": "free"}) })
	})
	f.handle(f.contactEvent("contact.created", c, nil))
	assert.Equal(t, 1, faults.Attempts("DynamoDB.TransactWriteItems"), "the write failed on the version; the re-read found nothing to write")
	assert.Empty(t, f.members("cnt_1"), "the evaluation saw the free plan")

	// Racing evaluations (and the change's own event) end in the same state.
	faults.Reset()
	c2 := f.contact("cnt_1", 3, map[string]any{"plan": "pro"})
	var wg sync.WaitGroup
	errsCh := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"evaluate":{"orgId":"` + f.org + `","contactId":"cnt_1"}}`
			if i%2 == 0 {
				body = f.contactEvent("contact.updated", c2, &changed)
			}
			resp, err := f.w.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: body}}})
			if err == nil && len(resp.BatchItemFailures) > 0 {
				err = fmt.Errorf("message failed")
			}
			errsCh <- err
		}()
	}
	wg.Wait()
	close(errsCh)
	for err := range errsCh {
		assert.NoError(t, err)
	}
	assert.Equal(t, []string{segpro}, f.members("cnt_1"))
	st := f.state("cnt_1")
	require.NotNil(t, st)
	assert.Equal(t, 1, st.Rev, "one evaluation wrote; the others found nothing left to write")
}

func TestPrunable(t *testing.T) {
	now := t0
	ev := map[string]int64{"old": now.Add(-CounterRetention - time.Hour).Unix()}
	for i := range CounterMax + 2 {
		ev[fmt.Sprintf("e%04d", i)] = now.Add(-time.Duration(i) * time.Minute).Unix()
	}
	got := prunable(ev, now)
	assert.ElementsMatch(t, []string{"old", fmt.Sprintf("e%04d", CounterMax), fmt.Sprintf("e%04d", CounterMax+1)}, got)
}

// A message that fails is reported, and so is every later one of the batch
// (a contact's changes stay in order on the FIFO queue); unreadable ones are dropped.
func TestFailedMessagesAreReportedInOrder(t *testing.T) {
	f := newFixture(t)
	f.segment(segpro, StatusReady, `{"property":"plan","operator":"eq","value":"pro"}`)
	c := f.contact("cnt_1", 1, map[string]any{"plan": "pro"})
	cfg := f.env.Config.Copy()
	faults := awsx.NewFaults()
	faults.Instrument(&cfg)
	awsx.QuickRetries(&cfg, 2)
	f.w.repo = repo{store.New(dynamodb.NewFromConfig(cfg), f.env.Store.Table)}
	faults.FailFrom("DynamoDB.GetItem", 1, awsx.InternalServerError)
	body := f.contactEvent("contact.created", c, nil)
	resp, err := f.w.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "a", Body: "not json"}, {MessageId: "b", Body: body}, {MessageId: "c", Body: body},
	}})
	require.NoError(t, err)
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "b"}, {ItemIdentifier: "c"}}, resp.BatchItemFailures)

	faults.Reset()
	f.handle(body)
	assert.Equal(t, []string{segpro}, f.members("cnt_1"))
}

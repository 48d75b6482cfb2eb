package changes_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
	"github.com/sendwell/sendwell/shared/tracking"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA"

// stream reads the test table's stream from now on.
type stream struct {
	t      *testing.T
	reader *localaws.StreamReader
	got    []changes.Record
}

func openStream(t *testing.T, env *testenv.Env) *stream {
	reader, err := localaws.NewStreamReader(t.Context(), env.DB, dynamodbstreams.NewFromConfig(env.Config), env.Store.Table)
	require.NoError(t, err)
	return &stream{t: t, reader: reader}
}

// until reads records until done says the ones read so far are enough, or
// fails the test after ten seconds.
func (s *stream) until(done func([]changes.Record) bool) []changes.Record {
	s.t.Helper()
	var readErr error
	ok := assert.Eventually(s.t, func() bool {
		got, err := s.reader.Read(s.t.Context())
		if err != nil {
			readErr = err
			return true
		}
		s.got = append(s.got, got...)
		return done(s.got)
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(s.t, readErr)
	require.True(s.t, ok, "the stream did not deliver the records in time")
	return s.got
}

func atLeast(n int) func([]changes.Record) bool {
	return func(r []changes.Record) bool { return len(r) >= n }
}

// Each change to a contact or an event gives its domain events exactly once,
// even when the stream delivers its records twice.
func TestEachChangeIsPublishedExactlyOnce(t *testing.T) {
	env := testenv.New(t)
	res := env.Resources(t)
	ctx := t.Context()
	st := openStream(t, env)

	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	cs := contacts.NewService(env.Store, clk)
	ts := tracking.NewService(env.Store, cs, 0)

	c, err := cs.Create(ctx, org, contacts.Input{Email: "ada@example.com"}) // contact.created
	require.NoError(t, err)
	_, err = cs.Patch(ctx, org, c.ID, contacts.Patch{FirstName: httpx.Optional[string]{Set: true, Value: "Ada"}}) // contact.updated
	require.NoError(t, err)
	_, err = cs.Patch(ctx, org, c.ID, contacts.Patch{Subscribed: httpx.Optional[bool]{Set: true, Value: false}}) // contact.updated + contact.unsubscribed
	require.NoError(t, err)
	_, err = ts.Track(ctx, org, tracking.Input{Name: "clicked", ContactID: c.ID}) // event.tracked
	require.NoError(t, err)
	require.NoError(t, cs.Delete(ctx, org, c.ID)) // contact.deleted (and a purge job, not news)

	// contact: INSERT, MODIFY, MODIFY, REMOVE; lookup: INSERT, REMOVE; event: INSERT
	records := st.until(atLeast(7))
	for _, r := range records {
		evs, err := changes.Translate(r)
		require.NoError(t, err)
		for _, e := range evs {
			assert.Equal(t, c.ID, e.ContactID, "%s: its message group is its contact's", e.Type)
		}
	}

	pub := &changes.QueuePublisher{SQS: sqs.NewFromConfig(env.Config), QueueURL: res.DomainEventsQueueURL, PurgeQueueURL: res.ImportQueueURL}
	for range 2 { // the second time is the stream redelivering the same records
		done, err := changes.Process(ctx, pub, records)
		require.NoError(t, err)
		require.Equal(t, len(records), done)
	}

	got := drain(t, env, res.DomainEventsQueueURL)
	counts := map[string]int{}
	for _, e := range got {
		var r received
		require.NoError(t, json.Unmarshal([]byte(e), &r))
		counts[r.Type]++
		assert.Equal(t, org, r.OrgID)
	}
	assert.Equal(t, map[string]int{
		changes.ContactCreated: 1, changes.ContactUpdated: 2, changes.ContactUnsubscribed: 1,
		changes.EventTracked: 1, changes.ContactDeleted: 1,
	}, counts)
	if assert.NotEmpty(t, got) {
		assert.Contains(t, got[0], `"type":"`+changes.ContactCreated+`"`, "a tenant's events keep their order")
		assert.Contains(t, got[len(got)-1], `"type":"`+changes.ContactDeleted+`"`)
	}
}

// A contact's removal becomes exactly one purge job on the import queue (the
// contacts group's work queue), in the body PurgeEvents's caller reads; a
// redelivered record queues a second copy, which the purge, being
// idempotent, finishes with nothing to do. The events of a contact that is
// kept are never touched.
func TestContactRemovalQueuesOnePurgeJob(t *testing.T) {
	env := testenv.New(t)
	res := env.Resources(t)
	ctx := t.Context()
	st := openStream(t, env)
	drain(t, env, res.ImportQueueURL) // S3's test notice, sent when the bucket was set up

	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	cs := contacts.NewService(env.Store, clk)
	ts := tracking.NewService(env.Store, cs, 0)
	gone, err := cs.Create(ctx, org, contacts.Input{Email: "gone@example.com"})
	require.NoError(t, err)
	kept, err := cs.Create(ctx, org, contacts.Input{Email: "kept@example.com"})
	require.NoError(t, err)
	for range 3 {
		for _, id := range []string{gone.ID, kept.ID} {
			_, err := ts.Track(ctx, org, tracking.Input{Name: "clicked", ContactID: id})
			require.NoError(t, err)
		}
	}
	require.NoError(t, cs.Delete(ctx, org, gone.ID))
	records := st.until(func(recs []changes.Record) bool {
		for _, r := range recs {
			if r.EventName == changes.Remove && r.Old["SK"].(*types.AttributeValueMemberS).Value == store.ContactSK(gone.ID) {
				return true
			}
		}
		return false
	})
	require.Equal(t, 3, count(t, env, store.EventsPK(org, gone.ID)), "the delete itself leaves the events to the purge")

	pub := &changes.QueuePublisher{SQS: sqs.NewFromConfig(env.Config), QueueURL: res.DomainEventsQueueURL, PurgeQueueURL: res.ImportQueueURL}
	done, err := changes.Process(ctx, pub, records)
	require.NoError(t, err)
	require.Equal(t, len(records), done)
	first := drain(t, env, res.ImportQueueURL)
	require.Len(t, first, 1, "one purge job for one removal")
	assert.JSONEq(t, `{"purgeEvents":{"orgId":"`+org+`","contactId":"`+gone.ID+`"}}`, first[0])

	done, err = changes.Process(ctx, pub, records) // the stream delivers the batch again
	require.NoError(t, err)
	require.Equal(t, len(records), done)
	second := drain(t, env, res.ImportQueueURL)
	require.Equal(t, first, second, "a redelivered record queues the same job again")

	for i, body := range append(first, second...) {
		var m contacts.PurgeMessage
		require.NoError(t, json.Unmarshal([]byte(body), &m))
		require.NotNil(t, m.PurgeEvents)
		env.Counter.Reset()
		finished, err := cs.PurgeEvents(ctx, *m.PurgeEvents, time.Time{})
		require.NoError(t, err)
		assert.True(t, finished)
		if i == 1 {
			assert.Zero(t, env.Counter.Count("DynamoDB.BatchWriteItem"), "the duplicate finds nothing to delete")
		}
	}
	assert.Zero(t, count(t, env, store.EventsPK(org, gone.ID)), "the deleted contact's events are gone")
	assert.Equal(t, 3, count(t, env, store.EventsPK(org, kept.ID)), "another contact's events are kept")
}

// pub fails what a test tells it to.
type pub struct {
	events      []changes.DomainEvent
	jobs        []contacts.PurgeJob
	sends       []sends.Job
	segs        []changes.SegmentJob
	seqs        []changes.SequenceJob
	failPurge   bool
	failPublish bool
}

func (p *pub) Publish(_ context.Context, evs []changes.DomainEvent) error {
	if p.failPublish {
		return errors.New("queue down")
	}
	p.events = append(p.events, evs...)
	return nil
}

func (p *pub) Purge(_ context.Context, jobs []contacts.PurgeJob) error {
	if p.failPurge {
		return errors.New("queue down")
	}
	p.jobs = append(p.jobs, jobs...)
	return nil
}

func (p *pub) Send(_ context.Context, jobs []sends.Job) error {
	p.sends = append(p.sends, jobs...)
	return nil
}

func (p *pub) Segment(_ context.Context, jobs []changes.SegmentJob) error {
	p.segs = append(p.segs, jobs...)
	return nil
}

func (p *pub) Sequence(_ context.Context, jobs []changes.SequenceJob) error {
	p.seqs = append(p.seqs, jobs...)
	return nil
}

// When a purge job cannot be queued, the stream handler reports the removal's
// record as the first failure, so Lambda retries from it: the job is not
// lost. Only contact removals make jobs.
func TestAFailedPurgeJobRetriesItsRecord(t *testing.T) {
	contact := func(name, id string, img string) events.DynamoDBEventRecord {
		item := contacts.Item{OrgID: org, ID: id, Email: id + "@example.com", Type: contacts.ItemType, Version: 1}
		item.Key = store.ContactKey(org, id)
		av, err := attributevalue.MarshalMap(item)
		require.NoError(t, err)
		out := lambdaImage(t, av)
		r := events.DynamoDBEventRecord{EventID: name, EventName: name}
		r.Change.SequenceNumber = "seq-" + id
		if img == "old" {
			r.Change.OldImage = out
		} else {
			r.Change.NewImage = out
		}
		return r
	}
	a, b := "cnt_01JAAAAAAAAAAAAAAAAAAAAAAA", "cnt_01JBBBBBBBBBBBBBBBBBBBBBBB"
	ev := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		contact(changes.Insert, a, "new"),
		contact(changes.Remove, b, "old"),
	}}

	ok := &pub{}
	out, err := changes.Handler(ok)(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, out.BatchItemFailures)
	assert.Equal(t, []contacts.PurgeJob{{OrgID: org, ContactID: b}}, ok.jobs)

	failing := &pub{failPurge: true}
	out, err = changes.Handler(failing)(t.Context(), ev)
	require.NoError(t, err)
	assert.Equal(t, []events.DynamoDBBatchItemFailure{{ItemIdentifier: "seq-" + b}}, out.BatchItemFailures)
}

// lambdaImage is an item as Lambda's stream events carry it.
func lambdaImage(t *testing.T, av map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	out := map[string]events.DynamoDBAttributeValue{}
	for k, v := range av {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out[k] = events.NewStringAttribute(v.Value)
		case *types.AttributeValueMemberN:
			out[k] = events.NewNumberAttribute(v.Value)
		case *types.AttributeValueMemberBOOL:
			out[k] = events.NewBooleanAttribute(v.Value)
		case *types.AttributeValueMemberNULL:
			out[k] = events.NewNullAttribute()
		default:
			t.Fatalf("attribute %s: no test encoding for %T", k, v)
		}
	}
	return out
}

type received struct {
	Type  string `json:"type"`
	OrgID string `json:"orgId"`
}

func count(t *testing.T, env *testenv.Env, pk string) int {
	n := 0
	require.NoError(t, env.Store.QueryKeys(t.Context(), pk, "", func(keys []store.Key) error {
		n += len(keys)
		return nil
	}))
	return n
}

// drain receives and deletes every message on the queue, returning their bodies.
func drain(t *testing.T, env *testenv.Env, url string) []string {
	q := sqs.NewFromConfig(env.Config)
	var out []string
	for {
		res, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		require.NoError(t, err)
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			out = append(out, aws.ToString(m.Body))
			_, err := q.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
}

// captureSQS records the batches a publisher sends.
type captureSQS struct {
	entries []sqstypes.SendMessageBatchRequestEntry
}

func (c *captureSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	c.entries = append(c.entries, in.Entries...)
	return &sqs.SendMessageBatchOutput{}, nil
}

// Each contact's events are one message group: in order per contact, and
// different contacts (of one tenant too) in parallel.
func TestDomainEventsAreGroupedByContact(t *testing.T) {
	q := &captureSQS{}
	pub := &changes.QueuePublisher{SQS: q, QueueURL: "events.fifo"}
	evs := []changes.DomainEvent{
		{ID: "1", Type: changes.ContactCreated, OrgID: "org_1", ContactID: "cnt_a", Data: map[string]any{"id": "cnt_a"}},
		{ID: "2", Type: changes.ContactCreated, OrgID: "org_1", ContactID: "cnt_b", Data: map[string]any{"id": "cnt_b"}},
		{ID: "3", Type: changes.SegmentEntered, OrgID: "org_1", ContactID: "cnt_a", Data: changes.Membership{ContactID: "cnt_a", SegmentID: "seg_1"}},
	}
	require.NoError(t, pub.Publish(t.Context(), evs))
	var groups []string
	for _, e := range q.entries {
		groups = append(groups, aws.ToString(e.MessageGroupId))
		assert.NotContains(t, aws.ToString(e.MessageBody), `"ContactID"`, "the group key is not in the body")
	}
	assert.Equal(t, []string{"org_1:cnt_a", "org_1:cnt_b", "org_1:cnt_a"}, groups)
}

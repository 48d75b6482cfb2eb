package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/testenv"
	"github.com/sendwell/sendwell/shared/tracking"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// A Monday, 08:00 UTC.
var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

const (
	testOrg    = "org_01TESTSEQUENCEWORKER"
	testDomain = "seq.sendwell.test"
	testFrom   = "Acme <hello@" + testDomain + ">"
	seqID      = "welcome"
)

// threeSteps is the 3-step sequence: send, wait P2D, branch on
// an event, send.
const threeSteps = `{"name": "Welcome", "trigger": {"event": "signed_up"},
	"steps": [
		{"id": "hello", "type": "send", "templateId": "hello", "next": "pause"},
		{"id": "pause", "type": "wait", "duration": "P2D", "next": "check"},
		{"id": "check", "type": "branch", "if": {"event": "activated"}, "then": "tips", "else": "nudge"},
		{"id": "tips", "type": "send", "templateId": "tips"},
		{"id": "nudge", "type": "send", "templateId": "nudge"}
	]}`

// fixture is one test's table, clock, queue and worker, for one tenant.
type fixture struct {
	t        *testing.T
	env      *testenv.Env
	clk      *clock.Fake
	q        *fakeQueue
	sender   *countingSender
	w        *Worker
	contacts *contacts.Service
	tracking *tracking.Service
	gen      string
	events   atomic.Int64

	mu        sync.Mutex
	delivered []string // every message body handled, in order
}

func newFixture(t *testing.T) *fixture {
	env := testenv.New(t)
	clk := clock.NewFake(t0)
	cs := contacts.NewService(env.Store, clk)
	f := &fixture{t: t, env: env, clk: clk, contacts: cs, tracking: tracking.NewService(env.Store, cs, 0), gen: ulid.Make().String()}
	f.q = &fakeQueue{clk: clk}
	f.sender = &countingSender{next: messages.NewService(env.Store, clk)}
	f.w = New(env.Store, clk, f.sender, f.q, "https://sqs.local/sequences", nil)
	f.domain()
	for _, id := range []string{"hello", "tips", "nudge", "thanks"} {
		f.template(id)
	}
	return f
}

// domain makes testDomain a verified sending domain of the tenant.
func (f *fixture) domain() {
	ctx := context.Background()
	require.NoError(f.t, f.env.Store.Put(ctx, struct {
		store.Key
		OrgID    string `dynamodbav:"orgId"`
		DomainID string `dynamodbav:"domainId"`
	}{store.DomainClaimKey(testDomain), testOrg, "dom_seq"}))
	require.NoError(f.t, f.env.Store.Put(ctx, struct {
		store.Key
		Status string `dynamodbav:"status"`
	}{store.DomainKey(testOrg, "dom_seq"), "verified"}))
}

// template writes version 1 of a template, as head and version.
func (f *fixture) template(id string) {
	from := testFrom
	c := stored.Content{Name: id, Subject: "Hi {{ contact.firstName }}", Format: "html",
		Source: stored.Gzip("<p>" + id + "</p>"), Text: stored.Gzip(id), From: &from}
	for _, k := range []store.Key{store.TemplateKey(testOrg, id), store.TemplateVersionKey(testOrg, id, 1)} {
		require.NoError(f.t, f.env.Store.Put(context.Background(), struct {
			store.Key
			Version int `dynamodbav:"version"`
			stored.Content
		}{k, 1, c}))
	}
}

// deleteTemplate removes a template and its version.
func (f *fixture) deleteTemplate(id string) {
	require.NoError(f.t, f.env.Store.DeleteAll(context.Background(), []store.Key{store.TemplateKey(testOrg, id), store.TemplateVersionKey(testOrg, id, 1)}))
}

// contact creates a contact with properties.
func (f *fixture) contact(email string, props map[string]any) string {
	in := contacts.Input{Email: email}
	if props != nil {
		in.Properties = httpx.Optional[map[string]any]{Set: true, Value: props}
	}
	require.NoError(f.t, in.Validate())
	c, err := f.contacts.Create(context.Background(), testOrg, in)
	require.NoError(f.t, err)
	return c.ID
}

// putSequence writes a sequence's item, its version n with doc, and (when
// active) its trigger, as the API does.
func (f *fixture) putSequence(status string, n int, doc string, migrateFrom int) {
	ctx := context.Background()
	def, err := sequence.Parse(json.RawMessage(doc))
	require.NoError(f.t, err)
	now := f.clk.Now()
	v := journey.Version{Key: store.SequenceVersionKey(testOrg, seqID, n), Type: journey.VersionType, OrgID: testOrg, SequenceID: seqID,
		N: n, Definition: doc, Migrate: migrateFrom > 0, CreatedAt: now}
	require.NoError(f.t, f.env.Store.Put(ctx, v))
	s := journey.Sequence{Key: store.SequenceKey(testOrg, seqID), Type: journey.SequenceType, OrgID: testOrg, ID: seqID, Name: def.Name,
		Status: status, Generation: f.gen, Version: n, Definition: doc, MigrateFrom: migrateFrom, CreatedAt: now, UpdatedAt: now}
	require.NoError(f.t, f.env.Store.Put(ctx, s))
	tk := store.SequenceTriggerKey(testOrg, seqID)
	if status != journey.Active {
		require.NoError(f.t, f.env.Store.Delete(ctx, tk))
		return
	}
	require.NoError(f.t, f.env.Store.Put(ctx, journey.Trigger{Key: tk, Type: journey.TriggerType, OrgID: testOrg, SequenceID: seqID,
		Version: n, Generation: f.gen, Kind: string(def.Trigger.Kind), Event: def.Trigger.Event, Segment: def.Trigger.Segment}))
}

// setStatus changes the sequence's status (and its trigger with it).
func (f *fixture) setStatus(status string) {
	var s journey.Sequence
	require.NoError(f.t, f.env.Store.GetConsistent(context.Background(), store.SequenceKey(testOrg, seqID), &s))
	f.putSequence(status, s.Version, s.Definition, s.MigrateFrom)
}

// track records an event for the contact now and delivers its
// event.tracked domain event to the worker.
func (f *fixture) track(contactID, name string, props map[string]any) {
	now := f.clk.Now()
	it, err := f.tracking.Track(context.Background(), testOrg, tracking.Input{Name: name, ContactID: contactID, Properties: props, Timestamp: &now})
	require.NoError(f.t, err)
	f.deliverAll(f.domainEvent("event.tracked", it.API()))
}

// domainEvent is a domain event's body, as the changes function sends it.
func (f *fixture) domainEvent(typ string, data any) string {
	b, err := json.Marshal(map[string]any{"id": "rec-" + strconv.FormatInt(f.events.Add(1), 10) + "-0", "type": typ, "orgId": testOrg,
		"occurredAt": f.clk.Now(), "data": data})
	require.NoError(f.t, err)
	return string(b)
}

// trackedBody is an event.tracked body for an event not stored (a trigger).
func (f *fixture) trackedBody(contactID, name string) string {
	return f.domainEvent("event.tracked", map[string]any{"id": "evt_" + ulid.Make().String(), "contactId": contactID, "name": name,
		"timestamp": f.clk.Now()})
}

// handle delivers one message and returns the ids of the failed ones.
func (f *fixture) handle(body string) []events.SQSBatchItemFailure {
	f.mu.Lock()
	f.delivered = append(f.delivered, body)
	f.mu.Unlock()
	resp, err := f.w.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: body}}})
	require.NoError(f.t, err)
	return resp.BatchItemFailures
}

// deliverAll delivers a message, then every queued message that is due,
// until none is.
func (f *fixture) deliverAll(body string) {
	require.Empty(f.t, f.handle(body), body)
	f.drain()
}

// drain delivers the queue's due messages until none is due.
func (f *fixture) drain() {
	for range 1000 {
		due := f.q.takeDue()
		if len(due) == 0 {
			return
		}
		for _, b := range due {
			require.Empty(f.t, f.handle(b), b)
		}
	}
	f.t.Fatal("the queue never drained")
}

// advance moves the clock, lets the scheduler queue what is due, and
// drains the queue.
func (f *fixture) advance(d time.Duration) {
	f.clk.Advance(d)
	f.schedule()
	f.drain()
}

// schedule is the scheduler: it queues a step job for each active, unheld
// enrollment whose wait has ended (its Due entry is due).
func (f *fixture) schedule() {
	for _, e := range f.enrollments() {
		if e.Status == journey.EnrActive && !e.Held && e.WakeAt != nil && !f.clk.Now().Before(*e.WakeAt) {
			f.q.push(stepBody(e.ID, e.Seq), 0)
		}
	}
}

func stepBody(id string, seq int) string {
	b, _ := json.Marshal(journey.Job{Step: &journey.StepJob{OrgID: testOrg, EnrollmentID: id, Seq: seq}})
	return string(b)
}

// enrollments are the sequence's enrollments (GSI1), read again consistently.
func (f *fixture) enrollments() []journey.Enrollment {
	out, err := f.env.DB.Query(context.Background(), &dynamodb.QueryInput{
		TableName: &f.env.Store.Table, IndexName: aws.String(store.IndexGSI1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.SequenceEnrollmentsPK(testOrg, seqID)}},
	})
	require.NoError(f.t, err)
	var items []journey.Enrollment
	require.NoError(f.t, attributevalue.UnmarshalListOfMaps(out.Items, &items))
	for i := range items {
		require.NoError(f.t, f.env.Store.GetConsistent(context.Background(), items[i].Key, &items[i]))
	}
	return items
}

// only is the sequence's one enrollment.
func (f *fixture) only() journey.Enrollment {
	es := f.enrollments()
	require.Len(f.t, es, 1)
	return es[0]
}

// steps summarises an enrollment's history as "step:result[:branch]".
func steps(e journey.Enrollment) []string {
	out := make([]string, 0, len(e.History))
	for _, r := range e.History {
		s := r.Step + ":" + r.Result
		if r.Branch != "" {
			s += ":" + r.Branch
		}
		out = append(out, s)
	}
	return out
}

// sendsOf counts the tenant's sends to a contact.
func (f *fixture) sendsOf(contactID string) []string {
	out, err := f.env.DB.Query(context.Background(), &dynamodb.QueryInput{
		TableName: &f.env.Store.Table, IndexName: aws.String(store.IndexGSI3),
		KeyConditionExpression:    aws.String("GSI3PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.SendsByContactPK(testOrg, contactID)}},
	})
	require.NoError(f.t, err)
	var items []struct {
		TemplateID string `dynamodbav:"templateId"`
	}
	require.NoError(f.t, attributevalue.UnmarshalListOfMaps(out.Items, &items))
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.TemplateID)
	}
	slices.Sort(ids)
	return ids
}

// fakeQueue is the sequence queue: messages become due after their delay
// on the test's clock.
type fakeQueue struct {
	clk   clock.Clock
	mu    sync.Mutex
	msgs  []queued
	calls atomic.Int64 // SendMessage and SendMessageBatch calls
	sent  atomic.Int64 // messages
}

type queued struct {
	body string
	at   time.Time
}

func (q *fakeQueue) push(body string, delay int32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, queued{body, q.clk.Now().Add(time.Duration(delay) * time.Second)})
	q.sent.Add(1)
}

func (q *fakeQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.calls.Add(1)
	q.push(aws.ToString(in.MessageBody), in.DelaySeconds)
	return &sqs.SendMessageOutput{MessageId: aws.String(fmt.Sprint(q.sent.Load()))}, nil
}

func (q *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.calls.Add(1)
	for _, e := range in.Entries {
		q.push(aws.ToString(e.MessageBody), e.DelaySeconds)
	}
	return &sqs.SendMessageBatchOutput{}, nil
}

// takeDue removes and returns the messages due now.
func (q *fakeQueue) takeDue() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clk.Now()
	var due []string
	rest := q.msgs[:0]
	for _, m := range q.msgs {
		if !now.Before(m.at) {
			due = append(due, m.body)
		} else {
			rest = append(rest, m)
		}
	}
	q.msgs = rest
	return due
}

// pending is how many messages wait for their delay.
func (q *fakeQueue) pending() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.msgs)
}

// countingSender counts the sends asked for and those made.
type countingSender struct {
	next  Sender
	calls atomic.Int64
}

func (s *countingSender) SendAs(ctx context.Context, orgID, id, source string, in messages.SendRequest) (messages.Send, bool, error) {
	s.calls.Add(1)
	return s.next.SendAs(ctx, orgID, id, source, in)
}

// fakeSender makes no send: it counts the calls and answers with the id.
type fakeSender struct{ calls atomic.Int64 }

func (s *fakeSender) SendAs(_ context.Context, _, id, _ string, _ messages.SendRequest) (messages.Send, bool, error) {
	s.calls.Add(1)
	return messages.Send{ID: id}, false, nil
}

// flakySender answers the first fails calls with a quota's 429.
type flakySender struct {
	next  Sender
	fails int
}

func (s *flakySender) SendAs(ctx context.Context, orgID, id, source string, in messages.SendRequest) (messages.Send, bool, error) {
	if s.fails > 0 {
		s.fails--
		return messages.Send{}, false, &errs.RateLimited{RetryAfter: 1, Message: "slow down"}
	}
	return s.next.SendAs(ctx, orgID, id, source, in)
}

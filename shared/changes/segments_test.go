package changes_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

const (
	seg     = "seg_01JAAAAAAAAAAAAAAAAAAAAAAA"
	contact = "cnt_01JAAAAAAAAAAAAAAAAAAAAAAA"
)

// publisher is a publisher onto every queue of the test's resources.
func publisher(t *testing.T, env *testenv.Env) *changes.QueuePublisher {
	t.Helper()
	res := env.Resources(t)
	return &changes.QueuePublisher{SQS: sqs.NewFromConfig(env.Config), QueueURL: res.DomainEventsQueueURL,
		PurgeQueueURL: res.ImportQueueURL, SendQueueURL: res.SendQueueURL, SegmentQueueURL: res.SegmentQueueURL}
}

// memberItem is a segment member item as the segment worker writes it.
func memberItem(t *testing.T, enteredAt time.Time) map[string]types.AttributeValue {
	t.Helper()
	it := struct {
		store.Key
		Type      string    `dynamodbav:"type"`
		OrgID     string    `dynamodbav:"orgId"`
		SegmentID string    `dynamodbav:"segmentId"`
		ContactID string    `dynamodbav:"contactId"`
		EnteredAt time.Time `dynamodbav:"enteredAt"`
	}{store.SegmentMemberKey(org, seg, contact), "segmentMember", org, seg, contact, enteredAt}
	av, err := attributevalue.MarshalMap(it)
	require.NoError(t, err)
	return av
}

// segmentItem is a segment item with a definition and a build progress.
func segmentItem(t *testing.T, definition string, processed int) map[string]types.AttributeValue {
	t.Helper()
	var def map[string]any
	require.NoError(t, json.Unmarshal([]byte(definition), &def))
	it := struct {
		store.Key
		Type       string         `dynamodbav:"type"`
		OrgID      string         `dynamodbav:"orgId"`
		ID         string         `dynamodbav:"id"`
		Name       string         `dynamodbav:"name"`
		Definition map[string]any `dynamodbav:"definition"`
		Processed  int            `dynamodbav:"processed"`
	}{store.SegmentKey(org, seg), "segment", org, seg, "Pro", def, processed}
	av, err := attributevalue.MarshalMap(it)
	require.NoError(t, err)
	return av
}

type domainEvent struct {
	ID    string          `json:"id"`
	Type  string          `json:"type"`
	OrgID string          `json:"orgId"`
	Data  json.RawMessage `json:"data"`
}

func domainEvents(t *testing.T, bodies []string) []domainEvent {
	t.Helper()
	var out []domainEvent
	for _, b := range bodies {
		var e domainEvent
		require.NoError(t, json.Unmarshal([]byte(b), &e))
		out = append(out, e)
	}
	return out
}

// A membership written is segment.entered (at its enteredAt), a membership
// removed is segment.exited (at the removal's time), each exactly once
// however often the stream delivers it; a membership modified is not news.
// The contact's own mirror of the membership and its evaluation state are
// not news either.
func TestMembershipsBecomeSegmentEnteredAndExited(t *testing.T) {
	env := testenv.New(t)
	p := publisher(t, env)
	entered := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	left := entered.Add(time.Hour)
	mirror := map[string]types.AttributeValue{
		"PK":   &types.AttributeValueMemberS{Value: store.ContactSegmentKey(org, contact, seg).PK},
		"SK":   &types.AttributeValueMemberS{Value: store.ContactSegmentKey(org, contact, seg).SK},
		"type": &types.AttributeValueMemberS{Value: "contactSegment"}, "orgId": &types.AttributeValueMemberS{Value: org},
	}
	state := map[string]types.AttributeValue{
		"PK":   &types.AttributeValueMemberS{Value: store.ContactSegStateKey(org, contact).PK},
		"SK":   &types.AttributeValueMemberS{Value: store.ContactSegStateKey(org, contact).SK},
		"type": &types.AttributeValueMemberS{Value: "segmentState"}, "orgId": &types.AttributeValueMemberS{Value: org},
	}
	records := []changes.Record{
		{EventID: "in", EventName: changes.Insert, At: entered.Add(time.Second), New: memberItem(t, entered)},
		{EventID: "mirror", EventName: changes.Insert, At: entered, New: mirror},
		{EventID: "state", EventName: changes.Insert, At: entered, New: state},
		{EventID: "mod", EventName: changes.Modify, At: entered, Old: memberItem(t, entered), New: memberItem(t, entered)},
		{EventID: "out", EventName: changes.Remove, At: left, Old: memberItem(t, entered)},
	}
	for range 2 { // the second time is the stream redelivering the same records
		done, err := changes.Process(t.Context(), p, records)
		require.NoError(t, err)
		require.Equal(t, len(records), done)
	}
	got := domainEvents(t, drain(t, env, p.QueueURL))
	require.Len(t, got, 2, "one event per transition, no copies")
	assert.Equal(t, changes.SegmentEntered, got[0].Type)
	assert.Equal(t, org, got[0].OrgID)
	assert.JSONEq(t, `{"segmentId":"`+seg+`","contactId":"`+contact+`","at":"2026-12-01T10:00:00Z"}`, string(got[0].Data))
	assert.Equal(t, changes.SegmentExited, got[1].Type, "in order")
	assert.JSONEq(t, `{"segmentId":"`+seg+`","contactId":"`+contact+`","at":"2026-12-01T11:00:00Z"}`, string(got[1].Data))
	assert.Empty(t, drain(t, env, p.SegmentQueueURL), "memberships make no segment jobs")
}

// A send whose status moves to sent, delivery_delayed, delivered, opened,
// clicked, bounced, complained, failed or rejected is email.<status>
// (rejected: email.failed), its data the send as the API shows it, with a
// contact or without; other moves, and a change that leaves the status
// alone (a second open), are not.
func TestSendStatusesBecomeEmailEvents(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	item := func(status, contactID string) sends.Item {
		it := sends.Item{OrgID: org, ID: "msg_01JAAAAAAAAAAAAAAAAAAAAAAA", Status: status, StatusAt: at, To: "ada@example.com",
			ContactID: contactID, TemplateID: "welcome", Kind: sends.Marketing, CreatedAt: at.Add(-time.Hour)}
		it.SetKeys()
		return it
	}
	img := func(it sends.Item) map[string]types.AttributeValue {
		av, err := attributevalue.MarshalMap(it)
		require.NoError(t, err)
		return av
	}
	cases := []struct {
		name      string
		old, new  string
		contactID string
		want      string // "" for no event
	}{
		{"sent", sends.Sending, sends.Sent, contact, changes.EmailSent},
		{"delayed", sends.Sent, sends.DeliveryDelayed, contact, changes.EmailDeliveryDelayed},
		{"delivered", sends.Sent, sends.Delivered, contact, changes.EmailDelivered},
		{"opened", sends.Delivered, sends.Opened, contact, changes.EmailOpened},
		{"clicked", sends.Opened, sends.Clicked, contact, changes.EmailClicked},
		{"clicked before any open", sends.Delivered, sends.Clicked, contact, changes.EmailClicked},
		{"bounced", sends.Sent, sends.Bounced, contact, changes.EmailBounced},
		{"complained", sends.Delivered, sends.Complained, contact, changes.EmailComplained},
		{"failed", sends.Sending, sends.Failed, contact, changes.EmailFailed},
		{"rejected", sends.Sending, sends.Rejected, contact, changes.EmailFailed},
		{"no contact", sends.Sent, sends.Delivered, "", changes.EmailDelivered},
		{"queued is no news", sends.Scheduled, sends.Queued, contact, ""},
		{"a second open leaves the status", sends.Opened, sends.Opened, contact, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := item(c.new, c.contactID)
			evs, err := changes.Translate(changes.Record{EventID: "ev", EventName: changes.Modify, At: at.Add(time.Second),
				Old: img(item(c.old, c.contactID)), New: img(cur)})
			require.NoError(t, err)
			if c.want == "" {
				assert.Empty(t, evs)
				return
			}
			require.Len(t, evs, 1)
			assert.Equal(t, c.want, evs[0].Type)
			assert.Equal(t, org, evs[0].OrgID)
			assert.Equal(t, c.contactID, evs[0].ContactID, "grouped by its contact, or by the tenant")
			b, err := json.Marshal(evs[0].Data)
			require.NoError(t, err)
			want, err := json.Marshal(cur.API())
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(b), "the send as the API shows it")
		})
	}
	evs, err := changes.Translate(changes.Record{EventID: "ins", EventName: changes.Insert, New: img(item(sends.Queued, contact))})
	require.NoError(t, err)
	assert.Empty(t, evs, "a new send is no news")
}

// A segment created, or given a new definition, is a build job on the
// segment queue; one deleted is a purge job; any other change of it (its
// build's progress, its name) queues nothing and publishes nothing.
func TestSegmentChangesQueueBuildAndPurgeJobs(t *testing.T) {
	env := testenv.New(t)
	p := publisher(t, env)
	const def, other = `{"all":[{"tag":"vip"}]}`, `{"all":[{"tag":"vip","has":false}]}`
	ref := &changes.SegmentRef{OrgID: org, SegmentID: seg}
	cases := []struct {
		name  string
		event string
		old   map[string]types.AttributeValue
		new   map[string]types.AttributeValue
		want  []changes.SegmentJob
	}{
		{"created", changes.Insert, nil, segmentItem(t, def, 0), []changes.SegmentJob{{Build: ref}}},
		{"redefined", changes.Modify, segmentItem(t, def, 10), segmentItem(t, other, 10), []changes.SegmentJob{{Build: ref}}},
		{"build progress", changes.Modify, segmentItem(t, def, 0), segmentItem(t, def, 100), nil},
		{"deleted", changes.Remove, segmentItem(t, def, 100), nil, []changes.SegmentJob{{Purge: ref}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := changes.Record{EventID: "ev-" + c.name, EventName: c.event, At: time.Now(), Old: c.old, New: c.new}
			evs, err := changes.Translate(rec)
			require.NoError(t, err)
			assert.Empty(t, evs, "a segment's own changes are not domain events")
			done, err := changes.Process(t.Context(), p, []changes.Record{rec})
			require.NoError(t, err)
			require.Equal(t, 1, done)
			var got []changes.SegmentJob
			for _, b := range drain(t, env, p.SegmentQueueURL) {
				var j changes.SegmentJob
				require.NoError(t, json.Unmarshal([]byte(b), &j))
				got = append(got, j)
			}
			assert.Equal(t, c.want, got)
		})
	}
	assert.Empty(t, drain(t, env, p.QueueURL))
}

// Through the table's real stream: a segment put and then redefined makes
// two build jobs, its progress none, its deletion one purge job; a member
// written and deleted makes segment.entered then segment.exited.
func TestSegmentJobsAndMembershipsFromTheStream(t *testing.T) {
	env := testenv.New(t)
	p := publisher(t, env)
	ctx := t.Context()
	st := openStream(t, env)
	put := func(item map[string]types.AttributeValue) {
		_, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Store.Table, Item: item})
		require.NoError(t, err)
	}
	del := func(k store.Key) {
		_, err := env.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &env.Store.Table, Key: k.KeyAV()})
		require.NoError(t, err)
	}
	put(segmentItem(t, `{"tag":"vip"}`, 0))
	put(segmentItem(t, `{"tag":"vip"}`, 50)) // progress
	put(segmentItem(t, `{"tag":"pro"}`, 0))  // redefined
	put(memberItem(t, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)))
	del(store.SegmentMemberKey(org, seg, contact))
	del(store.SegmentKey(org, seg))
	records := st.until(atLeast(6))

	env.Counter.Reset()
	done, err := changes.Process(ctx, p, records)
	require.NoError(t, err)
	require.Equal(t, len(records), done)
	jobs := drain(t, env, p.SegmentQueueURL)
	build := `{"build":{"orgId":"` + org + `","segmentId":"` + seg + `"}}`
	purge := `{"purge":{"orgId":"` + org + `","segmentId":"` + seg + `"}}`
	assert.ElementsMatch(t, []string{build, build, purge}, jobs)
	var kinds []string
	for _, e := range domainEvents(t, drain(t, env, p.QueueURL)) {
		kinds = append(kinds, e.Type)
	}
	assert.Equal(t, []string{changes.SegmentEntered, changes.SegmentExited}, kinds)
}

// When the segment queue refuses a job, its record is the one retried:
// nothing is lost.
func TestAFailedSegmentJobRetriesItsRecord(t *testing.T) {
	env := testenv.New(t)
	p := publisher(t, env)
	p.SegmentQueueURL = p.SegmentQueueURL + "-missing"
	records := []changes.Record{
		{EventID: "1", EventName: changes.Insert, New: memberItem(t, time.Now())},
		{EventID: "2", EventName: changes.Insert, New: segmentItem(t, `{"tag":"vip"}`, 0)},
	}
	done, err := changes.Process(t.Context(), p, records)
	require.Error(t, err)
	assert.Equal(t, 1, done, "the segment's record is retried")
	assert.Len(t, drain(t, env, p.QueueURL), 1, "the membership before it is published")
}

// The sample stream record of a membership written (events/changes) goes
// through the function's Lambda entry point to one segment.entered.
func TestSampleMembershipRecordPublishesSegmentEntered(t *testing.T) {
	env := testenv.New(t)
	p := publisher(t, env)
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "changes", "segment-member-entered.json"))
	require.NoError(t, err)
	var ev events.DynamoDBEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	out, err := changes.Handler(p)(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, out.BatchItemFailures)
	got := domainEvents(t, drain(t, env, p.QueueURL))
	require.Len(t, got, 1)
	assert.Equal(t, changes.SegmentEntered, got[0].Type)
	assert.Equal(t, "org_01J00000000000000000000000", got[0].OrgID)
	assert.JSONEq(t, `{"segmentId":"seg_01J00000000000000000000000","contactId":"cnt_01J00000000000000000000000","at":"2026-11-22T10:00:00Z"}`, string(got[0].Data))
	assert.Equal(t, ev.Records[0].EventID+"-0", got[0].ID, "its id comes from the record")
}

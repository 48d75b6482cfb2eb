package changes_test

import (
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
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/domains/domainitem"
	"github.com/sendwell/sendwell/shared/imports/importitem"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

// sendQueue is the send queue and a publisher onto the test's queues.
func sendQueue(t *testing.T, env *testenv.Env) (string, *changes.QueuePublisher) {
	t.Helper()
	res := env.Resources(t)
	return res.SendQueueURL, &changes.QueuePublisher{SQS: sqs.NewFromConfig(env.Config), QueueURL: res.DomainEventsQueueURL,
		PurgeQueueURL: res.ImportQueueURL, SendQueueURL: res.SendQueueURL}
}

func sendItem(t *testing.T, id, status string) map[string]types.AttributeValue {
	t.Helper()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	it := sends.Item{OrgID: org, ID: id, Status: status, StatusAt: now, To: "ada@example.com", Kind: sends.Transactional, CreatedAt: now}
	if status == sends.Scheduled {
		at := now.Add(time.Hour)
		it.SendAt = &at
	}
	it.SetKeys()
	av, err := attributevalue.MarshalMap(it)
	require.NoError(t, err)
	return av
}

func jobs(t *testing.T, bodies []string) []sends.Job {
	t.Helper()
	out := []sends.Job{}
	for _, b := range bodies {
		var j sends.Job
		require.NoError(t, json.Unmarshal([]byte(b), &j))
		out = append(out, j)
	}
	return out
}

// A send becomes a send job when it is inserted queued, or moves into
// queued from scheduled (rescheduled to now), and at no other change: not
// its claim, not a released claim (the worker hands its message back to
// SQS, which redelivers it after a backoff). Queueing makes no domain event
// (sent and the statuses after it do: TestSendStatusesBecomeEmailEvents).
func TestASendThatBecomesQueuedMakesOneSendJob(t *testing.T) {
	env := testenv.New(t)
	url, p := sendQueue(t, env)
	const id = "msg_01JAAAAAAAAAAAAAAAAAAAAAAA"
	cases := []struct {
		name     string
		event    string
		old, new string // statuses; "" for no image
		queued   bool
	}{
		{"insert queued", changes.Insert, "", sends.Queued, true},
		{"insert scheduled", changes.Insert, "", sends.Scheduled, false},
		{"modify scheduled to queued", changes.Modify, sends.Scheduled, sends.Queued, true},
		{"modify sending to queued (a released claim: SQS redelivers its own message)", changes.Modify, sends.Sending, sends.Queued, false},
		{"modify queued to sending (the claim)", changes.Modify, sends.Queued, sends.Sending, false},
		{"modify queued to queued", changes.Modify, sends.Queued, sends.Queued, false},
		{"remove", changes.Remove, sends.Queued, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := changes.Record{EventID: "ev-" + c.name, EventName: c.event, At: time.Now()}
			if c.old != "" {
				rec.Old = sendItem(t, id, c.old)
			}
			if c.new != "" {
				rec.New = sendItem(t, id, c.new)
			}
			evs, err := changes.Translate(rec)
			require.NoError(t, err)
			assert.Empty(t, evs, "no domain events for sends")
			done, err := changes.Process(t.Context(), p, []changes.Record{rec})
			require.NoError(t, err)
			require.Equal(t, 1, done)
			got := jobs(t, drain(t, env, url))
			if c.queued {
				assert.Equal(t, []sends.Job{{OrgID: org, SendID: id}}, got)
			} else {
				assert.Empty(t, got)
			}
		})
	}
	assert.Empty(t, drain(t, env, p.QueueURL), "no domain events for queueing")
}

// Through the table's real stream: a send accepted queued and a scheduled
// send made due make one job each, ten per SendMessageBatch whatever their
// number. A redelivered batch queues the jobs again: harmless, as the send
// worker's claim lets one job through per send and drops the copy.
func TestSendJobsFromTheStream(t *testing.T) {
	env := testenv.New(t)
	url, p := sendQueue(t, env)
	ctx := t.Context()
	st := openStream(t, env)

	var want []sends.Job
	for i := range 11 {
		id := "msg_01JAAAAAAAAAAAAAAAAAAAAA" + string(rune('A'+i/10)) + string(rune('A'+i%10))
		_, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Store.Table, Item: sendItem(t, id, sends.Queued)})
		require.NoError(t, err)
		want = append(want, sends.Job{OrgID: org, SendID: id})
	}
	const later = "msg_01JBBBBBBBBBBBBBBBBBBBBBBB"
	_, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Store.Table, Item: sendItem(t, later, sends.Scheduled)})
	require.NoError(t, err)
	_, err = env.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &env.Store.Table, Key: store.SendKey(org, later).KeyAV(),
		UpdateExpression:          aws.String("SET #s = :q"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":q": &types.AttributeValueMemberS{Value: sends.Queued}}})
	require.NoError(t, err)
	want = append(want, sends.Job{OrgID: org, SendID: later})
	records := st.until(atLeast(13))

	env.Counter.Reset()
	done, err := changes.Process(ctx, p, records)
	require.NoError(t, err)
	require.Equal(t, len(records), done)
	assert.Equal(t, 2, env.Counter.Count("SQS.SendMessageBatch"), "12 jobs, ten per call")
	assert.ElementsMatch(t, want, jobs(t, drain(t, env, url)))

	done, err = changes.Process(ctx, p, records) // the stream delivers the batch again
	require.NoError(t, err)
	require.Equal(t, len(records), done)
	assert.ElementsMatch(t, want, jobs(t, drain(t, env, url)), "a redelivered record queues its job again")
}

// When an earlier kind of output fails (the domain events), the send jobs
// of the records before the failing one still go out, and Process answers
// that record: retrying from it loses no job.
func TestAFailureStillSendsTheJobsOfEarlierRecords(t *testing.T) {
	contact := contacts.Item{OrgID: org, ID: "cnt_01JAAAAAAAAAAAAAAAAAAAAAAA", Email: "a@example.com", Type: contacts.ItemType, Version: 1}
	contact.Key = store.ContactKey(org, contact.ID)
	cav, err := attributevalue.MarshalMap(contact)
	require.NoError(t, err)
	a, b := "msg_01JAAAAAAAAAAAAAAAAAAAAAAA", "msg_01JBBBBBBBBBBBBBBBBBBBBBBB"
	records := []changes.Record{
		{EventID: "1", EventName: changes.Insert, New: sendItem(t, a, sends.Queued)},
		{EventID: "2", EventName: changes.Insert, New: cav},
		{EventID: "3", EventName: changes.Insert, New: sendItem(t, b, sends.Queued)},
	}
	p := &pub{failPublish: true}
	done, err := changes.Process(t.Context(), p, records)
	require.Error(t, err)
	assert.Equal(t, 1, done, "the contact's record is retried")
	assert.Equal(t, []sends.Job{{OrgID: org, SendID: a}}, p.sends, "the job before it is sent, the one after it waits for the retry")
}

// The sample stream record of a send accepted for now (events/changes)
// goes through the function's Lambda entry point to one job on the send
// queue.
func TestSampleSendRecordQueuesItsJob(t *testing.T) {
	env := testenv.New(t)
	url, p := sendQueue(t, env)
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "changes", "send-queued.json"))
	require.NoError(t, err)
	var ev events.DynamoDBEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	out, err := changes.Handler(p)(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, out.BatchItemFailures)
	assert.Equal(t, []sends.Job{{OrgID: "org_01J00000000000000000000000", SendID: "msg_01J00000000000000000000000"}}, jobs(t, drain(t, env, url)))
}

// An import that finishes its file is import.completed, once, its data the
// import as the API shows it; its progress along the way is not news.
func TestAFinishedImportIsImportCompleted(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	img := func(status string, processed int) map[string]types.AttributeValue {
		it := importitem.Item{Type: importitem.ItemType, OrgID: org, ID: "imp_01JAAAAAAAAAAAAAAAAAAAAAAA", Status: status, Total: 3,
			Processed: processed, Created: processed, CreatedAt: at}
		it.Key = store.ImportKey(org, it.ID)
		av, err := attributevalue.MarshalMap(it)
		require.NoError(t, err)
		return av
	}
	evs, err := changes.Translate(changes.Record{EventID: "p", EventName: changes.Modify, Old: img(importitem.StatusRunning, 1), New: img(importitem.StatusRunning, 2)})
	require.NoError(t, err)
	assert.Empty(t, evs, "progress is not news")
	evs, err = changes.Translate(changes.Record{EventID: "c", EventName: changes.Modify, Old: img(importitem.StatusRunning, 2), New: img(importitem.StatusCompleted, 3)})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, changes.ImportCompleted, evs[0].Type)
	b, err := json.Marshal(evs[0].Data)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"imp_01JAAAAAAAAAAAAAAAAAAAAAAA","status":"completed","total":3,"processed":3,"created":3,"updated":0,"failed":0,
		"errors":[],"failureReason":null,"createdAt":"2026-12-01T10:00:00Z","startedAt":null,"completedAt":null}`, string(b))
	evs, err = changes.Translate(changes.Record{EventID: "again", EventName: changes.Modify, Old: img(importitem.StatusCompleted, 3), New: img(importitem.StatusCompleted, 3)})
	require.NoError(t, err)
	assert.Empty(t, evs, "once")
}

// A domain that becomes verified is domain.verified, once, its data the
// domain as the API shows it.
func TestAVerifiedDomainIsDomainVerified(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	img := func(status string) map[string]types.AttributeValue {
		it := domainitem.Item{Type: domainitem.ItemType, OrgID: org, ID: "dom_01JAAAAAAAAAAAAAAAAAAAAAAA", Name: "example.com",
			MailFromDomain: "mail.example.com", Status: status, CreatedAt: at,
			Records: []domainitem.RecordItem{{Type: "MX", Name: "mail.example.com", Value: "feedback-smtp.eu-west-1.amazonses.com", Priority: 10, Purpose: "mail-from-mx", Status: status}}}
		it.Key = store.DomainKey(org, it.ID)
		av, err := attributevalue.MarshalMap(it)
		require.NoError(t, err)
		return av
	}
	evs, err := changes.Translate(changes.Record{EventID: "v", EventName: changes.Modify, Old: img(domainitem.StatusPending), New: img(domainitem.StatusVerified)})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, changes.DomainVerified, evs[0].Type)
	b, err := json.Marshal(evs[0].Data)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"dom_01JAAAAAAAAAAAAAAAAAAAAAAA","name":"example.com","status":"verified","mailFromDomain":"mail.example.com",
		"createdAt":"2026-12-01T10:00:00Z","lastCheckedAt":null,
		"records":[{"type":"MX","name":"mail.example.com","value":"feedback-smtp.eu-west-1.amazonses.com","priority":10,"purpose":"mail-from-mx","status":"verified"}]}`, string(b))
	evs, err = changes.Translate(changes.Record{EventID: "again", EventName: changes.Modify, Old: img(domainitem.StatusVerified), New: img(domainitem.StatusVerified)})
	require.NoError(t, err)
	assert.Empty(t, evs, "once")
}

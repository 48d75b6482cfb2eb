package changes_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/testenv"
	"github.com/sendwell/sendwell/shared/tracking"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Each change to a contact or an event gives its domain events exactly once,
// even when the stream delivers its records twice.
func TestEachChangeIsPublishedExactlyOnce(t *testing.T) {
	env := testenv.New(t)
	res := env.Resources(t)
	ctx := t.Context()
	reader, err := localaws.NewStreamReader(ctx, env.DB, dynamodbstreams.NewFromConfig(env.Config), env.Store.Table)
	require.NoError(t, err)

	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	cs := contacts.NewService(env.Store, clk)
	ts := tracking.NewService(env.Store, cs, 0)
	const org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA"

	c, err := cs.Create(ctx, org, contacts.Input{Email: "ada@example.com"}) // contact.created
	require.NoError(t, err)
	_, err = cs.Patch(ctx, org, c.ID, contacts.Patch{FirstName: httpx.Optional[string]{Set: true, Value: "Ada"}}) // contact.updated
	require.NoError(t, err)
	_, err = cs.Patch(ctx, org, c.ID, contacts.Patch{Subscribed: httpx.Optional[bool]{Set: true, Value: false}}) // contact.updated + contact.unsubscribed
	require.NoError(t, err)
	_, err = ts.Track(ctx, org, tracking.Input{Name: "clicked", ContactID: c.ID}) // event.tracked
	require.NoError(t, err)
	require.NoError(t, cs.Delete(ctx, org, c.ID)) // contact.deleted (the event's purge is not news)

	// contact: INSERT, MODIFY, MODIFY, REMOVE; lookup: INSERT, REMOVE; event: INSERT, REMOVE
	var records []changes.Record
	require.Eventually(t, func() bool {
		got, err := reader.Read(ctx)
		require.NoError(t, err)
		records = append(records, got...)
		return len(records) >= 8
	}, 10*time.Second, 20*time.Millisecond)

	pub := &changes.QueuePublisher{SQS: sqs.NewFromConfig(env.Config), QueueURL: res.DomainEventsQueueURL}
	for range 2 { // the second time is the stream redelivering the same records
		done, err := changes.Process(ctx, pub, records)
		require.NoError(t, err)
		require.Equal(t, len(records), done)
	}

	got := drain(t, env, res.DomainEventsQueueURL)
	counts := map[string]int{}
	for _, e := range got {
		counts[e.Type]++
		assert.Equal(t, org, e.OrgID)
	}
	assert.Equal(t, map[string]int{
		changes.ContactCreated: 1, changes.ContactUpdated: 2, changes.ContactUnsubscribed: 1,
		changes.EventTracked: 1, changes.ContactDeleted: 1,
	}, counts)
	assert.Equal(t, changes.ContactCreated, got[0].Type, "a tenant's events keep their order")
	assert.Equal(t, changes.ContactDeleted, got[len(got)-1].Type)
}

type received struct {
	Type  string `json:"type"`
	OrgID string `json:"orgId"`
}

func drain(t *testing.T, env *testenv.Env, url string) []received {
	q := sqs.NewFromConfig(env.Config)
	var out []received
	for {
		res, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		require.NoError(t, err)
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			var r received
			require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &r))
			out = append(out, r)
			_, err := q.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
}

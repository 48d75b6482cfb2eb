package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/messages/scheduler"
	"github.com/sendwell/sendwell/shared/messages/sendworker"
	"github.com/sendwell/sendwell/shared/messages/sesevents"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

// sesSampleSend is the send the SES sample events are about: not the
// placeholder send-job.json claims, so each sample finds the status it needs.
const sesSampleSend = "msg_01J000000000000000000SES0"

// putSampleSend stores a send of the tenant with id, in status (at now),
// unless it exists.
func putSampleSend(t *testing.T, a *api, orgID, id, status string, sendAt *time.Time) {
	var existing sends.Item
	if err := a.env.Store.Get(t.Context(), store.SendKey(orgID, id), &existing); err == nil {
		return
	} else {
		require.ErrorIs(t, err, errs.ErrNotFound)
	}
	now := a.clock.Now()
	it := sends.Item{OrgID: orgID, ID: id, Rev: 1, Status: status, StatusAt: now, To: "ada@example.com",
		Subject: "Hello", From: "Demo <hello@unverified.example>", Kind: sends.Transactional, CreatedAt: now, SendAt: sendAt}
	if status == sends.Sent {
		it.SESMessageID, it.SentAt = "0102019a4c5d6e7f-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d-000000", &now
	}
	it.SetKeys()
	require.NoError(t, a.env.Store.Put(t.Context(), &it))
}

func sampleSendStatus(t *testing.T, a *api, orgID, id string) sends.Item {
	var it sends.Item
	require.NoError(t, a.env.Store.Get(t.Context(), store.SendKey(orgID, id), &it))
	return it
}

// sampleSendJob feeds the send queue's message to the send worker's entry
// point, for a queued send of the tenant: the worker claims it and decides
// (here: failed, its From domain is not one of the tenant's verified ones).
func sampleSendJob(t *testing.T, a *api, s session, raw []byte) {
	id := samplePlaceholder("msg")
	putSampleSend(t, a, s.OrgID, id, sends.Queued, nil)
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal([]byte(strings.ReplaceAll(string(raw), samplePlaceholder("org"), s.OrgID)), &ev))
	res, err := sendworker.New(a.deps, sesv2.NewFromConfig(a.env.Config)).Handle(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures, "a permanent failure is not retried")
	it := sampleSendStatus(t, a, s.OrgID, id)
	assert.Equal(t, sends.Failed, it.Status, "claimed and decided: %s", it.Reason)
}

// sampleSESEvent feeds an SES event, as EventBridge delivers it, to the
// ses-events entry point: the send moves to the event's status.
func sampleSESEvent(t *testing.T, a *api, s session, file string, raw []byte) {
	putSampleSend(t, a, s.OrgID, sesSampleSend, sends.Sent, nil)
	body := strings.NewReplacer(samplePlaceholder("org"), s.OrgID, samplePlaceholder("msg"), sesSampleSend).Replace(string(raw))
	var ev events.EventBridgeEvent
	require.NoError(t, json.Unmarshal([]byte(body), &ev))
	assert.Equal(t, "aws.ses", ev.Source)
	h, err := sesevents.Function.Build(a.deps)
	require.NoError(t, err)
	require.NoError(t, h(t.Context(), ev))
	want := map[string]string{
		"ses-events/email-delivered.json": sends.Delivered,
		"ses-events/email-bounced.json":   sends.Bounced,
		"ses-events/email-complaint.json": sends.Complained,
	}[file]
	assert.Equal(t, want, sampleSendStatus(t, a, s.OrgID, sesSampleSend).Status)
	require.NoError(t, h(t.Context(), ev), "the same event again is a no-op")
}

// sampleTick feeds the schedule's event to the scheduler's entry point: a
// scheduled send due now goes on the send queue.
func sampleTick(t *testing.T, a *api, s session, raw []byte) {
	id := "msg_01J000000000000000000TICK"
	due := a.clock.Now()
	putSampleSend(t, a, s.OrgID, id, sends.Scheduled, &due)
	var ev events.EventBridgeEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	assert.Equal(t, "Scheduled Event", ev.DetailType)
	h, err := scheduler.Function.Build(a.deps)
	require.NoError(t, err)
	require.NoError(t, h(t.Context(), ev))
	got := receiveUntil(t, a, a.deps.Config.SendQueueURL, func(got []string) bool { return len(got) > 0 })
	require.Len(t, got, 1)
	var job sends.Job
	require.NoError(t, json.Unmarshal([]byte(got[0]), &job))
	assert.Equal(t, sends.Job{OrgID: s.OrgID, SendID: id}, job)
}

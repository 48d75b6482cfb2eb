package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/app"
	sequenceworker "github.com/sendwell/sendwell/shared/automation/worker"
	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/imports/importworker"
	"github.com/sendwell/sendwell/shared/segments/worker"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
	"github.com/sendwell/sendwell/shared/webhooks"
)

// The sample events in events/<function>/ are fed to each function's real
// Lambda entry point, so they never go stale. Their placeholder credentials
// are swapped for real ones made here.
func TestSampleEventsThroughTheLambdaEntryPoints(t *testing.T) {
	t.Setenv("SES_LOCAL_AUTO_VERIFY", "true") // moto's SES cannot verify a domain
	env := testenv.New(t)
	clk := clock.NewFake(t0)
	a := newAPIOn(t, env, clk)
	deps := a.deps
	s := a.signup("events@example.com")
	_, key := a.newKey(s, "events")

	cases := []struct {
		file   string
		status int
	}{
		{"public/health.json", 200},
		{"public/openapi.json", 200},
		{"public/unknown-route.json", 404},
		{"public/unsubscribe-page.json", 0},
		{"public/unsubscribe-one-click.json", 0},
		{"public/open.json", 0},
		{"public/click.json", 0},
		{"public/click-forged-token.json", 0},
		{"auth/signup.json", 201},
		{"auth/login.json", 200},
		{"auth/login-wrong-password.json", 401},
		{"auth/refresh.json", 200},
		{"auth/users-me.json", 200},
		{"auth/create-api-key.json", 201},
		{"auth/list-api-keys.json", 200},
		{"auth/create-api-key-with-api-key.json", 403},
		{"contacts/list-contacts.json", 200},
		{"contacts/list-contacts-no-auth.json", 401},
		{"contacts/list-contacts-bad-limit.json", 400},
		{"contacts/create-contact.json", 201},
		{"contacts/get-contact.json", 200},
		{"contacts/patch-contact.json", 200},
		{"contacts/list-contacts-by-tag.json", 200},
		{"contacts/batch-contacts.json", 200},
		{"contacts/track-event.json", 202},
		{"contacts/track-events-batch.json", 200},
		{"contacts/list-contact-events.json", 200},
		{"contacts/create-import.json", 201},
		{"segments/create-segment.json", 201},
		{"segments/create-segment-bad-definition.json", 400},
		{"segments/list-segments.json", 200},
		{"segments/get-segment.json", 200},
		{"segments/patch-segment.json", 200},
		{"segments/list-segment-contacts.json", 200},
		{"segments/list-contact-segments.json", 200}, // the contact create-contact.json made, in no segment
		{"segments/preview-segment.json", 200},
		{"segments/delete-segment.json", 204},
		{"automation/put-sequence.json", 201},
		{"automation/put-sequence-bad-graph.json", 400},
		{"automation/activate-sequence.json", 200},
		{"automation/get-sequence.json", 200},
		{"automation/list-sequences.json", 200},
		{"automation/trigger-sequence.json", 202}, // the contact create-contact.json made
		{"automation/list-sequence-enrollments.json", 200},
		{"automation/list-contact-enrollments.json", 200},
		{"automation/simulate-sequence.json", 200},
		{"automation/pause-sequence.json", 200},
		{"automation/trigger-paused-sequence.json", 409},
		{"automation/delete-sequence-force.json", 204},
		{"automation/create-campaign.json", 201},
		{"automation/list-campaigns.json", 200},
		{"automation/create-broadcast-unknown-template.json", 422},
		{"automation/list-broadcasts.json", 200},
		{"sequence-worker/event-tracked.json", 0},
		{"webhooks/create-webhook.json", 201}, // 127.0.0.1 is an allowed host here, as under make run
		{"webhooks/create-webhook-metadata-url.json", 400},
		{"webhooks/list-webhooks.json", 200},
		{"webhooks/list-webhook-event-types.json", 200},
		{"contacts/delete-contact.json", 204},
		{"templates/put-template.json", 201},
		{"templates/put-template-invalid-mjml.json", 422},
		{"templates/get-template.json", 200},
		{"templates/list-templates.json", 200},
		{"templates/list-template-versions.json", 200},
		{"templates/get-template-version.json", 200},
		{"templates/preview-template.json", 200},
		{"templates/preview-template-strict.json", 422},
		{"templates/delete-template.json", 204},
		{"domains/create-domain.json", 201},
		{"domains/create-domain-bad-name.json", 400},
		{"domains/list-domains.json", 200},
		{"domains/get-domain.json", 200},
		{"domains/verify-domain.json", 200},
		{"messages/send.json", 202},
		{"messages/send-scheduled.json", 202},
		{"messages/send-unverified-from.json", 422},
		{"messages/send-batch.json", 200},
		{"messages/list-sends.json", 200},
		{"messages/get-send.json", 200},
		{"messages/list-scheduled.json", 200},
		{"messages/reschedule-send.json", 200},
		{"messages/cancel-send.json", 200},
		{"messages/suppress-address.json", 201},
		{"messages/list-suppressions.json", 200},
		{"messages/get-suppression.json", 200},
		{"messages/unsuppress-address.json", 204},
		{"messages/test-template.json", 404}, // after templates/delete-template.json: the template is gone
		{"domains/delete-domain.json", 204},
		{"import-worker/purge-events.json", 0},
		{"import-worker/s3-upload-notice.json", 0},
		{"changes/contact-created.json", 0},
		{"changes/contact-deleted.json", 0},
		{"changes/send-queued.json", 0},
		{"changes/segment-member-entered.json", 0},
		{"segment-worker/event-tracked.json", 0},
		{"webhook-worker/domain-event.json", 0},
		{"send-worker/send-job.json", 0},
		{"ses-events/email-delivered.json", 0},
		{"ses-events/email-bounced.json", 0},
		{"ses-events/email-complaint.json", 0},
		{"scheduler/tick.json", 0},
	}
	root := filepath.Join("..", "..", "events")
	found, err := filepath.Glob(filepath.Join(root, "*", "*.json"))
	require.NoError(t, err)
	var listed, onDisk []string
	for _, c := range cases {
		listed = append(listed, c.file)
	}
	for _, f := range found {
		rel, _ := filepath.Rel(root, f)
		onDisk = append(onDisk, filepath.ToSlash(rel))
	}
	slices.Sort(listed)
	slices.Sort(onDisk)
	require.Equal(t, listed, onDisk, "every sample event is checked here")

	contactID := "" // the contact create-contact.json makes, for the events that name one
	domainID := ""  // the domain create-domain.json makes
	msgID := ""     // the scheduled send send-scheduled.json makes
	segmentID := "" // the segment create-segment.json makes
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(root, c.file))
			require.NoError(t, err)
			switch c.file {
			case "public/unsubscribe-page.json", "public/unsubscribe-one-click.json", "public/open.json", "public/click.json", "public/click-forged-token.json":
				return // they need tokens signed for a real send: shared/messages/links' TestSampleEvents feeds them
			case "import-worker/s3-upload-notice.json":
				sampleImportNotice(t, a, s, raw)
				return
			case "import-worker/purge-events.json":
				samplePurgeJob(t, a, s, contactID, raw)
				return
			case "changes/contact-created.json":
				sampleStreamRecord(t, a, raw)
				return
			case "changes/contact-deleted.json":
				sampleRemoval(t, a, raw)
				return
			case "changes/send-queued.json":
				sampleSendRecord(t, a, raw)
				return
			case "changes/segment-member-entered.json":
				sampleMembershipRecord(t, a, raw)
				return
			case "segment-worker/event-tracked.json":
				sampleSegmentWorker(t, a, s, raw)
				return
			case "webhook-worker/domain-event.json":
				sampleWebhookWorker(t, a, raw)
				return
			case "send-worker/send-job.json":
				sampleSendJob(t, a, s, raw)
				return
			case "ses-events/email-delivered.json", "ses-events/email-bounced.json", "ses-events/email-complaint.json":
				sampleSESEvent(t, a, s, c.file, raw)
				return
			case "scheduler/tick.json":
				sampleTick(t, a, s, raw)
				return
			case "sequence-worker/event-tracked.json":
				sampleSequenceWorker(t, a, s, raw)
				return
			}
			if contactID != "" {
				raw = []byte(strings.ReplaceAll(string(raw), samplePlaceholder("cnt"), contactID))
			}
			if domainID != "" {
				raw = []byte(strings.ReplaceAll(string(raw), samplePlaceholder("dom"), domainID))
			}
			if msgID != "" {
				raw = []byte(strings.ReplaceAll(string(raw), samplePlaceholder("msg"), msgID))
			}
			if segmentID != "" {
				raw = []byte(strings.ReplaceAll(string(raw), samplePlaceholder("seg"), segmentID))
			}
			var ev events.APIGatewayV2HTTPRequest
			require.NoError(t, json.Unmarshal(raw, &ev))
			if h := ev.Headers["authorization"]; strings.HasPrefix(h, "Bearer sw_live_") {
				ev.Headers["authorization"] = "Bearer " + key
			} else if strings.HasPrefix(h, "Bearer ey") {
				ev.Headers["authorization"] = "Bearer " + s.Token
			}

			function := strings.Split(c.file, "/")[0]
			h, err := app.Router(deps, function)
			require.NoError(t, err)
			res, err := httpx.Lambda(h)(t.Context(), ev)
			require.NoError(t, err)
			assert.Equal(t, c.status, res.StatusCode, res.Body)
			assert.Equal(t, ev.RequestContext.RequestID, res.Headers["X-Request-Id"], "API Gateway's request id is ours")
			assert.True(t, res.Body == "" || json.Valid([]byte(res.Body)), res.Body)
			if c.status >= 400 {
				assert.Contains(t, res.Body, `"error":{"code":`)
			}
			if c.file == "domains/create-domain.json" {
				var created map[string]any
				require.NoError(t, json.Unmarshal([]byte(res.Body), &created))
				domainID = created["id"].(string)
			}
			if c.file == "messages/send-scheduled.json" {
				var created map[string]any
				require.NoError(t, json.Unmarshal([]byte(res.Body), &created))
				msgID = created["id"].(string)
			}
			if c.file == "segments/create-segment.json" {
				var created map[string]any
				require.NoError(t, json.Unmarshal([]byte(res.Body), &created))
				segmentID = created["id"].(string)
			}
			if c.file == "contacts/create-contact.json" {
				var created map[string]any
				require.NoError(t, json.Unmarshal([]byte(res.Body), &created))
				contactID = created["id"].(string)
			}
		})
	}
}

// samplePlaceholder is the id the sample events use where a real one goes.
func samplePlaceholder(prefix string) string { return prefix + "_01J00000000000000000000000" }

// sampleImportNotice feeds the S3 upload notice (as the import queue delivers
// it) to the import worker's entry point, for an import made and uploaded here.
func sampleImportNotice(t *testing.T, a *api, s session, raw []byte) {
	c := &tenantAPI{api: a, s: s}
	_, c.key = a.newKey(s, "notice")
	imp := c.call("POST", "/api/contacts/imports", nil).JSON(t)
	upload(t, imp["uploadUrl"].(string), []byte("email,firstName\nnotice@example.com,Nia\n"))
	body := strings.NewReplacer(samplePlaceholder("org"), s.OrgID, samplePlaceholder("imp"), imp["id"].(string)).Replace(string(raw))
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal([]byte(body), &ev))
	res, err := importworker.New(a.deps).Handle(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	got := c.call("GET", "/api/contacts/imports/"+imp["id"].(string), nil).JSON(t)
	assert.Equal(t, "completed", got["status"])
	assert.EqualValues(t, 1, got["created"])
}

// sampleStreamRecord feeds a stream record to the changes function's entry
// point and finds its domain event on the queue.
func sampleStreamRecord(t *testing.T, a *api, raw []byte) {
	var ev events.DynamoDBEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	res, err := changes.Handler(changes.NewPublisher(a.deps))(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	got := receiveUntil(t, a, a.deps.Config.DomainEventsQueueURL, func(got []string) bool { return len(got) > 0 })
	require.Len(t, got, 1)
	var de map[string]any
	require.NoError(t, json.Unmarshal([]byte(got[0]), &de))
	assert.Equal(t, "contact.created", de["type"])
	assert.Equal(t, "ada@example.com", de["data"].(map[string]any)["email"])
}

// samplePurgeJob feeds the purge job of the contact delete-contact.json just
// deleted (and whose event track-event.json recorded) to the import worker:
// the contact's events are gone afterwards.
func samplePurgeJob(t *testing.T, a *api, s session, contactID string, raw []byte) {
	require.NotEmpty(t, contactID, "runs after create-contact.json and delete-contact.json")
	stored := func() int {
		out, err := a.env.DB.Query(t.Context(), queryPK(a.env.Store.Table, store.EventsPK(s.OrgID, contactID)))
		require.NoError(t, err)
		return len(out.Items)
	}
	require.Positive(t, stored(), "the deleted contact's event is still there before the purge")
	body := strings.NewReplacer(samplePlaceholder("org"), s.OrgID, samplePlaceholder("cnt"), contactID).Replace(string(raw))
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal([]byte(body), &ev))
	res, err := importworker.New(a.deps).Handle(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	assert.Zero(t, stored(), "purged")
}

// sampleRemoval feeds a contact's REMOVE record to the changes function's
// entry point: it publishes contact.deleted and queues the purge job.
func sampleRemoval(t *testing.T, a *api, raw []byte) {
	var ev events.DynamoDBEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	res, err := changes.Handler(changes.NewPublisher(a.deps))(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	kinds := func(got []string) []string {
		var kinds []string
		for _, b := range got {
			var de map[string]any
			require.NoError(t, json.Unmarshal([]byte(b), &de))
			kinds = append(kinds, de["type"].(string))
		}
		return kinds
	}
	published := receiveUntil(t, a, a.deps.Config.DomainEventsQueueURL, func(got []string) bool { return slices.Contains(kinds(got), "contact.deleted") })
	assert.Contains(t, kinds(published), "contact.deleted")
	const purge = `"purgeEvents":{"orgId":"org_01J00000000000000000000000","contactId":"cnt_01J00000000000000000000000"}`
	jobs := receiveUntil(t, a, a.deps.Config.ImportQueueURL, func(got []string) bool {
		return slices.ContainsFunc(got, func(b string) bool { return strings.Contains(b, purge) })
	})
	assert.True(t, slices.ContainsFunc(jobs, func(b string) bool { return strings.Contains(b, purge) }), "the purge job is queued")
}

// receiveUntil receives and deletes the queue's messages (deleting releases a
// FIFO queue's message group for the next sample) until done says it has
// what it waits for, or 20 s have passed; it returns their bodies. A
// receive whose answer was lost (moto under load, the SDK retrying) hides
// its messages for 2 s only, so the next poll finds them.
func receiveUntil(t *testing.T, a *api, url string, done func([]string) bool) []string {
	t.Helper()
	q := sqs.NewFromConfig(a.env.Config)
	var got []string
	for deadline := time.Now().Add(20 * time.Second); !done(got) && time.Now().Before(deadline); {
		out, err := q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 2})
		require.NoError(t, err)
		for _, m := range out.Messages {
			got = append(got, *m.Body)
			_, err := q.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
	return got
}

// sampleSendRecord feeds a queued send's INSERT to the changes function's
// entry point and finds its job on the send queue.
func sampleSendRecord(t *testing.T, a *api, raw []byte) {
	var ev events.DynamoDBEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	res, err := changes.Handler(changes.NewPublisher(a.deps))(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	got := receiveUntil(t, a, a.deps.Config.SendQueueURL, func(got []string) bool { return len(got) > 0 })
	require.Len(t, got, 1)
	assert.JSONEq(t, `{"orgId":"org_01J00000000000000000000000","sendId":"msg_01J00000000000000000000000"}`, got[0])
}

// sampleMembershipRecord: a membership's INSERT through the changes entry
// point is one segment.entered.
func sampleMembershipRecord(t *testing.T, a *api, raw []byte) {
	var ev events.DynamoDBEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	res, err := changes.Handler(changes.NewPublisher(a.deps))(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	got := receiveUntil(t, a, a.deps.Config.DomainEventsQueueURL, func(got []string) bool { return len(got) > 0 })
	require.Len(t, got, 1)
	assert.Contains(t, got[0], `"type":"segment.entered"`)
}

// sampleSegmentWorker: the event.tracked domain event through the segment
// worker's entry point.
func sampleSegmentWorker(t *testing.T, a *api, s session, raw []byte) {
	body := strings.NewReplacer(samplePlaceholder("org"), s.OrgID).Replace(string(raw))
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal([]byte(body), &ev))
	h, err := worker.Function.Build(a.deps)
	require.NoError(t, err)
	res, err := h(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
}

// sampleSequenceWorker: an event.tracked, as the changes function sends it
// to the sequence queue, through the sequence worker's entry point, for a
// contact and an active sequence that event triggers: it enrols the contact.
func sampleSequenceWorker(t *testing.T, a *api, s session, raw []byte) {
	c := &tenantAPI{api: a, s: s}
	_, c.key = a.newKey(s, "sequence-worker")
	contact := c.call("POST", "/api/contacts", map[string]any{"email": "signed-up@example.com"}).JSON(t)
	seq := map[string]any{"name": "Sample", "trigger": map[string]any{"event": "signed_up"},
		"steps": []any{map[string]any{"id": "wait", "type": "wait", "duration": "P1D"}}}
	require.Equal(t, http.StatusCreated, c.call("PUT", "/api/sequences/sample", seq).Status)
	require.Equal(t, http.StatusOK, c.call("POST", "/api/sequences/sample/activate", nil).Status)
	body := strings.NewReplacer(samplePlaceholder("org"), s.OrgID, samplePlaceholder("cnt"), contact["id"].(string)).Replace(string(raw))
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal([]byte(body), &ev))
	h, err := sequenceworker.Function.Build(a.deps)
	require.NoError(t, err)
	res, err := h(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	enrolled := c.call("GET", "/api/sequences/sample/enrollments", nil).JSON(t)["data"].([]any)
	require.Len(t, enrolled, 1)
	assert.Equal(t, contact["id"], enrolled[0].(map[string]any)["contactId"])
}

// sampleWebhookWorker: a domain event, as the changes function sends it to
// the webhook queue, through the webhook worker's entry point. Its org (the
// placeholder's) has no endpoints: one read of their version, nothing else.
func sampleWebhookWorker(t *testing.T, a *api, raw []byte) {
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	require.NotEmpty(t, a.deps.Config.WebhookQueueURL, "the harness's webhook queue")
	h, err := webhooks.WorkerFunction.Build(a.deps)
	require.NoError(t, err)
	a.env.Counter.Reset()
	res, err := h(t.Context(), ev)
	require.NoError(t, err)
	assert.Empty(t, res.BatchItemFailures)
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, a.env.Counter.Snapshot(), "the endpoints' version, and nothing to deliver")
}

package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/imports/importworker"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/store"
)

// startHurriedImportWorker feeds the import queue to the real worker, as
// startImportWorker does, but gives each invocation a deadline shorter than
// the time the worker keeps back for its checkpoint (as a Lambda with a
// small timeout would have): every message does the least it may, then
// queues the rest of its work on the queue.
func startHurriedImportWorker(t *testing.T, a *api) {
	h, err := importworker.Function.Build(a.deps)
	require.NoError(t, err)
	hurried := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		ctx, cancel := context.WithTimeout(ctx, importworker.Reserved/2)
		defer cancel()
		return h(ctx, ev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = localaws.PollQueue(ctx, sqs.NewFromConfig(a.env.Config), a.deps.Config.ImportQueueURL, hurried)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// importContacts counts the tenant's contacts through the list, page by page.
func (c *tenantAPI) importContacts() int {
	c.t.Helper()
	n, cursor := 0, ""
	for {
		r := c.call("GET", "/api/contacts?limit=100"+cursor, nil)
		require.Equal(c.t, http.StatusOK, r.Status, string(r.Body))
		m := r.JSON(c.t)
		n += len(m["data"].([]any))
		next, _ := m["nextCursor"].(string)
		if next == "" {
			return n
		}
		cursor = "&cursor=" + next
	}
}

// An import that outlasts its invocation checkpoints and queues a
// Continuation on the real import queue; the poller hands it back to the
// worker, which goes on from the checkpoint, until the import completes
// with exact counts.
func TestImportContinuesThroughTheQueue(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("continue@example.com")
	c.createContact(map[string]any{"email": "row7@example.com"})
	startHurriedImportWorker(t, a)
	imp := c.call("POST", "/api/contacts/imports", nil).JSON(t)
	sends := a.env.Counter.Count("SQS.SendMessage")
	upload(t, imp["uploadUrl"].(string), rowsCSV(250, 120, "broken,x"))

	done := c.waitImport(imp["id"].(string))
	assert.Equal(t, "completed", done["status"])
	assert.EqualValues(t, 250, done["total"])
	assert.EqualValues(t, 250, done["processed"])
	assert.EqualValues(t, 248, done["created"])
	assert.EqualValues(t, 1, done["updated"])
	assert.EqualValues(t, 1, done["failed"])
	assert.Equal(t, 2, a.env.Counter.Count("SQS.SendMessage")-sends, "a continuation after each of the first two batches")
	assert.Equal(t, 249, c.importContacts(), "every good row is a contact, once")
}

// A purge job on the import queue (the contacts group's work queue) goes to
// contacts' PurgeEvents; a job that runs out of time is queued again, and
// the next message finishes it: the deleted contact's events are gone, and
// no other contact's.
func TestImportWorkerPurgesADeletedContactsEvents(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("purge@example.com")
	gone := c.createContact(map[string]any{"email": "gone@example.com"})["id"].(string)
	kept := c.createContact(map[string]any{"email": "kept@example.com"})["id"].(string)
	track := func(contactID string, n int) {
		evs := make([]any, n)
		for i := range evs {
			evs[i] = map[string]any{"name": "page.viewed", "contactId": contactID}
		}
		r := c.call("POST", "/api/events/batch", map[string]any{"events": evs})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	}
	track(gone, 100)
	track(gone, 100)
	track(kept, 3)
	ctx := t.Context()
	countEvents := func(contactID string) (int, error) {
		n := 0
		err := a.env.Store.QueryKeys(ctx, store.EventsPK(c.s.OrgID, contactID), store.EventPrefix(), func(k []store.Key) error {
			n += len(k)
			return nil
		})
		return n, err
	}
	n, err := countEvents(gone)
	require.NoError(t, err)
	require.Equal(t, 200, n)
	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/contacts/"+gone, nil).Status)

	body, err := json.Marshal(contacts.PurgeMessage{PurgeEvents: &contacts.PurgeJob{OrgID: c.s.OrgID, ContactID: gone}})
	require.NoError(t, err)
	require.JSONEq(t, fmt.Sprintf(`{"purgeEvents":{"orgId":%q,"contactId":%q}}`, c.s.OrgID, gone), string(body))
	_, err = sqs.NewFromConfig(a.env.Config).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &a.deps.Config.ImportQueueURL, MessageBody: aws.String(string(body))})
	require.NoError(t, err)
	sends := a.env.Counter.Count("SQS.SendMessage")
	startHurriedImportWorker(t, a)

	assert.Eventually(t, func() bool {
		n, err := countEvents(gone)
		return err == nil && n == 0
	}, 30*time.Second, 50*time.Millisecond, "the deleted contact's events are purged")
	assert.GreaterOrEqual(t, a.env.Counter.Count("SQS.SendMessage")-sends, 1, "the job ran out of time and was queued again")
	n, err = countEvents(kept)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "another contact's events stay")
}

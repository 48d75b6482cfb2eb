package app_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/store"
)

// changesFollower follows the table's stream with the changes function's
// code, as `make run` does (infra/local/main.go): the publisher NewPublisher
// builds, so domain events go to the domain-events queue and purge jobs to
// the import queue.
type changesFollower struct {
	t      *testing.T
	a      *api
	reader *localaws.StreamReader
}

// openChanges opens the stream from now on: open it before the writes it is
// to see, and start following it when the test wants.
func openChanges(t *testing.T, a *api) *changesFollower {
	t.Helper()
	reader, err := localaws.NewStreamReader(t.Context(), a.env.DB, dynamodbstreams.NewFromConfig(a.env.Config), a.env.Store.Table)
	require.NoError(t, err)
	return &changesFollower{t: t, a: a, reader: reader}
}

// start follows the stream for the rest of the test.
func (f *changesFollower) start() {
	publisher := changes.NewPublisher(f.a.deps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.reader.Follow(ctx, 20*time.Millisecond, func(ctx context.Context, recs []changes.Record) error {
			_, err := changes.Process(ctx, publisher, recs)
			return err
		})
	}()
	f.t.Cleanup(func() { cancel(); <-done })
}

// trackEvents records n events of a contact, a hundred per batch.
func (c *tenantAPI) trackEvents(contactID string, n int) {
	c.t.Helper()
	for n > 0 {
		evs := make([]any, min(n, 100))
		for i := range evs {
			evs[i] = map[string]any{"name": "page.viewed", "contactId": contactID}
		}
		r := c.call("POST", "/api/events/batch", map[string]any{"events": evs})
		require.Equal(c.t, http.StatusOK, r.Status, string(r.Body))
		n -= len(evs)
	}
}

// waitEventsPurged waits (ten seconds at most) until a contact's events
// partition is empty.
func (c *tenantAPI) waitEventsPurged(contactID string) {
	c.t.Helper()
	pk := store.EventsPK(c.s.OrgID, contactID)
	var last error
	ok := assert.Eventually(c.t, func() bool {
		n := 0
		last = c.env.Store.QueryKeys(context.Background(), pk, "", func(k []store.Key) error {
			n += len(k)
			return nil
		})
		return last == nil && n == 0
	}, 10*time.Second, 25*time.Millisecond, "the deleted contact's events are purged")
	require.NoError(c.t, last)
	require.True(c.t, ok)
}

// DELETE /api/contacts/{id} costs the same few calls whether the contact has
// no event or hundreds: a read and one transaction, and no Query of its
// events. The events go afterwards, off the request: the stream's removal
// record becomes a purge job (changes function), which the import worker
// runs, through the same code `make run` runs.
func TestDeleteCostsTheSameWhateverTheEventsAndThePurgeFollows(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("deleter@example.com")
	follower := openChanges(t, a)
	quiet := c.createContact(map[string]any{"email": "quiet@example.com", "tags": []string{"a"}})["id"].(string)
	busy := c.createContact(map[string]any{"email": "busy@example.com", "tags": []string{"a"}})["id"].(string)
	kept := c.createContact(map[string]any{"email": "kept@example.com"})["id"].(string)
	c.trackEvents(busy, 250)
	c.trackEvents(kept, 5)

	cost := func(id string) map[string]int {
		a.env.Counter.Reset()
		r := c.call("DELETE", "/api/contacts/"+id, nil)
		require.Equal(t, http.StatusNoContent, r.Status, string(r.Body))
		got := a.env.Counter.Snapshot()
		delete(got, "DynamoDB.UpdateItem") // the rate limit
		return got
	}
	want := map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.TransactWriteItems": 1}
	assert.Equal(t, want, cost(quiet), "no events")
	assert.Equal(t, want, cost(busy), "250 events: the same calls, none a Query")

	follower.start() // the changes function and the import worker, after the requests
	startImportWorker(t, a)
	c.waitEventsPurged(busy)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/contacts/"+busy+"/events", nil).Status)
	r := c.call("GET", "/api/contacts/"+kept+"/events?limit=100", nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Len(t, r.JSON(t)["data"], 5, "another contact's events are kept")
}

// A delete conditions its transaction on the version it read: a PATCH that
// changes the contact's email and tags between the delete's read and its
// write makes the write fail, and the delete reads again and removes what
// the contact has become: no lookup or tag entry is left behind. A contact
// that changes under every attempt is kept whole, and the delete answers
// 409.
func TestDeleteRacingAPatchLeavesNothingBehind(t *testing.T) {
	faults := awsx.NewFaults()
	a := newAPI(t, withFaults(faults))
	other := newAPIOn(t, a.env, a.clock) // a second instance, its calls not hooked
	c := a.tenant("racer@example.com")
	id := c.createContact(map[string]any{"email": "old@example.com", "tags": []string{"red", "blue"}})["id"].(string)

	// The hook runs in the server's goroutine: what it sees goes through mu,
	// and no assertion runs there.
	var (
		mu       sync.Mutex
		patched  []int
		patchErr error
	)
	patch := func(body map[string]any) {
		s, err := tryDo(other, "PATCH", "/api/contacts/"+id, body, bearer(c.key)...)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			patchErr = errors.Join(patchErr, err)
			return
		}
		patched = append(patched, s.res.Status)
	}
	results := func() ([]int, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(patched), patchErr
	}
	faults.Reset() // count the delete's transactions alone
	faults.Before(ddbTransact, func(n int) {
		if n == 1 { // after the delete read the contact, before its transaction
			patch(map[string]any{"email": "new@example.com", "tags": []string{"green"}})
		}
	})
	r := c.call("DELETE", "/api/contacts/"+id, nil)
	statuses, err := results()
	require.NoError(t, err)
	assert.Equal(t, []int{http.StatusOK}, statuses, "the PATCH went through in between")
	assert.Equal(t, http.StatusNoContent, r.Status, string(r.Body))
	assert.Equal(t, 2, faults.Attempts(ddbTransact), "the first transaction failed its version condition; the second, after a new read, went through")

	for _, email := range []string{"old@example.com", "new@example.com"} {
		var l map[string]any
		err := a.env.Store.GetConsistent(t.Context(), store.ContactEmailKey(c.s.OrgID, email), &l)
		assert.ErrorIs(t, err, errs.ErrNotFound, "no lookup left for %s", email)
	}
	for _, tag := range []string{"red", "blue", "green"} {
		assert.Zero(t, countPartition(t, a, store.ContactTagPK(c.s.OrgID, tag)), "no entry left for tag %s", tag)
	}
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/contacts/"+id, nil).Status)
	c.createContact(map[string]any{"email": "new@example.com"}) // the email is free

	// Changed under every attempt: the delete gives up, and the contact is whole.
	faults.Reset()
	mu.Lock()
	patched = nil
	mu.Unlock()
	id = c.createContact(map[string]any{"email": "busy@example.com", "tags": []string{"red"}})["id"].(string)
	faults.Before(ddbTransact, func(n int) { patch(map[string]any{"properties": map[string]any{"n": n}}) })
	r = c.call("DELETE", "/api/contacts/"+id, nil)
	statuses, err = results()
	require.NoError(t, err)
	assert.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "CONFLICT", r.ErrCode(t))
	assert.Equal(t, []int{http.StatusOK, http.StatusOK, http.StatusOK, http.StatusOK, http.StatusOK}, statuses, "a change before each of the delete's five attempts")
	faults.Reset()
	got := c.call("GET", "/api/contacts/"+id, nil)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, []any{"red"}, got.JSON(t)["tags"])
	assert.Equal(t, []string{"busy@example.com"}, c.ids("/api/contacts?tag=red"))
}

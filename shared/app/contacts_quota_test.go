package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

// The free plan's contacts quota, and what a contact past it is told.
var (
	freeContacts = tenant.PlanByName("free").Quotas.Contacts
	quotaMessage = "The organisation has reached its plan's quota of 2,000 contacts."
)

// setContactCount sets the tenant's contact counter, so a test can stand
// next to the quota without making 2,000 contacts.
func (c *tenantAPI) setContactCount(n int) {
	c.t.Helper()
	require.NoError(c.t, c.env.Store.Put(c.t.Context(), struct {
		store.Key
		Contacts int `dynamodbav:"contacts"`
	}{store.ContactCountKey(c.s.OrgID), n}))
}

func (c *tenantAPI) contactCount() int {
	c.t.Helper()
	var it struct {
		Contacts int `dynamodbav:"contacts"`
	}
	require.NoError(c.t, c.env.Store.GetConsistent(c.t.Context(), store.ContactCountKey(c.s.OrgID), &it))
	return it.Contacts
}

// usedContacts is what GET /api/users/me shows as the contacts in use.
func (c *tenantAPI) usedContacts() float64 {
	c.t.Helper()
	r := c.call("GET", "/api/users/me", nil)
	require.Equal(c.t, http.StatusOK, r.Status, string(r.Body))
	return r.JSON(c.t)["usage"].(map[string]any)["contacts"].(float64)
}

// hasLookup says whether the email has a lookup item in the tenant.
func (c *tenantAPI) hasLookup(email string) bool {
	c.t.Helper()
	var it struct{ store.Key }
	err := c.env.Store.GetConsistent(c.t.Context(), store.ContactEmailKey(c.s.OrgID, email), &it)
	if err == nil {
		return true
	}
	require.ErrorIs(c.t, err, errs.ErrNotFound)
	return false
}

// Creates, deletes and events by email keep the counter exact, and the
// contact that would pass the plan's quota is refused with 422 naming it,
// writing nothing.
func TestContactsQuotaOnCreateDeleteAndEvents(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("contacts-quota@example.com")

	first := c.createContact(map[string]any{"email": "first@example.com", "tags": []string{"t"}})
	assert.Equal(t, 1, c.contactCount(), "a create counts its contact from a missing counter")
	assert.EqualValues(t, 1, c.usedContacts())

	c.setContactCount(freeContacts - 1)
	c.createContact(map[string]any{"email": "last@example.com"})
	assert.Equal(t, freeContacts, c.contactCount())

	r := c.call("POST", "/api/contacts", map[string]any{"email": "over@example.com", "tags": []string{"t"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
	assert.Equal(t, "UNPROCESSABLE_ENTITY", r.ErrCode(t))
	assert.Equal(t, quotaMessage, r.ErrMessage(t))
	assert.False(t, c.hasLookup("over@example.com"), "no lookup written")
	assert.NotContains(t, c.ids("/api/contacts"), "over@example.com", "no contact written")
	assert.Len(t, c.ids("/api/contacts?tag=t"), 1, "no tag entry shows")
	assert.Equal(t, freeContacts, c.contactCount(), "the counter did not move")
	assert.EqualValues(t, freeContacts, c.usedContacts())

	// An event for an unknown email would create its contact: refused the same way.
	ev := c.call("POST", "/api/events", map[string]any{"name": "x", "email": "event@example.com"})
	assert.Equal(t, http.StatusUnprocessableEntity, ev.Status, string(ev.Body))
	assert.Equal(t, quotaMessage, ev.ErrMessage(t))
	assert.False(t, c.hasLookup("event@example.com"))
	// An existing contact is no new contact: updates and its events still work.
	require.Equal(t, http.StatusOK, c.call("PATCH", "/api/contacts/"+first["id"].(string), map[string]any{"firstName": "F"}).Status)
	require.Equal(t, http.StatusAccepted, c.call("POST", "/api/events", map[string]any{"name": "x", "email": "first@example.com"}).Status)

	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/contacts/"+first["id"].(string), nil).Status)
	assert.Equal(t, freeContacts-1, c.contactCount(), "a delete gives its room back")
	c.createContact(map[string]any{"email": "over@example.com"})
	assert.Equal(t, freeContacts, c.contactCount())

	// Another tenant's counter is its own.
	other := a.tenant("other-quota@example.com")
	other.createContact(map[string]any{"email": "over@example.com"})
	assert.Equal(t, 1, other.contactCount())
}

// Parallel creates of different emails with two slots left: exactly two
// are created, and the counter ends at the quota.
func TestConcurrentCreatesStopAtTheQuota(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("quota-race@example.com")
	c.setContactCount(freeContacts - 2)
	_, n := a.concurrently(8, func(i int) (sent, error) {
		return tryDo(a, "POST", "/api/contacts", map[string]any{"email": fmt.Sprintf("racer%d@example.com", i)}, bearer(c.key)...)
	})
	assert.Equal(t, map[int]int{http.StatusCreated: 2, http.StatusUnprocessableEntity: 6}, n)
	assert.Len(t, c.ids("/api/contacts"), 2)
	assert.Equal(t, freeContacts, c.contactCount())
}

// A batch upsert with two slots left creates the first two new contacts,
// fails the rest with the quota's message, still updates the contacts that
// exist, and gives back the room of those that turned out not to be new.
func TestBatchUpsertStopsAtTheQuota(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("quota-batch@example.com")
	c.createContact(map[string]any{"email": "known@example.com"})
	c.setContactCount(freeContacts - 2)

	items := []any{map[string]any{"email": "known@example.com", "firstName": "K"}}
	for i := range 5 {
		items = append(items, map[string]any{"email": fmt.Sprintf("new%d@example.com", i)})
	}
	r := c.call("POST", "/api/contacts/batch", map[string]any{"contacts": items})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	got := batchItems(r.JSON(t))
	require.Len(t, got, 6)
	assert.Equal(t, "updated", got[0].Status, "an existing contact takes no room")
	var statuses []string
	for _, it := range got[1:] {
		statuses = append(statuses, it.Status)
	}
	assert.Equal(t, []string{"created", "created", "error", "error", "error"}, statuses, "the first new contacts get the room")
	for i, d := range r.JSON(t)["data"].([]any)[3:] {
		e := d.(map[string]any)["error"].(map[string]any)
		assert.Equal(t, "UNPROCESSABLE_ENTITY", e["code"], "item %d", i+3)
		assert.Equal(t, quotaMessage, e["message"], "item %d", i+3)
	}
	assert.Equal(t, freeContacts, c.contactCount())
	assert.False(t, c.hasLookup("new2@example.com"), "nothing written for a refused contact")
	assert.Len(t, c.ids("/api/contacts"), 3)

	// With room for all, one reservation covers the batch's new contacts
	// and nothing is given back.
	c.setContactCount(0)
	c.env.Counter.Reset()
	r = c.call("POST", "/api/contacts/batch", map[string]any{"contacts": []any{
		map[string]any{"email": "new2@example.com"}, map[string]any{"email": "new3@example.com"}, map[string]any{"email": "known@example.com", "firstName": "L"}}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, 2, c.env.Counter.Snapshot()["DynamoDB.UpdateItem"], "the rate limit and one reservation")
	assert.Equal(t, 2, c.contactCount())
}

// An import with two slots left creates two contacts and records the other
// new rows as failed, with the quota's message.
func TestImportStopsAtTheQuota(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("quota-import@example.com")
	startImportWorker(t, a)
	c.createContact(map[string]any{"email": "known@example.com"})
	c.setContactCount(freeContacts - 2)

	r := c.call("POST", "/api/contacts/imports", nil)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	imp := r.JSON(t)
	var csv strings.Builder
	csv.WriteString("email,firstName\nknown@example.com,K\n")
	for i := range 5 {
		fmt.Fprintf(&csv, "row%d@example.com,R\n", i)
	}
	upload(t, imp["uploadUrl"].(string), []byte(csv.String()))
	done := c.waitImport(imp["id"].(string))

	assert.Equal(t, "completed", done["status"])
	assert.EqualValues(t, 6, done["processed"])
	assert.EqualValues(t, 2, done["created"])
	assert.EqualValues(t, 1, done["updated"])
	assert.EqualValues(t, 3, done["failed"])
	errors := done["errors"].([]any)
	require.Len(t, errors, 3)
	for i, e := range errors {
		m := e.(map[string]any)
		assert.EqualValues(t, 5+i, m["line"])
		assert.Equal(t, fmt.Sprintf("row%d@example.com", 2+i), m["email"])
		assert.Equal(t, quotaMessage, m["message"])
	}
	assert.Equal(t, freeContacts, c.contactCount())
	assert.EqualValues(t, freeContacts, c.usedContacts())
}

// Room a batch reserved and did not use goes back: a contact another writer
// created between the batch's claim and its write (the batch updates it
// instead; the other writer counted it), and a contact whose write failed.
func TestBatchUpsertGivesBackTheRoomItDidNotUse(t *testing.T) {
	t.Run("lost to a concurrent writer", func(t *testing.T) {
		faults := awsx.NewFaults()
		a := newAPI(t, withFaults(faults))
		b := newAPIOn(t, a.env, a.clock) // another instance, its calls not hooked
		c := a.tenant("quota-giveback@example.com")
		c.setContactCount(5)
		var fromB hooked
		faults.Before(ddbPut, func(k int) {
			if k == 2 { // after A's claim, before A's contact
				fromB.add(upsertFrom(b, c.key, map[string]any{"email": "ada@example.com", "lastName": "L"}))
			}
		})
		r := c.call("POST", "/api/contacts/batch", map[string]any{"contacts": []any{map[string]any{"email": "ada@example.com", "firstName": "A"}}})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		gotB, err := fromB.get()
		require.NoError(t, err)
		require.Len(t, gotB, 1, "B went in between")
		assert.Equal(t, "created", gotB[0].Status)
		assert.Equal(t, "updated", batchItems(r.JSON(t))[0].Status)
		assert.Equal(t, 6, c.contactCount(), "one contact, counted once")
	})
	t.Run("a failed write", func(t *testing.T) {
		faults := awsx.NewFaults()
		a := newAPI(t, withFaults(faults))
		c := a.tenant("quota-failed@example.com")
		c.setContactCount(5)
		faults.FailFrom(ddbPut, 2, awsx.InternalServerError) // the claim goes through, the contact does not
		r := c.call("POST", "/api/contacts/batch", map[string]any{"contacts": []any{map[string]any{"email": "ada@example.com"}}})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		assert.Equal(t, "SERVICE_UNAVAILABLE", batchItems(r.JSON(t))[0].Code)
		faults.Reset()
		assert.Equal(t, 5, c.contactCount(), "the room went back")
		c.createContact(map[string]any{"email": "ada@example.com"}) // adopts the orphaned claim
		assert.Equal(t, 6, c.contactCount())
	})
}

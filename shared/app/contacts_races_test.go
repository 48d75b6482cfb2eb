package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// The DynamoDB operations these tests fail or act between.
const (
	ddbTransact = "DynamoDB.TransactWriteItems"
	ddbPut      = "DynamoDB.PutItem"
	ddbGet      = "DynamoDB.GetItem"
)

// emailLookup is a contact email's lookup item, as the contacts group stores it.
type emailLookup struct {
	store.Key
	ContactID string `dynamodbav:"contactId"`
}

// lookupOf reads the contact id an email's lookup names ("" when none).
func (c *tenantAPI) lookupOf(email string) string {
	c.t.Helper()
	var l emailLookup
	err := c.env.Store.GetConsistent(c.t.Context(), store.ContactEmailKey(c.s.OrgID, email), &l)
	if errors.Is(err, errs.ErrNotFound) {
		return ""
	}
	require.NoError(c.t, err)
	return l.ContactID
}

// plantOrphan writes an email's lookup and no contact, as a batch writer
// that claimed the email and died before writing the contact leaves it.
func (c *tenantAPI) plantOrphan(email, contactID string) {
	c.t.Helper()
	require.NoError(c.t, c.env.Store.Put(c.t.Context(), emailLookup{Key: store.ContactEmailKey(c.s.OrgID, email), ContactID: contactID}))
}

// storedVersion is a contact's optimistic-lock version, as stored.
func (c *tenantAPI) storedVersion(id string) int {
	c.t.Helper()
	var it struct {
		Version int `dynamodbav:"version"`
	}
	require.NoError(c.t, c.env.Store.GetConsistent(c.t.Context(), store.ContactKey(c.s.OrgID, id), &it))
	return it.Version
}

// batchItem is one item of a POST /api/contacts/batch answer.
type batchItem struct {
	ID, Email, Status, Code string
}

func batchItems(body map[string]any) []batchItem {
	var out []batchItem
	for _, d := range body["data"].([]any) {
		m := d.(map[string]any)
		it := batchItem{Status: m["status"].(string)}
		it.ID, _ = m["id"].(string)
		it.Email, _ = m["email"].(string)
		if e, ok := m["error"].(map[string]any); ok {
			it.Code, _ = e["code"].(string)
		}
		out = append(out, it)
	}
	return out
}

// upsertFrom sends a batch upsert through the instance on, without
// asserting anything: for hooks and goroutines, where require must not run.
func upsertFrom(on *api, key string, contacts ...map[string]any) ([]batchItem, error) {
	s, err := tryDo(on, "POST", "/api/contacts/batch", map[string]any{"contacts": contacts}, bearer(key)...)
	if err != nil {
		return nil, err
	}
	if s.res.Status != http.StatusOK {
		return nil, fmt.Errorf("batch answered %d: %s", s.res.Status, s.res.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(s.res.Body, &body); err != nil {
		return nil, err
	}
	return batchItems(body), nil
}

// hooked collects, under a lock, what a fault hook's request got: the hook
// runs in a server goroutine, where no assertion may run.
type hooked struct {
	mu    sync.Mutex
	items []batchItem
	err   error
}

func (h *hooked) add(items []batchItem, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.items, h.err = append(h.items, items...), errors.Join(h.err, err)
}

func (h *hooked) get() ([]batchItem, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.items), h.err
}

// A lookup left without its contact (a batch upsert that claimed the email
// and failed before writing the contact) is adopted by whoever meets it
// next, the same way on every path: the create answers 201, an event by
// email lands under a real contact, a batch upsert creates; each takes the
// id the lookup names, and nothing is duplicated. A damaged lookup is
// replaced.
func TestOrphanedLookupsAreAdopted(t *testing.T) {
	faults := awsx.NewFaults()
	a := newAPI(t, withFaults(faults))
	c := a.tenant("orphans@example.com")

	// A batch upsert dies between its claim (PutItem 1) and its contact
	// (PutItem 2): DynamoDB fails the contact's write beyond the SDK's retries.
	faults.FailFrom(ddbPut, 2, awsx.InternalServerError)
	r := c.call("POST", "/api/contacts/batch", map[string]any{"contacts": []any{map[string]any{"email": "killed@example.com", "firstName": "K", "tags": []string{"t"}}}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, []batchItem{{Email: "killed@example.com", Status: "error", Code: "SERVICE_UNAVAILABLE"}}, batchItems(r.JSON(t)))
	faults.Reset()
	killed := c.lookupOf("killed@example.com")
	require.NotEmpty(t, killed, "the claim stayed")
	require.Equal(t, http.StatusNotFound, c.call("GET", "/api/contacts/"+killed, nil).Status, "and its contact was never written")

	made := c.createContact(map[string]any{"email": "Killed@example.com", "lastName": "L"})
	assert.Equal(t, killed, made["id"], "the create adopts the orphan's id")
	assert.Nil(t, made["firstName"], "with the create's own fields")
	assert.Equal(t, "CONFLICT", c.call("POST", "/api/contacts", map[string]any{"email": "killed@example.com"}).ErrCode(t), "the email is now taken")
	assert.Empty(t, c.ids("/api/contacts?tag=t"), "the dead batch's tag entry shows nothing")

	// An event by email.
	evOrphan := ids.New(ids.Contact, a.clock.Now())
	c.plantOrphan("event@example.com", evOrphan)
	ev := c.call("POST", "/api/events", map[string]any{"name": "paid", "email": "event@example.com"})
	require.Equal(t, http.StatusAccepted, ev.Status, string(ev.Body))
	assert.Equal(t, evOrphan, ev.JSON(t)["contactId"])
	got := c.call("GET", "/api/contacts/"+evOrphan, nil)
	require.Equal(t, http.StatusOK, got.Status, "a real contact stands behind the event")
	assert.Equal(t, "event@example.com", got.JSON(t)["email"])
	evs := c.call("GET", "/api/contacts/"+evOrphan+"/events", nil).JSON(t)["data"].([]any)
	require.Len(t, evs, 1)
	assert.Equal(t, "paid", evs[0].(map[string]any)["name"])

	// A batch upsert.
	upOrphan := ids.New(ids.Contact, a.clock.Now())
	c.plantOrphan("upsert@example.com", upOrphan)
	r = c.call("POST", "/api/contacts/batch", map[string]any{"contacts": []any{map[string]any{"email": "upsert@example.com", "firstName": "U"}}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, []batchItem{{ID: upOrphan, Email: "upsert@example.com", Status: "created"}}, batchItems(r.JSON(t)))

	// A damaged lookup (naming no contact id) is replaced by the new contact's.
	c.plantOrphan("damaged@example.com", "garbage")
	fresh := c.createContact(map[string]any{"email": "damaged@example.com"})["id"].(string)
	assert.True(t, ids.Valid(ids.Contact, fresh))
	assert.Equal(t, fresh, c.lookupOf("damaged@example.com"))

	// Nothing duplicated: each email is one contact, which its lookup names.
	list := c.call("GET", "/api/contacts", nil).JSON(t)["data"].([]any)
	byEmail := map[string]string{}
	for _, d := range list {
		m := d.(map[string]any)
		byEmail[m["email"].(string)] = m["id"].(string)
	}
	assert.Len(t, list, 4)
	assert.Equal(t, map[string]string{"killed@example.com": killed, "event@example.com": evOrphan, "upsert@example.com": upOrphan, "damaged@example.com": fresh}, byEmail)
	for email, id := range byEmail {
		assert.Equal(t, id, c.lookupOf(email), email)
	}
}

// Two writers meeting one unwritten contact: B acts between A's read and
// A's write (a fault hook). Whether A is the batch writer that claimed the
// email and is only slow, or both adopt an orphaned lookup, exactly one
// creates the contact; the other's conditional write fails, and it updates
// the contact instead: the contact carries both writers' fields, at
// version 2.
func TestTwoWritersOfOneLookupCreateOnce(t *testing.T) {
	cases := []struct {
		name   string
		orphan bool   // a lookup without its contact before A starts
		op     string // A's call B goes before
	}{
		{"a slow claimer and an adopter", false, ddbPut}, // A: claim (1), contact (2)
		{"two adopters", true, ddbTransact},              // A: resolve, then the adopting transaction (1)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			faults := awsx.NewFaults()
			a := newAPI(t, withFaults(faults))
			b := newAPIOn(t, a.env, a.clock) // writer B: another instance, its calls not hooked
			c := a.tenant("writers@example.com")
			const email = "ada@example.com"
			if tc.orphan {
				c.plantOrphan(email, ids.New(ids.Contact, a.clock.Now()))
			}
			n := map[string]int{ddbPut: 2, ddbTransact: 1}[tc.op]
			var fromB hooked
			faults.Before(tc.op, func(k int) {
				if k == n {
					fromB.add(upsertFrom(b, c.key, map[string]any{"email": email, "lastName": "Lovelace"}))
				}
			})
			r := c.call("POST", "/api/contacts/batch", map[string]any{"contacts": []any{map[string]any{"email": email, "firstName": "Ada"}}})
			require.Equal(t, http.StatusOK, r.Status, string(r.Body))
			fromA := batchItems(r.JSON(t))
			gotB, err := fromB.get()
			require.NoError(t, err)
			require.Len(t, gotB, 1, "B went in between")
			require.Len(t, fromA, 1)

			assert.Equal(t, "created", gotB[0].Status, "B got there first")
			assert.Equal(t, "updated", fromA[0].Status, "A updates what B created")
			assert.Equal(t, gotB[0].ID, fromA[0].ID)
			contact := c.call("GET", "/api/contacts/"+fromA[0].ID, nil).JSON(t)
			assert.Equal(t, "Ada", contact["firstName"], "A's change")
			assert.Equal(t, "Lovelace", contact["lastName"], "B's change")
			assert.Equal(t, 2, c.storedVersion(fromA[0].ID), "created at 1, updated to 2")
			assert.Equal(t, []string{email}, c.ids("/api/contacts"), "one contact")
			assert.Equal(t, fromA[0].ID, c.lookupOf(email))
		})
	}
}

// createdOnce checks the outcome of overlapping batch upserts: every item
// created or updated (none an error), each email created exactly once, and
// the tenant's contacts exactly the emails sent, each once.
func createdOnce(t *testing.T, c *tenantAPI, emails []string, results ...[]batchItem) {
	t.Helper()
	created := map[string]int{}
	for _, items := range results {
		for _, it := range items {
			assert.Contains(t, []string{"created", "updated"}, it.Status, "%s: %+v", it.Email, it)
			if it.Status == "created" {
				created[it.Email]++
			}
		}
	}
	for _, e := range emails {
		assert.Equal(t, 1, created[e], "%s created exactly once", e)
	}
	listed := c.ids("/api/contacts?limit=100")
	slices.Sort(listed)
	want := slices.Clone(emails)
	slices.Sort(want)
	assert.Equal(t, want, listed, "each email is one contact")
}

func upsertBody(emails []string, name string) []map[string]any {
	out := make([]map[string]any, len(emails))
	for i, e := range emails {
		out[i] = map[string]any{"email": e, "firstName": name, "tags": []string{name}}
	}
	return out
}

func emailsFrom(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d@example.com", prefix, i))
	}
	return out
}

// Two batch upserts of overlapping new emails create each email once, and
// every item reports created or updated. First with B run whole between
// A's read of the lookups and A's first claim (a fault hook), so A loses
// every overlapping claim; then with the two running freely at once.
func TestConcurrentBatchUpsertsCreateEachEmailOnce(t *testing.T) {
	t.Run("B between A's read and A's claims", func(t *testing.T) {
		faults := awsx.NewFaults()
		a := newAPI(t, withFaults(faults))
		b := newAPIOn(t, a.env, a.clock)
		c := a.tenant("batches@example.com")
		emailsA, emailsB := emailsFrom("p", 0, 6), emailsFrom("p", 3, 9)
		var fromB hooked
		faults.Before(ddbPut, func(k int) {
			if k == 1 {
				fromB.add(upsertFrom(b, c.key, upsertBody(emailsB, "b")...))
			}
		})
		r := c.call("POST", "/api/contacts/batch", map[string]any{"contacts": upsertBody(emailsA, "a")})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		fromA := batchItems(r.JSON(t))
		gotB, err := fromB.get()
		require.NoError(t, err)
		require.Len(t, gotB, 6, "B went in between")

		createdOnce(t, c, emailsFrom("p", 0, 9), fromA, gotB)
		statuses := map[string]string{}
		for _, it := range fromA {
			statuses[it.Email] = it.Status
		}
		assert.Equal(t, map[string]string{"p0@example.com": "created", "p1@example.com": "created", "p2@example.com": "created",
			"p3@example.com": "updated", "p4@example.com": "updated", "p5@example.com": "updated"}, statuses, "A lost its claims of B's emails and updated them")
		assert.Equal(t, emailsFrom("p", 0, 6), sorted(c.ids("/api/contacts?tag=a&limit=100")...), "A's update of the overlap is applied: its tags replace B's")
		assert.Equal(t, emailsFrom("p", 6, 9), sorted(c.ids("/api/contacts?tag=b&limit=100")...))
	})

	t.Run("both at once", func(t *testing.T) {
		a := newAPI(t)
		b := newAPIOn(t, a.env, a.clock)
		c := a.tenant("free@example.com")
		var all []string
		var results [][]batchItem
		for round := range 2 { // 90 emails: one page of the list
			prefix := fmt.Sprintf("r%d-", round)
			emailsA, emailsB := emailsFrom(prefix, 0, 30), emailsFrom(prefix, 15, 45)
			var wg sync.WaitGroup
			var gotA, gotB []batchItem
			var errA, errB error
			wg.Go(func() { gotA, errA = upsertFrom(a, c.key, upsertBody(emailsA, "a")...) })
			wg.Go(func() { gotB, errB = upsertFrom(b, c.key, upsertBody(emailsB, "b")...) })
			wg.Wait()
			require.NoError(t, errA)
			require.NoError(t, errB)
			all = append(all, emailsFrom(prefix, 0, 45)...)
			results = append(results, gotA, gotB)
		}
		createdOnce(t, c, all, results...)
	})
}

func sorted(s ...string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// A transaction DynamoDB cancels for TransactionConflict is retried and the
// write succeeds; conflicts that persist answer 409 CONFLICT, with nothing
// written. Throttling on a contact's read that outlasts the SDK's retries
// answers 503 with Retry-After.
func TestContactWritesUnderTransactionConflictsAndThrottling(t *testing.T) {
	faults := awsx.NewFaults()
	a := newAPI(t, withFaults(faults))
	c := a.tenant("conflicts@example.com")

	faults.Reset()
	faults.FailNth(ddbTransact, 1, awsx.TransactionConflict)
	made := c.createContact(map[string]any{"email": "first@example.com", "tags": []string{"x"}})
	id := made["id"].(string)
	assert.Equal(t, 2, faults.Attempts(ddbTransact), "sent again after the conflict")

	faults.Reset()
	faults.FailFrom(ddbTransact, 1, awsx.TransactionConflict)
	r := c.call("POST", "/api/contacts", map[string]any{"email": "second@example.com", "tags": []string{"y"}})
	assert.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "CONFLICT", r.ErrCode(t))
	assert.Equal(t, store.TransactAttempts, faults.Attempts(ddbTransact), "a bounded number of attempts")
	faults.Reset()
	assert.Empty(t, c.lookupOf("second@example.com"), "nothing written: no lookup")
	assert.Equal(t, []string{"first@example.com"}, c.ids("/api/contacts"), "no contact")
	assert.Empty(t, c.ids("/api/contacts?tag=y"), "no tag entry")

	faults.FailNth(ddbTransact, 1, awsx.TransactionConflict)
	r = c.call("PATCH", "/api/contacts/"+id, map[string]any{"firstName": "Once"})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, "Once", r.JSON(t)["firstName"])

	faults.Reset()
	faults.FailFrom(ddbTransact, 1, awsx.TransactionConflict)
	r = c.call("PATCH", "/api/contacts/"+id, map[string]any{"email": "moved@example.com", "tags": []string{"z"}, "firstName": "Twice"})
	assert.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "CONFLICT", r.ErrCode(t))
	faults.Reset()
	got := c.call("GET", "/api/contacts/"+id, nil).JSON(t)
	assert.Equal(t, "Once", got["firstName"], "nothing written")
	assert.Equal(t, "first@example.com", got["email"])
	assert.Empty(t, c.lookupOf("moved@example.com"))
	assert.Equal(t, id, c.lookupOf("first@example.com"))
	assert.Empty(t, c.ids("/api/contacts?tag=z"))
	assert.Equal(t, []string{"first@example.com"}, c.ids("/api/contacts?tag=x"))

	faults.Reset()
	faults.FailFrom(ddbGet, 1, awsx.Throttling)
	r = c.call("GET", "/api/contacts/"+id, nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.Status, string(r.Body))
	assert.Equal(t, "SERVICE_UNAVAILABLE", r.ErrCode(t))
	assert.Equal(t, "1", r.Header.Get("Retry-After"))
	assert.Equal(t, 3, faults.Attempts(ddbGet), "the SDK's attempts, then the answer")
}

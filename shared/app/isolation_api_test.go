package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every contact, event and import route, called with another tenant's ids,
// answers 404 and changes nothing.
func TestAnotherTenantsIDsAnswer404(t *testing.T) {
	a := newAPI(t)
	alice, mallory := a.tenant("alice@example.com"), a.tenant("mallory@example.com")
	contact := alice.createContact(map[string]any{"email": "secret@example.com", "tags": []string{"vip"}})
	id := contact["id"].(string)
	require.Equal(t, http.StatusAccepted, alice.call("POST", "/api/events", map[string]any{"name": "paid", "contactId": id}).Status)
	imp := alice.call("POST", "/api/contacts/imports", nil).JSON(t)
	impID := imp["id"].(string)
	before := alice.call("GET", "/api/contacts/"+id, nil).JSON(t)

	sweep := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/contacts/" + id, nil},
		{"PATCH", "/api/contacts/" + id, map[string]any{"firstName": "Pwned", "subscribed": false}},
		{"DELETE", "/api/contacts/" + id, nil},
		{"GET", "/api/contacts/" + id + "/events", nil},
		{"POST", "/api/events", map[string]any{"name": "forged", "contactId": id}},
		{"GET", "/api/contacts/imports/" + impID, nil},
	}
	for _, s := range sweep {
		r := mallory.call(s.method, s.path, s.body)
		assert.Equal(t, http.StatusNotFound, r.Status, "%s %s", s.method, s.path)
		assert.NotContains(t, string(r.Body), "secret@example.com")
	}
	// Lists and batches are scoped: mallory's batch upsert of the same email makes her own contact.
	assert.Empty(t, mallory.ids("/api/contacts"))
	assert.Empty(t, mallory.ids("/api/contacts?tag=vip"))
	assert.Empty(t, mallory.ids("/api/contacts?email=secret"))
	r := mallory.call("POST", "/api/contacts/batch", map[string]any{"contacts": []any{map[string]any{"email": "secret@example.com", "firstName": "Pwned"}}})
	assert.Equal(t, "created", r.JSON(t)["data"].([]any)[0].(map[string]any)["status"])

	assert.Equal(t, before, alice.call("GET", "/api/contacts/"+id, nil).JSON(t), "nothing changed")
	events := alice.call("GET", "/api/contacts/"+id+"/events", nil).JSON(t)["data"].([]any)
	assert.Len(t, events, 1, "no forged event")
	assert.Equal(t, "pending", alice.call("GET", "/api/contacts/imports/"+impID, nil).JSON(t)["status"])
}

// AWS call budgets of the contacts routes, each plus the rate-limit UpdateItem.
func TestCostOfContactRoutes(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("budget@example.com")
	c.call("GET", "/api/contacts", nil) // warm the key cache
	count := c.callCost
	created := count("POST", "/api/contacts", map[string]any{"email": "c@example.com", "tags": []string{"a", "b"}})
	assert.Equal(t, map[string]int{"DynamoDB.TransactWriteItems": 1}, created, "create: one transactional write")

	id := c.call("GET", "/api/contacts", nil).JSON(t)["data"].([]any)[0].(map[string]any)["id"].(string)
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, count("GET", "/api/contacts/"+id, nil), "get: one read")
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/contacts", nil), "list: one Query")
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/contacts?subscribed=true", nil))
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/contacts?email=c", nil))
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1, "DynamoDB.BatchGetItem": 1}, count("GET", "/api/contacts?tag=a", nil))

	// Issue 6: the email's lookup alone cannot tell a contact from an
	// orphaned lookup (a batch writer that died between its claim and its
	// contact), which must not collect events; so the contact is read too.
	// A second eventually consistent read is a fifth of a write's price:
	// cheaper than a transaction conditioning the event on the contact.
	known := count("POST", "/api/events", map[string]any{"name": "x", "email": "c@example.com"})
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 2, "DynamoDB.PutItem": 1}, known, "event ingest by email: the lookup, the contact and one write")
	byID := count("POST", "/api/events", map[string]any{"name": "x", "contactId": id})
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.PutItem": 1}, byID)
	fresh := count("POST", "/api/events", map[string]any{"name": "x", "email": "new@example.com"})
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.PutItem": 1, "DynamoDB.TransactWriteItems": 1}, fresh, "plus the contact's creation")

	// Issue 6: a delete is a read and one transaction whatever the number of
	// the contact's events, which are purged afterwards, off the stream.
	c.call("POST", "/api/events", map[string]any{"name": "x", "contactId": id})
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.TransactWriteItems": 1}, count("DELETE", "/api/contacts/"+id, nil), "delete: a read and one transaction, no Query")
}

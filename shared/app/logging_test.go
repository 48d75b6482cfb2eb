package app_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/logx"
	"github.com/sendwell/sendwell/shared/testenv"
)

// Every log line of a request names its request id and tenant, and no
// credential ever reaches the logs.
func TestRequestLogsCarryRequestAndTenantIDsButNoSecrets(t *testing.T) {
	a := newAPI(t)
	s := a.signup("logs@example.com")
	_, key := a.newKey(s, "k")

	buf := &testenv.Buffer{}
	slog.SetDefault(logx.NewJSON(buf, slog.LevelDebug))
	t.Cleanup(func() { slog.SetDefault(logx.NewJSON(io.Discard, slog.LevelInfo)) })

	r := a.do("GET", "/api/contacts", nil, bearer(key)...)
	require.Equal(t, http.StatusOK, r.Status)
	a.do("POST", "/api/auth/login", map[string]string{"email": "logs@example.com", "password": "correct horse battery"})

	logged := buf.String()
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(logged, "\n", 2)[0]), &line))
	assert.Equal(t, r.Header.Get("X-Request-Id"), line["apiRequestId"])
	assert.Equal(t, s.OrgID, line["tenantId"])
	assert.NotContains(t, logged, key)
	assert.NotContains(t, logged, s.Token)
	assert.NotContains(t, logged, "correct horse battery")
}

// Error paths log their cause, but never an email address or other contact
// data: DynamoDB fails every call of a contact route here (after the SDK's
// retries), and the logs are searched for what the requests carried.
func TestErrorLogsCarryNoContactData(t *testing.T) {
	faults := awsx.NewFaults()
	a := newAPI(t, withFaults(faults))
	c := a.tenant("owner@example.com")
	made := c.createContact(map[string]any{"email": "kept@example.com"})

	buf := &testenv.Buffer{}
	slog.SetDefault(logx.NewJSON(buf, slog.LevelDebug))
	t.Cleanup(func() { slog.SetDefault(logx.NewJSON(io.Discard, slog.LevelInfo)) })

	for _, op := range []string{"GetItem", "Query", "TransactWriteItems", "PutItem", "BatchGetItem", "BatchWriteItem", "DeleteItem"} {
		faults.FailFrom("DynamoDB."+op, 1, awsx.InternalServerError)
	}
	secret := "victim.secret@example.com"
	calls := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/contacts", map[string]any{"email": secret, "firstName": "Vera", "properties": map[string]any{"phone": "+44 7700 900123"}}},
		{"POST", "/api/events", map[string]any{"name": "paid", "email": secret}},
		{"POST", "/api/contacts/batch", map[string]any{"contacts": []any{map[string]any{"email": secret, "firstName": "Vera"}}}},
		{"GET", "/api/contacts?email=victim.secret", nil},
		{"PATCH", "/api/contacts/" + made["id"].(string), map[string]any{"email": secret}},
		{"GET", "/api/contacts/" + made["id"].(string), nil},
	}
	for _, call := range calls {
		r := c.call(call.method, call.path, call.body)
		failed := r.Status >= 500 || strings.Contains(string(r.Body), `"status":"error"`) // a batch answers per item
		assert.True(t, failed, "%s %s fails: %d %s", call.method, call.path, r.Status, r.Body)
	}
	logged := buf.String()
	require.Contains(t, logged, "InternalServerError", "the cause is logged")
	for _, s := range []string{secret, "victim.secret", "kept@example.com", "Vera", "7700 900123"} {
		assert.NotContains(t, logged, s)
	}
}

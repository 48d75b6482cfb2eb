package app_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/sends"
)

// The suppression list: add (manual), read, list (by reason), remove.
func TestSuppressionLifecycle(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("owner@example.com")

	r := c.call("POST", "/api/suppressions", map[string]any{"email": " Gone@Example.com "})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	added := r.JSON(t)
	assert.Equal(t, map[string]any{"email": "gone@example.com", "reason": "manual", "sendId": nil, "createdAt": t0.Format(time.RFC3339)}, added)

	a.clock.Advance(time.Hour)
	again := c.call("POST", "/api/suppressions", map[string]any{"email": "gone@example.com"})
	assert.Equal(t, http.StatusOK, again.Status, "already there")
	assert.Equal(t, added, again.JSON(t), "unchanged")

	// An entry the workers write (a complaint, with its send).
	bounce := sends.NewSuppression(c.s.OrgID, "bounced@example.com", sends.ReasonComplaint, "msg_01J00000000000000000000000", t0)
	require.NoError(t, a.env.Store.Put(t.Context(), bounce))

	got := c.call("GET", "/api/suppressions/"+url.PathEscape("GONE@example.com"), nil)
	require.Equal(t, http.StatusOK, got.Status, string(got.Body))
	assert.Equal(t, added, got.JSON(t))

	emails := func(path string) []string {
		r := c.call("GET", path, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		out := []string{}
		for _, d := range r.JSON(t)["data"].([]any) {
			out = append(out, d.(map[string]any)["email"].(string))
		}
		return out
	}
	assert.Equal(t, []string{"bounced@example.com", "gone@example.com"}, emails("/api/suppressions"))
	assert.Equal(t, []string{"gone@example.com"}, emails("/api/suppressions?reason=manual"))
	assert.Equal(t, []string{"bounced@example.com"}, emails("/api/suppressions?reason=complaint"))
	assert.Empty(t, emails("/api/suppressions?reason=hard_bounce"))
	page := c.call("GET", "/api/suppressions?limit=1", nil).JSON(t)
	require.NotNil(t, page["nextCursor"])
	assert.Equal(t, []string{"gone@example.com"}, emails("/api/suppressions?limit=1&cursor="+url.QueryEscape(page["nextCursor"].(string))))
	complaint := c.call("GET", "/api/suppressions/bounced@example.com", nil).JSON(t)
	assert.Equal(t, "msg_01J00000000000000000000000", complaint["sendId"])

	assert.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/suppressions/gone@example.com", nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("DELETE", "/api/suppressions/gone@example.com", nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/suppressions/gone@example.com", nil).Status)
	assert.Equal(t, []string{"bounced@example.com"}, emails("/api/suppressions"))

	for _, bad := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/suppressions", map[string]any{"email": "nope"}},
		{"POST", "/api/suppressions", map[string]any{}},
		{"POST", "/api/suppressions", map[string]any{"email": "a@example.com", "reason": "manual"}},
		{"GET", "/api/suppressions?reason=spam", nil},
		{"GET", "/api/suppressions/nope", nil},
		{"DELETE", "/api/suppressions/nope", nil},
	} {
		r := c.call(bad.method, bad.path, bad.body)
		assert.Equal(t, http.StatusBadRequest, r.Status, "%s %s: %s", bad.method, bad.path, r.Body)
		assert.Equal(t, "VALIDATION_ERROR", r.ErrCode(t))
	}
}

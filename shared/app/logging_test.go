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

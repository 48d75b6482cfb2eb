package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/app"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/testenv"
)

// The sample events in events/<function>/ are fed to each function's real
// Lambda entry point, so they never go stale. Their placeholder credentials
// are swapped for real ones made here.
func TestSampleEventsThroughTheLambdaEntryPoints(t *testing.T) {
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

	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(root, c.file))
			require.NoError(t, err)
			var ev events.APIGatewayV2HTTPRequest
			require.NoError(t, json.Unmarshal(raw, &ev))
			if h := ev.Headers["authorization"]; strings.HasPrefix(h, "Bearer sw_live_") {
				ev.Headers["authorization"] = "Bearer " + key
			} else if strings.HasPrefix(h, "Bearer ey") {
				ev.Headers["authorization"] = "Bearer " + s.Token
			}

			function := strings.Split(c.file, "/")[0]
			var h http.Handler = app.Public(clk)
			if function != "public" {
				h, err = deps.Router(function)
				require.NoError(t, err)
			}
			res, err := app.Lambda(h)(t.Context(), ev)
			require.NoError(t, err)
			assert.Equal(t, c.status, res.StatusCode, res.Body)
			assert.Equal(t, ev.RequestContext.RequestID, res.Headers["X-Request-Id"], "API Gateway's request id is ours")
			assert.True(t, json.Valid([]byte(res.Body)), res.Body)
			if c.status >= 400 {
				assert.Contains(t, res.Body, `"error":{"code":`)
			}
		})
	}
}

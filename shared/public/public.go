// Package public is what anyone may call without credentials: health and
// the OpenAPI document. The public function serves it with the links group
// (shared/messages/links: unsubscribe, opens and clicks).
package public

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/openapi"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the public routes as a group, for the public function's main.
var API = platform.API{Name: "public", Routes: func(_ *platform.Deps, rt *httpx.Router) error {
	Routes(rt)
	return nil
}}

// Routes adds the public routes to rt.
func Routes(rt *httpx.Router) {
	rt.Handle("GET /api/health", httpx.Public, func(w http.ResponseWriter, _ *http.Request) error {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	})
	rt.Handle("GET /api/openapi.json", httpx.Public, openapi.Serve)
}

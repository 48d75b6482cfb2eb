// Package public is what anyone may call without credentials: health and
// the OpenAPI document today, the unsubscribe and tracking links later. It
// touches no AWS service, so its function links no AWS SDK client.
package public

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/openapi"
)

// Routes adds the public routes to rt.
func Routes(rt *httpx.Router) {
	rt.Handle("GET /api/health", httpx.Public, func(w http.ResponseWriter, _ *http.Request) error {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	})
	rt.Handle("GET /api/openapi.json", httpx.Public, openapi.Serve)
}

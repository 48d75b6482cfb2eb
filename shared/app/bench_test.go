package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
)

// BenchmarkRequestPath measures what every authenticated request pays
// without I/O: routing, the auth check on a cached key, and the JSON encoding
// of a 20-item page. Reproduce: go test -run '^$' -bench RequestPath -benchmem ./shared/app/
func BenchmarkRequestPath(b *testing.B) {
	a := newAPI(b)
	s := a.signup("bench@example.com")
	_, key := a.newKey(s, "bench")

	page := httpx.Page[contacts.Contact]{Data: make([]contacts.Contact, 20)}
	for i := range page.Data {
		first := "Ada"
		page.Data[i] = contacts.Contact{ID: fmt.Sprintf("cnt_01JBENCH%018d", i), Email: fmt.Sprintf("user%d@example.com", i), FirstName: &first,
			Properties: map[string]any{"plan": "pro", "seats": 12}, Tags: []string{"customer", "beta"}, Subscribed: true,
			CreatedAt: time.Now(), UpdatedAt: time.Now()}
	}
	rt := httpx.NewRouter(map[httpx.Access][]httpx.Middleware{httpx.Tenant: {a.deps.Authn.Middleware}}, a.clock)
	rt.Handle("GET /api/contacts", httpx.Tenant, func(w http.ResponseWriter, r *http.Request) error {
		httpx.WriteJSON(w, http.StatusOK, page)
		return nil
	})
	req := httptest.NewRequest("GET", "/api/contacts?limit=20", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	warm := httptest.NewRecorder()
	rt.ServeHTTP(warm, req) // caches the key: the loop below does no I/O
	require.Equal(b, http.StatusOK, warm.Code)
	a.env.Counter.Reset()

	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
	b.StopTimer()
	if n := len(a.env.Counter.Snapshot()); n != 0 {
		b.Fatalf("the request path made AWS calls: %v", a.env.Counter.Snapshot())
	}
}

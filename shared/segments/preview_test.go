package segments_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/segments"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
	"github.com/sendwell/sendwell/shared/tracking"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// audience is a tenant of n contacts, written as the contacts and tracking
// groups store them: contact i has property n = i, the tag "vip" when i is
// even, and, when i is a multiple of 10, two order.completed events (totals
// i and 2i) a day and 40 days ago.
type audience struct {
	env *testenv.Env
	org string
	svc *segments.Service
}

func newAudience(tb testing.TB, n int) *audience {
	tb.Helper()
	env := testenv.New(tb)
	a := &audience{env: env, org: ids.New(ids.Org, t0), svc: segments.NewService(env.Store, clock.NewFake(t0))}
	var items []any
	for i := range n {
		id := fmt.Sprintf("cnt_%08d", i)
		c := contacts.Item{Key: store.ContactKey(a.org, id), Type: contacts.ItemType, OrgID: a.org, ID: id,
			Email: id + "@example.com", Properties: map[string]any{"n": i}, Subscribed: true, CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0, Version: 1}
		c.GSI1PK, c.GSI1SK = store.SubscribedPK(a.org, true), store.ContactSK(id)
		c.GSI2PK, c.GSI2SK = store.EmailIndexPK(a.org), c.Email
		if i%2 == 0 {
			c.Tags = []string{"vip"}
		}
		items = append(items, c)
		if i%10 == 0 {
			for k, ago := range []time.Duration{24 * time.Hour, 40 * 24 * time.Hour} {
				at := t0.Add(-ago)
				e := &tracking.Item{OrgID: a.org, ID: "evt_" + ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), ContactID: id,
					Name: "order.completed", Properties: map[string]any{"total": i * (k + 1)}, Timestamp: at, TTL: at.Add(tracking.DefaultRetention).Unix()}
				e.SetKeys()
				items = append(items, e)
			}
		}
	}
	// Written by 4 writers at once, 25 items a call.
	var wg sync.WaitGroup
	failed := make([]error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w * 25; i < len(items); i += 100 {
				if err := env.Store.PutAll(context.Background(), items[i:min(i+25, len(items))]); err != nil {
					failed[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range failed {
		require.NoError(tb, err)
	}
	count := store.ContactCountKey(a.org)
	require.NoError(tb, env.Store.Put(context.Background(), map[string]any{"PK": count.PK, "SK": count.SK, "contacts": n}))
	env.Counter.Reset()
	return a
}

func (a *audience) preview(tb testing.TB, def string) segments.Preview {
	tb.Helper()
	p, err := a.svc.Preview(context.Background(), a.org, segments.PreviewRequest{Definition: json.RawMessage(def)})
	require.NoError(tb, err)
	return p
}

// The definitions timed and counted: a property, an event window, and
// both nested with a where clause.
var previewCases = []struct{ name, def string }{
	{"property", `{"property":"n","operator":"lt","value":%d}`},
	{"event", `{"event":"order.completed","count":{"gte":1},"within":"P30D"}`},
	{"nested", `{"all":[{"tag":"vip"},{"any":[{"event":"order.completed","count":{"gte":2},"where":[{"property":"total","operator":"gt","value":%d}]},{"property":"n","operator":"lt","value":10}]}]}`},
}

// want is each case's exact count over n contacts, by brute force.
func want(n int) map[string]int {
	out := map[string]int{}
	for i := range n {
		if i < n/2 {
			out["property"]++
		}
		if i%10 == 0 {
			out["event"]++ // the event a day ago; the other is 40 days old
		}
		// vip (even), and either both events over n/2 (i and 2i > n/2:
		// i > n/2) or n < 10.
		if i%2 == 0 && ((i%10 == 0 && i > n/2) || i < 10) {
			out["nested"]++
		}
	}
	return out
}

// def is a case's definition over n contacts (its %d: n/2).
func def(format string, n int) string {
	if !strings.Contains(format, "%d") {
		return format
	}
	return fmt.Sprintf(format, n/2)
}

// A preview is exact, and what it costs does not grow with the contacts
// that have events: a Query per 1,000 contacts, the counter, and one Query
// per shard of each event name counted (its events fit a page here).
func TestPreviewIsExactAndItsCallsAreBounded(t *testing.T) {
	for _, n := range []int{300, 1200} {
		a := newAudience(t, n)
		exact := want(n)
		for _, c := range previewCases {
			a.env.Counter.Reset()
			p := a.preview(t, def(c.def, n))
			assert.Equal(t, exact[c.name], p.Count, "%s over %d contacts", c.name, n)
			assert.Len(t, p.Sample, min(exact[c.name], segments.PreviewSample), c.name)
			pages := (n + 999) / 1000
			calls := map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.Query": pages}
			if c.name != "property" {
				calls["DynamoDB.Query"] += store.EventNameShards
			}
			assert.Equal(t, calls, a.env.Counter.Snapshot(), "%s over %d contacts", c.name, n)
		}
	}
}

// BenchmarkPreview times previews over PREVIEW_CONTACTS contacts (100,000:
// the most a preview evaluates) against moto, a tenth of them with events.
//
//	make bench-preview
func BenchmarkPreview(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("PREVIEW_CONTACTS")); err == nil && v > 0 {
		n = v
	}
	loaded := time.Now()
	a := newAudience(b, n)
	fmt.Fprintf(os.Stderr, "loaded %d contacts and %d events in %s\n", n, 2*((n+9)/10), time.Since(loaded).Round(time.Second))
	exact := want(n)
	for b.Loop() {
		for _, c := range previewCases {
			start := time.Now()
			p := a.preview(b, def(c.def, n))
			took := time.Since(start)
			require.Equal(b, exact[c.name], p.Count, c.name)
			b.ReportMetric(took.Seconds(), c.name+"-s")
			fmt.Fprintf(os.Stderr, "preview (%s) over %d contacts: %s, count %d\n", c.name, n, took.Round(time.Millisecond), p.Count)
		}
	}
}

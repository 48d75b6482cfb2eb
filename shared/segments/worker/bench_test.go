package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/segments/rules"
)

// benchIDs are the benchmark's segment ids.
var benchIDs [200]string

// benchTenant is 200 segments of the shapes tenants write: property
// conditions, tags, event windows with where clauses, nested groups and
// references to other segments.
func benchTenant(tb testing.TB) *tenant {
	items := make([]segmentItem, 0, 200)
	for i := range 200 {
		benchIDs[i] = fmt.Sprintf("seg_%026d", i)
	}
	for i := range 200 {
		var def string
		switch i % 5 {
		case 0:
			def = fmt.Sprintf(`{"all":[{"property":"plan","operator":"eq","value":"p%d"},{"tag":"t%d"}]}`, i%7, i%11)
		case 1:
			def = fmt.Sprintf(`{"any":[{"property":"seats","operator":"gt","value":%d},{"property":"country","operator":"in","value":["fr","de","c%d"]}]}`, i, i)
		case 2:
			def = fmt.Sprintf(`{"all":[{"event":"order.completed","count":{"gte":%d},"within":"P30D","where":[{"property":"total","operator":"gt","value":%d}]},{"not":{"tag":"churned"}}]}`, 1+i%3, i)
		case 3:
			def = fmt.Sprintf(`{"all":[{"property":"createdAt","operator":"after","value":{"ago":"P%dD"}},{"property":"email","operator":"endsWith","value":"@example.com"},{"segment":"%s"}]}`, 1+i%30, benchIDs[i-3])
		case 4:
			def = fmt.Sprintf(`{"any":[{"all":[{"property":"plan","operator":"neq","value":"free"},{"event":"login","within":"PT%dH"}]},{"property":"name","operator":"startsWith","value":"A%d"}]}`, 1+i%48, i)
		}
		items = append(items, segmentItem{ID: benchIDs[i], Version: 1, Status: StatusReady, Definition: def})
	}
	t, problems := newTenant(1, items)
	require.Empty(tb, problems)
	require.Len(tb, t.segs, 200)
	return t
}

// BenchmarkChange200 is the CPU of one contact change against a tenant of
// 200 segments, without I/O: the index lookup (a created contact: every
// segment) and the evaluation with its counters, memberships and plan.
func BenchmarkChange200(b *testing.B) {
	t := benchTenant(b)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	props := map[string]any{"plan": "p3", "seats": 12.0, "country": "fr", "name": "Ada"}
	cur := &contactData{ID: "cnt_1", Email: "ada@example.com", Properties: props, Tags: []string{"t3", "vip"}, Subscribed: true, CreatedAt: now.Add(-48 * time.Hour)}
	events := map[string][]time.Time{}
	for _, cs := range t.counters {
		for _, c := range cs {
			for j := range 20 {
				events[c.Key] = append(events[c.Key], now.Add(-time.Duration(j)*36*time.Hour))
			}
		}
	}
	members := map[string]time.Time{benchIDs[0]: now, benchIDs[5]: now, benchIDs[17]: now}
	facts := rules.Facts{Contact: rules.Contact{ID: cur.ID, Email: cur.Email, Subscribed: true, CreatedAt: cur.CreatedAt, Properties: props, Tags: cur.Tags}, Events: events}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		segs := t.forContactChange(nil, cur) // worst case: all 200
		_ = counterKeys(segs)
		if planEvaluation(t, cur.ID, segs, facts, members, nil, now) == nil {
			b.Fatal("a new contact's evaluation writes")
		}
	}
}

// The index picks only the segments a change can affect.
func TestIndexPicksAffectedSegments(t *testing.T) {
	tn := benchTenant(t)
	cur := &contactData{ID: "cnt_1", Properties: map[string]any{"plan": "p3"}}
	old := &contactData{ID: "cnt_1", Properties: map[string]any{"plan": "p2"}}
	segs := tn.forContactChange(old, cur)
	// plan: i%5 == 0 (40) and i%5 == 4 (40), and the segments referencing them (i%5 == 3 references i-3: i-3 ≡ 0 mod 5).
	require.Len(t, segs, 120)
	seen := map[string]bool{}
	for _, s := range segs {
		for _, ref := range s.Deps.Segments {
			if tn.segs[ref] != nil && !seen[ref] && containsSeg(segs, ref) {
				t.Fatalf("%s evaluated before %s, which it references", s.ID, ref)
			}
		}
		seen[s.ID] = true
	}
	require.Len(t, tn.forEvent("login"), 40)
	require.Empty(t, tn.forContactChange(&contactData{ID: "cnt_1", Properties: map[string]any{"shoe": 1}}, &contactData{ID: "cnt_1"}))
}

func containsSeg(segs []*segment, id string) bool {
	for _, s := range segs {
		if s.ID == id {
			return true
		}
	}
	return false
}

package rules

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// benchRules is 200 varied rules (the property test's generator, fixed
// seed, at least two conditions each) and one contact's facts: events in
// every counter, sends, memberships.
func benchRules(tb testing.TB) ([]*Rule, Facts) {
	tb.Helper()
	r := rand.New(rand.NewPCG(200, 1))
	var rules []*Rule
	for len(rules) < 200 {
		kids := []any{randDef(r, 1), randDef(r, 1), randDef(r, 1)}
		raw, _ := json.Marshal(map[string]any{pick(r, []string{"all", "any"}): kids})
		rule, err := Parse(raw)
		if err != nil {
			tb.Fatal(err)
		}
		rules = append(rules, rule)
	}
	w := randWorld(r)
	for len(w.events) < 30 {
		w.events = append(w.events, rawEvent{name: pick(r, eventNames), at: randTime(r), props: map[string]any{"total": float64(r.IntN(200)), "currency": "EUR"}})
	}
	f := Facts{Contact: w.contact, Events: map[string][]time.Time{}, Segments: w.segs, Sends: w.sends}
	for _, rule := range rules {
		for _, c := range rule.Deps().Counters {
			if _, done := f.Events[c.Key]; done {
				continue
			}
			for _, e := range w.events {
				if e.name == c.Event && c.Matches(e.props) {
					f.Events[c.Key] = append(f.Events[c.Key], e.at)
				}
			}
		}
	}
	return rules, f
}

// BenchmarkEval200 evaluates one contact against 200 segments: one op is
// the whole change's evaluation (the worker's bar is 1 ms of CPU).
func BenchmarkEval200(b *testing.B) {
	rs, f := benchRules(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rs {
			r.Eval(f, now)
		}
	}
}

package rules

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/ids"
)

// The property-based test: random definitions over random contacts, raw
// events and sends, checked against a brute-force evaluator written here
// from the language's description, at every time a window edge is crossed;
// and next is never late: the reference result holds until next.

var (
	base      = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	windows   = []string{"PT30M", "PT6H", "P1D", "P7D", "P30D", "P1DT12H"}
	windowDur = map[string]time.Duration{"PT30M": 30 * time.Minute, "PT6H": 6 * time.Hour, "P1D": 24 * time.Hour,
		"P7D": 7 * 24 * time.Hour, "P30D": 30 * 24 * time.Hour, "P1DT12H": 36 * time.Hour}
	propKeys   = []string{"plan", "seats", "score", "renewsAt", "beta", "labels"}
	strPool    = []string{"pro", "free", "team", "pr", "o", "2025-05-20T10:00:00Z"}
	numPool    = []float64{0, 1, 2, 5, 10, 2.5}
	tagPool    = []string{"vip", "beta", "churned"}
	eventNames = []string{"order.completed", "page:view", "signup"}
	templates  = []string{"welcome", "receipt"}
	emailPool  = []string{"ada@example.com", "grace@example.org", "x@y.io"}
	segIDs     = []string{ids.New("seg", base), ids.New("seg", base.Add(time.Second)), ids.New("seg", base.Add(2*time.Second))}
	allOps     = []string{"eq", "neq", "in", "notIn", "contains", "startsWith", "endsWith", "exists", "notExists", "gt", "gte", "lt", "lte", "before", "after"}
)

type rawEvent struct {
	name  string
	at    time.Time
	props map[string]any
}

type world struct {
	contact Contact
	events  []rawEvent
	sends   []Send
	segs    map[string]bool
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// randTime is base ± 40 days, on whole seconds.
func randTime(r *rand.Rand) time.Time {
	return base.Add(time.Duration(r.IntN(80*24*3600)-40*24*3600) * time.Second)
}

func randScalar(r *rand.Rand) any {
	switch r.IntN(4) {
	case 0:
		return pick(r, strPool)
	case 1:
		return pick(r, numPool)
	case 2:
		return r.IntN(2) == 0
	}
	return randTime(r).Format(time.RFC3339)
}

func randWorld(r *rand.Rand) *world {
	w := &world{segs: map[string]bool{}}
	c := Contact{ID: "cnt_1", Email: pick(r, emailPool), Subscribed: r.IntN(2) == 0, CreatedAt: randTime(r), Properties: map[string]any{}}
	if r.IntN(2) == 0 {
		n := pick(r, strPool)
		c.FirstName = &n
	}
	if r.IntN(3) == 0 {
		n := pick(r, strPool)
		c.LastName = &n
	}
	for _, k := range propKeys {
		switch r.IntN(5) {
		case 0: // missing
		case 1:
			c.Properties[k] = []any{randScalar(r), randScalar(r)}
		default:
			c.Properties[k] = randScalar(r)
		}
	}
	for _, t := range tagPool {
		if r.IntN(2) == 0 {
			c.Tags = append(c.Tags, t)
		}
	}
	w.contact = c
	for range r.IntN(10) {
		props := map[string]any{}
		if r.IntN(4) > 0 {
			props["total"] = float64(r.IntN(200))
		}
		if r.IntN(2) == 0 {
			props["currency"] = pick(r, []string{"EUR", "USD"})
		}
		w.events = append(w.events, rawEvent{name: pick(r, eventNames), at: randTime(r), props: props})
	}
	for range r.IntN(4) {
		w.sends = append(w.sends, Send{TemplateID: pick(r, templates), Delivered: r.IntN(2) == 0, Opened: r.IntN(2) == 0,
			Clicked: r.IntN(3) == 0, Bounced: r.IntN(4) == 0, At: randTime(r)})
	}
	for _, id := range segIDs {
		w.segs[id] = r.IntN(2) == 0
	}
	return w
}

// facts builds what the worker would give Eval: the events through the
// rule's counters (not the reference's own where matching).
func (w *world) facts(rule *Rule) Facts {
	f := Facts{Contact: w.contact, Events: map[string][]time.Time{}, Segments: w.segs, Sends: w.sends}
	for _, c := range rule.Deps().Counters {
		for _, e := range w.events {
			if e.name == c.Event && c.Matches(e.props) {
				f.Events[c.Key] = append(f.Events[c.Key], e.at)
			}
		}
	}
	return f
}

// randDef makes a random valid definition; depth counts its groups.
func randDef(r *rand.Rand, depth int) map[string]any {
	if depth < MaxDepth && r.IntN(3) == 0 {
		switch r.IntN(3) {
		case 0:
			return map[string]any{"not": randDef(r, depth+1)}
		default:
			kids := make([]any, 1+r.IntN(3))
			for i := range kids {
				kids[i] = randDef(r, depth+1)
			}
			return map[string]any{pick(r, []string{"all", "any"}): kids}
		}
	}
	switch r.IntN(6) {
	case 0, 1:
		return randProp(r, append([]string{"email", "firstName", "lastName", "subscribed", "createdAt"}, propKeys...), false)
	case 2:
		d := map[string]any{"tag": pick(r, tagPool)}
		if r.IntN(2) == 0 {
			d["has"] = r.IntN(2) == 0
		}
		return d
	case 3:
		d := map[string]any{"event": pick(r, eventNames)}
		if r.IntN(3) > 0 {
			d["count"] = map[string]any{pick(r, []string{"eq", "neq", "gt", "gte", "lt", "lte"}): r.IntN(4)}
		}
		if r.IntN(4) > 0 {
			d["within"] = pick(r, windows)
		}
		if r.IntN(2) == 0 {
			where := make([]any, 1+r.IntN(2))
			for i := range where {
				where[i] = randProp(r, []string{"total", "currency"}, true)
			}
			d["where"] = where
		}
		return d
	case 4:
		return map[string]any{"segment": pick(r, segIDs)}
	}
	d := map[string]any{"email": pick(r, []string{"delivered", "opened", "clicked", "bounced"})}
	if r.IntN(4) > 0 {
		d["within"] = pick(r, windows)
	}
	if r.IntN(2) == 0 {
		d["template"] = pick(r, templates)
	}
	return d
}

func randProp(r *rand.Rand, names []string, inWhere bool) map[string]any {
	name := pick(r, names)
	var op string
	for {
		op = pick(r, allOps)
		ok := true
		switch name {
		case "email", "firstName", "lastName":
			ok = slices.Index(allOps, op) <= slices.Index(allOps, "notExists")
		case "subscribed":
			ok = op == "eq" || op == "neq" || op == "exists" || op == "notExists"
		case "createdAt":
			ok = slices.Index(allOps, op) >= slices.Index(allOps, "exists")
		}
		if inWhere && (op == "before" || op == "after") {
			ok = false
		}
		if ok {
			break
		}
	}
	d := map[string]any{"property": name, "operator": op}
	scalar := func() any {
		switch name {
		case "subscribed":
			return r.IntN(2) == 0
		case "email":
			return pick(r, emailPool)
		case "firstName", "lastName", "currency":
			return pick(r, append(strPool, "EUR", "USD"))
		case "total":
			return float64(r.IntN(200))
		}
		return randScalar(r)
	}
	switch op {
	case "eq", "neq":
		d["value"] = scalar()
	case "in", "notIn":
		list := make([]any, 1+r.IntN(3))
		for i := range list {
			list[i] = scalar()
		}
		d["value"] = list
	case "contains", "startsWith", "endsWith":
		d["value"] = pick(r, []string{"pro", "p", "o", "EU", "example", "2025"})
	case "gt", "gte", "lt", "lte":
		if name == "createdAt" || (name != "total" && r.IntN(2) == 0) {
			d["value"] = randTime(r).Format(time.RFC3339)
		} else {
			d["value"] = pick(r, append(numPool, 100))
		}
	case "before", "after":
		d["value"] = map[string]any{"ago": pick(r, windows)}
	}
	return d
}

// ref is the brute-force evaluator: the language as issue 9 describes it,
// over the raw facts.
func ref(d map[string]any, w *world, now time.Time) bool {
	if kids, ok := d["all"].([]any); ok {
		for _, k := range kids {
			if !ref(k.(map[string]any), w, now) {
				return false
			}
		}
		return true
	}
	if kids, ok := d["any"].([]any); ok {
		for _, k := range kids {
			if ref(k.(map[string]any), w, now) {
				return true
			}
		}
		return false
	}
	if k, ok := d["not"].(map[string]any); ok {
		return !ref(k, w, now)
	}
	if name, ok := d["property"].(string); ok {
		var pv any
		switch name {
		case "email":
			pv = w.contact.Email
		case "firstName":
			if w.contact.FirstName != nil {
				pv = *w.contact.FirstName
			}
		case "lastName":
			if w.contact.LastName != nil {
				pv = *w.contact.LastName
			}
		case "subscribed":
			pv = w.contact.Subscribed
		case "createdAt":
			pv = w.contact.CreatedAt
		default:
			pv = w.contact.Properties[name]
		}
		return refProp(d["operator"].(string), d["value"], pv, now)
	}
	if tag, ok := d["tag"].(string); ok {
		has := true
		if h, ok := d["has"].(bool); ok {
			has = h
		}
		return slices.Contains(w.contact.Tags, tag) == has
	}
	if name, ok := d["event"].(string); ok {
		n := 0
	events:
		for _, e := range w.events {
			if e.name != name {
				continue
			}
			if win, ok := d["within"].(string); ok && !e.at.Add(windowDur[win]).After(now) {
				continue
			}
			if where, ok := d["where"].([]any); ok {
				for _, c := range where {
					c := c.(map[string]any)
					if !refProp(c["operator"].(string), c["value"], e.props[c["property"].(string)], now) {
						continue events
					}
				}
			}
			n++
		}
		op, want := "gte", 1
		for k, v := range asMap(d["count"]) {
			op, want = k, v.(int)
		}
		return cmpRef(op, float64(n), float64(want))
	}
	if id, ok := d["segment"].(string); ok {
		return w.segs[id]
	}
	kind := d["email"].(string)
	for _, s := range w.sends {
		if tpl, ok := d["template"].(string); ok && s.TemplateID != tpl {
			continue
		}
		flag := map[string]bool{"delivered": s.Delivered, "opened": s.Opened, "clicked": s.Clicked, "bounced": s.Bounced}[kind]
		if !flag {
			continue
		}
		if win, ok := d["within"].(string); ok && !s.At.Add(windowDur[win]).After(now) {
			continue
		}
		return true
	}
	return false
}

func asMap(x any) map[string]any {
	m, _ := x.(map[string]any)
	return m
}

func cmpRef(op string, a, b float64) bool {
	switch op {
	case "eq":
		return a == b
	case "neq":
		return a != b
	case "gt":
		return a > b
	case "gte":
		return a >= b
	case "lt":
		return a < b
	case "lte":
		return a <= b
	}
	panic(op)
}

func refTime(x any) (time.Time, bool) {
	switch x := x.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := time.Parse(time.RFC3339, x)
		return t, err == nil
	}
	return time.Time{}, false
}

// refProp: missing (nil) satisfies only notExists, neq and notIn; a list
// satisfies eq / in / contains / startsWith / endsWith through an element.
func refProp(op string, want, pv any, now time.Time) bool {
	same := func(a, b any) bool {
		switch a := a.(type) {
		case string, bool, float64:
			return a == b
		}
		return false
	}
	anyOf := func(f func(any) bool) bool {
		if list, ok := pv.([]any); ok {
			return slices.ContainsFunc(list, f)
		}
		return f(pv)
	}
	switch op {
	case "exists":
		return pv != nil
	case "notExists":
		return pv == nil
	case "eq":
		return anyOf(func(x any) bool { return same(x, want) })
	case "neq":
		return !refProp("eq", want, pv, now)
	case "in":
		return anyOf(func(x any) bool { return slices.ContainsFunc(want.([]any), func(v any) bool { return same(x, v) }) })
	case "notIn":
		return !refProp("in", want, pv, now)
	case "contains":
		if s, ok := pv.(string); ok {
			return strings.Contains(s, want.(string))
		}
		return anyOf(func(x any) bool { return same(x, want) })
	case "startsWith", "endsWith":
		return anyOf(func(x any) bool {
			s, ok := x.(string)
			if op == "startsWith" {
				return ok && strings.HasPrefix(s, want.(string))
			}
			return ok && strings.HasSuffix(s, want.(string))
		})
	case "gt", "gte", "lt", "lte":
		if n, ok := want.(float64); ok {
			p, ok := pv.(float64)
			return ok && cmpRef(op, p, n)
		}
		wt, _ := refTime(want)
		pt, ok := refTime(pv)
		return ok && cmpRef(op, float64(pt.Sub(wt)), 0)
	case "before", "after":
		pt, ok := refTime(pv)
		if !ok {
			return false
		}
		edge := pt.Add(windowDur[want.(map[string]any)["ago"].(string)])
		if op == "before" {
			return !edge.After(now)
		}
		return edge.After(now)
	}
	panic(op)
}

// edges are the times at which something in w can cross a window.
func (w *world) edges() []time.Time {
	var points []time.Time
	add := func(t time.Time) {
		for _, win := range windowDur {
			points = append(points, t.Add(win))
		}
	}
	for _, e := range w.events {
		add(e.at)
	}
	for _, s := range w.sends {
		add(s.At)
	}
	add(w.contact.CreatedAt)
	for _, v := range w.contact.Properties {
		for _, x := range append([]any{v}, asSlice(v)...) {
			if t, ok := refTime(x); ok {
				add(t)
			}
		}
	}
	return points
}

func asSlice(x any) []any {
	s, _ := x.([]any)
	return s
}

func TestEvalMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 2025))
	var members, nonMembers, timed int
	for i := range 2000 {
		def := randDef(r, 0)
		raw, err := json.Marshal(def)
		require.NoError(t, err)
		// Decode as the API would, so numbers are float64 for both sides.
		var decoded map[string]any
		require.NoError(t, json.Unmarshal(raw, &decoded))
		fixCounts(decoded)
		rule, err := Parse(raw)
		require.NoError(t, err, "case %d: %s", i, raw)
		again, err := Parse(rule.JSON())
		require.NoError(t, err, "case %d: canonical %s", i, rule.JSON())
		require.JSONEq(t, string(rule.JSON()), string(again.JSON()), "case %d: canonical form is stable", i)

		w := randWorld(r)
		facts := w.facts(rule)
		points := w.edges()
		for range 5 {
			points = append(points, randTime(r))
		}
		for _, edge := range points {
			for _, now := range []time.Time{edge.Add(-time.Second), edge, edge.Add(time.Second)} {
				got, next := rule.Eval(facts, now)
				want := ref(decoded, w, now)
				require.Equal(t, want, got, "case %d at %s: %s", i, now, raw)
				if m2, _ := again.Eval(facts, now); m2 != got {
					t.Fatalf("case %d: the canonical form evaluates differently: %s", i, rule.JSON())
				}
				if got {
					members++
				} else {
					nonMembers++
				}
				checkNext(t, decoded, w, now, got, next, fmt.Sprintf("case %d: %s", i, raw))
				if !next.IsZero() {
					timed++
				}
			}
		}
	}
	// The generator must reach both answers and time-dependent results.
	require.Greater(t, members, 1000)
	require.Greater(t, nonMembers, 1000)
	require.Greater(t, timed, 1000)
}

// checkNext proves next is never late: the reference result stays as it is
// at now until just before next (or forever when next is zero).
func checkNext(t *testing.T, def map[string]any, w *world, now time.Time, got bool, next time.Time, msg string) {
	t.Helper()
	var probes []time.Time
	if next.IsZero() {
		probes = []time.Time{now.Add(time.Minute), now.Add(36 * time.Hour), now.Add(45 * 24 * time.Hour), now.Add(500 * 24 * time.Hour)}
	} else {
		require.True(t, next.After(now), "%s: next %s is not after now %s", msg, next, now)
		gap := next.Sub(now)
		probes = []time.Time{now.Add(gap / 3), now.Add(gap * 2 / 3), next.Add(-time.Second), next.Add(-time.Nanosecond)}
	}
	for _, p := range probes {
		if p.Before(now) {
			continue
		}
		require.Equal(t, got, ref(def, w, p), "%s: result changed at %s, before next %s (now %s)", msg, p, next, now)
	}
}

// fixCounts turns decoded count thresholds back into ints for ref.
func fixCounts(d map[string]any) {
	for k, v := range d {
		switch v := v.(type) {
		case map[string]any:
			if k == "count" {
				for op, n := range v {
					v[op] = int(n.(float64))
				}
			} else {
				fixCounts(v)
			}
		case []any:
			for _, x := range v {
				if m, ok := x.(map[string]any); ok {
					fixCounts(m)
				}
			}
		}
	}
}

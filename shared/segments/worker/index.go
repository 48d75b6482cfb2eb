package worker

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/sendwell/sendwell/shared/segments/rules"
)

// segment is one parsed definition of a tenant.
type segment struct {
	ID      string
	Version int
	Status  string
	Rule    *rules.Rule
	Deps    rules.Deps
	order   int // position in the tenant's dependency order
}

// tenant is a tenant's definitions at one version, with the index from what
// a change touches to the segments it can affect.
type tenant struct {
	version int
	segs    map[string]*segment
	order   []*segment // every segment after the segments it references

	byProp   map[string][]*segment
	byTag    map[string][]*segment
	byEvent  map[string][]*segment
	bySeg    map[string][]*segment // the segments that reference a segment
	email    []*segment
	counters map[string][]rules.Counter // distinct counters, by event name
}

// newTenant parses the items and builds the index. A definition that no
// longer parses (it was valid when written) is skipped, loudly, rather than
// stopping every other segment of the tenant.
func newTenant(version int, items []segmentItem) (*tenant, []error) {
	t := &tenant{version: version, segs: map[string]*segment{}, byProp: map[string][]*segment{},
		byTag: map[string][]*segment{}, byEvent: map[string][]*segment{}, bySeg: map[string][]*segment{},
		counters: map[string][]rules.Counter{}}
	var problems []error
	for _, it := range items {
		r, err := rules.Parse(json.RawMessage(it.Definition))
		if err != nil {
			problems = append(problems, fmt.Errorf("segment %s: %w", it.ID, err))
			continue
		}
		t.segs[it.ID] = &segment{ID: it.ID, Version: it.Version, Status: it.Status, Rule: r, Deps: r.Deps()}
	}
	t.order = dependencyOrder(t.segs)
	seenCounter := map[string]bool{}
	for i, s := range t.order {
		s.order = i
		for _, p := range s.Deps.Properties {
			t.byProp[p] = append(t.byProp[p], s)
		}
		for _, tag := range s.Deps.Tags {
			t.byTag[tag] = append(t.byTag[tag], s)
		}
		for _, e := range s.Deps.Events {
			t.byEvent[e] = append(t.byEvent[e], s)
		}
		for _, ref := range s.Deps.Segments {
			t.bySeg[ref] = append(t.bySeg[ref], s)
		}
		if s.Deps.Email {
			t.email = append(t.email, s)
		}
		for _, c := range s.Deps.Counters {
			if !seenCounter[c.Key] {
				seenCounter[c.Key] = true
				t.counters[c.Event] = append(t.counters[c.Event], c)
			}
		}
	}
	return t, problems
}

// dependencyOrder lists segs so that each comes after the segments it
// references (a depth-first walk; the API refuses cycles, and a reference
// to a missing segment is ignored). Ties keep id order, so the order is
// stable.
func dependencyOrder(segs map[string]*segment) []*segment {
	ids := make([]string, 0, len(segs))
	for id := range segs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*segment, 0, len(segs))
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(id string)
	visit = func(id string) {
		s := segs[id]
		if s == nil || state[id] != 0 {
			return
		}
		state[id] = 1
		for _, ref := range s.Deps.Segments {
			visit(ref)
		}
		state[id] = 2
		out = append(out, s)
	}
	for _, id := range ids {
		visit(id)
	}
	return out
}

// all is every segment, in dependency order.
func (t *tenant) all() []*segment { return t.order }

// closure is the segments in set and every segment that references one of
// them, transitively, in dependency order: a change of membership in the
// pass is seen by the segments built on it in the same pass.
func (t *tenant) closure(set map[string]*segment) []*segment {
	queue := make([]*segment, 0, len(set))
	for _, s := range set {
		queue = append(queue, s)
	}
	for len(queue) > 0 {
		s := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, d := range t.bySeg[s.ID] {
			if set[d.ID] == nil {
				set[d.ID] = d
				queue = append(queue, d)
			}
		}
	}
	out := make([]*segment, 0, len(set))
	for _, s := range set {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *segment) int { return a.order - b.order })
	return out
}

// forContactChange is the segments a contact's change from old to cur can
// affect: those using a property, built-in field or tag that changed. With
// no old image (a new contact), every segment.
func (t *tenant) forContactChange(old, cur *contactData) []*segment {
	if old == nil || cur == nil {
		return t.all()
	}
	set := map[string]*segment{}
	add := func(list []*segment) {
		for _, s := range list {
			set[s.ID] = s
		}
	}
	if old.Email != cur.Email {
		add(t.byProp["email"])
	}
	if !reflect.DeepEqual(old.FirstName, cur.FirstName) {
		add(t.byProp["firstName"])
	}
	if !reflect.DeepEqual(old.LastName, cur.LastName) {
		add(t.byProp["lastName"])
	}
	if old.Subscribed != cur.Subscribed {
		add(t.byProp["subscribed"])
	}
	if !old.CreatedAt.Equal(cur.CreatedAt) {
		add(t.byProp["createdAt"])
	}
	for k, v := range cur.Properties {
		if ov, ok := old.Properties[k]; !ok || !reflect.DeepEqual(ov, v) {
			add(t.byProp[k])
		}
	}
	for k := range old.Properties {
		if _, ok := cur.Properties[k]; !ok {
			add(t.byProp[k])
		}
	}
	for _, tag := range symmetricDiff(old.Tags, cur.Tags) {
		add(t.byTag[tag])
	}
	return t.closure(set)
}

// forList is the closure of a list of segments.
func (t *tenant) forList(list []*segment) []*segment {
	set := make(map[string]*segment, len(list))
	for _, s := range list {
		set[s.ID] = s
	}
	return t.closure(set)
}

// forEvent is the segments that count events named name.
func (t *tenant) forEvent(name string) []*segment { return t.forList(t.byEvent[name]) }

// forEmail is the segments with email engagement conditions.
func (t *tenant) forEmail() []*segment { return t.forList(t.email) }

// forSegment is the segments that reference segment id.
func (t *tenant) forSegment(id string) []*segment { return t.forList(t.bySeg[id]) }

// counterKeys is the distinct counters segs read.
func counterKeys(segs []*segment) []string {
	var keys []string
	for _, s := range segs {
		for _, c := range s.Deps.Counters {
			if !slices.Contains(keys, c.Key) {
				keys = append(keys, c.Key)
			}
		}
	}
	return keys
}

// needsSends says whether one of segs has email conditions.
func needsSends(segs []*segment) bool {
	for _, s := range segs {
		if s.Deps.Email {
			return true
		}
	}
	return false
}

// symmetricDiff is what is in one of a and b but not both.
func symmetricDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}

// outcome is one segment's evaluation for a contact.
type outcome struct {
	seg    *segment
	member bool
	next   time.Time
}

// evaluate runs segs (in dependency order) over the facts; memberships
// (by segment id) is updated as it goes, so a segment sees the result of
// those it references from this same pass. It is the CPU part of a change,
// with no I/O.
func evaluate(segs []*segment, f rules.Facts, memberships map[string]bool, now time.Time) []outcome {
	f.Segments = memberships
	out := make([]outcome, 0, len(segs))
	for _, s := range segs {
		member, next := s.Rule.Eval(f, now)
		memberships[s.ID] = member
		out = append(out, outcome{seg: s, member: member, next: next})
	}
	return out
}

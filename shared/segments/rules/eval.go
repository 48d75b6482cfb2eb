package rules

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Times are Unix nanoseconds here; never is "no change by the clock alone".
const never = math.MaxInt64

// Node kinds.
const (
	kAll uint8 = iota + 1
	kAny
	kNot
	kProperty
	kTag
	kEvent
	kSegment
	kEmail
)

// node is one compiled condition. One concrete type with a kind switch
// (not an interface) keeps the Facts pointer on the stack: Eval allocates
// nothing.
type node struct {
	kind  uint8
	has   bool // tag: true for "has the tag"
	s     string
	kids  []node
	cond  *Cond
	event *eventCond
	email *emailCond
}

// Cond is one compiled property condition, over a contact's fields and
// properties or, in an event's where, over the event's properties.
type Cond struct {
	name  string
	field uint8
	op    op
	val   value
	list  []value
	ago   int64 // before / after: nanoseconds
}

type eventCond struct {
	key    string
	op     op
	n      int
	window int64 // nanoseconds; 0: ever
}

// Email condition kinds.
const (
	emailDelivered uint8 = iota + 1
	emailOpened
	emailClicked
	emailBounced
)

type emailCond struct {
	kind     uint8
	window   int64
	template string
}

// eval returns the result at now and the earliest time after now at which
// the clock alone can change it (never when it cannot).
func (n *node) eval(f *Facts, now int64) (bool, int64) {
	switch n.kind {
	case kAll:
		// True: any child's change flips it. False: it stays false while one
		// false child stays false, so the latest of their changes bounds it.
		ok, first, last := true, int64(never), int64(math.MinInt64)
		for i := range n.kids {
			m, nx := n.kids[i].eval(f, now)
			if m {
				first = min(first, nx)
				continue
			}
			if nx == never {
				return false, never
			}
			ok, last = false, max(last, nx)
		}
		if ok {
			return true, first
		}
		return false, last
	case kAny:
		ok, first, last := false, int64(never), int64(math.MinInt64)
		for i := range n.kids {
			m, nx := n.kids[i].eval(f, now)
			if !m {
				first = min(first, nx)
				continue
			}
			if nx == never {
				return true, never
			}
			ok, last = true, max(last, nx)
		}
		if ok {
			return true, last
		}
		return false, first
	case kNot:
		m, nx := n.kids[0].eval(f, now)
		return !m, nx
	case kProperty:
		return n.cond.test(contactValue(&f.Contact, n.cond), now)
	case kTag:
		return slices.Contains(f.Contact.Tags, n.s) == n.has, never
	case kSegment:
		return f.Segments[n.s], never
	case kEvent:
		return n.event.eval(f.Events[n.event.key], now)
	case kEmail:
		return n.email.eval(f.Sends, now)
	}
	return false, never
}

func (e *eventCond) eval(times []time.Time, now int64) (bool, int64) {
	if e.window == 0 {
		return compare(e.op, float64(len(times)), float64(e.n)), never
	}
	// An event counts while now < its time + window: the count only falls.
	cut := now - e.window
	c := 0
	for i := range times {
		if nanos(times[i]) > cut {
			c++
		}
	}
	res := compare(e.op, float64(c), float64(e.n))
	k := 0 // how many counted events must leave the window to change the result
	for j := 1; j <= c; j++ {
		if compare(e.op, float64(c-j), float64(e.n)) != res {
			k = j
			break
		}
	}
	if k == 0 {
		return res, never
	}
	var buf [64]int64
	counted := buf[:0]
	for i := range times {
		if t := nanos(times[i]); t > cut {
			counted = append(counted, t)
		}
	}
	slices.Sort(counted)
	return res, counted[k-1] + e.window
}

func (e *emailCond) eval(sends []Send, now int64) (bool, int64) {
	found, latest := false, int64(math.MinInt64)
	for i := range sends {
		s := &sends[i]
		if e.template != "" && s.TemplateID != e.template {
			continue
		}
		var ok bool
		switch e.kind {
		case emailDelivered:
			ok = s.Delivered
		case emailOpened:
			ok = s.Opened
		case emailClicked:
			ok = s.Clicked
		case emailBounced:
			ok = s.Bounced
		}
		if !ok {
			continue
		}
		if e.window == 0 {
			return true, never
		}
		if at := nanos(s.At); at > now-e.window {
			found, latest = true, max(latest, at)
		}
	}
	if !found {
		return false, never
	}
	return true, latest + e.window
}

// Kinds of values.
const (
	vMissing uint8 = iota
	vString
	vNumber
	vBool
	vTime // createdAt, or a time value in a condition
	vList
)

// value is a property's or a condition's value, unboxed.
type value struct {
	kind uint8
	b    bool
	s    string
	n    float64
	t    int64
	list []any
}

func (v value) json() any {
	switch v.kind {
	case vString, vTime:
		return v.s
	case vNumber:
		return v.n
	case vBool:
		return v.b
	}
	return nil
}

func fromAny(x any) value {
	switch x := x.(type) {
	case string:
		return value{kind: vString, s: x}
	case float64:
		return value{kind: vNumber, n: x}
	case bool:
		return value{kind: vBool, b: x}
	case int:
		return value{kind: vNumber, n: float64(x)}
	case int64:
		return value{kind: vNumber, n: float64(x)}
	case int32:
		return value{kind: vNumber, n: float64(x)}
	case float32:
		return value{kind: vNumber, n: float64(x)}
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return value{kind: vNumber, n: f}
		}
	case []any:
		return value{kind: vList, list: x}
	}
	return value{}
}

func contactValue(c *Contact, cond *Cond) value {
	switch cond.field {
	case fieldEmail:
		return value{kind: vString, s: c.Email}
	case fieldFirstName:
		if c.FirstName != nil {
			return value{kind: vString, s: *c.FirstName}
		}
		return value{}
	case fieldLastName:
		if c.LastName != nil {
			return value{kind: vString, s: *c.LastName}
		}
		return value{}
	case fieldSubscribed:
		return value{kind: vBool, b: c.Subscribed}
	case fieldCreatedAt:
		return value{kind: vTime, t: nanos(c.CreatedAt)}
	}
	if x, ok := c.Properties[cond.name]; ok {
		return fromAny(x)
	}
	return value{}
}

// test applies the condition to v: missing values only satisfy notExists,
// neq and notIn; a list satisfies eq, in, contains, startsWith and endsWith
// when one of its elements does.
func (c *Cond) test(v value, now int64) (bool, int64) {
	switch c.op {
	case opExists:
		return v.kind != vMissing, never
	case opNotExists:
		return v.kind == vMissing, never
	case opEq:
		return c.anyElem(v, c.eq), never
	case opNeq:
		return !c.anyElem(v, c.eq), never
	case opIn:
		return c.anyElem(v, c.in), never
	case opNotIn:
		return !c.anyElem(v, c.in), never
	case opContains:
		if v.kind == vString {
			return strings.Contains(v.s, c.val.s), never
		}
		return c.anyElem(v, c.eq), never
	case opStartsWith:
		return c.anyElem(v, func(e value) bool { return e.kind == vString && strings.HasPrefix(e.s, c.val.s) }), never
	case opEndsWith:
		return c.anyElem(v, func(e value) bool { return e.kind == vString && strings.HasSuffix(e.s, c.val.s) }), never
	case opGt, opGte, opLt, opLte:
		if c.val.kind == vNumber {
			return v.kind == vNumber && compare(c.op, v.n, c.val.n), never
		}
		t, ok := timeOf(v)
		return ok && compareInt(c.op, t, c.val.t), never
	case opBefore, opAfter:
		t, ok := timeOf(v)
		if !ok {
			return false, never
		}
		// before: t + ago <= now; after: now < t + ago. Both flip at t + ago.
		edge := t + c.ago
		res := now >= edge
		if c.op == opAfter {
			res = !res
		}
		if edge > now {
			return res, edge
		}
		return res, never
	}
	return false, never
}

// anyElem applies match to v, or to each element of a list.
func (c *Cond) anyElem(v value, match func(value) bool) bool {
	if v.kind != vList {
		return match(v)
	}
	for _, x := range v.list {
		if match(fromAny(x)) {
			return true
		}
	}
	return false
}

func (c *Cond) eq(v value) bool { return equal(v, c.val) }

func (c *Cond) in(v value) bool {
	for i := range c.list {
		if equal(v, c.list[i]) {
			return true
		}
	}
	return false
}

func equal(a, b value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case vString:
		return a.s == b.s
	case vNumber:
		return a.n == b.n
	case vBool:
		return a.b == b.b
	}
	return false
}

func compare(o op, a, b float64) bool {
	switch o {
	case opEq:
		return a == b
	case opNeq:
		return a != b
	case opGt:
		return a > b
	case opGte:
		return a >= b
	case opLt:
		return a < b
	case opLte:
		return a <= b
	}
	return false
}

func compareInt(o op, a, b int64) bool {
	switch o {
	case opGt:
		return a > b
	case opGte:
		return a >= b
	case opLt:
		return a < b
	case opLte:
		return a <= b
	}
	return false
}

func timeOf(v value) (int64, bool) {
	switch v.kind {
	case vTime:
		return v.t, true
	case vString:
		return parseTime(v.s)
	}
	return 0, false
}

// Times outside these bounds are clamped, so nanoseconds never overflow.
var (
	minTime = time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func nanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return minTime.UnixNano()
	case t.After(maxTime):
		return maxTime.UnixNano()
	}
	return t.UnixNano()
}

// parseTime reads an RFC 3339 time (fractional seconds allowed).
func parseTime(s string) (int64, bool) {
	if len(s) < 20 || len(s) > 40 || s[4] != '-' {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	return nanos(t), true
}

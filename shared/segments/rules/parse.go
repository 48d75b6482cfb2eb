package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/validate"
)

// Built-in contact fields a property condition can name.
const (
	fieldProperty uint8 = iota // a custom property
	fieldEmail
	fieldFirstName
	fieldLastName
	fieldSubscribed
	fieldCreatedAt
)

var builtins = map[string]uint8{
	"email": fieldEmail, "firstName": fieldFirstName, "lastName": fieldLastName,
	"subscribed": fieldSubscribed, "createdAt": fieldCreatedAt,
}

// Operators of property conditions.
type op uint8

const (
	opEq op = iota + 1
	opNeq
	opIn
	opNotIn
	opContains
	opStartsWith
	opEndsWith
	opExists
	opNotExists
	opGt
	opGte
	opLt
	opLte
	opBefore
	opAfter
)

var operators = map[string]op{
	"eq": opEq, "neq": opNeq, "in": opIn, "notIn": opNotIn, "contains": opContains,
	"startsWith": opStartsWith, "endsWith": opEndsWith, "exists": opExists, "notExists": opNotExists,
	"gt": opGt, "gte": opGte, "lt": opLt, "lte": opLte, "before": opBefore, "after": opAfter,
}

const operatorList = "eq, neq, in, notIn, contains, startsWith, endsWith, exists, notExists, gt, gte, lt, lte, before, after"

var countOps = map[string]op{"eq": opEq, "neq": opNeq, "gt": opGt, "gte": opGte, "lt": opLt, "lte": opLte}

var emailKinds = map[string]uint8{"delivered": emailDelivered, "opened": emailOpened, "clicked": emailClicked, "bounced": emailBounced}

// kinds are the keys that say what a condition is; exactly one must be present.
var kinds = []string{"all", "any", "not", "property", "tag", "event", "segment", "email"}

var allowed = map[string][]string{
	"all": {"all"}, "any": {"any"}, "not": {"not"},
	"property": {"property", "operator", "value"},
	"tag":      {"tag", "has"},
	"event":    {"event", "count", "within", "where"},
	"segment":  {"segment"},
	"email":    {"email", "within", "template"},
}

// cnode is a condition in canonical form: fixed key order, defaults spelled out.
type cnode struct {
	All      []cnode         `json:"all,omitempty"`
	Any      []cnode         `json:"any,omitempty"`
	Not      *cnode          `json:"not,omitempty"`
	Property string          `json:"property,omitempty"`
	Operator string          `json:"operator,omitempty"`
	Value    json.RawMessage `json:"value,omitempty"`
	Tag      string          `json:"tag,omitempty"`
	Has      *bool           `json:"has,omitempty"`
	Event    string          `json:"event,omitempty"`
	Count    map[string]int  `json:"count,omitempty"`
	Within   string          `json:"within,omitempty"`
	Where    []cnode         `json:"where,omitempty"`
	Segment  string          `json:"segment,omitempty"`
	Email    string          `json:"email,omitempty"`
	Template string          `json:"template,omitempty"`
}

// parser compiles one definition and gathers its Deps.
type parser struct {
	conds    int
	props    []string
	tags     []string
	counters map[string]Counter
	segments []string
	events   []string
	email    bool
	time     bool
}

func (p *parser) result() Deps {
	d := Deps{Properties: sortedSet(p.props), Tags: sortedSet(p.tags), Segments: sortedSet(p.segments),
		Events: sortedSet(p.events), Email: p.email, Time: p.time}
	for _, c := range p.counters {
		d.Counters = append(d.Counters, c)
	}
	slices.SortFunc(d.Counters, func(a, b Counter) int { return strings.Compare(a.Key, b.Key) })
	return d
}

func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func invalid(path, format string, args ...any) error {
	return errs.Invalid(path, "The '%s' field %s", path, fmt.Sprintf(format, args...))
}

func (p *parser) leaf(path string) error {
	p.conds++
	if p.conds > MaxConditions {
		return errs.Invalid(path, "A definition may have at most %d conditions; '%s' is one too many.", MaxConditions, path)
	}
	return nil
}

func object(raw json.RawMessage, path string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid(path, "must be an object.")
	}
	return m, nil
}

// checkKeys refuses keys a condition of this kind does not have.
func checkKeys(m map[string]json.RawMessage, kind, path string) error {
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed[kind], k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return invalid(path+"."+unknown[0], "is not allowed in a '%s' condition (allowed: %s).", kind, strings.Join(allowed[kind], ", "))
	}
	return nil
}

// node compiles the condition at path; depth counts the groups around it.
func (p *parser) node(raw json.RawMessage, path string, depth int) (node, cnode, error) {
	m, err := object(raw, path)
	if err != nil {
		return node{}, cnode{}, err
	}
	var present []string
	for _, k := range kinds {
		if _, ok := m[k]; ok {
			present = append(present, k)
		}
	}
	switch len(present) {
	case 0:
		return node{}, cnode{}, errs.Invalid(path, "The '%s' condition must have one of the keys %s.", path, strings.Join(kinds, ", "))
	case 1:
	default:
		return node{}, cnode{}, errs.Invalid(path, "The '%s' condition must have only one of the keys %s, not both '%s' and '%s'.",
			path, strings.Join(kinds, ", "), present[0], present[1])
	}
	kind := present[0]
	if err := checkKeys(m, kind, path); err != nil {
		return node{}, cnode{}, err
	}
	switch kind {
	case "all", "any", "not":
		if depth+1 > MaxDepth {
			return node{}, cnode{}, errs.Invalid(path, "The '%s' group is nested too deep: groups nest at most %d deep.", path, MaxDepth)
		}
		return p.group(m, kind, path, depth+1)
	case "property":
		if err := p.leaf(path); err != nil {
			return node{}, cnode{}, err
		}
		c, cn, err := p.cond(m, path, false)
		if err != nil {
			return node{}, cnode{}, err
		}
		p.props = append(p.props, c.name)
		if c.op == opBefore || c.op == opAfter {
			p.time = true
		}
		return node{kind: kProperty, cond: c}, cn, nil
	case "tag":
		if err := p.leaf(path); err != nil {
			return node{}, cnode{}, err
		}
		return p.tag(m, path)
	case "event":
		if err := p.leaf(path); err != nil {
			return node{}, cnode{}, err
		}
		return p.event(m, path)
	case "segment":
		if err := p.leaf(path); err != nil {
			return node{}, cnode{}, err
		}
		var id string
		if json.Unmarshal(m["segment"], &id) != nil || !ids.Valid("seg", id) {
			return node{}, cnode{}, invalid(path+".segment", "must be a segment id (seg_…).")
		}
		p.segments = append(p.segments, id)
		return node{kind: kSegment, s: id}, cnode{Segment: id}, nil
	default: // email
		if err := p.leaf(path); err != nil {
			return node{}, cnode{}, err
		}
		return p.emailCond(m, path)
	}
}

func (p *parser) group(m map[string]json.RawMessage, kind, path string, depth int) (node, cnode, error) {
	if kind == "not" {
		kid, kc, err := p.node(m["not"], path+".not", depth)
		if err != nil {
			return node{}, cnode{}, err
		}
		return node{kind: kNot, kids: []node{kid}}, cnode{Not: &kc}, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(m[kind], &list) != nil || len(list) == 0 {
		return node{}, cnode{}, invalid(path+"."+kind, "must be a non-empty list of conditions.")
	}
	n := node{kind: kAll}
	if kind == "any" {
		n.kind = kAny
	}
	var cs []cnode
	for i, raw := range list {
		kid, kc, err := p.node(raw, fmt.Sprintf("%s.%s[%d]", path, kind, i), depth)
		if err != nil {
			return node{}, cnode{}, err
		}
		n.kids = append(n.kids, kid)
		cs = append(cs, kc)
	}
	if kind == "any" {
		return n, cnode{Any: cs}, nil
	}
	return n, cnode{All: cs}, nil
}

func (p *parser) tag(m map[string]json.RawMessage, path string) (node, cnode, error) {
	var tag string
	if json.Unmarshal(m["tag"], &tag) != nil || strings.TrimSpace(tag) == "" || utf8.RuneCountInString(tag) > 64 {
		return node{}, cnode{}, invalid(path+".tag", "must be a tag: a non-empty string of at most 64 characters.")
	}
	tag = strings.TrimSpace(tag)
	has := true
	if raw, ok := m["has"]; ok {
		if json.Unmarshal(raw, &has) != nil || string(raw) == "null" {
			return node{}, cnode{}, invalid(path+".has", "must be true or false.")
		}
	}
	p.tags = append(p.tags, tag)
	cn := cnode{Tag: tag}
	if !has {
		cn.Has = &has
	}
	return node{kind: kTag, s: tag, has: has}, cn, nil
}

func (p *parser) event(m map[string]json.RawMessage, path string) (node, cnode, error) {
	var name string
	if json.Unmarshal(m["event"], &name) != nil || !validate.Identifier(name, 100, ".:-") {
		return node{}, cnode{}, invalid(path+".event", "must be an event name ([A-Za-z0-9_.:-]{1,100}).")
	}
	e := &eventCond{op: opGte, n: 1}
	countOp := "gte"
	if raw, ok := m["count"]; ok {
		cm, err := object(raw, path+".count")
		if err != nil {
			return node{}, cnode{}, err
		}
		if len(cm) != 1 {
			return node{}, cnode{}, invalid(path+".count", "must have exactly one operator: eq, neq, gt, gte, lt or lte.")
		}
		for k, v := range cm {
			o, ok := countOps[k]
			if !ok {
				return node{}, cnode{}, invalid(path+".count."+k, "is not a count operator: use eq, neq, gt, gte, lt or lte.")
			}
			var f float64
			if json.Unmarshal(v, &f) != nil || f != math.Trunc(f) || f < 0 || f > MaxCount {
				return node{}, cnode{}, invalid(path+".count."+k, "must be a whole number from 0 to %d.", MaxCount)
			}
			e.op, e.n, countOp = o, int(f), k
		}
	}
	cn := cnode{Event: name, Count: map[string]int{countOp: e.n}}
	if raw, ok := m["within"]; ok {
		d, s, err := duration(raw, path+".within")
		if err != nil {
			return node{}, cnode{}, err
		}
		e.window, cn.Within = int64(d), s
		p.time = true
	}
	var where []byte
	if raw, ok := m["where"]; ok {
		conds, cw, err := p.where(raw, path+".where")
		if err != nil {
			return node{}, cnode{}, err
		}
		cn.Where = cw
		if where, err = json.Marshal(cw); err != nil {
			return node{}, cnode{}, fmt.Errorf("rules: canonical where: %w", err)
		}
		e.key = counterKey(name, where)
		p.counters[e.key] = Counter{Key: e.key, Event: name, Where: conds}
	} else {
		e.key = counterKey(name, nil)
		p.counters[e.key] = Counter{Key: e.key, Event: name}
	}
	p.events = append(p.events, name)
	return node{kind: kEvent, event: e}, cn, nil
}

// where compiles an event's where clause: property conditions over the
// event's properties, all of which must hold.
func (p *parser) where(raw json.RawMessage, path string) ([]Cond, []cnode, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 || len(list) > MaxWhere {
		return nil, nil, invalid(path, "must be a list of 1 to %d property conditions.", MaxWhere)
	}
	conds := make([]Cond, 0, len(list))
	cs := make([]cnode, 0, len(list))
	for i, r := range list {
		ip := fmt.Sprintf("%s[%d]", path, i)
		m, err := object(r, ip)
		if err != nil {
			return nil, nil, err
		}
		if _, ok := m["property"]; !ok {
			return nil, nil, errs.Invalid(ip, "The '%s' condition must be a property condition ({\"property\", \"operator\", \"value\"}).", ip)
		}
		if err := checkKeys(m, "property", ip); err != nil {
			return nil, nil, err
		}
		if err := p.leaf(ip); err != nil {
			return nil, nil, err
		}
		c, cn, err := p.cond(m, ip, true)
		if err != nil {
			return nil, nil, err
		}
		conds = append(conds, *c)
		cs = append(cs, cn)
	}
	return conds, cs, nil
}

func (p *parser) emailCond(m map[string]json.RawMessage, path string) (node, cnode, error) {
	var kind string
	k, ok := uint8(0), false
	if json.Unmarshal(m["email"], &kind) == nil {
		k, ok = emailKinds[kind]
	}
	if !ok {
		return node{}, cnode{}, invalid(path+".email", "must be one of delivered, opened, clicked, bounced.")
	}
	e := &emailCond{kind: k}
	cn := cnode{Email: kind}
	if raw, ok := m["within"]; ok {
		d, s, err := duration(raw, path+".within")
		if err != nil {
			return node{}, cnode{}, err
		}
		e.window, cn.Within = int64(d), s
		p.time = true
	}
	if raw, ok := m["template"]; ok {
		if json.Unmarshal(raw, &e.template) != nil || !validate.TemplateID(e.template) {
			return node{}, cnode{}, invalid(path+".template", "must be a template id (^[a-z0-9][a-z0-9_-]{0,63}$).")
		}
		cn.Template = e.template
	}
	p.email = true
	return node{kind: kEmail, email: e}, cn, nil
}

// cond compiles a property condition; inWhere means over an event's
// properties (no built-in fields, no relative times).
func (p *parser) cond(m map[string]json.RawMessage, path string, inWhere bool) (*Cond, cnode, error) {
	c := &Cond{}
	if json.Unmarshal(m["property"], &c.name) != nil {
		return nil, cnode{}, invalid(path+".property", "must be a string.")
	}
	if f, ok := builtins[c.name]; ok && !inWhere {
		c.field = f
	} else if !validate.Identifier(c.name, 64, "") {
		if inWhere {
			return nil, cnode{}, invalid(path+".property", "must be a property name ([A-Za-z0-9_]{1,64}).")
		}
		return nil, cnode{}, invalid(path+".property", "must be a property name ([A-Za-z0-9_]{1,64}) or one of email, firstName, lastName, subscribed, createdAt.")
	}
	var opName string
	rawOp, ok := m["operator"]
	if !ok {
		return nil, cnode{}, errs.Required(path + ".operator")
	}
	if json.Unmarshal(rawOp, &opName) != nil {
		return nil, cnode{}, invalid(path+".operator", "must be one of %s.", operatorList)
	}
	if c.op, ok = operators[opName]; !ok {
		return nil, cnode{}, invalid(path+".operator", "must be one of %s.", operatorList)
	}
	if !applies(c.field, c.op) {
		return nil, cnode{}, invalid(path+".operator", "cannot be '%s' for the '%s' field.", opName, c.name)
	}
	if inWhere && (c.op == opBefore || c.op == opAfter) {
		return nil, cnode{}, invalid(path+".operator", "cannot be '%s' in a where clause: an event matches once, when it is tracked.", opName)
	}
	cn := cnode{Property: c.name, Operator: opName}
	vpath := path + ".value"
	rawVal, hasVal := m["value"]
	if c.op == opExists || c.op == opNotExists {
		if hasVal {
			return nil, cnode{}, invalid(vpath, "is not allowed with the '%s' operator.", opName)
		}
		return c, cn, nil
	}
	if !hasVal {
		return nil, cnode{}, errs.Invalid(vpath, "The '%s' field is required with the '%s' operator.", vpath, opName)
	}
	var err error
	switch c.op {
	case opEq, opNeq:
		c.val, err = scalarValue(rawVal, vpath, c.field)
	case opIn, opNotIn:
		var list []json.RawMessage
		if json.Unmarshal(rawVal, &list) != nil || len(list) == 0 || len(list) > MaxList {
			return nil, cnode{}, invalid(vpath, "must be a list of 1 to %d values with the '%s' operator.", MaxList, opName)
		}
		for i, r := range list {
			v, err := scalarValue(r, fmt.Sprintf("%s[%d]", vpath, i), c.field)
			if err != nil {
				return nil, cnode{}, err
			}
			c.list = append(c.list, v)
		}
	case opContains, opStartsWith, opEndsWith:
		var s string
		if json.Unmarshal(rawVal, &s) != nil || s == "" || utf8.RuneCountInString(s) > MaxString {
			return nil, cnode{}, invalid(vpath, "must be a non-empty string of at most %d characters with the '%s' operator.", MaxString, opName)
		}
		if c.field == fieldEmail {
			s = strings.ToLower(s)
		}
		c.val = value{kind: vString, s: s}
	case opGt, opGte, opLt, opLte:
		c.val, err = orderedValue(rawVal, vpath, c.field)
	case opBefore, opAfter:
		var rel struct {
			Ago json.RawMessage `json:"ago"`
		}
		vm, err := object(rawVal, vpath)
		if err != nil || len(vm) != 1 || vm["ago"] == nil {
			return nil, cnode{}, invalid(vpath, "must be a relative time such as {\"ago\": \"P7D\"} with the '%s' operator.", opName)
		}
		rel.Ago = vm["ago"]
		d, s, err := duration(rel.Ago, vpath+".ago")
		if err != nil {
			return nil, cnode{}, err
		}
		c.ago = int64(d)
		cv, _ := json.Marshal(map[string]string{"ago": s})
		cn.Value = cv
		return c, cn, nil
	}
	if err != nil {
		return nil, cnode{}, err
	}
	if c.list != nil {
		vs := make([]any, len(c.list))
		for i, v := range c.list {
			vs[i] = v.json()
		}
		cn.Value, _ = json.Marshal(vs)
	} else {
		cn.Value, _ = json.Marshal(c.val.json())
	}
	return c, cn, nil
}

// applies reports whether an operator makes sense for a field.
func applies(f uint8, o op) bool {
	switch f {
	case fieldEmail, fieldFirstName, fieldLastName:
		return o <= opNotExists
	case fieldSubscribed:
		return o == opEq || o == opNeq || o == opExists || o == opNotExists
	case fieldCreatedAt:
		return o >= opExists
	}
	return true
}

// scalarValue reads the value of eq / neq / in / notIn.
func scalarValue(raw json.RawMessage, path string, f uint8) (value, error) {
	var x any
	if json.Unmarshal(raw, &x) != nil {
		return value{}, invalid(path, "must be a string, a number or a boolean.")
	}
	switch x := x.(type) {
	case string:
		if f == fieldSubscribed {
			return value{}, invalid(path, "must be true or false for 'subscribed'.")
		}
		if utf8.RuneCountInString(x) > MaxString {
			return value{}, invalid(path, "must be at most %d characters long.", MaxString)
		}
		if f == fieldEmail {
			x = strings.ToLower(x)
		}
		return value{kind: vString, s: x}, nil
	case float64:
		if f != fieldProperty {
			return value{}, invalid(path, "must be a string for this field.")
		}
		return value{kind: vNumber, n: x}, nil
	case bool:
		if f != fieldProperty && f != fieldSubscribed {
			return value{}, invalid(path, "must be a string for this field.")
		}
		return value{kind: vBool, b: x}, nil
	}
	return value{}, invalid(path, "must be a string, a number or a boolean.")
}

// orderedValue reads the value of gt / gte / lt / lte: a number or an RFC 3339 time.
func orderedValue(raw json.RawMessage, path string, f uint8) (value, error) {
	var x any
	_ = json.Unmarshal(raw, &x)
	switch x := x.(type) {
	case float64:
		if f == fieldCreatedAt {
			return value{}, invalid(path, "must be an RFC 3339 time for 'createdAt'.")
		}
		return value{kind: vNumber, n: x}, nil
	case string:
		if t, ok := parseTime(x); ok {
			return value{kind: vTime, t: t, s: x}, nil
		}
	}
	return value{}, invalid(path, "must be a number or an RFC 3339 time.")
}

// duration reads an ISO 8601 duration of days, hours and minutes (P30D,
// PT12H, PT90M, P1DT2H), up to 400 days.
func duration(raw json.RawMessage, path string) (time.Duration, string, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return 0, "", invalid(path, "must be an ISO 8601 duration such as P30D, PT12H or PT30M.")
	}
	d, ok := parseDuration(s)
	if !ok {
		return 0, "", invalid(path, "must be an ISO 8601 duration such as P30D, PT12H or PT30M.")
	}
	if d > MaxWindow {
		return 0, "", invalid(path, "must be at most 400 days (P400D).")
	}
	return d, s, nil
}

func parseDuration(s string) (time.Duration, bool) {
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" || len(s) > 32 {
		return 0, false
	}
	var mins int64
	inTime := false
	units := "D"
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, false
			}
			inTime, units, rest = true, "HM", rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 6 || i == len(rest) {
			return 0, false
		}
		n := 0
		for _, c := range rest[:i] {
			n = n*10 + int(c-'0')
		}
		u := strings.IndexByte(units, rest[i])
		if u < 0 {
			return 0, false
		}
		units = units[u+1:] // each unit once, in order
		switch rest[i] {
		case 'D':
			mins += int64(n) * 24 * 60
		case 'H':
			mins += int64(n) * 60
		case 'M':
			mins += int64(n)
		}
		rest = rest[i+1:]
	}
	if mins > int64(MaxWindow/time.Minute) {
		return MaxWindow + time.Minute, true // over the limit, said as such by the caller
	}
	return time.Duration(mins) * time.Minute, mins > 0
}

// Package rules is the segment definition language: a JSON tree of
// conditions over a contact, its events, its sends and its other segments,
// parsed and validated once into typed nodes that evaluate without
// allocating, and that say when the clock alone will next change the answer.
// It is pure Go: the worker and the API feed it facts they read themselves.
//
// Semantics worth knowing: a missing property satisfies only notExists, neq
// and notIn; a list property satisfies eq, in, contains, startsWith and
// endsWith when one element does; strings compare exactly (email values
// are lower-cased, as contacts' emails are). A window is half-open: an event
// (or send) at t counts while now < t + within, and {"ago": d} makes
// "before" true from t + d on and "after" true until then, so the result at
// next is already the new one.
package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
)

// Limits of a definition.
const (
	MaxDepth      = 4                    // groups (all, any, not) nested
	MaxConditions = 50                   // leaves, where clauses included
	MaxList       = 100                  // values of in / notIn
	MaxString     = 256                  // characters of any string value
	MaxWhere      = 10                   // conditions of one event's where
	MaxCount      = 1000                 // a count threshold (counters keep the newest 1000 events)
	MaxWindow     = 400 * 24 * time.Hour // within / ago
	MaxBytes      = 64 << 10             // the definition as JSON
)

// Rule is a parsed, validated definition.
type Rule struct {
	root  node
	canon json.RawMessage
	deps  Deps
}

// Contact is what a definition can see of a contact.
type Contact struct {
	ID, Email           string
	FirstName, LastName *string
	Subscribed          bool
	CreatedAt           time.Time
	Properties          map[string]any
	Tags                []string
}

// Send is one of the contact's recent sends; At is when it reached its
// latest status.
type Send struct {
	TemplateID                          string
	CreatedAt                           time.Time
	Delivered, Opened, Clicked, Bounced bool
	At                                  time.Time
}

// Facts is everything a definition is evaluated against.
type Facts struct {
	Contact Contact
	// Events holds, by Counter.Key, the times of the matching events, in any order.
	Events map[string][]time.Time
	// Segments holds the contact's memberships of other segments, by id.
	Segments map[string]bool
	// Sends are the contact's recent sends (the newest 100).
	Sends []Send
}

// Counter is one distinct (event name, where) pair a rule counts: the
// worker keeps, per contact, the times of the events that match it.
type Counter struct {
	Key, Event string
	Where      []Cond
}

// Matches reports whether an event with these properties counts.
func (c Counter) Matches(props map[string]any) bool {
	for i := range c.Where {
		var v value
		if x, ok := props[c.Where[i].name]; ok {
			v = fromAny(x)
		}
		if ok, _ := c.Where[i].test(v, 0); !ok {
			return false
		}
	}
	return true
}

// Deps is what a rule's result depends on, so the worker re-evaluates a
// contact only for the segments a change can affect. Lists are sorted and
// without duplicates.
type Deps struct {
	Properties []string  // property names, built-in fields (email, createdAt, …) included
	Tags       []string  // tags tested
	Counters   []Counter // one per distinct (event name, where)
	Segments   []string  // other segments referenced
	Events     []string  // event names counted
	Email      bool      // uses the contact's sends
	Time       bool      // can change by the clock alone
}

// Parse validates a definition and compiles it. Every error is an
// errs.Validation naming the path in the tree, e.g. "definition.all[1].operator".
func Parse(raw json.RawMessage) (*Rule, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, errs.Required("definition")
	}
	if len(trimmed) > MaxBytes {
		return nil, errs.Invalid("definition", "The 'definition' field must be at most %d KB as JSON.", MaxBytes>>10)
	}
	if !json.Valid(trimmed) {
		return nil, errs.Invalid("definition", "The 'definition' field must be valid JSON.")
	}
	p := &parser{counters: map[string]Counter{}}
	root, c, err := p.node(trimmed, "definition", 0)
	if err != nil {
		return nil, err
	}
	canon, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("rules: canonical form: %w", err)
	}
	return &Rule{root: root, canon: canon, deps: p.result()}, nil
}

// JSON returns the definition's canonical form, the one to store.
func (r *Rule) JSON() json.RawMessage { return slices.Clone(r.canon) }

// Deps returns what the rule depends on.
func (r *Rule) Deps() Deps { return r.deps }

// Eval reports whether the facts make a member at now, and next: the
// earliest time after now at which the result can change by the clock alone
// (zero: never). next may be earlier than the real change (that only costs an
// evaluation), never later.
func (r *Rule) Eval(f Facts, now time.Time) (member bool, next time.Time) {
	m, nx := r.root.eval(&f, nanos(now))
	if nx == never {
		return m, time.Time{}
	}
	return m, time.Unix(0, nx).UTC()
}

// CounterKey names the counter of an event name and a where clause: the name,
// "#", and a short hash of the where's canonical form ("" when none).
func CounterKey(event string, where json.RawMessage) string {
	w := bytes.TrimSpace(where)
	if len(w) == 0 || string(w) == "null" || string(w) == "[]" {
		return counterKey(event, nil)
	}
	p := &parser{counters: map[string]Counter{}}
	if _, canon, err := p.where(w, "where"); err == nil {
		if b, err := json.Marshal(canon); err == nil {
			return counterKey(event, b)
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, w) == nil {
		w = buf.Bytes()
	}
	return counterKey(event, w)
}

func counterKey(event string, canonWhere []byte) string {
	if len(canonWhere) == 0 {
		return event + "#"
	}
	h := sha256.Sum256(canonWhere)
	return event + "#" + hex.EncodeToString(h[:6])
}

// Cycles checks that no segment reaches itself through segment conditions.
// defs holds a tenant's definitions by segment id; references to ids not in
// defs are ignored (the API checks that they exist).
func Cycles(defs map[string]*Rule) error {
	const (
		unseen = iota
		open
		done
	)
	state := make(map[string]int, len(defs))
	var stack []string
	var visit func(id string) error
	visit = func(id string) error {
		switch state[id] {
		case open:
			i := slices.Index(stack, id)
			loop := append(slices.Clone(stack[i:]), id)
			return errs.Invalid("definition", "Segments cannot reference each other in a cycle: %s.", strings.Join(loop, " → "))
		case done:
			return nil
		}
		r, ok := defs[id]
		if !ok || r == nil {
			return nil
		}
		state[id] = open
		stack = append(stack, id)
		for _, ref := range r.deps.Segments {
			if err := visit(ref); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		return nil
	}
	ids := make([]string, 0, len(defs))
	for id := range defs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := visit(id); err != nil {
			return err
		}
	}
	return nil
}

package sequence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/validate"
)

// Id prefixes the document references.
const (
	campaignPrefix = "cmp"
	segmentPrefix  = "seg"
)

var triggerKinds = []string{"event", "contactCreated", "segmentEntered", "segmentExited", "manual"}

// stepKeys are the fields each step type allows.
var stepKeys = map[StepType][]string{
	StepSend:    {"id", "type", "templateId", "version", "from", "data", "next"},
	StepWait:    {"id", "type", "duration", "until", "next", "timeoutNext"},
	StepBranch:  {"id", "type", "if", "then", "else"},
	StepUpdate:  {"id", "type", "set", "unset", "addTags", "removeTags", "next"},
	StepWebhook: {"id", "type", "data", "next"},
	StepExit:    {"id", "type"},
}

var dayNames = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

func invalid(path, format string, args ...any) error {
	return errs.Invalid(path, "The '%s' field %s", path, fmt.Sprintf(format, args...))
}

// join appends key to path ("" is the document's root).
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object decodes the JSON object at path, dropping null members (a null is
// an absent field).
func object(raw json.RawMessage, path string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		if path == "body" {
			return nil, errs.Invalid(path, "The request body must be a JSON object.")
		}
		return nil, invalid(path, "must be an object.")
	}
	for k, v := range m {
		if string(v) == "null" {
			delete(m, k)
		}
	}
	return m, nil
}

// checkKeys refuses the first (in sorted order) key of m that is not allowed.
func checkKeys(m map[string]json.RawMessage, path, what string, allowed ...string) error {
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return invalid(join(path, unknown[0]), "is not allowed in %s (allowed: %s).", what, strings.Join(allowed, ", "))
}

func str(raw json.RawMessage, path string) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", invalid(path, "must be a string.")
	}
	return s, nil
}

func validEvent(s string) bool  { return validate.Identifier(s, 100, ".:-") }
func validStepID(s string) bool { return validate.Identifier(s, MaxStepIDLen, "-") }
func validProperty(s string) bool {
	return validate.Identifier(s, 64, "")
}

func eventName(raw json.RawMessage, path string) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil || !validEvent(s) {
		return "", invalid(path, "must be an event name ([A-Za-z0-9_.:-]{1,100}).")
	}
	return s, nil
}

func parseName(raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", errs.Required("name")
	}
	s, err := str(raw, "name")
	if err != nil {
		return "", err
	}
	if err := validate.Text("name", &s, MaxNameLen); err != nil {
		return "", err
	}
	return s, nil
}

func parseCampaign(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil || !ids.Valid(campaignPrefix, s) {
		return "", invalid("campaignId", "must be a campaign id (cmp_…).")
	}
	return s, nil
}

func parseTrigger(raw json.RawMessage) (Trigger, error) {
	const path = "trigger"
	if raw == nil {
		return Trigger{}, errs.Required(path)
	}
	m, err := object(raw, path)
	if err != nil {
		return Trigger{}, err
	}
	var present []string
	for _, k := range triggerKinds {
		if _, ok := m[k]; ok {
			present = append(present, k)
		}
	}
	if err := checkKeys(m, path, "a trigger", append(slices.Clone(triggerKinds), "where")...); err != nil {
		return Trigger{}, err
	}
	switch len(present) {
	case 0:
		return Trigger{}, errs.Invalid(path, "The 'trigger' field must have one of the keys %s.", strings.Join(triggerKinds, ", "))
	case 1:
	default:
		return Trigger{}, errs.Invalid(path, "The 'trigger' field must have only one of the keys %s, not both '%s' and '%s'.",
			strings.Join(triggerKinds, ", "), present[0], present[1])
	}
	kind := present[0]
	if _, ok := m["where"]; ok && kind != "event" {
		return Trigger{}, invalid(path+".where", "is allowed only with an 'event' trigger.")
	}
	t := Trigger{Kind: TriggerKind(kind)}
	switch t.Kind {
	case TriggerEvent:
		if t.Event, err = eventName(m["event"], path+".event"); err != nil {
			return Trigger{}, err
		}
		if where, ok := m["where"]; ok {
			// The where clause is an event condition's: let rules compile
			// {"event", "where"} and keep its counter.
			cond, _ := json.Marshal(map[string]any{"event": t.Event, "where": where})
			r, err := condition(cond, path)
			if err != nil {
				return Trigger{}, err
			}
			counters := r.Deps().Counters
			if len(counters) != 1 {
				return Trigger{}, fmt.Errorf("sequence: trigger compiled to %d counters", len(counters))
			}
			t.Where = &counters[0]
		}
	case TriggerSegmentEntered, TriggerSegmentExited:
		var id string
		if json.Unmarshal(m[kind], &id) != nil || !ids.Valid(segmentPrefix, id) {
			return Trigger{}, invalid(path+"."+kind, "must be a segment id (seg_…).")
		}
		t.Segment = id
	default: // contactCreated, manual: {}
		sub, err := object(m[kind], path+"."+kind)
		if err != nil {
			return Trigger{}, err
		}
		if keys := slices.Sorted(maps.Keys(sub)); len(keys) > 0 {
			k := keys[0]
			return Trigger{}, invalid(path+"."+kind+"."+k, "is not allowed: the '%s' trigger takes an empty object ({}).", kind)
		}
	}
	return t, nil
}

func (d *Definition) parseSteps(raw json.RawMessage) error {
	if raw == nil {
		return errs.Required("steps")
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return invalid("steps", "must be a list of steps.")
	}
	if len(list) == 0 || len(list) > MaxSteps {
		return invalid("steps", "must have 1 to %d steps.", MaxSteps)
	}
	d.Steps = make([]Step, len(list))
	d.index = make(map[string]int, len(list))
	for i, r := range list {
		path := fmt.Sprintf("steps[%d]", i)
		if err := parseStep(r, path, &d.Steps[i]); err != nil {
			return err
		}
		id := d.Steps[i].ID
		if j, dup := d.index[id]; dup {
			return invalid(path+".id", "repeats the id '%s' of steps[%d]: step ids must be unique.", id, j)
		}
		d.index[id] = i
	}
	return nil
}

func parseStep(raw json.RawMessage, path string, s *Step) error {
	m, err := object(raw, path)
	if err != nil {
		return err
	}
	rawID, ok := m["id"]
	if !ok {
		return errs.Required(path + ".id")
	}
	if json.Unmarshal(rawID, &s.ID) != nil || !validStepID(s.ID) {
		return invalid(path+".id", "must be a step id: 1 to %d letters, digits, '_' or '-'.", MaxStepIDLen)
	}
	rawType, ok := m["type"]
	if !ok {
		return errs.Required(path + ".type")
	}
	var typ string
	_ = json.Unmarshal(rawType, &typ)
	s.Type = StepType(typ)
	allowed, ok := stepKeys[s.Type]
	if !ok {
		return invalid(path+".type", "must be one of send, wait, branch, update, webhook, exit.")
	}
	article := "a"
	if strings.ContainsRune("aeiou", rune(typ[0])) {
		article = "an"
	}
	if err := checkKeys(m, path, fmt.Sprintf("%s '%s' step", article, typ), allowed...); err != nil {
		return err
	}
	if raw, ok := m["next"]; ok {
		if s.Next, err = stepRef(raw, path+".next"); err != nil {
			return err
		}
	}
	switch s.Type {
	case StepSend:
		s.Send, err = parseSend(m, path)
	case StepWait:
		s.Wait, err = parseWait(m, path)
	case StepBranch:
		s.Branch, err = parseBranch(m, path)
	case StepUpdate:
		s.Update, err = parseUpdate(m, path)
	case StepWebhook:
		s.Webhook = &Webhook{}
		if raw, ok := m["data"]; ok {
			s.Webhook.Data, err = data(raw, path+".data")
		}
	}
	return err
}

// stepRef reads a reference to a step (whether it exists is the graph's check).
func stepRef(raw json.RawMessage, path string) (string, error) {
	var id string
	if json.Unmarshal(raw, &id) != nil || !validStepID(id) {
		return "", invalid(path, "must be the id of a step.")
	}
	return id, nil
}

// data reads a JSON object of at most MaxDataBytes, compacted.
func data(raw json.RawMessage, path string) (json.RawMessage, error) {
	if _, err := object(raw, path); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalid(path, "must be an object.")
	}
	if buf.Len() > MaxDataBytes {
		return nil, invalid(path, "must be at most %d KB as JSON.", MaxDataBytes>>10)
	}
	return buf.Bytes(), nil
}

func parseSend(m map[string]json.RawMessage, path string) (*Send, error) {
	s := &Send{}
	raw, ok := m["templateId"]
	if !ok {
		return nil, errs.Required(path + ".templateId")
	}
	if json.Unmarshal(raw, &s.TemplateID) != nil || !validate.TemplateID(s.TemplateID) {
		return nil, invalid(path+".templateId", "must be a template id (^[a-z0-9][a-z0-9_-]{0,63}$).")
	}
	if raw, ok := m["version"]; ok {
		var f float64
		if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) || f < 1 || f > math.MaxInt32 {
			return nil, invalid(path+".version", "must be a whole number of at least 1.")
		}
		s.Version = int(f)
	}
	if raw, ok := m["from"]; ok {
		from, err := str(raw, path+".from")
		if err != nil {
			return nil, err
		}
		from = strings.TrimSpace(from)
		a, perr := mail.ParseAddress(from)
		if perr != nil || len(from) > MaxFromLen || strings.ContainsAny(from, "\r\n") ||
			!strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
			return nil, invalid(path+".from", "must be an email address of at most %d characters, such as news@example.com or \"Acme <news@example.com>\".", MaxFromLen)
		}
		s.From = from
	}
	if raw, ok := m["data"]; ok {
		var err error
		if s.Data, err = data(raw, path+".data"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func parseWait(m map[string]json.RawMessage, path string) (*Wait, error) {
	rawDur, hasDur := m["duration"]
	rawUntil, hasUntil := m["until"]
	switch {
	case hasDur && hasUntil:
		return nil, errs.Invalid(path, "The '%s' wait step takes one of 'duration' and 'until', not both.", path)
	case hasDur:
		if _, ok := m["timeoutNext"]; ok {
			return nil, invalid(path+".timeoutNext", "is allowed only with 'until'.")
		}
		d, err := duration(rawDur, path+".duration")
		if err != nil {
			return nil, err
		}
		return &Wait{Duration: d}, nil
	case hasUntil:
		up := path + ".until"
		um, err := object(rawUntil, up)
		if err != nil {
			return nil, err
		}
		if err := checkKeys(um, up, "'until'", "event", "timeout"); err != nil {
			return nil, err
		}
		u := &Until{}
		if _, ok := um["event"]; !ok {
			return nil, errs.Required(up + ".event")
		}
		if u.Event, err = eventName(um["event"], up+".event"); err != nil {
			return nil, err
		}
		if _, ok := um["timeout"]; !ok {
			return nil, errs.Required(up + ".timeout")
		}
		if u.Timeout, err = duration(um["timeout"], up+".timeout"); err != nil {
			return nil, err
		}
		if raw, ok := m["timeoutNext"]; ok {
			if u.TimeoutNext, err = stepRef(raw, path+".timeoutNext"); err != nil {
				return nil, err
			}
		}
		return &Wait{Until: u}, nil
	}
	return nil, errs.Invalid(path, "The '%s' wait step must have 'duration' or 'until'.", path)
}

func parseBranch(m map[string]json.RawMessage, path string) (*Branch, error) {
	b := &Branch{}
	raw, ok := m["if"]
	if !ok {
		return nil, errs.Required(path + ".if")
	}
	var err error
	if b.If, err = condition(raw, path+".if"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"then", &b.Then}, {"else", &b.Else}} {
		raw, ok := m[f.key]
		if !ok {
			return nil, errs.Required(path + "." + f.key)
		}
		if *f.dst, err = stepRef(raw, path+"."+f.key); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func parseUpdate(m map[string]json.RawMessage, path string) (*Update, error) {
	u := &Update{}
	if raw, ok := m["set"]; ok {
		sp := path + ".set"
		var set map[string]any
		if json.Unmarshal(raw, &set) != nil || set == nil {
			return nil, invalid(sp, "must be an object of properties.")
		}
		if len(set) > MaxSet {
			return nil, invalid(sp, "may set at most %d properties.", MaxSet)
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !validProperty(k) {
				return nil, invalid(sp, "names '%s', which is not a property name ([A-Za-z0-9_]{1,64}).", k)
			}
			if !propertyValue(set[k]) {
				return nil, invalid(sp+"."+k, "must be a string, number, boolean, null or a list of those.")
			}
		}
		if len(set) > 0 {
			u.Set = set
		}
	}
	var err error
	if raw, ok := m["unset"]; ok {
		if u.Unset, err = stringList(raw, path+".unset", MaxSet, func(s string) (string, string) {
			if !validProperty(s) {
				return "", "must be a property name ([A-Za-z0-9_]{1,64})."
			}
			return s, ""
		}); err != nil {
			return nil, err
		}
		for i, k := range u.Unset {
			if _, ok := u.Set[k]; ok {
				return nil, invalid(fmt.Sprintf("%s.unset[%d]", path, i), "names '%s', which 'set' sets: a property cannot be both set and unset.", k)
			}
		}
	}
	tag := func(s string) (string, string) {
		s = strings.TrimSpace(s)
		if s == "" || utf8.RuneCountInString(s) > MaxTagLen {
			return "", fmt.Sprintf("must be a tag: a non-empty string of at most %d characters.", MaxTagLen)
		}
		return s, ""
	}
	if raw, ok := m["addTags"]; ok {
		if u.AddTags, err = stringList(raw, path+".addTags", MaxTags, tag); err != nil {
			return nil, err
		}
	}
	if raw, ok := m["removeTags"]; ok {
		if u.RemoveTags, err = stringList(raw, path+".removeTags", MaxTags, tag); err != nil {
			return nil, err
		}
		for i, t := range u.RemoveTags {
			if slices.Contains(u.AddTags, t) {
				return nil, invalid(fmt.Sprintf("%s.removeTags[%d]", path, i), "names '%s', which 'addTags' adds: a tag cannot be both added and removed.", t)
			}
		}
	}
	if u.Set == nil && u.Unset == nil && u.AddTags == nil && u.RemoveTags == nil {
		return nil, errs.Invalid(path, "The '%s' update step must change something: give at least one of 'set', 'unset', 'addTags' and 'removeTags'.", path)
	}
	return u, nil
}

// propertyValue is the contacts' rule for a property's value.
func propertyValue(v any) bool {
	scalar := func(v any) bool {
		switch v.(type) {
		case nil, string, float64, bool:
			return true
		}
		return false
	}
	if scalar(v) {
		return true
	}
	list, ok := v.([]any)
	return ok && !slices.ContainsFunc(list, func(e any) bool { return !scalar(e) })
}

// stringList reads a list of at most max strings, each checked (and
// normalised) by check, which returns a problem or "". Duplicates are
// dropped; an empty list is nil.
func stringList(raw json.RawMessage, path string, max int, check func(string) (string, string)) ([]string, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, invalid(path, "must be a list of strings.")
	}
	if len(list) > max {
		return nil, invalid(path, "may have at most %d entries.", max)
	}
	var out []string
	for i, r := range list {
		ip := fmt.Sprintf("%s[%d]", path, i)
		s, err := str(r, ip)
		if err != nil {
			return nil, err
		}
		s, problem := check(s)
		if problem != "" {
			return nil, invalid(ip, "%s", problem)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func parseExitWhen(raw json.RawMessage) (*ExitWhen, error) {
	const path = "exitWhen"
	m, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(m, path, "'exitWhen'", "condition", "event"); err != nil {
		return nil, err
	}
	rawCond, hasCond := m["condition"]
	rawEvent, hasEvent := m["event"]
	switch {
	case hasCond && hasEvent:
		return nil, errs.Invalid(path, "The 'exitWhen' field takes one of 'condition' and 'event', not both.")
	case hasCond:
		r, err := condition(rawCond, path+".condition")
		if err != nil {
			return nil, err
		}
		return &ExitWhen{Condition: r}, nil
	case hasEvent:
		e, err := eventName(rawEvent, path+".event")
		if err != nil {
			return nil, err
		}
		return &ExitWhen{Event: e}, nil
	}
	return nil, errs.Invalid(path, "The 'exitWhen' field must have one of 'condition' and 'event'.")
}

func parseReentry(raw json.RawMessage) (Reentry, error) {
	const path = "reentry"
	const hint = "must be \"never\", \"always\" or {\"after\": \"P30D\"}."
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch ReentryMode(s) {
		case ReentryNever, ReentryAlways:
			return Reentry{Mode: ReentryMode(s)}, nil
		}
		return Reentry{}, invalid(path, hint)
	}
	m, err := object(raw, path)
	if err != nil {
		return Reentry{}, invalid(path, hint)
	}
	if err := checkKeys(m, path, "'reentry'", "after"); err != nil {
		return Reentry{}, err
	}
	after, ok := m["after"]
	if !ok {
		return Reentry{}, invalid(path, hint)
	}
	d, err := duration(after, path+".after")
	if err != nil {
		return Reentry{}, err
	}
	return Reentry{Mode: ReentryAfter, After: d}, nil
}

func parseSendWindow(raw json.RawMessage) (*SendWindow, error) {
	const path = "sendWindow"
	m, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(m, path, "'sendWindow'", "days", "from", "to", "timezone"); err != nil {
		return nil, err
	}
	w := &SendWindow{Timezone: "contact"}
	rawDays, ok := m["days"]
	if !ok {
		return nil, errs.Required(path + ".days")
	}
	var days []json.RawMessage
	if json.Unmarshal(rawDays, &days) != nil || len(days) == 0 {
		return nil, invalid(path+".days", "must be a non-empty list of days (mon, tue, wed, thu, fri, sat, sun).")
	}
	var seen [7]bool
	for i, r := range days {
		ip := fmt.Sprintf("%s.days[%d]", path, i)
		var name string
		_ = json.Unmarshal(r, &name)
		j := slices.Index(dayNames, name)
		if j < 0 {
			return nil, invalid(ip, "must be one of mon, tue, wed, thu, fri, sat, sun.")
		}
		if seen[j] {
			return nil, invalid(ip, "repeats '%s'.", name)
		}
		seen[j] = true
	}
	for j, ok := range seen {
		if ok {
			w.Days = append(w.Days, time.Weekday((j+1)%7))
		}
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{"from", &w.From}, {"to", &w.To}} {
		raw, ok := m[f.key]
		if !ok {
			return nil, errs.Required(path + "." + f.key)
		}
		var s string
		_ = json.Unmarshal(raw, &s)
		mins, ok := clock(s)
		if !ok {
			return nil, invalid(path+"."+f.key, "must be a time of day HH:MM, from 00:00 to 23:59.")
		}
		*f.dst = mins
	}
	if w.From >= w.To {
		return nil, invalid(path+".to", "must be later than 'from': a window cannot end before it starts or span midnight.")
	}
	if raw, ok := m["timezone"]; ok {
		tz, err := str(raw, path+".timezone")
		if err != nil {
			return nil, err
		}
		if tz != "contact" {
			loc, lerr := time.LoadLocation(tz)
			if lerr != nil || tz == "" || tz == "Local" {
				return nil, invalid(path+".timezone", "must be \"contact\" or an IANA time zone such as Europe/Paris; '%s' is not known.", tz)
			}
			w.Timezone, w.Location = tz, loc
		}
	}
	return w, nil
}

// clock reads HH:MM (24 h) as minutes after midnight.
func clock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	digit := func(c byte) (int, bool) { return int(c - '0'), c >= '0' && c <= '9' }
	h1, ok1 := digit(s[0])
	h2, ok2 := digit(s[1])
	m1, ok3 := digit(s[3])
	m2, ok4 := digit(s[4])
	h, m := h1*10+h2, m1*10+m2
	if !ok1 || !ok2 || !ok3 || !ok4 || h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

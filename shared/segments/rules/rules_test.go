package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/errs"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mustParse(t *testing.T, def string) *Rule {
	t.Helper()
	r, err := Parse(json.RawMessage(def))
	require.NoError(t, err, def)
	return r
}

func sample() Facts {
	first := "Grace"
	return Facts{
		Contact: Contact{ID: "cnt_1", Email: "grace@example.com", FirstName: &first, Subscribed: true,
			CreatedAt: now.Add(-10 * 24 * time.Hour),
			Properties: map[string]any{"plan": "pro", "seats": 5.0, "score": json.Number("7.5"), "beta": true,
				"renewsAt": "2025-06-03T12:00:00Z", "labels": []any{"alpha", "beta", 3.0}},
			Tags: []string{"vip", "customer"}},
		Segments: map[string]bool{segIDs[0]: true},
	}
}

func TestPropertyOperators(t *testing.T) {
	cases := []struct {
		def  string
		want bool
	}{
		{`{"property":"plan","operator":"eq","value":"pro"}`, true},
		{`{"property":"plan","operator":"eq","value":"Pro"}`, false},
		{`{"property":"seats","operator":"eq","value":5}`, true},
		{`{"property":"seats","operator":"eq","value":"5"}`, false},
		{`{"property":"beta","operator":"eq","value":true}`, true},
		{`{"property":"plan","operator":"neq","value":"free"}`, true},
		{`{"property":"missing","operator":"neq","value":"free"}`, true},
		{`{"property":"missing","operator":"eq","value":"free"}`, false},
		{`{"property":"plan","operator":"in","value":["free","pro"]}`, true},
		{`{"property":"plan","operator":"notIn","value":["free","pro"]}`, false},
		{`{"property":"missing","operator":"notIn","value":["free"]}`, true},
		{`{"property":"plan","operator":"contains","value":"r"}`, true},
		{`{"property":"plan","operator":"startsWith","value":"pr"}`, true},
		{`{"property":"plan","operator":"endsWith","value":"pr"}`, false},
		{`{"property":"labels","operator":"contains","value":"beta"}`, true},
		{`{"property":"labels","operator":"contains","value":"bet"}`, false},
		{`{"property":"labels","operator":"eq","value":3}`, true},
		{`{"property":"labels","operator":"startsWith","value":"al"}`, true},
		{`{"property":"plan","operator":"exists"}`, true},
		{`{"property":"missing","operator":"exists"}`, false},
		{`{"property":"missing","operator":"notExists"}`, true},
		{`{"property":"seats","operator":"gt","value":4}`, true},
		{`{"property":"seats","operator":"gte","value":5}`, true},
		{`{"property":"seats","operator":"lt","value":5}`, false},
		{`{"property":"seats","operator":"lte","value":5}`, true},
		{`{"property":"score","operator":"gt","value":7}`, true},
		{`{"property":"plan","operator":"gt","value":1}`, false},
		{`{"property":"renewsAt","operator":"gt","value":"2025-06-01T00:00:00Z"}`, true},
		{`{"property":"renewsAt","operator":"lt","value":"2025-06-01T00:00:00+02:00"}`, false},
		{`{"property":"renewsAt","operator":"before","value":{"ago":"P1D"}}`, false},
		{`{"property":"renewsAt","operator":"after","value":{"ago":"P1D"}}`, true},
		{`{"property":"plan","operator":"before","value":{"ago":"P1D"}}`, false},
		{`{"property":"email","operator":"eq","value":"Grace@Example.com"}`, true},
		{`{"property":"email","operator":"endsWith","value":"@EXAMPLE.com"}`, true},
		{`{"property":"firstName","operator":"eq","value":"Grace"}`, true},
		{`{"property":"lastName","operator":"exists"}`, false},
		{`{"property":"subscribed","operator":"eq","value":true}`, true},
		{`{"property":"createdAt","operator":"before","value":{"ago":"P7D"}}`, true},
		{`{"property":"createdAt","operator":"after","value":{"ago":"P7D"}}`, false},
		{`{"property":"createdAt","operator":"gt","value":"2025-05-01T00:00:00Z"}`, true},
		{`{"tag":"vip"}`, true},
		{`{"tag":"vip","has":false}`, false},
		{`{"tag":"gone","has":false}`, true},
		{`{"segment":"` + segIDs[0] + `"}`, true},
		{`{"segment":"` + segIDs[1] + `"}`, false},
		{`{"all":[{"tag":"vip"},{"property":"plan","operator":"eq","value":"pro"}]}`, true},
		{`{"all":[{"tag":"vip"},{"property":"plan","operator":"eq","value":"free"}]}`, false},
		{`{"any":[{"tag":"nope"},{"property":"plan","operator":"eq","value":"pro"}]}`, true},
		{`{"any":[{"tag":"nope"},{"property":"plan","operator":"eq","value":"free"}]}`, false},
		{`{"not":{"tag":"vip"}}`, false},
	}
	f := sample()
	for _, c := range cases {
		got, _ := mustParse(t, c.def).Eval(f, now)
		assert.Equal(t, c.want, got, c.def)
	}
}

func TestEventWindowsAndNext(t *testing.T) {
	r := mustParse(t, `{"event":"order.completed","count":{"gte":2},"within":"P30D","where":[{"property":"total","operator":"gt","value":100}]}`)
	deps := r.Deps()
	require.Len(t, deps.Counters, 1)
	c := deps.Counters[0]
	assert.True(t, c.Matches(map[string]any{"total": 150.0}))
	assert.False(t, c.Matches(map[string]any{"total": 50.0}))
	assert.False(t, c.Matches(nil))
	assert.Equal(t, []string{"order.completed"}, deps.Events)
	assert.True(t, deps.Time)

	day := 24 * time.Hour
	f := Facts{Events: map[string][]time.Time{c.Key: {now.Add(-20 * day), now.Add(-5 * day), now.Add(-25 * day)}}}
	m, next := r.Eval(f, now)
	assert.True(t, m)
	// 3 counted: dropping to 1 takes the two oldest leaving; the second oldest (-20d) leaves at +10d.
	assert.Equal(t, now.Add(10*day), next)
	m, _ = r.Eval(f, next.Add(-time.Nanosecond))
	assert.True(t, m)
	m, next2 := r.Eval(f, next)
	assert.False(t, m)
	assert.True(t, next2.IsZero(), "false with a falling count stays false")

	// eq 0: not performed in 7 days; true from when the last one leaves.
	r = mustParse(t, `{"event":"login","count":{"eq":0},"within":"P7D"}`)
	key := r.Deps().Counters[0].Key
	f = Facts{Events: map[string][]time.Time{key: {now.Add(-2 * day), now.Add(-6 * day)}}}
	m, next = r.Eval(f, now)
	assert.False(t, m)
	assert.Equal(t, now.Add(5*day), next)

	// No window: ever, never time-dependent.
	r = mustParse(t, `{"event":"login"}`)
	m, next = r.Eval(Facts{Events: map[string][]time.Time{r.Deps().Counters[0].Key: {now.Add(-300 * day)}}}, now)
	assert.True(t, m)
	assert.True(t, next.IsZero())
	assert.False(t, r.Deps().Time)

	// Many events (more than the stack buffer).
	r = mustParse(t, `{"event":"view","count":{"gt":99},"within":"PT1H"}`)
	var times []time.Time
	for i := range 150 {
		times = append(times, now.Add(-time.Duration(i)*time.Second))
	}
	m, next = r.Eval(Facts{Events: map[string][]time.Time{r.Deps().Counters[0].Key: times}}, now)
	assert.True(t, m)
	// 150 counted, > 99 until 51 leave: the 51st oldest is -99s, leaving at +1h-99s.
	assert.Equal(t, now.Add(time.Hour-99*time.Second), next)
}

func TestEmailConditions(t *testing.T) {
	day := 24 * time.Hour
	f := Facts{Sends: []Send{
		{TemplateID: "welcome", Delivered: true, Opened: true, At: now.Add(-3 * day)},
		{TemplateID: "receipt", Delivered: true, Opened: true, At: now.Add(-1 * day)},
		{TemplateID: "receipt", Bounced: true, At: now.Add(-40 * day)},
	}}
	cases := []struct {
		def  string
		want bool
		next time.Time
	}{
		{`{"email":"opened","within":"P7D"}`, true, now.Add(6 * day)},
		{`{"email":"opened","within":"P7D","template":"welcome"}`, true, now.Add(4 * day)},
		{`{"email":"clicked"}`, false, time.Time{}},
		{`{"email":"bounced"}`, true, time.Time{}},
		{`{"email":"bounced","within":"P30D"}`, false, time.Time{}},
		{`{"not":{"email":"opened","within":"P7D"}}`, false, now.Add(6 * day)},
	}
	for _, c := range cases {
		r := mustParse(t, c.def)
		assert.True(t, r.Deps().Email)
		m, next := r.Eval(f, now)
		assert.Equal(t, c.want, m, c.def)
		assert.Equal(t, c.next, next, c.def)
	}
}

func TestGroupsNext(t *testing.T) {
	day := 24 * time.Hour
	f := sample() // createdAt 10 days ago, renewsAt in 2 days
	// all true: the earliest change of any child (createdAt after P11D flips in 1 day).
	r := mustParse(t, `{"all":[{"property":"createdAt","operator":"after","value":{"ago":"P11D"}},{"property":"createdAt","operator":"after","value":{"ago":"P20D"}}]}`)
	m, next := r.Eval(f, now)
	assert.True(t, m)
	assert.Equal(t, now.Add(day), next)
	// all false because of a child that never changes: never.
	r = mustParse(t, `{"all":[{"tag":"nope"},{"property":"createdAt","operator":"after","value":{"ago":"P11D"}}]}`)
	_, next = r.Eval(f, now)
	assert.True(t, next.IsZero())
	// all false through two timed children: only when both have flipped.
	r = mustParse(t, `{"all":[{"property":"createdAt","operator":"before","value":{"ago":"P11D"}},{"property":"createdAt","operator":"before","value":{"ago":"P15D"}}]}`)
	m, next = r.Eval(f, now)
	assert.False(t, m)
	assert.Equal(t, now.Add(5*day), next)
	// any true through a child that never changes: never.
	r = mustParse(t, `{"any":[{"tag":"vip"},{"property":"createdAt","operator":"after","value":{"ago":"P11D"}}]}`)
	_, next = r.Eval(f, now)
	assert.True(t, next.IsZero())
}

func TestValidationPaths(t *testing.T) {
	deep := `{"all":[{"any":[{"not":{"all":[{"any":[{"tag":"x"}]}]}}]}]}`
	many := `{"all":[` + strings.Repeat(`{"tag":"x"},`, 50) + `{"tag":"y"}]}`
	cases := []struct{ def, path string }{
		{`null`, "definition"},
		{`[]`, "definition"},
		{`{}`, "definition"},
		{`{"tag":"x","segment":"seg_1"}`, "definition"},
		{`{"all":[]}`, "definition.all"},
		{`{"all":{"tag":"x"}}`, "definition.all"},
		{`{"all":[{"tag":"x"},{"property":"plan","operator":"like","value":"x"}]}`, "definition.all[1].operator"},
		{`{"all":[{"tag":"x"},{"any":[{"property":"plan","operator":"is","value":"x"}]}]}`, "definition.all[1].any[0].operator"},
		{`{"all":[{"tag":"x","color":"red"}]}`, "definition.all[0].color"},
		{`{"not":{"property":"plan"}}`, "definition.not.operator"},
		{`{"property":"plan","operator":"eq"}`, "definition.value"},
		{`{"property":"plan","operator":"eq","value":{"a":1}}`, "definition.value"},
		{`{"property":"plan","operator":"eq","value":null}`, "definition.value"},
		{`{"property":"plan","operator":"eq","value":"` + strings.Repeat("x", 257) + `"}`, "definition.value"},
		{`{"property":"plan","operator":"in","value":"pro"}`, "definition.value"},
		{`{"property":"plan","operator":"in","value":[]}`, "definition.value"},
		{`{"property":"plan","operator":"in","value":[` + strings.Repeat(`"a",`, 100) + `"b"]}`, "definition.value"},
		{`{"property":"plan","operator":"in","value":["a",["b"]]}`, "definition.value[1]"},
		{`{"property":"plan","operator":"gt","value":"pro"}`, "definition.value"},
		{`{"property":"plan","operator":"gt","value":true}`, "definition.value"},
		{`{"property":"plan","operator":"contains","value":3}`, "definition.value"},
		{`{"property":"plan","operator":"exists","value":true}`, "definition.value"},
		{`{"property":"plan","operator":"before","value":"P7D"}`, "definition.value"},
		{`{"property":"plan","operator":"before","value":{"ago":"7 days"}}`, "definition.value.ago"},
		{`{"property":"plan","operator":"after","value":{"ago":"P401D"}}`, "definition.value.ago"},
		{`{"property":"bad name","operator":"exists"}`, "definition.property"},
		{`{"property":3,"operator":"exists"}`, "definition.property"},
		{`{"property":"email","operator":"gt","value":3}`, "definition.operator"},
		{`{"property":"subscribed","operator":"contains","value":"x"}`, "definition.operator"},
		{`{"property":"subscribed","operator":"eq","value":"yes"}`, "definition.value"},
		{`{"property":"createdAt","operator":"eq","value":"2025-01-01T00:00:00Z"}`, "definition.operator"},
		{`{"property":"createdAt","operator":"gt","value":5}`, "definition.value"},
		{`{"property":"email","operator":"eq","value":5}`, "definition.value"},
		{`{"tag":""}`, "definition.tag"},
		{`{"tag":"x","has":"no"}`, "definition.has"},
		{`{"event":"bad name"}`, "definition.event"},
		{`{"all":[{"event":"order","count":{"most":2}}]}`, "definition.all[0].count.most"},
		{`{"event":"order","count":{"gte":1.5}}`, "definition.count.gte"},
		{`{"event":"order","count":{"gte":-1}}`, "definition.count.gte"},
		{`{"event":"order","count":{"gte":1,"lte":3}}`, "definition.count"},
		{`{"event":"order","count":2}`, "definition.count"},
		{`{"all":[{"event":"order","within":"30 days"}]}`, "definition.all[0].within"},
		{`{"event":"order","within":"P0D"}`, "definition.within"},
		{`{"event":"order","within":"PT5S"}`, "definition.within"},
		{`{"event":"order","within":"P1H"}`, "definition.within"},
		{`{"event":"order","where":[]}`, "definition.where"},
		{`{"event":"order","where":[{"tag":"x"}]}`, "definition.where[0]"},
		{`{"event":"order","where":[{"property":"total","operator":"after","value":{"ago":"P1D"}}]}`, "definition.where[0].operator"},
		{`{"event":"order","where":[{"property":"total","operator":"gt","value":1,"x":1}]}`, "definition.where[0].x"},
		{`{"segment":"seg_nope"}`, "definition.segment"},
		{`{"email":"read"}`, "definition.email"},
		{`{"email":"opened","template":"Bad Id"}`, "definition.template"},
		{`{"email":"opened","within":"P500D"}`, "definition.within"},
		{deep, "definition.all[0].any[0].not.all[0]"},
		{many, "definition.all[50]"},
	}
	for _, c := range cases {
		_, err := Parse(json.RawMessage(c.def))
		var v *errs.Validation
		if assert.True(t, errors.As(err, &v), "%s: %v", c.def, err) {
			assert.Equal(t, c.path, v.Field, c.def)
			assert.NotEmpty(t, v.Message)
		}
	}
}

func TestLimitsAccepted(t *testing.T) {
	depth4 := `{"all":[{"any":[{"not":{"all":[{"tag":"x"}]}}]}]}`
	fifty := `{"all":[` + strings.Repeat(`{"tag":"x"},`, 49) + `{"tag":"y"}]}`
	for _, def := range []string{depth4, fifty, `{"event":"a","within":"P400D"}`, `{"event":"a","within":"P1DT2H30M"}`} {
		mustParse(t, def)
	}
}

func TestCanonicalJSONAndDeps(t *testing.T) {
	r := mustParse(t, `{ "any": [ {"value":"Pro","operator":"eq","property":"plan"}, {"tag":"vip","has":true},
		{"event":"order","within":"P30D","where":[{"property":"total","operator":"gte","value":10}]},
		{"segment":"`+segIDs[2]+`"}, {"property":"email","operator":"in","value":["A@B.io"]} ] }`)
	want := `{"any":[{"property":"plan","operator":"eq","value":"Pro"},{"tag":"vip"},` +
		`{"event":"order","count":{"gte":1},"within":"P30D","where":[{"property":"total","operator":"gte","value":10}]},` +
		`{"segment":"` + segIDs[2] + `"},{"property":"email","operator":"in","value":["a@b.io"]}]}`
	assert.Equal(t, want, string(r.JSON()))
	d := r.Deps()
	assert.Equal(t, []string{"email", "plan"}, d.Properties)
	assert.Equal(t, []string{"vip"}, d.Tags)
	assert.Equal(t, []string{segIDs[2]}, d.Segments)
	assert.Equal(t, []string{"order"}, d.Events)
	assert.True(t, d.Time)
	assert.False(t, d.Email)
	require.Len(t, d.Counters, 1)
	assert.Equal(t, CounterKey("order", json.RawMessage(`[{"property":"total","operator":"gte","value":10}]`)), d.Counters[0].Key)
	// The same where written differently is the same counter; another is not.
	assert.Equal(t, d.Counters[0].Key, CounterKey("order", json.RawMessage(`[ {"value":10, "operator":"gte", "property":"total"} ]`)))
	assert.NotEqual(t, d.Counters[0].Key, CounterKey("order", json.RawMessage(`[{"property":"total","operator":"gte","value":11}]`)))
	assert.Equal(t, "order#", CounterKey("order", nil))
	assert.True(t, strings.HasPrefix(d.Counters[0].Key, "order#") && len(d.Counters[0].Key) > len("order#"))
}

func TestCycles(t *testing.T) {
	ref := func(ids ...string) *Rule {
		var parts []string
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf(`{"segment":%q}`, id))
		}
		return mustParse(t, `{"any":[{"tag":"x"}`+strings.Repeat(",", min(len(parts), 1))+strings.Join(parts, ",")+`]}`)
	}
	a, b, c := segIDs[0], segIDs[1], segIDs[2]
	require.NoError(t, Cycles(map[string]*Rule{a: ref(b), b: ref(c), c: ref()}))
	require.NoError(t, Cycles(map[string]*Rule{a: ref(b, c), b: ref(c), c: ref()}), "a diamond is no cycle")
	err := Cycles(map[string]*Rule{a: ref(b), b: ref(c), c: ref(a)})
	var v *errs.Validation
	require.True(t, errors.As(err, &v))
	assert.Equal(t, "definition", v.Field)
	assert.Contains(t, v.Message, a+" → "+b+" → "+c+" → "+a)
	require.Error(t, Cycles(map[string]*Rule{a: ref(a)}), "a segment cannot reference itself")
}

func TestEvalDoesNotAllocate(t *testing.T) {
	rs, f := benchRules(t)
	allocs := testing.AllocsPerRun(20, func() {
		for _, r := range rs {
			r.Eval(f, now)
		}
	})
	assert.Zero(t, allocs)
}

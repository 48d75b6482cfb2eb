package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/segments/rules"
)

// A Monday, 08:00 UTC (10:00 in Paris, 04:00 in New York).
var monday = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func parse(t *testing.T, doc string) *sequence.Definition {
	t.Helper()
	d, err := sequence.Parse(json.RawMessage(doc))
	require.NoError(t, err, doc)
	return d
}

const threeSteps = `{"name": "Three", "trigger": {"event": "signed_up"},
	"steps": [
		{"id": "hello", "type": "send", "templateId": "hello", "next": "pause"},
		{"id": "pause", "type": "wait", "duration": "P2D", "next": "check"},
		{"id": "check", "type": "branch", "if": {"event": "activated"}, "then": "tips", "else": "nudge"},
		{"id": "tips", "type": "send", "templateId": "tips"},
		{"id": "nudge", "type": "send", "templateId": "nudge"}
	]}`

func window(days, from, to, tz string) string {
	return `{"name": "W", "trigger": {"manual": {}},
		"steps": [{"id": "hello", "type": "send", "templateId": "hello"}],
		"sendWindow": {"days": ` + days + `, "from": "` + from + `", "to": "` + to + `", "timezone": "` + tz + `"}}`
}

func TestSendWindows(t *testing.T) {
	weekdays := `["mon", "tue", "wed", "thu", "fri"]`
	cases := []struct {
		name     string
		doc      string
		timezone string
		now      time.Time
		want     time.Time // zero: sends now
	}{
		{"open in UTC", window(weekdays, "08:00", "17:00", "UTC"), "", monday, time.Time{}},
		{"to is exclusive", window(weekdays, "09:00", "17:00", "UTC"), "", monday.Add(9 * time.Hour), monday.Add(25 * time.Hour)},
		{"before opening: today", window(weekdays, "09:00", "17:00", "UTC"), "", monday, monday.Add(time.Hour)},
		{"after closing on friday: monday", window(weekdays, "09:00", "17:00", "UTC"), "", monday.Add(4*24*time.Hour + 10*time.Hour),
			monday.Add(7*24*time.Hour + time.Hour)},
		{"the weekend: monday", window(weekdays, "09:00", "17:00", "UTC"), "", monday.Add(-36 * time.Hour), monday.Add(time.Hour)},
		{"an IANA zone", window(weekdays, "09:00", "17:00", "Europe/Paris"), "America/New_York", monday, time.Time{}},
		{"an IANA zone, before", window(weekdays, "11:00", "17:00", "Europe/Paris"), "", monday, monday.Add(2 * time.Hour)},
		{"the contact's zone", window(weekdays, "09:00", "17:00", "contact"), "America/New_York", monday,
			time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)},
		{"the contact's zone across DST (US starts 8 March)", window(`["mon"]`, "09:00", "17:00", "contact"), "America/New_York",
			monday.Add(2 * 24 * time.Hour), time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC)},
		{"an invalid contact zone is UTC", window(weekdays, "09:00", "17:00", "contact"), "Mars/Olympus", monday, monday.Add(time.Hour)},
		{"no contact zone is UTC", window(weekdays, "08:00", "17:00", "contact"), "", monday, time.Time{}},
		{"one day a week", window(`["sun"]`, "00:00", "00:30", "UTC"), "", monday, time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			def := parse(t, c.doc)
			d := Decide(Input{Def: def, Pos: Position{Step: "hello"}, Timezone: c.timezone, Now: c.now})
			if c.want.IsZero() {
				require.NotNil(t, d.Send, "sends now")
				assert.Equal(t, journey.EnrCompleted, d.Status)
				return
			}
			assert.Nil(t, d.Send)
			assert.Equal(t, journey.ResultDeferred, d.Record.Result)
			require.NotNil(t, d.WakeAt)
			assert.Equal(t, c.want, *d.WakeAt)
			assert.Equal(t, c.want, d.Due)
			assert.Equal(t, "hello", d.Next, "the send stays until the opening")
			assert.True(t, d.Entered)
			// At the opening, it sends.
			again := Decide(Input{Def: def, Pos: Position{Step: "hello", WakeAt: d.WakeAt}, Timezone: c.timezone, Now: c.want})
			assert.NotNil(t, again.Send)
			assert.False(t, again.Entered, "entered once")
			early := Decide(Input{Def: def, Pos: Position{Step: "hello", WakeAt: d.WakeAt}, Timezone: c.timezone, Now: c.want.Add(-time.Second)})
			assert.True(t, early.NotDue, "never early")
		})
	}
}

func TestWaits(t *testing.T) {
	def := parse(t, `{"name": "W", "trigger": {"manual": {}},
		"steps": [
			{"id": "w", "type": "wait", "until": {"event": "paid", "timeout": "P3D"}, "next": "thanks", "timeoutNext": "nudge"},
			{"id": "thanks", "type": "send", "templateId": "thanks"},
			{"id": "nudge", "type": "send", "templateId": "nudge"}
		]}`)
	start := Decide(Input{Def: def, Pos: Position{Step: "w"}, Now: monday})
	wake := monday.Add(72 * time.Hour)
	assert.Equal(t, journey.ResultWaiting, start.Record.Result)
	assert.Equal(t, &wake, start.WakeAt)
	assert.Equal(t, "paid", start.WaitEvent)
	assert.Equal(t, "w", start.Next)
	assert.Equal(t, journey.EnrActive, start.Status)

	pos := Position{Step: "w", WakeAt: start.WakeAt, WaitEvent: "paid"}
	early := Decide(Input{Def: def, Pos: pos, Now: wake.Add(-time.Nanosecond)})
	assert.True(t, early.NotDue)

	timeout := Decide(Input{Def: def, Pos: pos, Now: wake})
	assert.Equal(t, journey.ResultWoke, timeout.Record.Result)
	assert.Equal(t, WokeByTimeout, timeout.Record.Branch)
	assert.Equal(t, "nudge", timeout.Next)
	assert.Nil(t, timeout.WakeAt)

	pos.WokeByEvent = true
	byEvent := Decide(Input{Def: def, Pos: pos, Now: monday.Add(time.Hour)})
	assert.Equal(t, WokeByEvent, byEvent.Record.Branch)
	assert.Equal(t, "thanks", byEvent.Next)
	assert.Equal(t, monday.Add(time.Hour), byEvent.Due)
}

func TestExitWhenConditionIsCheckedBeforeEveryStep(t *testing.T) {
	def := parse(t, `{"name": "X", "trigger": {"manual": {}},
		"steps": [{"id": "a", "type": "send", "templateId": "a"}],
		"exitWhen": {"condition": {"property": "plan", "operator": "eq", "value": "pro"}}}`)
	free := rules.Facts{Contact: rules.Contact{Properties: map[string]any{"plan": "free"}}}
	assert.NotNil(t, Decide(Input{Def: def, Pos: Position{Step: "a"}, Facts: free, Now: monday}).Send)
	pro := rules.Facts{Contact: rules.Contact{Properties: map[string]any{"plan": "pro"}}}
	d := Decide(Input{Def: def, Pos: Position{Step: "a"}, Facts: pro, Now: monday})
	assert.Nil(t, d.Send)
	assert.Equal(t, journey.EnrExited, d.Status)
	assert.Equal(t, journey.ResultExited, d.Record.Result)
	assert.Equal(t, ReasonExitCondition, d.Reason)
	assert.Equal(t, "a", d.Record.Step)
}

func TestSimulateThreeSteps(t *testing.T) {
	def := parse(t, threeSteps)
	t.Run("without the event: nudge", func(t *testing.T) {
		p, err := Simulate(def, rules.Facts{}, "", nil, monday)
		require.NoError(t, err)
		wake := monday.Add(48 * time.Hour)
		assert.Equal(t, []SimStep{
			{StepID: "hello", Type: "send", At: monday, Result: journey.ResultSent, TemplateID: "hello", Next: "pause"},
			{StepID: "pause", Type: "wait", At: monday, Result: journey.ResultWaiting, WakeAt: &wake, Next: "pause"},
			{StepID: "pause", Type: "wait", At: wake, Result: journey.ResultWoke, Branch: WokeByTimeout, Next: "check"},
			{StepID: "check", Type: "branch", At: wake, Result: journey.ResultBranch, Branch: "else", Next: "nudge"},
			{StepID: "nudge", Type: "send", At: wake, Result: journey.ResultSent, TemplateID: "nudge"},
		}, p.Steps)
		assert.Equal(t, journey.EnrCompleted, p.Outcome)
		assert.Equal(t, wake, p.EndedAt)
	})
	t.Run("with the event during the wait: tips", func(t *testing.T) {
		p, err := Simulate(def, rules.Facts{}, "", []SimEvent{{Name: "activated", At: monday.Add(time.Hour)}}, monday)
		require.NoError(t, err)
		require.Len(t, p.Steps, 5)
		assert.Equal(t, "then", p.Steps[3].Branch)
		assert.Equal(t, "tips", p.Steps[4].StepID)
	})
	t.Run("an event after the branch does not count", func(t *testing.T) {
		p, err := Simulate(def, rules.Facts{}, "", []SimEvent{{Name: "activated", At: monday.Add(49 * time.Hour)}}, monday)
		require.NoError(t, err)
		assert.Equal(t, "else", p.Steps[3].Branch)
	})
}

func TestSimulateUntilEventAndExits(t *testing.T) {
	def := parse(t, `{"name": "U", "trigger": {"manual": {}},
		"steps": [
			{"id": "w", "type": "wait", "until": {"event": "paid", "timeout": "P3D"}, "next": "thanks", "timeoutNext": "nudge"},
			{"id": "thanks", "type": "send", "templateId": "thanks"},
			{"id": "nudge", "type": "send", "templateId": "nudge"}
		],
		"exitWhen": {"event": "churned"}}`)
	paid := monday.Add(5 * time.Hour)
	p, err := Simulate(def, rules.Facts{}, "", []SimEvent{{Name: "paid", At: monday.Add(-time.Hour)}, {Name: "paid", At: paid}}, monday)
	require.NoError(t, err)
	require.Len(t, p.Steps, 3)
	assert.Equal(t, SimStep{StepID: "w", Type: "wait", At: paid, Result: journey.ResultWoke, Branch: WokeByEvent, Next: "thanks"}, p.Steps[1])
	assert.Equal(t, paid, p.Steps[2].At)

	churned := monday.Add(time.Hour)
	p, err = Simulate(def, rules.Facts{}, "", []SimEvent{{Name: "churned", At: churned}, {Name: "paid", At: paid}}, monday)
	require.NoError(t, err)
	require.Len(t, p.Steps, 2)
	assert.Equal(t, journey.EnrExited, p.Outcome)
	assert.Equal(t, SimStep{StepID: "w", Type: "wait", At: churned, Result: journey.ResultExited, Reason: ExitEventReason("churned")}, p.Steps[1])
}

func TestSimulateStopsALoop(t *testing.T) {
	def := parse(t, `{"name": "L", "trigger": {"manual": {}},
		"steps": [{"id": "tick", "type": "wait", "duration": "PT1M", "next": "tick"}]}`)
	p, err := Simulate(def, rules.Facts{}, "", nil, monday)
	require.NoError(t, err)
	assert.Equal(t, OutcomeActive, p.Outcome)
	assert.Equal(t, MaxSimSteps, len(p.Steps))
	assert.Contains(t, p.Reason, "1000 steps")

	long := parse(t, `{"name": "L", "trigger": {"manual": {}},
		"steps": [{"id": "tock", "type": "wait", "duration": "P365D", "next": "tock"}]}`)
	p, err = Simulate(long, rules.Facts{}, "", nil, monday)
	require.NoError(t, err)
	assert.Equal(t, OutcomeActive, p.Outcome)
	assert.Contains(t, p.Reason, "730 days")
	assert.LessOrEqual(t, len(p.Steps), 6)
}

func TestSimulateDefersToTheWindow(t *testing.T) {
	def := parse(t, window(`["mon"]`, "09:00", "10:00", "contact"))
	p, err := Simulate(def, rules.Facts{}, "Europe/Paris", nil, monday.Add(2*time.Hour)) // 11:00 in Paris
	require.NoError(t, err)
	next := time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)
	require.Len(t, p.Steps, 2)
	assert.Equal(t, journey.ResultDeferred, p.Steps[0].Result)
	assert.Equal(t, &next, p.Steps[0].WakeAt)
	assert.Equal(t, SimStep{StepID: "hello", Type: "send", At: next, Result: journey.ResultSent, TemplateID: "hello"}, p.Steps[1])
}

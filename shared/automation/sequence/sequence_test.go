package sequence

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/segments/rules"
)

var (
	epoch  = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	segID  = ids.New("seg", epoch)
	cmpID  = ids.New("cmp", epoch)
	welcom = `{
		"name": "Welcome series",
		"campaignId": "` + cmpID + `",
		"trigger": {"event": "signed_up", "where": [{"property": "plan", "operator": "eq", "value": "pro"}]},
		"steps": [
			{"id": "welcome", "type": "send", "templateId": "welcome", "version": 2, "from": "Acme <hi@acme.example>",
			 "data": {"coupon": "WELCOME10"}, "next": "pause"},
			{"id": "pause", "type": "wait", "duration": "PT1M", "next": "check"},
			{"id": "check", "type": "branch", "if": {"event": "activated"}, "then": "tips", "else": "nudge"},
			{"id": "tips", "type": "send", "templateId": "tips"},
			{"id": "nudge", "type": "send", "templateId": "activate-nudge"}
		],
		"exitWhen": {"event": "unsubscribed"},
		"reentry": {"after": "P30D"},
		"sendWindow": {"days": ["fri", "mon", "tue", "wed", "thu"], "from": "09:00", "to": "17:30", "timezone": "Europe/Paris"}
	}`
)

func mustParse(t *testing.T, doc string) *Definition {
	t.Helper()
	d, err := Parse(json.RawMessage(doc))
	require.NoError(t, err, doc)
	require.NotNil(t, d)
	return d
}

// walk returns the ids of the steps reachable from the entry, breadth first.
func walk(t *testing.T, d *Definition) []string {
	t.Helper()
	seen := map[string]bool{d.Entry().ID: true}
	order := []string{d.Entry().ID}
	for i := 0; i < len(order); i++ {
		s, ok := d.Step(order[i])
		require.True(t, ok, order[i])
		for _, tg := range s.Targets() {
			_, ok := d.Step(tg.ID)
			require.True(t, ok, "%s.%s → %s", s.ID, tg.Field, tg.ID)
			if !seen[tg.ID] {
				seen[tg.ID] = true
				order = append(order, tg.ID)
			}
		}
	}
	return order
}

func TestParseWelcomeSequence(t *testing.T) {
	d := mustParse(t, welcom)

	assert.Equal(t, "Welcome series", d.Name)
	assert.Equal(t, cmpID, d.CampaignID)
	assert.Equal(t, TriggerEvent, d.Trigger.Kind)
	assert.Equal(t, "signed_up", d.Trigger.Event)
	require.NotNil(t, d.Trigger.Where)
	assert.True(t, d.Trigger.Matches("signed_up", map[string]any{"plan": "pro"}))
	assert.False(t, d.Trigger.Matches("signed_up", map[string]any{"plan": "free"}))
	assert.False(t, d.Trigger.Matches("activated", map[string]any{"plan": "pro"}))

	require.Len(t, d.Steps, 5)
	assert.Equal(t, "welcome", d.Entry().ID)
	assert.Equal(t, []string{"welcome", "pause", "check", "tips", "nudge"}, walk(t, d))

	send := d.Entry()
	require.NotNil(t, send.Send)
	assert.Equal(t, StepSend, send.Type)
	assert.Equal(t, Send{TemplateID: "welcome", Version: 2, From: "Acme <hi@acme.example>", Data: json.RawMessage(`{"coupon":"WELCOME10"}`)}, *send.Send)
	assert.Equal(t, "pause", send.Next)

	pause, ok := d.Step("pause")
	require.True(t, ok)
	require.NotNil(t, pause.Wait)
	assert.Equal(t, time.Minute, pause.Wait.Duration)
	assert.Nil(t, pause.Wait.Until)

	check, ok := d.Step("check")
	require.True(t, ok)
	require.NotNil(t, check.Branch)
	assert.Equal(t, []Target{{"then", "tips"}, {"else", "nudge"}}, check.Targets())
	// The branch's condition is a rules.Rule the runner can evaluate.
	active := rules.Facts{Events: map[string][]time.Time{rules.CounterKey("activated", nil): {epoch}}}
	member, _ := check.Branch.If.Eval(active, epoch)
	assert.True(t, member)
	member, _ = check.Branch.If.Eval(rules.Facts{}, epoch)
	assert.False(t, member)

	tips, ok := d.Step("tips")
	require.True(t, ok)
	assert.Empty(t, tips.Targets(), "no next: the journey completes")
	_, ok = d.Step("nope")
	assert.False(t, ok)

	assert.Equal(t, &ExitWhen{Event: "unsubscribed"}, d.ExitWhen)
	assert.Equal(t, Reentry{Mode: ReentryAfter, After: 30 * 24 * time.Hour}, d.Reentry)
	require.NotNil(t, d.SendWindow)
	w := d.SendWindow
	assert.Equal(t, []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, w.Days)
	assert.Equal(t, 9*60, w.From)
	assert.Equal(t, 17*60+30, w.To)
	assert.Equal(t, "Europe/Paris", w.Timezone)
	require.NotNil(t, w.Location)
	assert.Equal(t, "Europe/Paris", w.Location.String())
	assert.True(t, w.Allows(time.Monday, 9*60))
	assert.False(t, w.Allows(time.Monday, 17*60+30), "to is exclusive")
	assert.False(t, w.Allows(time.Saturday, 10*60))
}

func TestParseValidVariants(t *testing.T) {
	cases := []struct {
		name  string
		doc   string
		check func(t *testing.T, d *Definition)
	}{
		{"defaults", `{"name": " Minimal ", "trigger": {"manual": {}}, "steps": [{"id": "s1", "type": "exit"}]}`,
			func(t *testing.T, d *Definition) {
				assert.Equal(t, "Minimal", d.Name)
				assert.Equal(t, TriggerManual, d.Trigger.Kind)
				assert.Equal(t, Reentry{Mode: ReentryNever}, d.Reentry)
				assert.Nil(t, d.ExitWhen)
				assert.Nil(t, d.SendWindow)
				assert.Empty(t, d.CampaignID)
			}},
		{"nulls are absent", `{"name": "N", "campaignId": null, "trigger": {"contactCreated": {}, "manual": null}, "steps": [{"id": "s1", "type": "send", "templateId": "t", "next": null}], "reentry": null}`,
			func(t *testing.T, d *Definition) {
				assert.Equal(t, TriggerContactCreated, d.Trigger.Kind)
				assert.Empty(t, d.Entry().Next)
			}},
		{"segment triggers", `{"name": "N", "trigger": {"segmentExited": "` + segID + `"}, "steps": [{"id": "s1", "type": "webhook"}]}`,
			func(t *testing.T, d *Definition) {
				assert.Equal(t, Trigger{Kind: TriggerSegmentExited, Segment: segID}, d.Trigger)
				assert.False(t, d.Trigger.Matches("signed_up", nil))
				require.NotNil(t, d.Entry().Webhook)
				assert.Nil(t, d.Entry().Webhook.Data)
			}},
		{"event trigger without where", `{"name": "N", "trigger": {"event": "app:opened"}, "steps": [{"id": "s1", "type": "exit"}]}`,
			func(t *testing.T, d *Definition) {
				assert.Nil(t, d.Trigger.Where)
				assert.True(t, d.Trigger.Matches("app:opened", nil))
			}},
		{"wait until", `{"name": "N", "trigger": {"manual": {}}, "steps": [
				{"id": "w", "type": "wait", "until": {"event": "purchased", "timeout": "P3D"}, "next": "thanks", "timeoutNext": "remind"},
				{"id": "thanks", "type": "send", "templateId": "thanks"},
				{"id": "remind", "type": "send", "templateId": "remind"}]}`,
			func(t *testing.T, d *Definition) {
				w := d.Entry()
				require.NotNil(t, w.Wait)
				assert.Equal(t, &Until{Event: "purchased", Timeout: 72 * time.Hour, TimeoutNext: "remind"}, w.Wait.Until)
				assert.Equal(t, []Target{{"next", "thanks"}, {"timeoutNext", "remind"}}, w.Targets())
				assert.Equal(t, []string{"w", "thanks", "remind"}, walk(t, d))
			}},
		{"wait until with both ends open", `{"name": "N", "trigger": {"manual": {}}, "steps": [
				{"id": "w", "type": "wait", "until": {"event": "purchased", "timeout": "PT12H"}}]}`,
			func(t *testing.T, d *Definition) {
				assert.Empty(t, d.Entry().Targets())
			}},
		{"a cycle through a wait", `{"name": "N", "trigger": {"manual": {}}, "steps": [
				{"id": "s1", "type": "send", "templateId": "digest", "next": "s2"},
				{"id": "s2", "type": "wait", "duration": "P7D", "next": "s3"},
				{"id": "s3", "type": "branch", "if": {"tag": "stop"}, "then": "s4", "else": "s1"},
				{"id": "s4", "type": "exit"}]}`,
			func(t *testing.T, d *Definition) {
				assert.Equal(t, []string{"s1", "s2", "s3", "s4"}, walk(t, d))
			}},
		{"a wait looping on itself", `{"name": "N", "trigger": {"manual": {}}, "steps": [
				{"id": "s1", "type": "wait", "duration": "P1DT2H30M", "next": "s1"}]}`,
			func(t *testing.T, d *Definition) {
				assert.Equal(t, 26*time.Hour+30*time.Minute, d.Entry().Wait.Duration)
			}},
		{"update", `{"name": "N", "trigger": {"manual": {}}, "steps": [
				{"id": "u", "type": "update", "set": {"stage": "onboarded", "score": 3, "labels": ["a", 1, true, null]},
				 "unset": ["trial", "trial"], "addTags": [" vip ", "vip"], "removeTags": ["lead"]}]}`,
			func(t *testing.T, d *Definition) {
				u := d.Entry().Update
				require.NotNil(t, u)
				assert.Equal(t, map[string]any{"stage": "onboarded", "score": 3.0, "labels": []any{"a", 1.0, true, nil}}, u.Set)
				assert.Equal(t, []string{"trial"}, u.Unset)
				assert.Equal(t, []string{"vip"}, u.AddTags)
				assert.Equal(t, []string{"lead"}, u.RemoveTags)
			}},
		{"exitWhen condition, reentry always, contact zone", `{"name": "N", "trigger": {"manual": {}}, "steps": [{"id": "s1", "type": "exit"}],
				"exitWhen": {"condition": {"property": "plan", "operator": "eq", "value": "enterprise"}},
				"reentry": "always", "sendWindow": {"days": ["sat"], "from": "00:00", "to": "23:59"}}`,
			func(t *testing.T, d *Definition) {
				require.NotNil(t, d.ExitWhen)
				require.NotNil(t, d.ExitWhen.Condition)
				member, _ := d.ExitWhen.Condition.Eval(rules.Facts{Contact: rules.Contact{Properties: map[string]any{"plan": "enterprise"}}}, epoch)
				assert.True(t, member)
				assert.Equal(t, Reentry{Mode: ReentryAlways}, d.Reentry)
				assert.Equal(t, &SendWindow{Days: []time.Weekday{time.Saturday}, From: 0, To: 23*60 + 59, Timezone: "contact"}, d.SendWindow)
			}},
		{"sendWindow UTC", `{"name": "N", "trigger": {"manual": {}}, "steps": [{"id": "s1", "type": "exit"}],
				"sendWindow": {"days": ["sun", "sat"], "from": "10:00", "to": "12:00", "timezone": "UTC"}}`,
			func(t *testing.T, d *Definition) {
				assert.Equal(t, []time.Weekday{time.Saturday, time.Sunday}, d.SendWindow.Days)
				assert.Equal(t, time.UTC, d.SendWindow.Location)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, mustParse(t, c.doc))
		})
	}
}

// doc is a valid document with steps (a JSON list) and extra top-level
// members (",\"k\": v" or "").
func doc(steps, extra string) string {
	return `{"name": "N", "trigger": {"event": "signed_up"}, "steps": ` + steps + extra + `}`
}

const oneSend = `[{"id": "s1", "type": "send", "templateId": "welcome"}]`

func TestParseInvalid(t *testing.T) {
	cases := []struct {
		name, doc, field, fragment string
	}{
		// The document.
		{"not json", `{"name":`, "body", "valid JSON"},
		{"not an object", `[1, 2]`, "body", "JSON object"},
		{"empty", ``, "body", "sequence definition"},
		{"unknown top-level field", doc(oneSend, `, "colour": "blue"`), "colour", "not allowed in a sequence"},
		{"missing name", `{"trigger": {"manual": {}}, "steps": ` + oneSend + `}`, "name", "is required"},
		{"blank name", `{"name": "  ", "trigger": {"manual": {}}, "steps": ` + oneSend + `}`, "name", "is required"},
		{"name too long", `{"name": "` + strings.Repeat("é", 201) + `", "trigger": {"manual": {}}, "steps": ` + oneSend + `}`, "name", "at most 200 characters"},
		{"name not a string", `{"name": 7, "trigger": {"manual": {}}, "steps": ` + oneSend + `}`, "name", "must be a string"},
		{"bad campaign id", doc(oneSend, `, "campaignId": "camp_1"`), "campaignId", "campaign id (cmp_…)"},

		// The trigger.
		{"missing trigger", `{"name": "N", "steps": ` + oneSend + `}`, "trigger", "is required"},
		{"empty trigger", `{"name": "N", "trigger": {}, "steps": ` + oneSend + `}`, "trigger", "must have one of the keys event, contactCreated"},
		{"two triggers", `{"name": "N", "trigger": {"event": "signed_up", "manual": {}}, "steps": ` + oneSend + `}`, "trigger", "not both 'event' and 'manual'"},
		{"unknown trigger", `{"name": "N", "trigger": {"pageViewed": {}}, "steps": ` + oneSend + `}`, "trigger.pageViewed", "is not allowed in a trigger"},
		{"bad event name", `{"name": "N", "trigger": {"event": "signed up"}, "steps": ` + oneSend + `}`, "trigger.event", "event name ([A-Za-z0-9_.:-]{1,100})"},
		{"event name too long", `{"name": "N", "trigger": {"event": "` + strings.Repeat("e", 101) + `"}, "steps": ` + oneSend + `}`, "trigger.event", "event name"},
		{"bad segment id", `{"name": "N", "trigger": {"segmentEntered": "seg_123"}, "steps": ` + oneSend + `}`, "trigger.segmentEntered", "segment id (seg_…)"},
		{"where without event", `{"name": "N", "trigger": {"manual": {}, "where": []}, "steps": ` + oneSend + `}`, "trigger.where", "only with an 'event' trigger"},
		{"bad where operator", `{"name": "N", "trigger": {"event": "e", "where": [{"property": "plan", "operator": "is", "value": 1}]}, "steps": ` + oneSend + `}`,
			"trigger.where[0].operator", "The 'trigger.where[0].operator' field must be one of eq"},
		{"empty where", `{"name": "N", "trigger": {"event": "e", "where": []}, "steps": ` + oneSend + `}`, "trigger.where", "list of 1 to 10"},
		{"manual with members", `{"name": "N", "trigger": {"manual": {"by": "me"}}, "steps": ` + oneSend + `}`, "trigger.manual.by", "empty object"},
		{"contactCreated not an object", `{"name": "N", "trigger": {"contactCreated": true}, "steps": ` + oneSend + `}`, "trigger.contactCreated", "must be an object"},

		// The steps.
		{"missing steps", `{"name": "N", "trigger": {"manual": {}}}`, "steps", "is required"},
		{"no steps", doc(`[]`, ``), "steps", "1 to 100 steps"},
		{"too many steps", doc(`[`+strings.Repeat(`{"id": "x", "type": "exit"},`, 100)+`{"id": "y", "type": "exit"}]`, ``), "steps", "1 to 100 steps"},
		{"steps not a list", doc(`{}`, ``), "steps", "list of steps"},
		{"step not an object", doc(`["s1"]`, ``), "steps[0]", "must be an object"},
		{"missing step id", doc(`[{"type": "exit"}]`, ``), "steps[0].id", "is required"},
		{"bad step id", doc(`[{"id": "s 1", "type": "exit"}]`, ``), "steps[0].id", "must be a step id"},
		{"step id too long", doc(`[{"id": "`+strings.Repeat("a", 65)+`", "type": "exit"}]`, ``), "steps[0].id", "1 to 64"},
		{"duplicate step id", doc(`[{"id": "s1", "type": "send", "templateId": "a", "next": "s1b"}, {"id": "s1", "type": "exit"}]`, ``), "steps[1].id", "repeats the id 's1' of steps[0]"},
		{"missing type", doc(`[{"id": "s1"}]`, ``), "steps[0].type", "is required"},
		{"unknown type", doc(`[{"id": "s1", "type": "sms"}]`, ``), "steps[0].type", "one of send, wait, branch, update, webhook, exit"},
		{"unknown field in a step", doc(`[{"id": "s1", "type": "send", "templateId": "a", "subject": "Hi"}]`, ``), "steps[0].subject", "not allowed in a 'send' step"},
		{"send without templateId", doc(`[{"id": "s1", "type": "send"}]`, ``), "steps[0].templateId", "is required"},
		{"send bad templateId", doc(`[{"id": "s1", "type": "send", "templateId": "Welcome"}]`, ``), "steps[0].templateId", "template id"},
		{"send version 0", doc(`[{"id": "s1", "type": "send", "templateId": "a", "version": 0}]`, ``), "steps[0].version", "at least 1"},
		{"send version 1.5", doc(`[{"id": "s1", "type": "send", "templateId": "a", "version": 1.5}]`, ``), "steps[0].version", "whole number"},
		{"send bad from", doc(`[{"id": "s1", "type": "send", "templateId": "a", "from": "acme"}]`, ``), "steps[0].from", "email address"},
		{"send data not an object", doc(`[{"id": "s1", "type": "send", "templateId": "a", "data": [1]}]`, ``), "steps[0].data", "must be an object"},
		{"webhook data too large", doc(`[{"id": "s1", "type": "webhook", "data": {"x": "`+strings.Repeat("x", 32<<10)+`"}}]`, ``), "steps[0].data", "at most 32 KB"},
		{"wait PT30S", doc(`[{"id": "s1", "type": "wait", "duration": "PT30S"}]`, ``), "steps[0].duration", "at least 1 minute (PT1M)"},
		{"wait P400D", doc(`[{"id": "s1", "type": "wait", "duration": "P400D"}]`, ``), "steps[0].duration", "at most 365 days (P365D)"},
		{"wait P1M", doc(`[{"id": "s1", "type": "wait", "duration": "P1M"}]`, ``), "steps[0].duration", "years, months or weeks"},
		{"wait P2W", doc(`[{"id": "s1", "type": "wait", "duration": "P2W"}]`, ``), "steps[0].duration", "years, months or weeks"},
		{"wait 2 days", doc(`[{"id": "s1", "type": "wait", "duration": "2 days"}]`, ``), "steps[0].duration", "ISO 8601 duration"},
		{"wait without a duration", doc(`[{"id": "s1", "type": "wait"}]`, ``), "steps[0]", "must have 'duration' or 'until'"},
		{"wait with duration and until", doc(`[{"id": "s1", "type": "wait", "duration": "P1D", "until": {"event": "e", "timeout": "P1D"}}]`, ``), "steps[0]", "not both"},
		{"timeoutNext without until", doc(`[{"id": "s1", "type": "wait", "duration": "P1D", "timeoutNext": "s1"}]`, ``), "steps[0].timeoutNext", "only with 'until'"},
		{"until without timeout", doc(`[{"id": "s1", "type": "wait", "until": {"event": "e"}}]`, ``), "steps[0].until.timeout", "is required"},
		{"until timeout too long", doc(`[{"id": "s1", "type": "wait", "until": {"event": "e", "timeout": "P366D"}}]`, ``), "steps[0].until.timeout", "at most 365 days"},
		{"until bad event", doc(`[{"id": "s1", "type": "wait", "until": {"event": "", "timeout": "P1D"}}]`, ``), "steps[0].until.event", "event name"},
		{"until unknown field", doc(`[{"id": "s1", "type": "wait", "until": {"event": "e", "timeout": "P1D", "where": []}}]`, ``), "steps[0].until.where", "not allowed in 'until'"},
		{"branch missing if", doc(`[{"id": "s1", "type": "branch", "then": "s1", "else": "s1"}]`, ``), "steps[0].if", "is required"},
		{"branch missing else", doc(`[{"id": "s1", "type": "branch", "if": {"tag": "vip"}, "then": "s2"}, {"id": "s2", "type": "exit"}]`, ``), "steps[0].else", "is required"},
		{"branch bad condition", doc(`[{"id": "s0", "type": "send", "templateId": "a", "next": "s1"},
				{"id": "s1", "type": "branch", "if": {"all": [{"property": "plan", "operator": "like", "value": "x"}]}, "then": "s2", "else": "s2"},
				{"id": "s2", "type": "exit"}]`, ``), "steps[1].if.all[0].operator", "The 'steps[1].if.all[0].operator' field must be one of"},
		{"branch condition not an object", doc(`[{"id": "s1", "type": "branch", "if": [], "then": "s2", "else": "s2"}, {"id": "s2", "type": "exit"}]`, ``), "steps[0].if", "The 'steps[0].if' field must be an object"},
		{"update with nothing", doc(`[{"id": "s1", "type": "update", "set": {}, "addTags": []}]`, ``), "steps[0]", "at least one of 'set', 'unset', 'addTags' and 'removeTags'"},
		{"update bad property", doc(`[{"id": "s1", "type": "update", "set": {"first name": "Ada"}}]`, ``), "steps[0].set", "not a property name"},
		{"update bad value", doc(`[{"id": "s1", "type": "update", "set": {"address": {"city": "Paris"}}}]`, ``), "steps[0].set.address", "string, number, boolean, null"},
		{"update set and unset", doc(`[{"id": "s1", "type": "update", "set": {"plan": "pro"}, "unset": ["plan"]}]`, ``), "steps[0].unset[0]", "both set and unset"},
		{"update empty tag", doc(`[{"id": "s1", "type": "update", "addTags": ["vip", " "]}]`, ``), "steps[0].addTags[1]", "non-empty string of at most 64"},
		{"update add and remove a tag", doc(`[{"id": "s1", "type": "update", "addTags": ["vip"], "removeTags": ["vip"]}]`, ``), "steps[0].removeTags[0]", "both added and removed"},
		{"exit with next", doc(`[{"id": "s1", "type": "exit", "next": "s1"}]`, ``), "steps[0].next", "not allowed in an 'exit' step"},
		{"bad next syntax", doc(`[{"id": "s1", "type": "send", "templateId": "a", "next": 2}]`, ``), "steps[0].next", "id of a step"},

		// The graph.
		{"unknown next", doc(`[{"id": "s1", "type": "send", "templateId": "a", "next": "s9"}]`, ``), "steps[0].next", "names the step 's9', and there is no such step"},
		{"unknown then", doc(`[{"id": "s1", "type": "branch", "if": {"tag": "vip"}, "then": "s9", "else": "s2"}, {"id": "s2", "type": "exit"}]`, ``), "steps[0].then", "no such step"},
		{"unknown timeoutNext", doc(`[{"id": "s1", "type": "wait", "until": {"event": "e", "timeout": "P1D"}, "timeoutNext": "s9"}]`, ``), "steps[0].timeoutNext", "no such step"},
		{"unreachable step", doc(`[{"id": "s1", "type": "send", "templateId": "a", "next": "s2"}, {"id": "s2", "type": "exit"}, {"id": "s3", "type": "send", "templateId": "b", "next": "s2"}]`, ``),
			"steps[2]", "The step 's3' (steps[2]) cannot be reached from the first step 's1'"},
		{"cycle without a wait", doc(`[{"id": "s1", "type": "send", "templateId": "a", "next": "s2"}, {"id": "s2", "type": "send", "templateId": "b", "next": "s1"}]`, ``),
			"steps[1].next", "loop without a wait step (s1 → s2 → s1)"},
		{"cycle through a branch without a wait", doc(`[{"id": "s1", "type": "wait", "duration": "P1D", "next": "s2"},
				{"id": "s2", "type": "update", "addTags": ["x"], "next": "s3"},
				{"id": "s3", "type": "branch", "if": {"tag": "y"}, "then": "s4", "else": "s2"},
				{"id": "s4", "type": "exit"}]`, ``),
			"steps[2].else", "(s2 → s3 → s2)"},
		{"self-loop on a send", doc(`[{"id": "s1", "type": "send", "templateId": "a", "next": "s1"}]`, ``), "steps[0].next", "cannot name its own step 's1'"},
		{"self-loop on a branch", doc(`[{"id": "s1", "type": "branch", "if": {"tag": "y"}, "then": "s2", "else": "s1"}, {"id": "s2", "type": "exit"}]`, ``), "steps[0].else", "only a wait step may loop on itself"},

		// exitWhen, reentry, sendWindow.
		{"exitWhen empty", doc(oneSend, `, "exitWhen": {}`), "exitWhen", "one of 'condition' and 'event'"},
		{"exitWhen both", doc(oneSend, `, "exitWhen": {"event": "e", "condition": {"tag": "x"}}`), "exitWhen", "not both"},
		{"exitWhen unknown key", doc(oneSend, `, "exitWhen": {"segment": "x"}`), "exitWhen.segment", "not allowed in 'exitWhen'"},
		{"exitWhen bad event", doc(oneSend, `, "exitWhen": {"event": "a b"}`), "exitWhen.event", "event name"},
		{"exitWhen bad condition", doc(oneSend, `, "exitWhen": {"condition": {"any": [{"tag": "x"}, {"segment": "nope"}]}}`), "exitWhen.condition.any[1].segment", "The 'exitWhen.condition.any[1].segment' field must be a segment id"},
		{"bad reentry", doc(oneSend, `, "reentry": "sometimes"`), "reentry", `"never", "always" or {"after": "P30D"}`},
		{"reentry without after", doc(oneSend, `, "reentry": {}`), "reentry", `{"after": "P30D"}`},
		{"reentry after a year", doc(oneSend, `, "reentry": {"after": "P1Y"}`), "reentry.after", "years, months or weeks"},
		{"reentry unknown key", doc(oneSend, `, "reentry": {"after": "P1D", "max": 3}`), "reentry.max", "not allowed"},
		{"sendWindow without days", doc(oneSend, `, "sendWindow": {"from": "09:00", "to": "17:00"}`), "sendWindow.days", "is required"},
		{"sendWindow no days", doc(oneSend, `, "sendWindow": {"days": [], "from": "09:00", "to": "17:00"}`), "sendWindow.days", "non-empty list of days"},
		{"sendWindow bad day", doc(oneSend, `, "sendWindow": {"days": ["mon", "monday"], "from": "09:00", "to": "17:00"}`), "sendWindow.days[1]", "one of mon, tue"},
		{"sendWindow repeated day", doc(oneSend, `, "sendWindow": {"days": ["mon", "tue", "mon"], "from": "09:00", "to": "17:00"}`), "sendWindow.days[2]", "repeats 'mon'"},
		{"sendWindow bad from", doc(oneSend, `, "sendWindow": {"days": ["mon"], "from": "9:00", "to": "17:00"}`), "sendWindow.from", "HH:MM"},
		{"sendWindow 24:00", doc(oneSend, `, "sendWindow": {"days": ["mon"], "from": "09:00", "to": "24:00"}`), "sendWindow.to", "HH:MM"},
		{"sendWindow missing to", doc(oneSend, `, "sendWindow": {"days": ["mon"], "from": "09:00"}`), "sendWindow.to", "is required"},
		{"sendWindow from equals to", doc(oneSend, `, "sendWindow": {"days": ["mon"], "from": "09:00", "to": "09:00"}`), "sendWindow.to", "later than 'from'"},
		{"sendWindow from after to", doc(oneSend, `, "sendWindow": {"days": ["mon"], "from": "22:00", "to": "06:00"}`), "sendWindow.to", "span midnight"},
		{"sendWindow unknown zone", doc(oneSend, `, "sendWindow": {"days": ["mon"], "from": "09:00", "to": "17:00", "timezone": "Mars/Olympus"}`), "sendWindow.timezone", "'Mars/Olympus' is not known"},
		{"sendWindow Local zone", doc(oneSend, `, "sendWindow": {"days": ["mon"], "from": "09:00", "to": "17:00", "timezone": "Local"}`), "sendWindow.timezone", "IANA time zone"},
		{"sendWindow unknown key", doc(oneSend, `, "sendWindow": {"days": ["mon"], "from": "09:00", "to": "17:00", "tz": "UTC"}`), "sendWindow.tz", "not allowed in 'sendWindow'"},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		require.False(t, seen[c.name], "duplicate case %q", c.name)
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse(json.RawMessage(c.doc))
			require.Error(t, err)
			assert.Nil(t, d)
			var v *errs.Validation
			require.True(t, errors.As(err, &v), "%T: %v", err, err)
			assert.Equal(t, c.field, v.Field, v.Message)
			assert.Contains(t, v.Message, c.fragment)
			if c.field != "body" {
				assert.Contains(t, v.Message, c.field, "the message names the path")
			}
			assert.False(t, errs.Retryable(err))
		})
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in      string
		want    time.Duration
		problem string // a fragment; "" for none
	}{
		{"PT1M", time.Minute, ""},
		{"PT90M", 90 * time.Minute, ""},
		{"PT12H", 12 * time.Hour, ""},
		{"P2D", 48 * time.Hour, ""},
		{"P1DT2H", 26 * time.Hour, ""},
		{"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second, ""},
		{"PT30S", 30 * time.Second, ""},
		{"P0D", 0, ""},
		{"P999999D", MaxWait + time.Second, ""}, // capped just over the limit, no overflow
		{"P1Y", 0, "years, months or weeks"},
		{"P1M", 0, "years, months or weeks"},
		{"P1W", 0, "years, months or weeks"},
		{"P", 0, "ISO 8601"},
		{"PT", 0, "ISO 8601"},
		{"P1DT", 0, "ISO 8601"},
		{"P1H", 0, "ISO 8601"},
		{"PT1D", 0, "ISO 8601"},
		{"PT1M2H", 0, "ISO 8601"},
		{"P1D1D", 0, "ISO 8601"},
		{"P1.5D", 0, "ISO 8601"},
		{"P-1D", 0, "ISO 8601"},
		{"p1d", 0, "ISO 8601"},
		{"1D", 0, "ISO 8601"},
		{"P1234567D", 0, "ISO 8601"},
		{"", 0, "ISO 8601"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			d, problem := parseDuration(c.in)
			if c.problem == "" {
				assert.Empty(t, problem)
				assert.Equal(t, c.want, d)
				return
			}
			assert.Contains(t, problem, c.problem)
		})
	}
}

func TestRerootKeepsOtherErrors(t *testing.T) {
	plain := errors.New("boom")
	assert.Same(t, plain, reroot(plain, "steps[0].if"))
	got := reroot(errs.Required("definition.all[0].operator"), "steps[3].if")
	var v *errs.Validation
	require.True(t, errors.As(got, &v))
	assert.Equal(t, "steps[3].if.all[0].operator", v.Field)
	assert.Equal(t, "The 'steps[3].if.all[0].operator' field is required.", v.Message)
}

package webhooks_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/webhooks"
)

// catTypes is the catalogue the API promises, sorted.
var catTypes = []string{
	"contact.created", "contact.deleted", "contact.unsubscribed", "contact.updated",
	"domain.verified",
	"email.bounced", "email.clicked", "email.complained", "email.delivered", "email.delivery_delayed",
	"email.failed", "email.opened", "email.sent",
	"event.tracked",
	"import.completed",
	"segment.entered", "segment.exited",
	"sequence.step",
	"test.ping",
}

// catExample is a payload as delivered.
type catExample struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

func TestCatalogueTypes(t *testing.T) {
	cat := webhooks.Catalogue()
	var got []string
	for _, e := range cat {
		got = append(got, e.Type)
	}
	assert.Equal(t, catTypes, got, "exactly the promised types, sorted")
	assert.True(t, slices.IsSorted(got))
	assert.Len(t, slices.Compact(slices.Clone(got)), len(got), "no duplicates")
	for _, typ := range got {
		assert.True(t, webhooks.KnownType(typ), typ)
	}
}

func TestCatalogueExamples(t *testing.T) {
	for _, e := range webhooks.Catalogue() {
		t.Run(e.Type, func(t *testing.T) {
			assert.NotEmpty(t, e.Description)
			assert.True(t, strings.HasSuffix(e.Description, "."), "a sentence: %q", e.Description)
			assert.True(t, strings.HasPrefix(e.Description, "Fires") || strings.HasPrefix(e.Description, "Sent "), "says when it fires: %q", e.Description)
			assert.NotContains(t, e.Description, "%!", "a formatting mistake")

			require.True(t, json.Valid(e.Example), string(e.Example))
			var p catExample
			dec := json.NewDecoder(bytes.NewReader(e.Example))
			dec.DisallowUnknownFields() // the envelope is these four fields
			require.NoError(t, dec.Decode(&p))
			assert.Equal(t, e.Type, p.Type)
			assert.True(t, strings.HasPrefix(p.ID, "evt_"), p.ID)
			at, err := time.Parse(time.RFC3339, p.CreatedAt)
			require.NoError(t, err)
			assert.Equal(t, time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), at, "a fixed time, in UTC")
			require.NotEmpty(t, p.Data)
			assert.Equal(t, byte('{'), p.Data[0], "data is an object: %s", p.Data)

			var data map[string]any
			require.NoError(t, json.Unmarshal(p.Data, &data))
			assert.NotEmpty(t, data)
		})
	}
}

// TestCatalogueDataFitsItsType checks what receivers rely on: the field they
// order by is there, and an email event's send is in that event's status.
func TestCatalogueDataFitsItsType(t *testing.T) {
	for _, e := range webhooks.Catalogue() {
		t.Run(e.Type, func(t *testing.T) {
			var p struct {
				Data map[string]any `json:"data"`
			}
			require.NoError(t, json.Unmarshal(e.Example, &p))
			group, event, _ := strings.Cut(e.Type, ".")
			switch group {
			case "contact":
				assert.Contains(t, p.Data, "updatedAt")
				assert.Contains(t, p.Data, "email")
				assert.Equal(t, event != "unsubscribed", p.Data["subscribed"])
				if event == "unsubscribed" {
					assert.NotNil(t, p.Data["unsubscribedAt"])
				}
			case "email":
				assert.Equal(t, event, p.Data["status"], "the send is in the status the event names")
				assert.Contains(t, p.Data, "statusAt")
				assert.NotContains(t, p.Data, "timeline")
			case "segment":
				assert.Contains(t, p.Data, "segmentId")
				assert.Contains(t, p.Data, "contactId")
				assert.Contains(t, p.Data, "at")
			case "event":
				assert.Contains(t, p.Data, "timestamp")
				assert.Contains(t, p.Data, "contactId")
			case "import":
				assert.Equal(t, "completed", p.Data["status"])
				assert.NotContains(t, p.Data, "uploadUrl")
			case "domain":
				assert.Equal(t, "verified", p.Data["status"])
			case "sequence":
				for _, f := range []string{"sequenceId", "enrollmentId", "contactId", "stepId", "at", "data"} {
					assert.Contains(t, p.Data, f)
				}
			case "test":
				assert.Contains(t, p.Data, "webhookId")
			default:
				t.Errorf("no check for %s", e.Type)
			}
			if strings.Contains(e.Description, "data.") {
				field := strings.TrimRight(strings.Fields(e.Description[strings.Index(e.Description, "data.")+len("data."):])[0], ".,;")
				assert.Contains(t, p.Data, field, "the field the description orders by")
			}
		})
	}
}

func TestCatalogueIsDeterministic(t *testing.T) {
	a, err := json.Marshal(webhooks.Catalogue())
	require.NoError(t, err)
	first := webhooks.Catalogue()
	first[0].Example[0] = 'X' // a caller changing its copy changes nothing for the next
	b, err := json.Marshal(webhooks.Catalogue())
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b))
}

func TestKnownType(t *testing.T) {
	for typ, want := range map[string]bool{
		"contact.created": true, "test.ping": true, "email.delivery_delayed": true,
		"*": false, "": false, "contact.exploded": false, "Contact.Created": false, "contact.created ": false,
	} {
		assert.Equal(t, want, webhooks.KnownType(typ), "%q", typ)
	}
}

func TestSubscribes(t *testing.T) {
	tests := []struct {
		events []string
		typ    string
		want   bool
	}{
		{[]string{"*"}, "contact.created", true},
		{[]string{"*"}, "email.delivery_delayed", true},
		{[]string{"*"}, "test.ping", false},
		{[]string{"*"}, "contact.exploded", false},
		{[]string{"contact.created"}, "contact.created", true},
		{[]string{"contact.created", "email.opened"}, "email.opened", true},
		{[]string{"contact.created"}, "contact.updated", false},
		{[]string{"test.ping"}, "test.ping", true},
		{[]string{"contact.created", "test.ping"}, "test.ping", true},
		{[]string{"contact.created"}, "test.ping", false},
		{[]string{"contact.exploded"}, "contact.exploded", false},
		{[]string{"*", "contact.created"}, "contact.updated", false}, // not a valid list: "*" only counts alone
		{nil, "contact.created", false},
		{[]string{}, "contact.created", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v %s", tc.events, tc.typ), func(t *testing.T) {
			assert.Equal(t, tc.want, webhooks.Subscribes(tc.events, tc.typ))
		})
	}
}

func TestValidateEvents(t *testing.T) {
	many := make([]string, 51)
	for i := range many {
		many[i] = catTypes[i%len(catTypes)]
	}
	tests := []struct {
		name    string
		events  []string
		message string // "" when valid; else a part of the error's message
	}{
		{"one type", []string{"contact.created"}, ""},
		{"several types", []string{"contact.created", "email.bounced", "segment.exited"}, ""},
		{"every type", catTypes, ""},
		{"the test type", []string{"test.ping"}, ""},
		{"all", []string{"*"}, ""},
		{"all and a type", []string{"*", "contact.created"}, `"*" subscribes to every event type and must be alone`},
		{"a type and all", []string{"contact.created", "*"}, `must be alone`},
		{"all twice", []string{"*", "*"}, `must be alone`},
		{"an unknown type", []string{"contact.created", "contact.exploded"},
			"The 'events' field contains an unknown event type 'contact.exploded'; see GET /api/webhooks/event-types."},
		{"an empty type", []string{""}, "unknown event type ''"},
		{"a pattern", []string{"contact.*"}, "unknown event type 'contact.*'"},
		{"a long unknown type, clipped", []string{strings.Repeat("a", 5000)}, "unknown event type '" + strings.Repeat("a", 100) + "…'"},
		{"empty", []string{}, "must list at least one event type"},
		{"none", nil, "must list at least one event type"},
		{"a duplicate", []string{"contact.created", "email.opened", "contact.created"}, "lists 'contact.created' more than once"},
		{"more than 50", many, "at most 50 event types"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhooks.ValidateEvents(tc.events)
			if tc.message == "" {
				assert.NoError(t, err)
				return
			}
			var v *errs.Validation
			require.True(t, errors.As(err, &v), "a validation error: %v", err)
			assert.Equal(t, "events", v.Field)
			assert.Contains(t, v.Message, tc.message)
			assert.Less(t, len(v.Message), 300, "the message stays short")
		})
	}
}

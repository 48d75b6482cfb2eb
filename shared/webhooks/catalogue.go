package webhooks

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
)

// EventType is one type of event an endpoint can subscribe to, as GET
// /api/webhooks/event-types lists it: Example is a whole payload as
// delivered.
type EventType struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Example     json.RawMessage `json:"example"`
}

// An endpoint's subscription.
const (
	// catAll, alone in an endpoint's events, subscribes it to every type of
	// the catalogue but test.ping, including types added later.
	catAll = "*"
	// catMaxEvents bounds the event types one endpoint lists.
	catMaxEvents = 50
)

// TestPing is the type only the test endpoint delivers, on request: a
// subscription never receives it unless it names it.
const TestPing = "test.ping"

// PingData is the data of test.ping, sent by the test endpoint so a
// receiver can check its URL and its signature verification.
type PingData struct {
	WebhookID string `json:"webhookId"`
	Message   string `json:"message"`
}

// catEntry is one type of the catalogue and the data of its example.
type catEntry struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Data        json.RawMessage `json:"data"`
}

// catalogueJSON is every type of the catalogue with the data of its
// example. The data are the API's own types marshalled (a test rebuilds
// them from those types and compares), kept as JSON so this group does not
// link the groups whose resources it delivers.
//
//go:embed catalogue.json
var catalogueJSON []byte

// catEntries reads the catalogue once, on first use.
var catEntries = sync.OnceValue(func() []catEntry {
	var out []catEntry
	if err := json.Unmarshal(catalogueJSON, &out); err != nil {
		panic(fmt.Sprintf("webhooks: catalogue.json: %v", err)) // the tests read it: only a broken build gets here
	}
	return out
})

// catKnown is the set of the catalogue's types.
var catKnown = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, e := range catEntries() {
		m[e.Type] = true
	}
	return m
})

// Catalogue lists every event type webhooks deliver, sorted by type, each
// with a description and an example payload. The examples have fixed ids
// and times, so the list is the same on every call.
func Catalogue() []EventType {
	entries := catEntries()
	out := make([]EventType, 0, len(entries))
	for _, e := range entries {
		body, err := json.Marshal(Payload{ID: "evt_01KKNTWRE00MX2GMA0VE4W6DVP", Type: e.Type, CreatedAt: catCreatedAt, Data: e.Data})
		if err != nil {
			panic(fmt.Sprintf("webhooks: example of %s: %v", e.Type, err))
		}
		out = append(out, EventType{Type: e.Type, Description: e.Description, Example: body})
	}
	slices.SortFunc(out, func(a, b EventType) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// catCreatedAt is the examples' createdAt.
var catCreatedAt = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// KnownType reports whether t is a type of the catalogue.
func KnownType(t string) bool { return catKnown()[t] }

// Subscribes reports whether an endpoint listing events receives events of
// type t: ["*"] receives every type of the catalogue but test.ping, and a
// list receives the types it names. A type the catalogue does not have is
// never delivered, even to "*", so what receivers get stays documented.
func Subscribes(events []string, t string) bool {
	if !KnownType(t) {
		return false
	}
	if len(events) == 1 && events[0] == catAll {
		return t != TestPing
	}
	return slices.Contains(events, t)
}

// ValidateEvents checks an endpoint's events: ["*"] alone, or 1 to
// 50 types of the catalogue, each once.
func ValidateEvents(events []string) error {
	if len(events) == 0 {
		return errs.Invalid("events", "The 'events' field must list at least one event type, or be [\"*\"] for all of them.")
	}
	if len(events) > catMaxEvents {
		return errs.Invalid("events", "The 'events' field may list at most %d event types; use [\"*\"] for all of them.", catMaxEvents)
	}
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		switch {
		case e == catAll:
			if len(events) > 1 {
				return errs.Invalid("events", "In the 'events' field, \"*\" subscribes to every event type and must be alone.")
			}
		case !KnownType(e):
			return errs.Invalid("events", "The 'events' field contains an unknown event type '%s'; see GET /api/webhooks/event-types.", catClip(e))
		case seen[e]:
			return errs.Invalid("events", "The 'events' field lists '%s' more than once.", e)
		}
		seen[e] = true
	}
	return nil
}

// catClip shortens what a client sent before an error repeats it.
func catClip(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

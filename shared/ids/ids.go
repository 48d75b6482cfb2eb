// Package ids makes the prefixed, time-ordered identifiers the API exposes
// (org_…, usr_…, key_…): a prefix and a ULID, so ids sort by creation time.
package ids

import (
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the resource ids.
const (
	Org     = "org"
	User    = "usr"
	APIKey  = "key"
	Request = "req"
	Contact = "cnt"
	Event   = "evt"
	Webhook = "wh"
	// Delivery: one (event, endpoint) pair of a webhook.
	Delivery = "dlv"
	// Replay: a webhook endpoint's replay of a window of events.
	Replay = "rpl"
)

// New returns a new id such as "org_01J9Z3…" for the given prefix and time.
// Ids made in the same millisecond still sort in the order they were made.
func New(prefix string, t time.Time) string {
	return prefix + "_" + ulid.MustNew(ulid.Timestamp(t), ulid.DefaultEntropy()).String()
}

// Valid reports whether id has the given prefix followed by a well-formed ULID.
func Valid(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}

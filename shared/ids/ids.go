// Package ids makes the prefixed, time-ordered identifiers the API exposes
// (org_…, usr_…, key_…): a prefix and a ULID, so ids sort by creation time.
package ids

import (
	"crypto/sha256"
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
	// Enrollment: one contact's run through a sequence.
	Enrollment = "enr"
	// Broadcast: a one-off send to a segment.
	Broadcast = "bc"
	// Campaign: a folder of sequences, broadcasts and templates.
	Campaign = "cmp"
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

// Derive returns the id of prefix that key always gives: a ULID of time t
// whose entropy is the first 80 bits of key's SHA-256. A worker that makes
// the same thing again (a redelivered message, a resumed fan-out) makes it
// under the same id, so a conditional write refuses the copy.
func Derive(prefix string, t time.Time, key string) string {
	sum := sha256.Sum256([]byte(key))
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	_ = u.SetEntropy(sum[:10])
	return prefix + "_" + u.String()
}

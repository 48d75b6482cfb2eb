package engine

import (
	"time"

	"github.com/sendwell/sendwell/shared/automation/sequence"
)

// TimezoneContact is a send window's zone when it is each contact's own.
const TimezoneContact = "contact"

// Location is the zone a send window is read in for a contact whose
// timezone property is timezone: the window's own zone, or for "contact"
// the contact's when it names an IANA zone, else UTC.
func Location(w *sequence.SendWindow, timezone string) *time.Location {
	if w.Location != nil && w.Timezone != TimezoneContact {
		return w.Location
	}
	if timezone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil || timezone == "Local" {
		return time.UTC
	}
	return loc
}

// NextOpening is now when the window is open at now, else the moment it
// next opens, in the window's zone for the contact.
func NextOpening(w *sequence.SendWindow, timezone string, now time.Time) time.Time {
	if at, ok := deferral(w, timezone, now); ok {
		return at
	}
	return now
}

// deferral is the window's next opening when a send at now falls outside
// it; ok false when the send may go now (or there is no window).
func deferral(w *sequence.SendWindow, timezone string, now time.Time) (time.Time, bool) {
	if w == nil || len(w.Days) == 0 {
		return time.Time{}, false
	}
	loc := Location(w, timezone)
	local := now.In(loc)
	if w.Allows(local.Weekday(), local.Hour()*60+local.Minute()) {
		return time.Time{}, false
	}
	y, m, d := local.Date()
	for i := range 8 {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, loc)
		if !w.Allows(day.Weekday(), w.From) {
			continue
		}
		open := time.Date(y, m, d+i, w.From/60, w.From%60, 0, 0, loc)
		if open.After(now) {
			return open.UTC(), true
		}
	}
	// Unreachable for a valid window (a day repeats every week); never
	// send early all the same: try again in a day.
	return now.Add(24 * time.Hour).UTC(), true
}

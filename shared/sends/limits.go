package sends

import "time"

// Limits of a send that callers outside the send API (the broadcasts API)
// apply too; package messages names them as its own.
const (
	// MaxDataBytes is the most a send's template data may hold, as JSON.
	MaxDataBytes = 32 << 10
	// MaxScheduleDays is how many days ahead a send may be scheduled.
	MaxScheduleDays = 30
)

// MaxScheduleAhead is how far ahead a send may be scheduled.
const MaxScheduleAhead = MaxScheduleDays * 24 * time.Hour

package sends

// Job is a send queue message: which send to send. The queue carries only
// ids; the send item is the truth (a redelivered or stale job finds the
// send already claimed, rescheduled or cancelled, and is dropped).
type Job struct {
	OrgID  string `json:"orgId"`
	SendID string `json:"sendId"`
}

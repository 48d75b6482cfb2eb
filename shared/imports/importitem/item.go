// Package importitem is a contact import as stored and as the API shows
// it: the imports group's, kept apart from its S3 client so the changes
// function can turn a finished import into import.completed.
package importitem

import (
	"time"

	"github.com/sendwell/sendwell/shared/store"
)

// Statuses of an import.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// ItemType is the type attribute of import items.
const ItemType = "import"

// RowError is one row that could not be imported.
type RowError struct {
	Line    int    `json:"line" dynamodbav:"line"`
	Email   string `json:"email,omitempty" dynamodbav:"email,omitempty"`
	Message string `json:"message" dynamodbav:"message"`
}

// Import is an import as the API shows it.
type Import struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	Total           int        `json:"total"`
	Processed       int        `json:"processed"`
	Created         int        `json:"created"`
	Updated         int        `json:"updated"`
	Failed          int        `json:"failed"`
	Errors          []RowError `json:"errors"`
	FailureReason   *string    `json:"failureReason"`
	CreatedAt       time.Time  `json:"createdAt"`
	StartedAt       *time.Time `json:"startedAt"`
	CompletedAt     *time.Time `json:"completedAt"`
	UploadURL       *string    `json:"uploadUrl,omitempty"`
	UploadExpiresAt *time.Time `json:"uploadExpiresAt,omitempty"`
}

// Item is an import as stored, with its checkpoint: the byte offset and line
// of the next unread row, and the counts up to there.
//
// While it is pending after its file was first read (StartedAt set), the
// counting pass is under way: CountOffset is the offset of the next row to
// count and Counted the rows before it. ETag, VersionID and Size describe
// the object that pass opened; every later read asks S3 for that object.
type Item struct {
	store.Key
	Type          string     `dynamodbav:"type"`
	OrgID         string     `dynamodbav:"orgId"`
	ID            string     `dynamodbav:"id"`
	Status        string     `dynamodbav:"status"`
	Total         int        `dynamodbav:"total"`
	Processed     int        `dynamodbav:"processed"`
	Created       int        `dynamodbav:"created"`
	Updated       int        `dynamodbav:"updated"`
	Failed        int        `dynamodbav:"failed"`
	Errors        []RowError `dynamodbav:"errors"`
	FailureReason *string    `dynamodbav:"failureReason"`
	Header        []string   `dynamodbav:"header"`
	Offset        int64      `dynamodbav:"offset"`
	Line          int        `dynamodbav:"line"`
	ETag          string     `dynamodbav:"etag,omitempty"`
	VersionID     string     `dynamodbav:"versionId,omitempty"`
	Size          int64      `dynamodbav:"size"`
	CountOffset   int64      `dynamodbav:"countOffset"`
	Counted       int        `dynamodbav:"counted"`
	Version       int        `dynamodbav:"version"`
	CreatedAt     time.Time  `dynamodbav:"createdAt"`
	StartedAt     *time.Time `dynamodbav:"startedAt"`
	CompletedAt   *time.Time `dynamodbav:"completedAt"`
	TTL           int64      `dynamodbav:"ttl"`
}

// API is the import as the API shows it.
func (it *Item) API() Import {
	out := Import{ID: it.ID, Status: it.Status, Total: it.Total, Processed: it.Processed, Created: it.Created, Updated: it.Updated,
		Failed: it.Failed, Errors: it.Errors, FailureReason: it.FailureReason, CreatedAt: it.CreatedAt, StartedAt: it.StartedAt, CompletedAt: it.CompletedAt}
	if out.Errors == nil {
		out.Errors = []RowError{}
	}
	return out
}

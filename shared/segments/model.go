// Package segments is the segments resource group's API: saved rules over a
// tenant's contacts (shared/segments/rules), their members and a contact's
// memberships, and previews of a definition over the whole audience. The
// API only writes definitions; the segment worker (shared/segments/worker)
// builds and maintains the members, fed by the stream.
package segments

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/validate"
)

// idPrefix is the prefix of segment ids ("seg_…").
const idPrefix = "seg"

// Limits of a segment and of a tenant's segments.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 1000
	// MaxDefinitionBytes bounds a definition's canonical JSON, so that a
	// segment item stays far below DynamoDB's 400 KB.
	MaxDefinitionBytes = 64 << 10
	// MaxSegments is how many segments a tenant may have: every change to
	// one re-reads them all (references, cycles), and the worker evaluates
	// each contact change against them.
	MaxSegments = 500
	// MaxPreviewContacts is the largest audience a preview walks.
	MaxPreviewContacts = 100_000
	// PreviewSample is how many matching contacts a preview shows.
	PreviewSample = 10
)

// Statuses of a segment: building until the worker has evaluated every
// contact against its definition, then ready.
const (
	StatusBuilding = "building"
	StatusReady    = "ready"
)

// ItemType marks segment items (the stream consumer tells items apart by it).
const ItemType = "segment"

// Segment is a segment as the API shows it.
type Segment struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Definition  json.RawMessage `json:"definition"`
	Status      string          `json:"status"`
	Size        int             `json:"size"`
	Progress    Progress        `json:"progress"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

// Progress is how far the build of the current definition has gone; Total
// is the worker's estimate of the contacts to walk (null until it starts).
type Progress struct {
	Processed int  `json:"processed"`
	Total     *int `json:"total"`
}

// Member is one contact of a segment.
type Member struct {
	ContactID string    `json:"contactId"`
	EnteredAt time.Time `json:"enteredAt"`
}

// Membership is one segment a contact is in.
type Membership struct {
	SegmentID string    `json:"segmentId"`
	EnteredAt time.Time `json:"enteredAt"`
}

// Preview is what a definition matches now: the exact count, and the first
// matching contacts, newest first.
type Preview struct {
	Count   int       `json:"count"`
	Scanned int       `json:"scanned"`
	Sample  []Contact `json:"sample"`
}

// Contact is a contact as the contacts API shows it (the segments group
// reads contact items itself: it does not link the contacts group).
type Contact struct {
	ID             string         `json:"id"`
	Email          string         `json:"email"`
	FirstName      *string        `json:"firstName"`
	LastName       *string        `json:"lastName"`
	Properties     map[string]any `json:"properties"`
	Tags           []string       `json:"tags"`
	Subscribed     bool           `json:"subscribed"`
	UnsubscribedAt *time.Time     `json:"unsubscribedAt"`
	CreatedAt      time.Time      `json:"createdAt"`
	UpdatedAt      time.Time      `json:"updatedAt"`
}

// CreateRequest is the body of POST /api/segments.
type CreateRequest struct {
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Definition  json.RawMessage `json:"definition"`
}

// Validate checks the name and description; the definition is checked by
// the service, which knows the tenant's other segments.
func (r *CreateRequest) Validate() error {
	if err := validate.Text("name", &r.Name, MaxNameLen); err != nil {
		return err
	}
	var err error
	if r.Description, err = description(r.Description); err != nil {
		return err
	}
	if isNull(r.Definition) {
		return errs.Required("definition")
	}
	return nil
}

// PatchRequest is the body of PATCH /api/segments/{id}: the fields sent
// change; a null description clears it; a new definition rebuilds.
type PatchRequest struct {
	Name        httpx.Optional[string]          `json:"name"`
	Description httpx.Optional[string]          `json:"description"`
	Definition  httpx.Optional[json.RawMessage] `json:"definition"`
}

// Validate checks the fields that were sent.
func (p *PatchRequest) Validate() error {
	if p.Name.Set {
		if p.Name.Null {
			return errs.Invalid("name", "The 'name' field cannot be null.")
		}
		if err := validate.Text("name", &p.Name.Value, MaxNameLen); err != nil {
			return err
		}
	}
	if p.Description.Set && !p.Description.Null {
		d, err := description(&p.Description.Value)
		if err != nil {
			return err
		}
		if d == nil {
			p.Description.Null = true
		} else {
			p.Description.Value = *d
		}
	}
	if p.Definition.Set && (p.Definition.Null || isNull(p.Definition.Value)) {
		return errs.Invalid("definition", "The 'definition' field cannot be null.")
	}
	if !p.Name.Set && !p.Description.Set && !p.Definition.Set {
		return errs.Invalid("body", "Send at least one of 'name', 'description' and 'definition'.")
	}
	return nil
}

// PreviewRequest is the body of POST /api/segments/preview.
type PreviewRequest struct {
	Definition json.RawMessage `json:"definition"`
}

// Validate checks that a definition was sent.
func (r *PreviewRequest) Validate() error {
	if isNull(r.Definition) {
		return errs.Required("definition")
	}
	return nil
}

// description trims an optional description; empty means none.
func description(d *string) (*string, error) {
	if d == nil {
		return nil, nil
	}
	s := strings.TrimSpace(*d)
	if s == "" {
		return nil, nil
	}
	if err := validate.MaxLen("description", s, MaxDescriptionLen); err != nil {
		return nil, err
	}
	return &s, nil
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// Item is a segment as stored, in its tenant's partition. The API writes
// the definition and its metadata; the worker writes the build's state
// (status ready, size, processed, total, cursor) with updates of those
// attributes only. Version counts the API's writes: a new definition sets
// status building, processed 0 and removes the cursor in the same write,
// so a build can condition its checkpoints on the version it started from.
type Item struct {
	store.Key
	Type        string    `dynamodbav:"type"`
	OrgID       string    `dynamodbav:"orgId"`
	ID          string    `dynamodbav:"id"`
	Name        string    `dynamodbav:"name"`
	Description *string   `dynamodbav:"description,omitempty"`
	Definition  string    `dynamodbav:"definition"`     // canonical JSON (rules.Rule.JSON)
	Refs        []string  `dynamodbav:"refs,omitempty"` // the segments the definition references
	Status      string    `dynamodbav:"status"`
	Size        int       `dynamodbav:"size"`
	Processed   int       `dynamodbav:"processed"`
	Total       *int      `dynamodbav:"total,omitempty"`
	CreatedAt   time.Time `dynamodbav:"createdAt"`
	UpdatedAt   time.Time `dynamodbav:"updatedAt"`
	Version     int       `dynamodbav:"version"`
}

// Attribute names the API's updates write.
const (
	attrName        = "name"
	attrDescription = "description"
	attrDefinition  = "definition"
	attrRefs        = "refs"
	attrStatus      = "status"
	attrProcessed   = "processed"
	attrTotal       = "total"
	attrCursor      = "cursor"
	attrUpdatedAt   = "updatedAt"
	attrVersion     = store.AttrVersion
)

// API is the segment as the API shows it.
func (it *Item) API() Segment {
	return Segment{ID: it.ID, Name: it.Name, Description: it.Description, Definition: json.RawMessage(it.Definition),
		Status: it.Status, Size: it.Size, Progress: Progress{Processed: it.Processed, Total: it.Total},
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt}
}

// memberItem is a membership as the worker writes it, in the segment's
// partition and mirrored in the contact's.
type memberItem struct {
	store.Key
	Type      string    `dynamodbav:"type"`
	SegmentID string    `dynamodbav:"segmentId"`
	ContactID string    `dynamodbav:"contactId"`
	EnteredAt time.Time `dynamodbav:"enteredAt"`
}

// Item types of the worker's membership items.
const (
	memberType        = "segmentMember"
	contactMemberType = "contactSegment"
)

// contactItem is a contact as shared/contacts stores it, the part the
// segments group reads.
type contactItem struct {
	store.Key
	ID             string         `dynamodbav:"id"`
	Email          string         `dynamodbav:"email"`
	FirstName      *string        `dynamodbav:"firstName"`
	LastName       *string        `dynamodbav:"lastName"`
	Properties     map[string]any `dynamodbav:"properties"`
	Tags           []string       `dynamodbav:"tags"`
	Subscribed     bool           `dynamodbav:"subscribed"`
	UnsubscribedAt *time.Time     `dynamodbav:"unsubscribedAt"`
	CreatedAt      time.Time      `dynamodbav:"createdAt"`
	UpdatedAt      time.Time      `dynamodbav:"updatedAt"`
}

// API is the contact as the contacts API shows it.
func (c *contactItem) API() Contact {
	out := Contact{ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Properties: c.Properties,
		Tags: c.Tags, Subscribed: c.Subscribed, UnsubscribedAt: c.UnsubscribedAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if out.Properties == nil {
		out.Properties = map[string]any{}
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return out
}

// eventItem is a tracked event as shared/tracking stores it, the part a
// preview reads.
type eventItem struct {
	ID         string         `dynamodbav:"id"`
	ContactID  string         `dynamodbav:"contactId"`
	Properties map[string]any `dynamodbav:"properties"`
	Timestamp  time.Time      `dynamodbav:"timestamp"`
}

// sendItem is the part of a send (shared/sends) that email conditions read.
type sendItem struct {
	TemplateID string    `dynamodbav:"templateId"`
	Status     string    `dynamodbav:"status"`
	StatusAt   time.Time `dynamodbav:"statusAt"`
	CreatedAt  time.Time `dynamodbav:"createdAt"`
	Opens      int       `dynamodbav:"opens"`
	Clicks     int       `dynamodbav:"clicks"`
}

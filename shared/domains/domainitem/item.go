// Package domainitem is a sending domain as stored and as the API shows
// it: the domains group's, kept apart from its SES client so the changes
// function can turn a domain that became verified into domain.verified.
package domainitem

import (
	"time"

	"github.com/sendwell/sendwell/shared/store"
)

// ItemType marks domain items (the stream consumer tells items apart by it).
const ItemType = "domain"

// Statuses of a domain and of each of its records.
const (
	StatusPending  = "pending"
	StatusVerified = "verified"
	StatusFailed   = "failed"
	// StatusUnchecked is the status of a record SES does not check (DMARC).
	StatusUnchecked = "unchecked"
)

// Domain is a sending domain as the API shows it.
type Domain struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Status         string     `json:"status"`
	Records        []Record   `json:"records"`
	MailFromDomain string     `json:"mailFromDomain"`
	CreatedAt      time.Time  `json:"createdAt"`
	LastCheckedAt  *time.Time `json:"lastCheckedAt"`
}

// Record is one DNS record the domain's owner must publish (or, when
// Recommended, should).
type Record struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Value       string `json:"value"`
	Priority    *int   `json:"priority,omitempty"`
	Purpose     string `json:"purpose"`
	Status      string `json:"status"`
	Recommended bool   `json:"recommended,omitempty"`
}

// Item is a domain as stored, in its tenant's partition.
type Item struct {
	store.Key
	Type           string       `dynamodbav:"type"`
	OrgID          string       `dynamodbav:"orgId"`
	ID             string       `dynamodbav:"id"`
	Name           string       `dynamodbav:"name"`
	MailFromDomain string       `dynamodbav:"mailFromDomain"`
	Status         string       `dynamodbav:"status"`
	Records        []RecordItem `dynamodbav:"records"`
	CreatedAt      time.Time    `dynamodbav:"createdAt"`
	LastCheckedAt  *time.Time   `dynamodbav:"lastCheckedAt"`
	Version        int          `dynamodbav:"version"`
}

// RecordItem is a Record as stored.
type RecordItem struct {
	Type        string `dynamodbav:"type"`
	Name        string `dynamodbav:"name"`
	Value       string `dynamodbav:"value"`
	Priority    int    `dynamodbav:"priority,omitempty"`
	Purpose     string `dynamodbav:"purpose"`
	Status      string `dynamodbav:"status"`
	Recommended bool   `dynamodbav:"recommended,omitempty"`
}

// API is the domain as the API shows it.
func (it *Item) API() Domain {
	d := Domain{ID: it.ID, Name: it.Name, Status: it.Status, MailFromDomain: it.MailFromDomain,
		CreatedAt: it.CreatedAt, LastCheckedAt: it.LastCheckedAt, Records: make([]Record, 0, len(it.Records))}
	for _, r := range it.Records {
		rec := Record{Type: r.Type, Name: r.Name, Value: r.Value, Purpose: r.Purpose, Status: r.Status, Recommended: r.Recommended}
		if r.Priority != 0 {
			rec.Priority = &r.Priority
		}
		d.Records = append(d.Records, rec)
	}
	return d
}

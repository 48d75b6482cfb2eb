package sends

import "time"

// Send is a send as the API shows it; Timeline only on GET /api/sends/{id}.
type Send struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	StatusAt        time.Time         `json:"statusAt"`
	Reason          *string           `json:"reason"`
	To              string            `json:"to"`
	ContactID       *string           `json:"contactId"`
	TemplateID      *string           `json:"templateId"`
	TemplateVersion *int              `json:"templateVersion"`
	Subject         *string           `json:"subject"`
	From            *string           `json:"from"`
	ReplyTo         *string           `json:"replyTo"`
	Headers         map[string]string `json:"headers"`
	Tags            map[string]string `json:"tags"`
	Type            string            `json:"type"`
	Tracking        TrackingOut       `json:"tracking"`
	Test            bool              `json:"test"`
	SendAt          *time.Time        `json:"sendAt"`
	CreatedAt       time.Time         `json:"createdAt"`
	SentAt          *time.Time        `json:"sentAt"`
	SESMessageID    *string           `json:"sesMessageId"`
	Opens           int               `json:"opens"`
	Clicks          int               `json:"clicks"`
	Timeline        []TimelineEvent   `json:"timeline,omitempty"`
}

// TrackingOut is a send's tracking settings as the API shows them.
type TrackingOut struct {
	Opens  bool `json:"opens"`
	Clicks bool `json:"clicks"`
}

// API is the send as the API shows it (no bodies, no timeline).
func (it *Item) API() Send {
	s := Send{ID: it.ID, Status: it.Status, StatusAt: it.StatusAt, Reason: ptr(it.Reason), To: it.To, ContactID: ptr(it.ContactID),
		TemplateID: ptr(it.TemplateID), Subject: ptr(it.Subject), From: ptr(it.From), ReplyTo: ptr(it.ReplyTo),
		Headers: it.Headers, Tags: it.Tags, Type: it.Kind, Tracking: TrackingOut{Opens: it.TrackOpens, Clicks: it.TrackClicks},
		Test: it.Test, SendAt: it.SendAt, CreatedAt: it.CreatedAt, SentAt: it.SentAt, SESMessageID: ptr(it.SESMessageID),
		Opens: it.Opens, Clicks: it.Clicks}
	if it.TemplateVersion > 0 {
		v := it.TemplateVersion
		s.TemplateVersion = &v
	}
	if s.Headers == nil {
		s.Headers = map[string]string{}
	}
	if s.Tags == nil {
		s.Tags = map[string]string{}
	}
	return s
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Package messages is the messages resource group: the send API (one send,
// a batch, a template's test send), the send history, scheduled sends
// (reschedule, cancel) and the suppression list. Its handlers write only to
// DynamoDB: the table's stream and the scheduler put sends on the send
// queue, and the send worker sends them (shared/messages/sendworker).
package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/validate"
)

// Limits of a send.
const (
	MaxSubjectLen   = 998 // RFC 5322's line limit
	MaxBodyBytes    = 200 << 10
	MaxDataBytes    = sends.MaxDataBytes
	MaxAddressLen   = 320
	MaxHeaders      = 20
	MaxHeaderName   = 64
	MaxHeaderValue  = 998
	MaxTags         = 10
	MaxTagKeyLen    = 64
	MaxTagValueLen  = 256
	MaxScheduleDays = sends.MaxScheduleDays
	MaxBatch        = 100
	MaxTemplateID   = 64
)

// MaxScheduleAhead is how far ahead a send may be scheduled.
const MaxScheduleAhead = sends.MaxScheduleAhead

// idPrefix is the prefix of send ids ("msg_…").
const idPrefix = "msg"

// SendRequest is the body of POST /api/send (and one item of a batch).
type SendRequest struct {
	To         json.RawMessage   `json:"to"`
	TemplateID *string           `json:"templateId"`
	Version    *int              `json:"version"`
	Subject    *string           `json:"subject"`
	HTML       *string           `json:"html"`
	Text       *string           `json:"text"`
	Data       json.RawMessage   `json:"data"`
	From       *string           `json:"from"`
	ReplyTo    *string           `json:"replyTo"`
	Headers    map[string]string `json:"headers"`
	Tags       map[string]string `json:"tags"`
	SendAt     *string           `json:"sendAt"`
	Type       *string           `json:"type"`
	Tracking   *Tracking         `json:"tracking"`

	// Set by Validate.
	email     string // the recipient when `to` is an address (lower-cased)
	contactID string // the recipient when `to` is {contactId}
	sendAt    *time.Time
	kind      string
	test      bool
}

// Tracking says whether the worker adds an open pixel and rewrites links.
type Tracking struct {
	Opens  *bool `json:"opens"`
	Clicks *bool `json:"clicks"`
}

// recipient is `to` as an object.
type recipient struct {
	ContactID string `json:"contactId"`
}

// Validate checks and normalises everything that needs no read: the
// recipient's form, the body (a template or inline), the limits, the
// addresses, the headers' allowlist, the tags and the time. Sizes of the
// bodies are 422s, as for templates; the rest are 400s naming the field.
func (in *SendRequest) Validate() error {
	if err := in.validateTo(); err != nil {
		return err
	}
	if err := in.validateBody(); err != nil {
		return err
	}
	data, err := stored.CanonicalObject("data", in.Data, MaxDataBytes)
	if err != nil {
		return err
	}
	in.Data = data
	if in.From, err = address("from", in.From); err != nil {
		return err
	}
	if in.ReplyTo, err = address("replyTo", in.ReplyTo); err != nil {
		return err
	}
	if err := validHeaders(in.Headers); err != nil {
		return err
	}
	if err := validTags(in.Tags); err != nil {
		return err
	}
	if in.SendAt != nil {
		t, err := time.Parse(time.RFC3339, *in.SendAt)
		if err != nil {
			return errs.Invalid("sendAt", "The 'sendAt' field must be an RFC 3339 timestamp, such as 2026-01-31T09:00:00Z.")
		}
		t = wholeSecond(t)
		in.sendAt = &t
	}
	in.kind = sends.Transactional
	if in.Type != nil {
		switch *in.Type {
		case sends.Transactional, sends.Marketing:
			in.kind = *in.Type
		default:
			return errs.Invalid("type", "The 'type' field must be 'transactional' or 'marketing'.")
		}
	}
	return nil
}

func (in *SendRequest) validateTo() error {
	raw := bytes.TrimSpace(in.To)
	if len(raw) == 0 || string(raw) == "null" {
		return errs.Required("to")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		e, err := validate.Email("to", s)
		if err != nil {
			return err
		}
		in.email = e
		return nil
	}
	var r recipient
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || strings.TrimSpace(r.ContactID) == "" {
		return errs.Invalid("to", "The 'to' field must be an email address or {\"contactId\": \"cnt_…\"}.")
	}
	in.contactID = strings.TrimSpace(r.ContactID)
	return nil
}

func (in *SendRequest) validateBody() error {
	inline := in.Subject != nil || in.HTML != nil || in.Text != nil
	switch {
	case in.TemplateID != nil && inline:
		return errs.Invalid("templateId", "Give either 'templateId' or an inline 'subject' and 'html', not both.")
	case in.TemplateID != nil:
		id := strings.TrimSpace(*in.TemplateID)
		if id == "" || len(id) > MaxTemplateID {
			return errs.Invalid("templateId", "The 'templateId' field must be a template's id, 1 to %d characters.", MaxTemplateID)
		}
		in.TemplateID = &id
		if in.Version != nil && *in.Version < 1 {
			return errs.Invalid("version", "The 'version' field must be a version number, from 1.")
		}
		return nil
	case in.Version != nil:
		return errs.Invalid("version", "The 'version' field needs a 'templateId'.")
	case !inline:
		return errs.Invalid("templateId", "Give either 'templateId' or an inline 'subject' and 'html'.")
	}
	if in.Subject == nil || strings.TrimSpace(*in.Subject) == "" {
		return errs.Required("subject")
	}
	if in.HTML == nil || strings.TrimSpace(*in.HTML) == "" {
		return errs.Required("html")
	}
	subject := strings.TrimSpace(*in.Subject)
	in.Subject = &subject
	if strings.ContainsAny(subject, "\r\n") {
		return errs.Invalid("subject", "The 'subject' field must be one line.")
	}
	if err := validate.MaxLen("subject", subject, MaxSubjectLen); err != nil {
		return err
	}
	if in.Text != nil && *in.Text == "" {
		in.Text = nil
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"html", in.HTML}, {"text", in.Text}} {
		if f.v != nil && len(*f.v) > MaxBodyBytes {
			return &errs.Unprocessable{Message: fmt.Sprintf("The '%s' field is larger than %d KB (%d bytes).", f.name, MaxBodyBytes>>10, MaxBodyBytes)}
		}
	}
	return nil
}

// trackOpens and trackClicks default to true.
func (in *SendRequest) trackOpens() bool {
	return in.Tracking == nil || in.Tracking.Opens == nil || *in.Tracking.Opens
}

func (in *SendRequest) trackClicks() bool {
	return in.Tracking == nil || in.Tracking.Clicks == nil || *in.Tracking.Clicks
}

// forbiddenHeaders are the headers SES or Sendwell sets itself; a send may
// not set them (a custom header is matched case-insensitively).
var forbiddenHeaders = []string{"from", "to", "cc", "bcc", "subject", "reply-to", "sender", "message-id", "date",
	"return-path", "mime-version", "references", "in-reply-to"}

// forbiddenPrefixes are header families a send may not set.
var forbiddenPrefixes = []string{"content-", "dkim-", "list-unsubscribe", "x-ses-", "arc-", "received"}

func validHeaders(h map[string]string) error {
	if len(h) > MaxHeaders {
		return errs.Invalid("headers", "The 'headers' field may hold at most %d headers.", MaxHeaders)
	}
	for name, value := range h {
		if !headerToken(name) {
			return errs.Invalid("headers", "The header name '%s' is not valid: 1 to %d letters, digits and !#$%%&'*+-.^_`|~.", clip(name), MaxHeaderName)
		}
		lower := strings.ToLower(name)
		forbidden := false
		for _, f := range forbiddenHeaders {
			forbidden = forbidden || lower == f
		}
		for _, p := range forbiddenPrefixes {
			forbidden = forbidden || strings.HasPrefix(lower, p)
		}
		if forbidden {
			return errs.Invalid("headers", "The header '%s' cannot be set: Sendwell and SES set it.", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return errs.Invalid("headers", "The value of header '%s' must be one line (no CR or LF).", name)
		}
		if len(value) > MaxHeaderValue {
			return errs.Invalid("headers", "The value of header '%s' must be at most %d characters long.", name, MaxHeaderValue)
		}
	}
	return nil
}

// headerToken reports whether s is an RFC 7230 token of at most
// MaxHeaderName characters (a loop, not a regexp: nothing at init).
func headerToken(s string) bool {
	if s == "" || len(s) > MaxHeaderName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func validTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return errs.Invalid("tags", "The 'tags' field may hold at most %d tags.", MaxTags)
	}
	for k, v := range tags {
		if !validate.Identifier(k, MaxTagKeyLen, "-") {
			return errs.Invalid("tags", "The tag name '%s' is not valid: 1 to %d letters, digits, '_' and '-'.", clip(k), MaxTagKeyLen)
		}
		if v == "" || len(v) > MaxTagValueLen || strings.ContainsAny(v, "=\r\n\x00") {
			return errs.Invalid("tags", "The value of tag '%s' must be 1 to %d characters, without '=' or line breaks.", k, MaxTagValueLen)
		}
	}
	return nil
}

// clip shortens what a message quotes back.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// address checks an optional address ("news@acme.com" or "Acme
// <news@acme.com>"); empty is none.
func address(field string, s *string) (*string, error) {
	if s == nil {
		return nil, nil
	}
	t := strings.TrimSpace(*s)
	if t == "" {
		return nil, nil
	}
	if len(t) > MaxAddressLen || strings.ContainsAny(t, "\r\n") {
		return nil, errs.Invalid(field, "The '%s' field must be an email address of at most %d characters.", field, MaxAddressLen)
	}
	if _, err := addrDomain(t); err != nil {
		return nil, errs.Invalid(field, "The '%s' field must be an email address, such as news@example.com or \"Acme <news@example.com>\".", field)
	}
	return &t, nil
}

// addrDomain is the lower-cased domain of an address.
func addrDomain(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	at := strings.LastIndexByte(a.Address, '@')
	domain := strings.ToLower(a.Address[at+1:])
	if !strings.Contains(domain, ".") {
		return "", fmt.Errorf("messages: no dot in the domain")
	}
	return domain, nil
}

// TestRequest is the body of POST /api/templates/{id}/test.
type TestRequest struct {
	To   string          `json:"to"`
	Data json.RawMessage `json:"data"`
}

// RescheduleRequest is the body of PATCH /api/scheduled/{id}.
type RescheduleRequest struct {
	SendAt string `json:"sendAt"`

	at time.Time
}

// Validate parses the time.
func (r *RescheduleRequest) Validate() error {
	if r.SendAt == "" {
		return errs.Required("sendAt")
	}
	t, err := time.Parse(time.RFC3339, r.SendAt)
	if err != nil {
		return errs.Invalid("sendAt", "The 'sendAt' field must be an RFC 3339 timestamp, such as 2026-01-31T09:00:00Z.")
	}
	r.at = wholeSecond(t)
	return nil
}

// wholeSecond is t in UTC, a fraction of a second rounded up: the send
// worker's claim compares times to the second, so a send is never early.
func wholeSecond(t time.Time) time.Time {
	t = t.UTC()
	if s := t.Truncate(time.Second); !s.Equal(t) {
		return s.Add(time.Second)
	}
	return t
}

// SuppressRequest is the body of POST /api/suppressions.
type SuppressRequest struct {
	Email string `json:"email"`
}

// Validate lower-cases and checks the address.
func (r *SuppressRequest) Validate() error {
	e, err := validate.Email("email", r.Email)
	r.Email = e
	return err
}

// Send is a send as the API shows it (shared/sends, where the changes
// function also reads it for email.* events).
type Send = sends.Send

// TrackingOut is a send's tracking settings as the API shows them.
type TrackingOut = sends.TrackingOut

// apiSend is the send item as the API shows it (no bodies, no timeline).
func apiSend(it *sends.Item) Send { return it.API() }

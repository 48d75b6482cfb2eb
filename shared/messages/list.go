package messages

import (
	"net/url"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/validate"
)

// Filter narrows the send history: at most one of To, ContactID, Status,
// TemplateID and the tag, each one Query of its own index, plus a creation
// range (not with status scheduled, whose index sorts by due time).
type Filter struct {
	To            string
	ContactID     string
	Status        string
	TemplateID    string
	TagKey        string
	TagValue      string
	CreatedAfter  *time.Time // at or after
	CreatedBefore *time.Time // strictly before
}

// ParseFilter reads the list's filters from a query string.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	n := 0
	if v := q.Get("to"); v != "" {
		e, err := validate.Email("to", v)
		if err != nil {
			return f, err
		}
		f.To, n = e, n+1
	}
	if v := strings.TrimSpace(q.Get("contactId")); v != "" {
		if len(v) > 64 {
			return f, errs.Invalid("contactId", "The 'contactId' parameter must be a contact's id.")
		}
		f.ContactID, n = v, n+1
	}
	if v := q.Get("status"); v != "" {
		if !sends.IsStatus(v) {
			return f, errs.Invalid("status", "The 'status' parameter must be one of %s.", strings.Join(sends.Statuses(), ", "))
		}
		f.Status, n = v, n+1
	}
	if v := strings.TrimSpace(q.Get("templateId")); v != "" {
		if len(v) > MaxTemplateID {
			return f, errs.Invalid("templateId", "The 'templateId' parameter must be a template's id.")
		}
		f.TemplateID, n = v, n+1
	}
	if v := q.Get("tag"); v != "" {
		k, val, ok := strings.Cut(v, ":")
		if !ok || validTags(map[string]string{k: val}) != nil {
			return f, errs.Invalid("tag", "The 'tag' parameter must be name:value, such as tag=campaign:spring.")
		}
		f.TagKey, f.TagValue, n = k, val, n+1
	}
	if n > 1 {
		return f, errs.Invalid("to", "Filter by at most one of 'to', 'contactId', 'status', 'templateId' and 'tag'.")
	}
	for name, dst := range map[string]**time.Time{"createdAfter": &f.CreatedAfter, "createdBefore": &f.CreatedBefore} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, errs.Invalid(name, "The '%s' parameter must be an RFC 3339 timestamp, such as 2026-01-31T09:00:00Z.", name)
			}
			*dst = &t
		}
	}
	if f.Status == sends.Scheduled && (f.CreatedAfter != nil || f.CreatedBefore != nil) {
		return f, errs.Invalid("status", "The 'scheduled' status cannot be combined with 'createdAfter' or 'createdBefore'.")
	}
	return f, nil
}

// Scope names the list a cursor belongs to: the same filters, the same list.
func (f Filter) Scope() string {
	s := "sends|to=" + f.To + "|contact=" + f.ContactID + "|status=" + f.Status + "|template=" + f.TemplateID + "|tag=" + f.TagKey + "=" + f.TagValue
	if f.CreatedAfter != nil {
		s += "|after=" + f.CreatedAfter.UTC().Format(time.RFC3339Nano)
	}
	if f.CreatedBefore != nil {
		s += "|before=" + f.CreatedBefore.UTC().Format(time.RFC3339Nano)
	}
	return s
}

package contacts

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
)

// Filter narrows the contact list. At most one of Tag, Subscribed and
// EmailPrefix; the created range goes with any but EmailPrefix.
type Filter struct {
	Tag           string
	Subscribed    *bool
	EmailPrefix   string
	CreatedAfter  *time.Time // at or after
	CreatedBefore *time.Time // strictly before
}

// ParseFilter reads the list's filters from a query string.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	f.Tag = strings.TrimSpace(q.Get("tag"))
	if len(f.Tag) > MaxTagLen {
		return f, errs.Invalid("tag", "The 'tag' parameter must be at most %d characters long.", MaxTagLen)
	}
	if v := q.Get("subscribed"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return f, errs.Invalid("subscribed", "The 'subscribed' parameter must be true or false.")
		}
		f.Subscribed = &b
	}
	f.EmailPrefix = strings.ToLower(strings.TrimSpace(q.Get("email")))
	if len(f.EmailPrefix) > 254 {
		return f, errs.Invalid("email", "The 'email' parameter must be at most 254 characters long.")
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
	n := 0
	for _, set := range []bool{f.Tag != "", f.Subscribed != nil, f.EmailPrefix != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return f, errs.Invalid("tag", "Filter by at most one of 'tag', 'subscribed' and 'email'.")
	}
	if f.EmailPrefix != "" && (f.CreatedAfter != nil || f.CreatedBefore != nil) {
		return f, errs.Invalid("email", "The 'email' filter cannot be combined with 'createdAfter' or 'createdBefore'.")
	}
	return f, nil
}

// Scope names the list a cursor belongs to: the same filters, the same list.
func (f Filter) Scope() string {
	s := "contacts"
	if f.Tag != "" {
		s += "|tag=" + f.Tag
	}
	if f.Subscribed != nil {
		s += fmt.Sprintf("|subscribed=%t", *f.Subscribed)
	}
	if f.EmailPrefix != "" {
		s += "|email=" + f.EmailPrefix
	}
	if f.CreatedAfter != nil {
		s += "|after=" + f.CreatedAfter.UTC().Format(time.RFC3339Nano)
	}
	if f.CreatedBefore != nil {
		s += "|before=" + f.CreatedBefore.UTC().Format(time.RFC3339Nano)
	}
	return s
}

// List returns a page of contacts matching f, in the filter's order (see
// repo.list for the one Query each filter is).
func (s *Service) List(ctx context.Context, orgID string, f Filter, limit int, start map[string]string) ([]Item, map[string]string, error) {
	return s.repo.list(ctx, orgID, f, limit, start)
}

// Package validate holds the input rules several resources share.
package validate

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/sendwell/sendwell/shared/errs"
)

// Email trims, lower-cases and checks an email address in field.
func Email(field, s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", errs.Required(field)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", errs.Invalid(field, "The '%s' field must be a valid email address.", field)
	}
	return s, nil
}

// Text trims a required string field and bounds its length in characters.
func Text(field string, s *string, max int) error {
	*s = strings.TrimSpace(*s)
	if *s == "" {
		return errs.Required(field)
	}
	return MaxLen(field, *s, max)
}

// MaxLen bounds a string's length in characters.
func MaxLen(field, s string, max int) error {
	if utf8.RuneCountInString(s) > max {
		return errs.Invalid(field, "The '%s' field must be at most %d characters long.", field, max)
	}
	return nil
}

// Identifier reports whether s is 1 to max ASCII letters, digits, '_' and
// the bytes of extra: the rule of property keys and event names. (A loop,
// not a regexp, so no package init compiles anything.)
func Identifier(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || strings.IndexByte(extra, c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// TemplateID reports whether id is a template id: ^[a-z0-9][a-z0-9_-]{0,63}$
// (a loop, not a regexp, so no package init compiles anything). The
// templates group and every definition that names a template share it.
func TemplateID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// Package errs holds the domain errors every package returns. They know
// nothing of HTTP: the http layer maps them to statuses and codes in one place.
package errs

import (
	"errors"
	"fmt"
)

// Sentinel domain errors. Wrap them with fmt.Errorf("…: %w", ErrX) to add context.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorised = errors.New("unauthorised")
	ErrForbidden    = errors.New("forbidden")
)

// Validation is a bad input: Field names it (a JSON field or query parameter)
// and Message says what is wrong, in a sentence fit for the API's users.
type Validation struct {
	Field   string
	Message string
}

func (e *Validation) Error() string { return e.Message }

// Invalid returns a Validation error for field with a formatted message.
func Invalid(field, format string, args ...any) *Validation {
	return &Validation{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Required is the Validation error for a missing required field.
func Required(field string) *Validation {
	return Invalid(field, "The '%s' field is required.", field)
}

// Unprocessable is a well-formed request that cannot be carried out (a quota
// reached, a state that forbids the change).
type Unprocessable struct{ Message string }

func (e *Unprocessable) Error() string { return e.Message }

// RateLimited says the caller must wait RetryAfter seconds.
type RateLimited struct {
	RetryAfter int
	Message    string
}

func (e *RateLimited) Error() string { return e.Message }

// NewConflict wraps ErrConflict with a message for the API's users.
func NewConflict(message string) error { return &withMessage{ErrConflict, message} }

// NewNotFound wraps ErrNotFound with a message for the API's users.
func NewNotFound(message string) error { return &withMessage{ErrNotFound, message} }

// NewUnauthorised wraps ErrUnauthorised with a message for the API's users.
func NewUnauthorised(message string) error { return &withMessage{ErrUnauthorised, message} }

// NewForbidden wraps ErrForbidden with a message for the API's users.
func NewForbidden(message string) error { return &withMessage{ErrForbidden, message} }

type withMessage struct {
	kind error
	msg  string
}

func (e *withMessage) Error() string { return e.msg }
func (e *withMessage) Unwrap() error { return e.kind }

// PublicMessage returns the message a sentinel-wrapping error carries for users, if any.
func PublicMessage(err error) (string, bool) {
	var m *withMessage
	if errors.As(err, &m) {
		return m.msg, true
	}
	return "", false
}

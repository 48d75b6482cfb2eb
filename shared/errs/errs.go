// Package errs holds the domain errors every package returns. They know
// nothing of HTTP: the http layer maps them to statuses and codes in one place.
package errs

import (
	"context"
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
type Unprocessable struct {
	Message string
	// Details lists each problem of a source the request carried (a
	// template's MJML or Liquid), where it is; empty for most errors.
	Details []Problem
}

// Problem is one problem found in a source: where it is (the part of the
// template, the line) and what is wrong.
type Problem struct {
	Part    string `json:"part,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (e *Unprocessable) Error() string { return e.Message }

// RateLimited says the caller must wait RetryAfter seconds.
type RateLimited struct {
	RetryAfter int
	Message    string
}

func (e *RateLimited) Error() string { return e.Message }

// Unavailable says a dependency (the database) is overloaded or failing even
// after the SDK's own retries: nothing is wrong with the request, and the
// caller may send it again after RetryAfter seconds. Message is for the API's
// users (empty for the default); Err is the cause, for logs only.
type Unavailable struct {
	RetryAfter int
	Message    string
	Err        error
}

// NewUnavailable returns an Unavailable error that asks to retry after
// retryAfter seconds and keeps cause for the logs.
func NewUnavailable(retryAfter int, cause error) *Unavailable {
	return &Unavailable{RetryAfter: retryAfter, Err: cause}
}

func (e *Unavailable) Error() string {
	msg := fmt.Sprintf("unavailable, retry after %ds", e.RetryAfter)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Unavailable) Unwrap() error { return e.Err }

// Retryable reports whether err is worth trying again later: an Unavailable,
// a context deadline, or any failure that is not a domain error. Domain
// errors (Validation, Unprocessable, RateLimited, ErrNotFound, ErrConflict,
// ErrUnauthorised, ErrForbidden) give the same answer however often they are
// retried. A nil error is not retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var un *Unavailable
	if errors.As(err, &un) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var (
		v  *Validation
		u  *Unprocessable
		rl *RateLimited
	)
	switch {
	case errors.As(err, &v), errors.As(err, &u), errors.As(err, &rl),
		errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict),
		errors.Is(err, ErrUnauthorised), errors.Is(err, ErrForbidden):
		return false
	}
	return true
}

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

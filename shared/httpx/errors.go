package httpx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/sendwell/sendwell/shared/errs"
)

// Error codes of the envelope.
const (
	CodeValidation       = "VALIDATION_ERROR"
	CodeUnauthorised     = "UNAUTHORISED"
	CodeForbidden        = "FORBIDDEN"
	CodeNotFound         = "NOT_FOUND"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeConflict         = "CONFLICT"
	CodePayloadTooLarge  = "PAYLOAD_TOO_LARGE"
	CodeUnprocessable    = "UNPROCESSABLE_ENTITY"
	CodeRateLimited      = "RATE_LIMITED"
	CodeInternal         = "INTERNAL_ERROR"
	CodeUnavailable      = "SERVICE_UNAVAILABLE"
)

// ErrorBody is the envelope every error is sent in.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the machine-readable code and the human-readable message,
// and for a 422 about a source (a template), each problem with its line.
type ErrorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details []errs.Problem `json:"details,omitempty"`
}

// errTooLarge is a body over the size limit.
var errTooLarge = errors.New("httpx: request body too large")

// WriteError maps err to its status, code and message and writes the
// envelope. Anything it does not know is a 500 whose cause is logged, never
// sent; a 503 logs its cause too. 429 and 503 say when to retry (Retry-After).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := Classify(err)
	switch status {
	case http.StatusInternalServerError:
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	case http.StatusServiceUnavailable:
		slog.WarnContext(r.Context(), "request failed, service busy", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	var (
		rl *errs.RateLimited
		un *errs.Unavailable
	)
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(rl.RetryAfter))
	case errors.As(err, &un):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(un)))
	}
	detail := ErrorDetail{Code: code, Message: msg}
	var un422 *errs.Unprocessable
	if errors.As(err, &un422) {
		detail.Details = un422.Details
	}
	WriteJSON(w, status, ErrorBody{detail})
}

// Classify maps an error to its status, code and public message.
func Classify(err error) (status int, code, message string) {
	var (
		v  *errs.Validation
		u  *errs.Unprocessable
		rl *errs.RateLimited
		un *errs.Unavailable
	)
	public := func(fallback string) string {
		if m, ok := errs.PublicMessage(err); ok {
			return m
		}
		return fallback
	}
	switch {
	case errors.As(err, &v):
		return http.StatusBadRequest, CodeValidation, v.Message
	case errors.As(err, &u):
		return http.StatusUnprocessableEntity, CodeUnprocessable, u.Message
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, CodeRateLimited, rl.Message
	case errors.As(err, &un):
		if un.Message != "" {
			return http.StatusServiceUnavailable, CodeUnavailable, un.Message
		}
		n := retryAfter(un)
		unit := "seconds"
		if n == 1 {
			unit = "second"
		}
		return http.StatusServiceUnavailable, CodeUnavailable, fmt.Sprintf("The service is busy; retry after %d %s.", n, unit)
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "The request body is larger than 1 MB."
	case errors.Is(err, errs.ErrUnauthorised):
		return http.StatusUnauthorized, CodeUnauthorised, public("Missing or invalid authentication token.")
	case errors.Is(err, errs.ErrForbidden):
		return http.StatusForbidden, CodeForbidden, public("The token does not have permission for this action.")
	case errors.Is(err, errs.ErrNotFound):
		return http.StatusNotFound, CodeNotFound, public("The requested resource does not exist.")
	case errors.Is(err, errs.ErrConflict):
		return http.StatusConflict, CodeConflict, public("The request conflicts with the current state of the resource.")
	}
	return http.StatusInternalServerError, CodeInternal, "An unexpected error occurred."
}

// retryAfter is the delay an Unavailable asks for, at least one second.
func retryAfter(un *errs.Unavailable) int { return max(un.RetryAfter, 1) }

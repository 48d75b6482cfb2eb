package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"

	"github.com/sendwell/sendwell/shared/errs"
)

// BatchItem is one item of a batch request: its decoded and validated value,
// or the error that makes it unusable. A bad item is answered in its own
// result; it does not fail the request.
type BatchItem[T any] struct {
	Value T
	Err   error
}

// BatchResponse is the body of a batch endpoint's answer: one result per
// item, in the request's order.
type BatchResponse[R any] struct {
	Data []R `json:"data"`
}

// DecodeBatch reads a batch request: a JSON object whose only field, field,
// is a list of 1 to max items. The body is checked as strictly as Decode
// checks one (malformed JSON, an unknown field, a missing, empty or
// oversized list fail the whole request, naming the field); then each item
// is decoded into a T by itself, as strictly, and validated, so that one bad
// item fails only itself.
func DecodeBatch[T any](r *http.Request, field string, max int) ([]BatchItem[T], error) {
	var body map[string]json.RawMessage
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k != field {
			return nil, errs.Invalid(k, "The '%s' field is not allowed.", k)
		}
	}
	raw, ok := body[field]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, errs.Required(field)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errs.Invalid(field, "The '%s' field must be an array.", field)
	}
	if len(list) == 0 || len(list) > max {
		return nil, errs.Invalid(field, "The '%s' field must hold 1 to %d %s.", field, max, field)
	}
	items := make([]BatchItem[T], len(list))
	for i, raw := range list {
		items[i].Err = DecodeBytes(raw, &items[i].Value)
	}
	return items, nil
}

// BatchItemError is the error detail of one failed batch item: what the API
// would answer for the item alone. As WriteError does for a request, it
// logs the cause of a 500 (never shown) and of a 503, with the item's index.
func BatchItemError(ctx context.Context, index int, err error) *ErrorDetail {
	status, code, msg := Classify(err)
	switch status {
	case http.StatusInternalServerError:
		slog.ErrorContext(ctx, "batch item failed", "index", index, "error", err.Error())
	case http.StatusServiceUnavailable:
		slog.WarnContext(ctx, "batch item failed, service busy", "index", index, "error", err.Error())
	}
	return &ErrorDetail{Code: code, Message: msg}
}

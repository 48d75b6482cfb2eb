package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode"

	"github.com/sendwell/sendwell/shared/errs"
)

// MaxBodyBytes is the largest request body accepted (1 MB).
const MaxBodyBytes = 1 << 20

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // URLs keep their & (the API is JSON, never HTML)
	_ = enc.Encode(v)
}

// Validator is a request body that checks itself after decoding.
type Validator interface {
	Validate() error
}

// Decode reads one JSON object from the body into dst, strictly: unknown
// fields, wrong types, trailing data and malformed JSON are 400s that name
// the field; a body over 1 MB is a 413. It then runs dst's Validate.
func Decode(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return errs.Invalid("body", "The request body must contain a single JSON object.")
	}
	if v, ok := dst.(Validator); ok {
		return v.Validate()
	}
	return nil
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return errTooLarge
	case errors.Is(err, io.EOF):
		return errs.Invalid("body", "The request body must be a JSON object.")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Invalid("body", "The request body is not valid JSON.")
	case errors.As(err, &typ):
		field := jsonPath(typ.Field)
		if field == "" {
			return errs.Invalid("body", "The request body must be a JSON object.")
		}
		return errs.Invalid(field, "The '%s' field must be %s.", field, jsonType(typ.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Invalid(name, "The '%s' field is not allowed.", name)
	}
	return errs.Invalid("body", "The request body is not valid JSON.")
}

// jsonPath drops the names of embedded Go structs (which start with a capital
// letter, where the API's JSON names never do) from a decoder's field path.
func jsonPath(field string) string {
	var parts []string
	for _, p := range strings.Split(field, ".") {
		if p != "" && !unicode.IsUpper(rune(p[0])) {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ".")
}

func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return fmt.Sprintf("of type %s", t.Kind())
}

// DecodeBytes decodes one JSON object from raw as strictly as Decode does.
func DecodeBytes(raw []byte, dst any) error {
	r, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(raw))
	return Decode(r, dst)
}

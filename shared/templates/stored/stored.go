// Package stored is how a template's content is kept in the table, and what
// rendering it for a contact needs: the templates group writes it, and the
// messages group (the send API and the send worker) reads it without
// linking the templates package, which links mjml-go.
package stored

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/sendwell/sendwell/shared/errs"
)

// Warning is a problem MJML found in a template it still compiled (an
// unknown attribute, an invalid value), on a line of the MJML source.
type Warning struct {
	Line    int    `json:"line" dynamodbav:"line"`
	Message string `json:"message" dynamodbav:"message"`
}

// Content is one version's content as stored, on the version item and
// (the latest) on the head. Bodies are gzip-compressed binary attributes:
// compiled MJML is verbose, and an item holds at most 400 KB.
type Content struct {
	Hash        string    `dynamodbav:"hash"`
	Name        string    `dynamodbav:"name"`
	Subject     string    `dynamodbav:"subject"`
	Format      string    `dynamodbav:"format"`
	Source      []byte    `dynamodbav:"source"`         // gzip of the MJML or HTML as written
	HTML        []byte    `dynamodbav:"html,omitempty"` // gzip of the compiled HTML; absent when Format is html (the source is the HTML)
	Text        []byte    `dynamodbav:"text"`           // gzip of the text body, given or generated
	From        *string   `dynamodbav:"from,omitempty"`
	ReplyTo     *string   `dynamodbav:"replyTo,omitempty"`
	PreviewText *string   `dynamodbav:"previewText,omitempty"`
	SampleData  string    `dynamodbav:"sampleData,omitempty"`
	Variables   []string  `dynamodbav:"variables"`
	Warnings    []Warning `dynamodbav:"warnings"`
	Created     time.Time `dynamodbav:"versionCreatedAt"`
}

// Size is about how many bytes the content takes in an item.
func (c *Content) Size() int {
	n := len(c.Source) + len(c.HTML) + len(c.Text) + len(c.SampleData) + len(c.Name) + len(c.Subject) + 512
	for _, v := range c.Variables {
		n += len(v) + 3
	}
	for _, w := range c.Warnings {
		n += len(w.Message) + 32
	}
	return n
}

// Contact is the part of a contact a template renders, read straight
// from the contact's item (the templates and messages functions link no
// contacts code).
type Contact struct {
	ID         string         `dynamodbav:"id"`
	Email      string         `dynamodbav:"email"`
	FirstName  *string        `dynamodbav:"firstName"`
	LastName   *string        `dynamodbav:"lastName"`
	Properties map[string]any `dynamodbav:"properties"`
	Tags       []string       `dynamodbav:"tags"`
}

// ContactVars is a contact as templates see it: {{ contact.firstName }}.
func ContactVars(c *Contact) map[string]any {
	m := map[string]any{"id": c.ID, "email": c.Email, "properties": c.Properties, "tags": c.Tags}
	if m["properties"] == nil {
		m["properties"] = map[string]any{}
	}
	if c.Tags == nil {
		m["tags"] = []string{}
	}
	if c.FirstName != nil {
		m["firstName"] = *c.FirstName
	}
	if c.LastName != nil {
		m["lastName"] = *c.LastName
	}
	return m
}

// MergedData is the sample data with the given data over it, object by
// object (a given key replaces the sample's, except that two objects merge).
func MergedData(sample string, given json.RawMessage) (map[string]any, error) {
	out := map[string]any{}
	if sample != "" {
		m, err := DecodeObject([]byte(sample))
		if err != nil {
			return nil, fmt.Errorf("stored: decode sample data: %w", err)
		}
		out = m
	}
	if len(given) > 0 {
		m, err := DecodeObject(given)
		if err != nil {
			return nil, fmt.Errorf("stored: decode preview data: %w", err)
		}
		merge(out, m)
	}
	return numbers(out).(map[string]any), nil
}

// numbers turns the json.Numbers of v into int64 (whole numbers) or
// float64, as Liquid compares and formats numbers.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64() // valid JSON number: at worst ±Inf
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				merge(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

// DecodeObject decodes a JSON object, keeping numbers as json.Number.
func DecodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("templates: not an object")
	}
	return obj, nil
}

// Gzip compresses s.
func Gzip(s string) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: cannot fail
	_, _ = w.Write([]byte(s))                               // a bytes.Buffer: cannot fail
	_ = w.Close()
	return buf.Bytes()
}

// Gunzip decompresses what Gzip compressed.
func Gunzip(b []byte) (string, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("stored: decompress: %w", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("stored: decompress: %w", err)
	}
	if !utf8.Valid(out) {
		return "", fmt.Errorf("stored: decompress: not UTF-8")
	}
	return string(out), nil
}

// CanonicalObject checks that raw (absent or null: none) is a JSON object of
// at most max bytes and returns it with sorted keys and no spaces; numbers
// keep their digits.
func CanonicalObject(field string, raw json.RawMessage, max int) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > max {
		return nil, errs.Invalid(field, "The '%s' field must be at most %d KB of JSON.", field, max>>10)
	}
	obj, err := DecodeObject(raw)
	if err != nil {
		return nil, errs.Invalid(field, "The '%s' field must be a JSON object.", field)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("stored: encode %s: %w", field, err)
	}
	return out, nil
}

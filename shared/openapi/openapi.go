// Package openapi holds the API's OpenAPI 3.1 document, served at
// GET /api/openapi.json and checked against the routes by tests.
package openapi

import (
	_ "embed"
	"net/http"
)

// Document is the OpenAPI document, as JSON.
//
//go:embed openapi.json
var Document []byte

// Serve writes the document.
func Serve(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(Document)
	return err
}

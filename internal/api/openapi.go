package api

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the hand-written OpenAPI 3 document of the API; a test
// holds it and the registered routes to each other.
//
//go:embed openapi.json
var openapiJSON []byte

// OpenAPIDocument returns the OpenAPI document.
func OpenAPIDocument() []byte { return openapiJSON }

// OpenAPI serves the OpenAPI document.
func OpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(openapiJSON)
}

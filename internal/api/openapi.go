package api

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
)

// The OpenAPI document is hand-written in parts: openapi/00-base.json holds
// the header and shared components, and each resource's file adds its
// paths and schemas. They are merged once at start; a test holds the result
// and the registered routes to each other.
//
//go:embed openapi/*.json
var openapiFS embed.FS

var openapiJSON = mustMergeOpenAPI()

func mustMergeOpenAPI() []byte {
	b, err := mergeOpenAPI(openapiFS)
	if err != nil {
		panic(err)
	}
	return b
}

func mergeOpenAPI(fsys fs.FS) ([]byte, error) {
	files, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var doc map[string]any
	for i, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var part map[string]any
		if err := json.Unmarshal(raw, &part); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if i == 0 {
			doc = part
			continue
		}
		if err := mergePaths(doc, part, f); err != nil {
			return nil, err
		}
		comps, _ := part["components"].(map[string]any)
		docComps, _ := doc["components"].(map[string]any)
		for _, sec := range []string{"schemas", "parameters", "responses"} {
			if err := mergeSection(docComps, comps, f, sec); err != nil {
				return nil, err
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// mergePaths adds a file's operations; two files may document different
// methods of one path, never the same one.
func mergePaths(dst, src map[string]any, file string) error {
	add, _ := src["paths"].(map[string]any)
	into, _ := dst["paths"].(map[string]any)
	if into == nil {
		into = map[string]any{}
		dst["paths"] = into
	}
	for path, ops := range add {
		have, _ := into[path].(map[string]any)
		if have == nil {
			into[path] = ops
			continue
		}
		for method, op := range ops.(map[string]any) {
			if _, dup := have[method]; dup {
				return fmt.Errorf("%s: %s %s is already documented", file, method, path)
			}
			have[method] = op
		}
	}
	return nil
}

// mergeSection adds the entries of src[key] to dst[key]; a name defined
// twice is an error, so two files cannot silently disagree.
func mergeSection(dst, src map[string]any, file, key string) error {
	add, _ := src[key].(map[string]any)
	if len(add) == 0 {
		return nil
	}
	into, _ := dst[key].(map[string]any)
	if into == nil {
		into = map[string]any{}
		dst[key] = into
	}
	for k, v := range add {
		if _, dup := into[k]; dup {
			return fmt.Errorf("%s: %s %q is already defined", file, key, k)
		}
		into[k] = v
	}
	return nil
}

// OpenAPIDocument returns the merged OpenAPI document.
func OpenAPIDocument() []byte { return openapiJSON }

// OpenAPI serves the OpenAPI document.
func OpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(openapiJSON)
}

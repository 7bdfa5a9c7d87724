package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// nestedRequest has the shapes the handlers' requests have, and one
// level of nesting, so that a type error names a path.
type nestedRequest struct {
	Name    string   `json:"name"`
	Count   int64    `json:"count"`
	On      *bool    `json:"on"`
	Tags    []string `json:"tags"`
	Address struct {
		City string `json:"city"`
		Zip  *int   `json:"zip"`
	} `json:"address"`
}

// FuzzDecodeJSON: decodeJSON, which every JSON body of the API goes
// through. A body is taken only when it is one JSON object (white space
// around it, nothing else), within maxBody, with no NUL and only known
// fields; anything else is a 400 naming one field, with a short message
// that never carries the body's text beyond a few characters.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, ` {"name":"a","count":1,"on":true,"tags":["x"],"address":{"city":"c","zip":1}} `,
		`{"regular":["Config.A.B.C = 1"],"once":[]}`, `{"mac":"0C:11:05:AA:BB:CC","project_id":1,"name":null}`,
		`{"company":"c","tel":"+1 (2) 3"}`, `{"NAME":"case-insensitive"}`,
		``, ` `, `null`, `[]`, `"x"`, `1`, `true`,
		`{} {}`, `{}]`, `{}}`, `{} x`, `{}` + "\u00a0", `{"name":"a"}garbage`,
		`{"name":`, `{"name":"a`, `{"count":"1"}`, `{"count":1e400}`, `{"count":1.5}`, `{"address":{"zip":"z"}}`,
		`{"tags":[1]}`, `{"unknown":1}`, `{"` + strings.Repeat("k", 5000) + `":1}`, `{"name":"a\u0000"}`, `{"name":"a\U0000"}`,
		"{\"name\":\"a\x00\"}", `{"name":"\ud800"}`, "{\"name\":\"\xff\"}", `{"name":"a","name":"b"}`,
		`{"a":` + strings.Repeat("[", 10001) + `}`,
	} {
		f.Add([]byte(s), uint8(0), int16(0))
	}
	// At the size limit, one byte either side (white space pads the body).
	f.Add([]byte(`{"name":"x"}`), uint8(0xf0), int16(-1))
	f.Add([]byte(`{"name":"x"}`), uint8(0xf0), int16(0))
	f.Add([]byte(`{"name":"x"}`), uint8(0xf1), int16(1))
	f.Fuzz(func(t *testing.T, body []byte, kind uint8, near int16) {
		if kind >= 0xf0 {
			// Padded with white space to maxBody+near bytes: one input in
			// sixteen, a megabyte is slow to fuzz.
			if pad := maxBody + int(near) - len(body); pad > 0 {
				body = append(bytes.Repeat([]byte(" "), pad), body...)
			}
		}
		var v any
		switch kind % 4 {
		case 0:
			v = new(nestedRequest)
		case 1:
			v = new(autoPRequest)
		case 2:
			v = new(deviceRequest)
		case 3:
			v = new(billing.Info)
		}
		r := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(body))
		err := decodeJSON(httptest.NewRecorder(), r, v)

		trimmed := bytes.Trim(body, " \t\r\n")
		if err == nil {
			switch {
			case len(body) > maxBody:
				t.Fatalf("a body of %d bytes taken", len(body))
			case len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed):
				t.Fatalf("%q taken: not one JSON object", clip(body))
			case bytes.IndexByte(body, 0) >= 0 || bytes.Contains(bytes.ToLower(body), []byte(`\u0000`)):
				t.Fatalf("%q taken: holds a NUL", clip(body))
			}
			// Every field of the object is one of the type's.
			var fields map[string]json.RawMessage
			if json.Unmarshal(trimmed, &fields) != nil {
				t.Fatalf("%q taken: not an object", clip(body))
			}
			for k := range fields {
				if !knownField(reflect.TypeOf(v).Elem(), k) {
					t.Fatalf("%q taken with the unknown field %q", clip(body), clip([]byte(k)))
				}
			}
			return
		}

		if model.ErrorCode(err) != model.EINVALID {
			t.Fatalf("%q: %v, want EINVALID", clip(body), err)
		}
		fs := model.ErrorFields(err)
		if len(fs) != 1 {
			t.Fatalf("%q: fields %v, want one", clip(body), fs)
		}
		for field, msg := range fs {
			if field == "" || len(field) > 80 || !utf8.ValidString(field) {
				t.Fatalf("%q: the error names the field %q", clip(body), clip([]byte(field)))
			}
			if len(msg) > 160 {
				t.Fatalf("%q: message of %d bytes: %q", clip(body), len(msg), clip([]byte(msg)))
			}
		}
		if big := strings.Contains(err.Error(), "is larger than"); big != (len(body) > maxBody) {
			t.Fatalf("body of %d bytes: %v", len(body), err)
		}
	})
}

// knownField: k names a field of struct type t as encoding/json matches
// names (its tag, without regard to case).
func knownField(t reflect.Type, k string) bool {
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		if strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}

// clip keeps failure messages readable.
func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

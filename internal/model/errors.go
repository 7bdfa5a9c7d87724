// Package model holds Gatehouse's domain types, their validation rules and the
// error codes every layer speaks. It imports nothing from the rest of the app.
package model

import (
	"errors"
	"fmt"
)

// Error codes, one per way a request can fail. The HTTP adapter maps each to
// a status; nothing else in the app should know about statuses.
const (
	ENOTFOUND     = "not_found"
	EINVALID      = "invalid"
	ECONFLICT     = "conflict"
	EFORBIDDEN    = "forbidden"
	EUNAUTHORIZED = "unauthorized"
	ETOOMANY      = "too_many_requests"
	EINTERNAL     = "internal"
	ETOOLARGE     = "too_large"   // input past a size bound (an upload, what it inflates to)
	EUNAVAILABLE  = "unavailable" // the database cannot serve now (unreachable, its disk full): try again later
)

// The messages of EUNAVAILABLE errors (internal/store classifies the
// database's errors into them).
const (
	MsgDatabaseUnavailable = "The database is unavailable right now; please try again in a few seconds."
	MsgDiskFull            = "The data disk is full; changes are refused until space is freed (reading still works)."
)

// Error is a domain error: a code, a message meant for the user and, for
// invalid input, the offending fields (field name → message).
type Error struct {
	Code    string
	Message string
	Fields  map[string]string

	// The message and field messages before formatting: the portal looks
	// them up in its catalogs (internal/i18n) and formats them in the
	// reader's language. Message and Fields, for the API, stay English.
	Text       Text
	FieldTexts map[string]Text
}

// Text is a message's format (its English text, the catalogs' key) and arguments.
type Text struct {
	Format string
	Args   []any
}

// Localized returns the message and field messages of e formatted by tr,
// a catalog's Sprintf (format is the key, args its arguments).
func (e *Error) Localized(tr func(format string, args ...any) string) (string, map[string]string) {
	var fields map[string]string
	if len(e.FieldTexts) > 0 {
		fields = make(map[string]string, len(e.FieldTexts))
		for f, t := range e.FieldTexts {
			fields[f] = tr(t.Format, t.Args...)
		}
	}
	switch {
	case e.Text.Format != "":
		return tr(e.Text.Format, e.Text.Args...), fields
	case len(fields) == 1:
		for f, m := range fields {
			return f + ": " + m, fields
		}
	case len(fields) > 1:
		return tr("Invalid input."), fields
	}
	return e.Message, fields
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds a domain error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Text: Text{format, args}}
}

// NotFound is the one answer for a missing row and for a row outside the
// caller's subtree: a foreign id must not be distinguishable from a missing one.
// Its catalog key is the whole message ("device not found").
func NotFound(what string) *Error {
	return &Error{Code: ENOTFOUND, Message: what + " not found", Text: Text{Format: what + " not found"}}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not ours.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err; internal errors get a
// generic text so that no SQL or stack detail reaches a user.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the per-field messages of an invalid-input error.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Validator collects field errors so a form can report all of them at once.
type Validator struct {
	fields map[string]string
	texts  map[string]Text
}

// Add records a message for field unless one is already recorded.
func (v *Validator) Add(field, format string, args ...any) {
	if v.fields == nil {
		v.fields = map[string]string{}
	}
	if _, ok := v.fields[field]; !ok {
		v.fields[field] = fmt.Sprintf(format, args...)
		if v.texts == nil {
			v.texts = map[string]Text{}
		}
		v.texts[field] = Text{format, args}
	}
}

// Merge adds the field messages of an invalid-input error, their formats
// kept for translation.
func (v *Validator) Merge(err error) {
	var e *Error
	if !errors.As(err, &e) {
		return
	}
	for f, m := range e.Fields {
		if t, ok := e.FieldTexts[f]; ok {
			v.Add(f, t.Format, t.Args...)
		} else {
			v.Add(f, "%s", m)
		}
	}
}

// Check adds the message when ok is false.
func (v *Validator) Check(ok bool, field, format string, args ...any) {
	if !ok {
		v.Add(field, format, args...)
	}
}

// Err returns an EINVALID error naming every failed field, or nil.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	msg := "Invalid input."
	if len(v.fields) == 1 {
		for f, m := range v.fields {
			msg = fmt.Sprintf("%s: %s", f, m)
		}
	}
	return &Error{Code: EINVALID, Message: msg, Fields: v.fields, FieldTexts: v.texts}
}

// TooLarge is an ETOOLARGE error about one field: input refused for its size.
func TooLarge(field, format string, args ...any) *Error {
	e := Invalid(field, format, args...)
	e.Code = ETOOLARGE
	return e
}

// Invalid is an EINVALID error about one field.
func Invalid(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: EINVALID, Message: field + ": " + msg, Fields: map[string]string{field: msg},
		FieldTexts: map[string]Text{field: {format, args}}}
}

// WithField records a message about one field of e, kept for translation
// like e's own.
func (e *Error) WithField(field, format string, args ...any) *Error {
	if e.Fields == nil {
		e.Fields, e.FieldTexts = map[string]string{}, map[string]Text{}
	} else if e.FieldTexts == nil {
		e.FieldTexts = map[string]Text{}
	}
	e.Fields[field] = fmt.Sprintf(format, args...)
	e.FieldTexts[field] = Text{format, args}
	return e
}

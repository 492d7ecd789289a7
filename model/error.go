package model

import (
	"errors"
	"fmt"
	"sort"
)

// Error codes: stable, machine-readable, one per row of the contract's error
// table. The API maps each to its HTTP status in one place.
const (
	EInvalidJSON          = "invalid_json"
	EValidation           = "validation_failed"
	EUnauthorized         = "unauthorized"
	EForbidden            = "forbidden"
	ENotFound             = "not_found"
	EConflict             = "conflict"
	EBodyTooLarge         = "body_too_large"
	EUnsupportedMedia     = "unsupported_media_type"
	EIdempotencyKeyReused = "idempotency_key_reused"
	ERateLimited          = "rate_limited"
	EUnavailable          = "unavailable"
	EMethodNotAllowed     = "method_not_allowed"
	EInternal             = "internal"
)

// Field error codes, used inside a validation_failed error.
const (
	FRequired     = "required"
	FInvalidEmail = "invalid_email"
	FInvalidURL   = "invalid_url"
	FTooLong      = "too_long"
	FInvalidType  = "invalid_type"
	FInvalidValue = "invalid_value"
	FUnknownField = "unknown_field"
	FNotFound     = "not_found"
)

// Error is the one error type the domain speaks. Its Message is safe to show
// to a client; anything else (a bbolt error, a syscall) is internal and never
// reaches one.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

// FieldError is one problem with one request field.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Code + ": " + e.Message
	}
	return fmt.Sprintf("%s: %s (%s: %s)", e.Code, e.Message, e.Fields[0].Field, e.Fields[0].Code)
}

// Errorf returns an *Error with a formatted, client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: "" for nil, EInternal for anything that
// is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EInternal
	}
}

// FieldErrors collects every problem of one request, so they are reported
// together rather than one per round trip.
type FieldErrors []FieldError

// Add records a problem with field.
func (fe *FieldErrors) Add(field, code, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

// Has reports whether field already has a problem, so a later check does
// not pile a second complaint onto a value already known to be wrong.
func (fe FieldErrors) Has(field string) bool {
	for _, f := range fe {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Merge adds the problems of other whose fields have none yet. It keeps
// the fields in a set: a request can have thousands of problems (a bad
// string in every element of a long array), and a scan of fe for each
// would take quadratic time.
func (fe *FieldErrors) Merge(other FieldErrors) {
	if len(other) == 0 {
		return
	}
	has := make(map[string]bool, len(*fe)+len(other))
	for _, f := range *fe {
		has[f.Field] = true
	}
	for _, f := range other {
		if !has[f.Field] {
			has[f.Field] = true
			*fe = append(*fe, f)
		}
	}
}

// Err returns nil when there are no problems, else a validation_failed
// *Error listing them in field order.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	fields := append([]FieldError(nil), fe...)
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	msg := "1 field is invalid"
	if len(fields) > 1 {
		msg = fmt.Sprintf("%d fields are invalid", len(fields))
	}
	return &Error{Code: EValidation, Message: msg, Fields: fields}
}

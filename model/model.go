// Package model holds referrald's domain: the records a referral program is
// made of (programs, ambassadors, impressions, referrals, API keys), the
// rules a valid request obeys, the error type every layer speaks, and the
// service interfaces the HTTP API is written against.
//
// It imports nothing of ours, so the store, the API and the hooks can all
// depend on it without depending on each other.
package model

import (
	"bytes"
	"encoding/json"
	"time"
)

// TimeLayout is how every timestamp leaves the service: RFC 3339, UTC,
// millisecond precision.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Time is an instant that renders as TimeLayout in JSON.
type Time struct{ time.Time }

// NewTime truncates t to the millisecond the store keeps.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// MarshalJSON renders t as TimeLayout.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts any RFC 3339 timestamp.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = NewTime(v)
	return nil
}

// Metadata is a client's free-form JSON object, kept byte for byte as it
// was given (compacted), and rendered as {} when there is none.
type Metadata json.RawMessage

// MarshalJSON renders empty metadata as {}.
func (m Metadata) MarshalJSON() ([]byte, error) {
	if len(m) == 0 {
		return []byte("{}"), nil
	}
	return m, nil
}

// UnmarshalJSON keeps the object's bytes, compacted.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*m = buf.Bytes()
	return nil
}

// Page is one page of a list, newest first.
type Page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
	// NextCursor is the ID of the last item when HasMore, else nil.
	NextCursor *string `json:"next_cursor"`
}

// ListOptions are the paging parameters every list takes.
type ListOptions struct {
	// Limit is 1..MaxListLimit.
	Limit int
	// Cursor is the ID of the last item of the previous page, or "".
	Cursor string
}

// List limits.
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
)

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
)

// DefaultMaxBodyBytes is the largest request body accepted unless
// configured otherwise: 64 KiB, as the contract says.
const DefaultMaxBodyBytes = 64 << 10

// readBody returns the body of a JSON request: 415 unless it says it is
// JSON, 413 past the body limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, model.Errorf(model.EUnsupportedMedia, "the body must be application/json")
	}
	tooLarge := model.Errorf(model.EBodyTooLarge, "the body must be at most %d bytes", s.maxBody)
	if r.ContentLength > s.maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, model.Errorf(model.EInvalidJSON, "the body could not be read")
	}
	return body, nil
}

// object reads the fields of a JSON object one by one, so that a field of
// the wrong type, an unknown field and a rule broken elsewhere are all
// reported together instead of the decoder stopping at the first.
type object struct {
	path   string
	fields map[string]json.RawMessage
	used   map[string]bool
	errs   *model.FieldErrors
}

// readObject reads the request body as a JSON object.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request) (*object, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	return parseObject(body)
}

// parseObject parses a body that must be a JSON object. Its strings are
// checked on the raw bytes first, since decoding them would silently
// replace invalid UTF-8 and lone surrogates with U+FFFD; each bad one is a
// field error of the field it is in, reported with the request's others.
func parseObject(body []byte) (*object, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, model.Errorf(model.EInvalidJSON, "the body must be a JSON object")
	}
	errs := &model.FieldErrors{}
	model.CheckJSONStrings(errs, "", body)
	return &object{fields: fields, used: map[string]bool{}, errs: errs}, nil
}

// raw returns a field's JSON and whether it was given; null counts as given
// (a PATCH uses it to clear a field) but its raw value is nil.
func (o *object) raw(name string) (json.RawMessage, bool) {
	v, ok := o.fields[name]
	if !ok {
		return nil, false
	}
	o.used[name] = true
	if string(v) == "null" {
		return nil, true
	}
	return v, true
}

// typeError reports a field of the wrong type, unless its value was
// already refused (a string that is not valid UTF-8, say).
func (o *object) typeError(name, want string) {
	if field := o.path + model.FieldName(name); !o.errs.Has(field) {
		o.errs.Add(field, model.FInvalidType, "must be %s", want)
	}
}

// str returns a string field; absent and null read as "".
func (o *object) str(name string) string {
	v := o.strPtr(name)
	if v == nil {
		return ""
	}
	return *v
}

// strPtr returns nil for an absent field, "" for null.
func (o *object) strPtr(name string) *string {
	v, ok := o.raw(name)
	if !ok {
		return nil
	}
	var s string
	if v != nil && json.Unmarshal(v, &s) != nil {
		o.typeError(name, "a string")
	}
	return &s
}

// need records a required field that is absent or null as such, so that
// a check of its zero value (an amount of 0, say) does not report it as
// an invalid one instead.
func (o *object) need(name string) {
	if v, ok := o.fields[name]; !ok || string(v) == "null" {
		o.errs.Add(o.path+name, model.FRequired, "is required")
	}
}

// stringsPtr returns a list of strings; nil when absent, empty for null.
func (o *object) stringsPtr(name string) *[]string {
	v, ok := o.raw(name)
	if !ok {
		return nil
	}
	list := []string{}
	if v != nil && json.Unmarshal(v, &list) != nil {
		o.typeError(name, "a list of strings")
	}
	return &list
}

// boolPtr returns nil when absent or null.
func (o *object) boolPtr(name string) *bool {
	v, ok := o.raw(name)
	if !ok || v == nil {
		return nil
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		o.typeError(name, "true or false")
		return nil
	}
	return &b
}

func (o *object) int64(name string) int64 {
	v, ok := o.raw(name)
	if !ok || v == nil {
		return 0
	}
	var n int64
	if json.Unmarshal(v, &n) != nil {
		o.typeError(name, "an integer")
	}
	return n
}

// metadata returns an object-valued field's compacted bytes.
func (o *object) metadata(name string) model.Metadata {
	m := o.metadataPtr(name)
	if m == nil {
		return nil
	}
	return *m
}

// metadataPtr returns nil when absent, and empty metadata for null.
func (o *object) metadataPtr(name string) *model.Metadata {
	v, ok := o.raw(name)
	if !ok {
		return nil
	}
	m := model.Metadata{}
	if v == nil {
		return &m
	}
	if v[0] != '{' {
		o.typeError(name, "a JSON object")
		return &m
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		o.typeError(name, "a JSON object")
		return &m
	}
	m = buf.Bytes()
	return &m
}

// object returns a nested object (nil for null) and whether it was given.
func (o *object) object(name string) (*object, bool) {
	v, ok := o.raw(name)
	if !ok || v == nil {
		return nil, ok
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(v, &fields) != nil || fields == nil {
		o.typeError(name, "a JSON object")
		return nil, true
	}
	return &object{path: o.path + name + ".", fields: fields, used: map[string]bool{}, errs: o.errs}, true
}

// finish reports the fields nobody read as unknown, and returns every
// problem found so far.
func (o *object) finish() model.FieldErrors {
	var unknown []string
	for name := range o.fields {
		if !o.used[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		o.errs.Add(o.path+model.FieldName(name), model.FUnknownField, "is not a known field")
	}
	return *o.errs
}

// idempotency reads the request's idempotency key from the body field or
// the header and fingerprints the request's parameters (in, before any
// normalization) together with its route, so that one key used on two
// endpoints is a reuse too. A bad key is recorded as a field problem.
func idempotency(r *http.Request, o *object, route string, p model.Principal, in any) model.Idempotency {
	body := o.strPtr("idempotency_key")
	if raw, _ := o.raw("idempotency_key"); raw == nil {
		body = nil // absent or null: no key in the body
	}
	header, hasHeader, headerOK := headerIdempotencyKey(r)
	var key string
	switch {
	case o.errs.Has("idempotency_key"): // not a string: one problem is enough
	case body != nil && !model.ValidIdempotencyKey(*body):
		o.errs.Add("idempotency_key", model.FInvalidValue, "must be 1 to %d printable ASCII characters", model.MaxIdempotencyLen)
	case hasHeader && !headerOK:
		o.errs.Add("Idempotency-Key", model.FInvalidValue, "must be 1 to %d printable ASCII characters, bare or as a quoted string", model.MaxIdempotencyLen)
	case body != nil && hasHeader && *body != header:
		o.errs.Add("idempotency_key", model.FInvalidValue, "differs from the Idempotency-Key header")
	case body != nil:
		key = *body
	case hasHeader:
		key = header
	}
	if key == "" {
		return model.Idempotency{}
	}
	return model.Idempotency{Scope: p.ID, Key: key, Fingerprint: fingerprint(route, in)}
}

// fingerprint hashes a route and the JSON of a request's parameters.
// encoding/json writes struct fields in a fixed order and metadata
// arrives compacted, so equal parameters give equal fingerprints whatever
// the layout of the body they came in.
func fingerprint(route string, in any) [32]byte {
	b, err := json.Marshal(in)
	if err != nil {
		// Request structs hold only strings, numbers and valid JSON.
		panic("referrald: fingerprint: " + err.Error())
	}
	h := sha256.New()
	h.Write([]byte(route))
	h.Write([]byte{'\n'})
	h.Write(b)
	return [32]byte(h.Sum(nil))
}

// headerIdempotencyKey reads Idempotency-Key, bare or as an RFC 8941
// string ("..." with \" and \\ escapes).
func headerIdempotencyKey(r *http.Request) (key string, present, ok bool) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 {
		return "", false, false
	}
	if len(vals) > 1 {
		return "", true, false
	}
	v := strings.TrimSpace(vals[0])
	if strings.HasPrefix(v, `"`) {
		var ok bool
		if v, ok = unquoteSFString(v); !ok {
			return "", true, false
		}
	}
	return v, true, model.ValidIdempotencyKey(v)
}

func unquoteSFString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		switch c := v[i]; c {
		case '\\':
			i++
			if i == len(v)-1 || v[i] != '"' && v[i] != '\\' {
				return "", false
			}
			b.WriteByte(v[i])
		case '"':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// query reads a list's query parameters; unknown or repeated ones are
// problems, as unknown body fields are.
type query struct {
	vals url.Values
	used map[string]bool
	errs model.FieldErrors
}

func newQuery(r *http.Request) *query {
	return &query{vals: r.URL.Query(), used: map[string]bool{}}
}

func (q *query) str(name string) string {
	q.used[name] = true
	v := q.vals[name]
	switch {
	case len(v) == 0:
		return ""
	case len(v) > 1:
		q.errs.Add(name, model.FInvalidValue, "must be given at most once")
		return ""
	}
	return strings.TrimSpace(v[0])
}

// id reads a filter that names a record, in its canonical lower case, as
// the stored records compare it.
func (q *query) id(name, prefix string) string {
	v := q.str(name)
	if v == "" {
		return ""
	}
	k, ok := model.ParseID(prefix, v)
	if !ok {
		q.errs.Add(name, model.FInvalidValue, "must be an ID starting with %s_", prefix)
		return ""
	}
	return model.FormatID(prefix, k)
}

// limit reads an optional limit from 1 to max.
func (q *query) limit(name string, def, max int) int {
	v := q.str(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		q.errs.Add(name, model.FInvalidValue, "must be an integer from 1 to %d", max)
		return def
	}
	return n
}

// list reads limit and cursor.
func (q *query) list(prefix string) model.ListOptions {
	opt := model.ListOptions{Limit: q.limit("limit", model.DefaultListLimit, model.MaxListLimit)}
	if v := q.str("cursor"); v != "" {
		if _, ok := model.ParseID(prefix, v); !ok {
			q.errs.Add("cursor", model.FInvalidValue, "is not a cursor this list returned")
		} else {
			opt.Cursor = v
		}
	}
	return opt
}

// finish reports unknown parameters and returns every problem.
func (q *query) finish() error {
	var unknown []string
	for name := range q.vals {
		if !q.used[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		q.errs.Add(name, model.FUnknownField, "is not a known query parameter")
	}
	return q.errs.Err()
}

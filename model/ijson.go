package model

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// I-JSON (RFC 7493) is the JSON that every parser reads alike: strings
// and member names in UTF-8 with no surrogate or noncharacter code points,
// numbers an IEEE 754 double can hold, and no member name twice in one
// object. Metadata is kept and returned as it was written, so anything
// beyond I-JSON would reach the clients, plugins and CSV files that read it
// back, and some of them cannot decode it. encoding/json, on the other
// hand, silently turns invalid UTF-8 and lone surrogates into U+FFFD, so
// such strings are found here, in the raw bytes, before anything decodes
// them.

// Messages of the I-JSON field errors.
const (
	msgIJSONString = "must be valid UTF-8 without surrogate or noncharacter code points (I-JSON, RFC 7493)"
	msgIJSONName   = "has a name that is not valid UTF-8 or holds surrogate or noncharacter code points (I-JSON, RFC 7493)"
	msgIJSONNumber = "must be a number an IEEE 754 double can hold; this one is out of its range (I-JSON, RFC 7493)"
	msgIJSONTwice  = "is given more than once in its object (I-JSON, RFC 7493)"
)

// CheckJSONStrings records, as an invalid_value of the field it is, every
// string value in the JSON text v that I-JSON refuses. v must be valid
// JSON; field is the path of v ("" for a whole body). Member names are
// left to the caller: in a request body a name is a field, known (and
// ASCII) or refused as unknown.
func CheckJSONStrings(fe *FieldErrors, field string, v []byte) {
	w := newIJSONWalker(fe, v)
	w.value(field)
}

// checkIJSON records everything in the JSON text v that I-JSON refuses:
// strings as CheckJSONStrings does, and member names likewise, numbers out
// of a double's range and member names given twice. v must be valid JSON.
func checkIJSON(fe *FieldErrors, field string, v []byte) {
	w := newIJSONWalker(fe, v)
	w.stored = true
	w.value(field)
}

// ijsonWalker walks JSON text that is known to be valid, keeping the path
// of each value for its field errors. Every read is bounds-checked all the
// same, so text that is not valid after all ends the walk instead of a
// panic.
type ijsonWalker struct {
	fe *FieldErrors
	// reported holds the fields of fe, so that a body of thousands of bad
	// strings costs one map lookup per string, not a scan of fe.
	reported map[string]bool
	b        []byte
	i        int
	// stored checks member names and numbers too: the value is kept as
	// written, where elsewhere encoding/json decodes it into typed fields,
	// which refuse such numbers, under names that must be known ones.
	stored bool
}

func newIJSONWalker(fe *FieldErrors, v []byte) *ijsonWalker {
	w := &ijsonWalker{fe: fe, b: v, reported: make(map[string]bool, len(*fe))}
	for _, f := range *fe {
		w.reported[f.Field] = true
	}
	return w
}

// add records one problem per field: the first one found.
func (w *ijsonWalker) add(field, msg string) {
	if !w.reported[field] {
		w.reported[field] = true
		w.fe.Add(field, FInvalidValue, "%s", msg)
	}
}

func (w *ijsonWalker) peek() byte {
	for w.i < len(w.b) {
		switch c := w.b[w.i]; c {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return c
		}
	}
	return 0
}

func (w *ijsonWalker) value(path string) {
	switch c := w.peek(); {
	case c == '{':
		w.object(path)
	case c == '[':
		w.array(path)
	case c == '"':
		if _, ok := w.str(); !ok {
			w.add(path, msgIJSONString)
		}
	case c == '-' || c >= '0' && c <= '9':
		start := w.i
		for w.i < len(w.b) && strings.IndexByte("+-.0123456789eE", w.b[w.i]) >= 0 {
			w.i++
		}
		if w.stored {
			if f, _ := strconv.ParseFloat(string(w.b[start:w.i]), 64); math.IsInf(f, 0) {
				w.add(path, msgIJSONNumber)
			}
		}
	case c >= 'a' && c <= 'z': // true, false, null
		for w.i < len(w.b) && w.b[w.i] >= 'a' && w.b[w.i] <= 'z' {
			w.i++
		}
	default:
		w.i = len(w.b)
	}
}

func (w *ijsonWalker) object(path string) {
	w.i++ // {
	var seen map[string]bool
	if w.stored {
		seen = map[string]bool{}
	}
	for w.peek() == '"' {
		name, ok := w.str()
		field := FieldName(name)
		if path != "" {
			field = path + "." + field
		}
		if w.stored {
			switch {
			case !ok:
				w.add(field, msgIJSONName)
			case seen[name]:
				w.add(field, msgIJSONTwice)
			}
			seen[name] = true
		}
		if w.peek() == ':' {
			w.i++
		}
		w.value(field)
		if w.peek() == ',' {
			w.i++
		}
	}
	if w.peek() == '}' {
		w.i++
	} else {
		w.i = len(w.b)
	}
}

func (w *ijsonWalker) array(path string) {
	w.i++ // [
	for n := 0; w.peek() != ']' && w.i < len(w.b); n++ {
		w.value(path + "[" + strconv.Itoa(n) + "]")
		if w.peek() == ',' {
			w.i++
		}
	}
	w.i++ // ]
}

// str reads the string at w.i and returns it as encoding/json decodes it
// (the name a field path shows), and whether I-JSON allows it.
func (w *ijsonWalker) str() (string, bool) {
	start := w.i
	w.i++ // "
	ok, escaped := true, false
	for w.i < len(w.b) && w.b[w.i] != '"' {
		c := w.b[w.i]
		switch {
		case c == '\\':
			escaped = true
			if w.i+1 < len(w.b) && w.b[w.i+1] == 'u' {
				r, n := w.escapedRune(w.i)
				ok = ok && r >= 0 && !isNoncharacter(r)
				w.i += n
			} else {
				w.i += 2
			}
		case c < utf8.RuneSelf:
			w.i++
		default:
			r, n := utf8.DecodeRune(w.b[w.i:])
			ok = ok && !(r == utf8.RuneError && n == 1) && !isNoncharacter(r)
			w.i += n
		}
	}
	w.i++ // the closing quote
	if w.i > len(w.b) {
		return "", false // none: not JSON after all
	}
	raw := w.b[start:w.i]
	if !escaped && ok {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	json.Unmarshal(raw, &s) // valid JSON: cannot fail
	return s, ok
}

// escapedRune reads the \uXXXX escape at i, with the low half that must
// follow a high surrogate, and returns the code point (-1 for a lone
// surrogate) and the bytes read.
func (w *ijsonWalker) escapedRune(i int) (rune, int) {
	hi, ok := hex4(w.b, i)
	switch {
	case !ok:
		return -1, 2
	case hi < 0xd800 || hi > 0xdfff:
		return hi, 6
	case hi >= 0xdc00: // a low half with no high one before it
		return -1, 6
	}
	if lo, ok := hex4(w.b, i+6); ok && lo >= 0xdc00 && lo <= 0xdfff {
		return 0x10000 + (hi-0xd800)<<10 + (lo - 0xdc00), 12
	}
	return -1, 6
}

// hex4 reads the \uXXXX escape at i.
func hex4(b []byte, i int) (rune, bool) {
	if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
	return rune(v), err == nil
}

// ijsonString reports whether a Go string may be stored as an I-JSON
// string: encoding/json would write invalid UTF-8 as U+FFFD, repairing
// what should be refused, and writes noncharacters as they are.
func ijsonString(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, isNoncharacter) < 0
}

// isNoncharacter reports whether r is one of Unicode's 66 noncharacters,
// code points promised never to be assigned.
func isNoncharacter(r rune) bool {
	return r >= 0xfdd0 && r <= 0xfdef || r&0xfffe == 0xfffe
}

// FieldName is how a member name appears in a field path. A name that is
// empty, holds a dot or a bracket or is not printable ASCII is quoted as a
// Go string, so that the path stays unambiguous (metadata.a[1] is an
// array's element, metadata."a[1]" a member) and never blank.
func FieldName(name string) string {
	if name == "" || strings.ContainsAny(name, ".[]") {
		return strconv.Quote(name)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7e || name[i] == '"' {
			return strconv.Quote(name)
		}
	}
	return name
}

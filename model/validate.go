package model

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input limits. They bound every string a client can store.
const (
	MaxNameLen        = 100
	MaxEmailLen       = 254
	MaxURLLen         = 2048
	MaxLabelLen       = 200
	MaxUserAgentLen   = 512
	MaxMetadataKeys   = 50
	MaxMetadataBytes  = 8 << 10
	MaxIdempotencyLen = 255
)

// CheckText trims *s and checks it has 1..max characters (runes) and no
// control characters. An empty value is reported as required when required
// is set, and accepted otherwise.
func CheckText(fe *FieldErrors, field string, s *string, max int, required bool) {
	*s = strings.TrimSpace(*s)
	n := utf8.RuneCountInString(*s)
	switch {
	case n == 0 && required:
		fe.Add(field, FRequired, "is required")
	case n > max:
		fe.Add(field, FTooLong, "must be at most %d characters", max)
	case strings.IndexFunc(*s, unicode.IsControl) >= 0:
		fe.Add(field, FInvalidValue, "must not contain control characters")
	}
}

// checkEmail trims *s, checks it is local@domain.tld and lower-cases the
// domain.
func checkEmail(fe *FieldErrors, field string, s *string, required bool) {
	*s = strings.TrimSpace(*s)
	switch {
	case *s == "":
		if required {
			fe.Add(field, FRequired, "is required")
		}
		return
	case len(*s) > MaxEmailLen:
		fe.Add(field, FTooLong, "must be at most %d characters", MaxEmailLen)
		return
	}
	norm, ok := NormalizeEmail(*s)
	if !ok {
		fe.Add(field, FInvalidEmail, "must be a valid email address")
		return
	}
	*s = norm
}

// NormalizeEmail checks that s is a plain address local@domain.tld (no
// display name, no comments, no quoted local part) and returns it trimmed
// with its domain lower-cased.
func NormalizeEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 || len(s) > MaxEmailLen {
		return "", false
	}
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if !validLocalPart(local) || !validDomain(domain) {
		return "", false
	}
	return local + "@" + domain, true
}

// EmailKey is the form under which emails are compared: two addresses that
// differ only in case are one person for every mail system in practice.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func validLocalPart(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func validDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 || len(s) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if !isAlpha(tld[i]) && !strings.HasPrefix(tld, "xn--") {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }

// checkURL trims *s and checks it is an absolute http or https URL with a
// host, at most MaxURLLen characters.
func checkURL(fe *FieldErrors, field string, s *string, required bool) {
	*s = strings.TrimSpace(*s)
	switch {
	case *s == "":
		if required {
			fe.Add(field, FRequired, "is required")
		}
	case len(*s) > MaxURLLen:
		fe.Add(field, FTooLong, "must be at most %d characters", MaxURLLen)
	case !validHTTPURL(*s):
		fe.Add(field, FInvalidURL, "must be an absolute http or https URL")
	}
}

func validHTTPURL(s string) bool {
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// checkMetadata checks that m, when present, is a JSON object of at most
// MaxMetadataKeys keys and MaxMetadataBytes bytes once compacted, and
// I-JSON throughout, since it is kept and returned as written.
func checkMetadata(fe *FieldErrors, field string, m Metadata) {
	if len(m) == 0 {
		return
	}
	var obj map[string]json.RawMessage
	if bytes.TrimSpace(m)[0] != '{' || json.Unmarshal(m, &obj) != nil {
		fe.Add(field, FInvalidType, "must be a JSON object")
		return
	}
	switch {
	case len(obj) > MaxMetadataKeys:
		fe.Add(field, FInvalidValue, "must have at most %d keys", MaxMetadataKeys)
	case len(m) > MaxMetadataBytes:
		fe.Add(field, FTooLong, "must be at most %d bytes once serialized", MaxMetadataBytes)
	}
	checkIJSON(fe, field, m)
}

// ValidIdempotencyKey reports whether k is 1..255 printable ASCII characters.
func ValidIdempotencyKey(k string) bool {
	if k == "" || len(k) > MaxIdempotencyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkID reports a malformed or missing reference as not_found: to a client
// an ID that cannot exist and one that does not are the same mistake. A
// good one is written back in its canonical, lower case form, as stored
// records and their string comparisons use it.
func checkID(fe *FieldErrors, field, prefix string, s *string, required bool) {
	if *s == "" {
		if required {
			fe.Add(field, FRequired, "is required")
		}
		return
	}
	if k, ok := ParseID(prefix, *s); ok {
		*s = FormatID(prefix, k)
	} else {
		fe.Add(field, FNotFound, "%s %s does not exist", nounOf(prefix), clip(*s))
	}
}

// checkCurrency checks a required currency field.
func checkCurrency(fe *FieldErrors, field, s string) {
	switch {
	case s == "":
		fe.Add(field, FRequired, "is required")
	case !ValidCurrency(s):
		fe.Add(field, FInvalidValue, "must be an ISO 4217 code in upper case, e.g. USD")
	}
}

// clip shortens a client-supplied value before it is echoed in a message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

// nounOf names a kind of record in messages.
func nounOf(prefix string) string {
	switch prefix {
	case PrefixProgram:
		return "program"
	case PrefixAmbassador:
		return "ambassador"
	case PrefixPlacement:
		return "placement"
	case PrefixImpression:
		return "impression"
	case PrefixReferral:
		return "referral"
	case PrefixAPIKey:
		return "API key"
	case PrefixPrintRun:
		return "print run"
	}
	return "record"
}

// NotFound is the error for an unknown ID in a path.
func NotFound(prefix, id string) *Error {
	return Errorf(ENotFound, "%s %s does not exist", nounOf(prefix), clip(id))
}

// FieldNotFound is the validation error for a body field naming a record
// that does not exist.
func FieldNotFound(field, prefix, id string) error {
	var fe FieldErrors
	fe.Add(field, FNotFound, "%s %s does not exist", nounOf(prefix), clip(id))
	return fe.Err()
}

package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/referrald/referrald/model"
)

// FuzzReferralCreateDecode feeds arbitrary bodies and Idempotency-Key
// headers to the referral decoder and validator. It must never panic, and
// whatever it accepts must obey the contract's rules, I-JSON (RFC 7493)
// included: no string repaired on the way in, no number past a double in
// the metadata. Seeds live in testdata/fuzz/referral_create at the
// repository root.
func FuzzReferralCreateDecode(f *testing.F) {
	seeds, err := filepath.Glob("../testdata/fuzz/referral_create/*.json")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seed corpus: %v", err)
	}
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, `"idemp_20240115_123456"`)
	}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		in, idem, fe, ok := decodeForFuzz(body, header)
		if !ok || len(fe) > 0 {
			for _, e := range fe {
				if e.Field == "" || e.Code == "" || e.Message == "" {
					t.Fatalf("incomplete field error %+v", e)
				}
			}
			return
		}
		for _, name := range []string{in.FirstName, in.LastName} {
			if n := utf8.RuneCountInString(name); n < 1 || n > model.MaxNameLen || name != strings.TrimSpace(name) {
				t.Fatalf("accepted name %q", name)
			}
			if strings.ContainsRune(name, utf8.RuneError) && !sentFFFD(body) {
				t.Fatalf("accepted name %q, repaired from what was sent", name)
			}
		}
		if norm, valid := model.NormalizeEmail(in.Email); !valid || norm != in.Email || len(in.Email) > model.MaxEmailLen {
			t.Fatalf("accepted email %q", in.Email)
		}
		if _, valid := model.ParseID(model.PrefixImpression, in.ImpressionID); !valid {
			t.Fatalf("accepted impression_id %q", in.ImpressionID)
		}
		if len(in.ProfilePictureURL) > model.MaxURLLen {
			t.Fatalf("accepted a %d-byte URL", len(in.ProfilePictureURL))
		}
		if len(in.Metadata) > 0 && (!json.Valid(in.Metadata) || in.Metadata[0] != '{' || len(in.Metadata) > model.MaxMetadataBytes) {
			t.Fatalf("accepted metadata %q", in.Metadata)
		}
		// encoding/json refuses a number past a double; it turns invalid
		// UTF-8 and lone surrogates into U+FFFD, which must then have been
		// sent as such.
		var v any
		if len(in.Metadata) > 0 && (!utf8.Valid(in.Metadata) || json.Unmarshal(in.Metadata, &v) != nil ||
			strings.ContainsRune(fmt.Sprint(v), utf8.RuneError) && !sentFFFD(in.Metadata)) {
			t.Fatalf("accepted metadata %q, which is not I-JSON", in.Metadata)
		}
		if idem.Key != "" && !model.ValidIdempotencyKey(idem.Key) {
			t.Fatalf("accepted idempotency key %q", idem.Key)
		}
		// The same request decodes to the same fingerprint.
		_, again, _, _ := decodeForFuzz(body, header)
		if again.Fingerprint != idem.Fingerprint {
			t.Fatal("fingerprint is not deterministic")
		}
	})
}

// sentFFFD reports whether a JSON text holds U+FFFD itself, raw or
// escaped, as opposed to a decoder's replacement for what was not UTF-8.
func sentFFFD(b []byte) bool {
	s := strings.ToLower(string(b))
	return strings.Contains(s, `\ufffd`) || strings.ContainsRune(strings.ToValidUTF8(s, ""), utf8.RuneError)
}

func decodeForFuzz(body []byte, header string) (model.ReferralCreate, model.Idempotency, model.FieldErrors, bool) {
	r := httptest.NewRequest("POST", "/v1/referrals", bytes.NewReader(body))
	if header != "" {
		r.Header.Set("Idempotency-Key", header)
	}
	o, err := parseObject(body)
	if err != nil {
		return model.ReferralCreate{}, model.Idempotency{}, nil, false
	}
	in, idem, fe := decodeReferralCreate(r, o)
	return in, idem, fe, true
}

// FuzzListQuery feeds arbitrary query strings to the list parameters
// (limit, cursor, filters) of the referral and payout lists: no panic, and
// what is accepted is in bounds.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5&cursor=ref_01jdq3f7k8m2n4p6r8t0v2x4z6", "limit=0", "limit=101", "cursor=nope",
		"status=pending&email=a@b.co&program_id=prg_01jdq3f7k8m2n4p6r8t0v2x4z6", "limit=1&limit=2", "%zz", "a=b",
		"currency=USD&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00%2B01:00&ambassador_id=amb_01JDQ3F7K8M2N4P6R8T0V2X4Z6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkPayoutQuery(t, raw)
		r := httptest.NewRequest("GET", "/v1/referrals", nil)
		r.URL.RawQuery = raw
		q := newQuery(r)
		filter := referralFilter(q)
		opt := q.list(model.PrefixReferral)
		if q.finish() != nil {
			return
		}
		if opt.Limit < 1 || opt.Limit > model.MaxListLimit {
			t.Fatalf("accepted limit %d", opt.Limit)
		}
		if _, ok := model.ParseID(model.PrefixReferral, opt.Cursor); opt.Cursor != "" && !ok {
			t.Fatalf("accepted cursor %q", opt.Cursor)
		}
		if filter.Status != "" && !filter.Status.Valid() {
			t.Fatalf("accepted status %q", filter.Status)
		}
	})
}

// checkPayoutQuery reads raw as the payout list's query: what it accepts
// is in bounds.
func checkPayoutQuery(t *testing.T, raw string) {
	r := httptest.NewRequest("GET", "/v1/payouts", nil)
	r.URL.RawQuery = raw
	q := newQuery(r)
	filter := payoutFilter(q)
	opt := q.list(model.PrefixPayout)
	if q.finish() != nil {
		return
	}
	if opt.Limit < 1 || opt.Limit > model.MaxListLimit {
		t.Fatalf("accepted limit %d", opt.Limit)
	}
	if _, ok := model.ParseID(model.PrefixPayout, opt.Cursor); opt.Cursor != "" && !ok {
		t.Fatalf("accepted cursor %q", opt.Cursor)
	}
	if _, ok := model.ParseID(model.PrefixAmbassador, filter.AmbassadorID); filter.AmbassadorID != "" && (!ok || filter.AmbassadorID != strings.ToLower(filter.AmbassadorID)) {
		t.Fatalf("accepted ambassador_id %q", filter.AmbassadorID)
	}
	if filter.Currency != "" && !model.ValidCurrency(filter.Currency) {
		t.Fatalf("accepted currency %q", filter.Currency)
	}
	if !filter.From.IsZero() && !filter.To.IsZero() && !filter.From.Before(filter.To.Time) {
		t.Fatalf("accepted from %v not before to %v", filter.From, filter.To)
	}
}

// FuzzIdempotencyKeyHeader feeds arbitrary Idempotency-Key headers: what is
// accepted is a valid key, and equal requests fingerprint equally.
func FuzzIdempotencyKeyHeader(f *testing.F) {
	for _, s := range []string{"abc", `"abc"`, `"a\"b"`, `"a\\b"`, `"unterminated`, `"bad\escape"`, "", "clé", strings.Repeat("k", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("POST", "/v1/referrals", nil)
		r.Header.Set("Idempotency-Key", header)
		key, present, ok := headerIdempotencyKey(r)
		if ok && (!present || !model.ValidIdempotencyKey(key)) {
			t.Fatalf("accepted %q as key %q", header, key)
		}
		// Two fingerprints of equal requests, built apart, must agree.
		first := fingerprint("POST /v1/referrals", model.ReferralCreate{FirstName: header, Metadata: model.Metadata(`{"a":1}`)})
		second := fingerprint("POST /v1/referrals", model.ReferralCreate{FirstName: header, Metadata: model.Metadata(`{"a":1}`)})
		if first != second {
			t.Fatal("fingerprint is not deterministic")
		}
	})
}

package api_test

import (
	"strings"
	"testing"
)

// TestBodiesMustBeIJSON: stored JSON holds only what I-JSON (RFC 7493)
// allows, so every consumer decodes it alike; and no string of a request
// is silently repaired. Each problem is a field error naming where it is.
func TestBodiesMustBeIJSON(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	// referral is a signup body with raw JSON spliced in, since Go's own
	// encoder cannot write invalid UTF-8 or a lone surrogate.
	referral := func(names, extra string) string {
		if names == "" {
			names = `"first_name":"John","last_name":"Doe"`
		}
		return `{"impression_id":"` + imp + `",` + names + `,"email":"john.doe@example.com"` + extra + `}`
	}
	for _, c := range []struct {
		name, body string
		want       map[string]string // field → code
	}{
		{"a number past a double", referral("", `,"metadata":{"n":1e999}`), map[string]string{"metadata.n": "invalid_value"}},
		{"a negative one", referral("", `,"metadata":{"n":-1e999}`), map[string]string{"metadata.n": "invalid_value"}},
		{"deep in arrays", referral("", `,"metadata":{"a":{"b":[1,2E400]}}`), map[string]string{"metadata.a.b[1]": "invalid_value"}},
		{"invalid UTF-8 in metadata", referral("", `,"metadata":{"k":"ok","v":"`+"\xff"+`"}`), map[string]string{"metadata.v": "invalid_value"}},
		{"a lone high surrogate", referral("", `,"metadata":{"k":"\ud800"}`), map[string]string{"metadata.k": "invalid_value"}},
		{"a lone low surrogate", referral("", `,"metadata":{"k":"x\udc00y"}`), map[string]string{"metadata.k": "invalid_value"}},
		{"a surrogate pair the wrong way round", referral("", `,"metadata":{"k":"\ude00\ud83d"}`), map[string]string{"metadata.k": "invalid_value"}},
		{"a noncharacter", referral("", `,"metadata":{"k":"\uffff"}`), map[string]string{"metadata.k": "invalid_value"}},
		{"a key that is not UTF-8", referral("", `,"metadata":{"`+"\xfe"+`":1}`), map[string]string{`metadata."�"`: "invalid_value"}},
		{"a key given twice", referral("", `,"metadata":{"a":1,"b":2,"a":3}`), map[string]string{"metadata.a": "invalid_value"}},
		{"the same key escaped", referral("", `,"metadata":{"a":1,"\u0061":2}`), map[string]string{"metadata.a": "invalid_value"}},
		{"invalid UTF-8 in a name", referral(`"first_name":"Jo`+"\xc3"+`","last_name":"Doe"`, ""), map[string]string{"first_name": "invalid_value"}},
		{"a surrogate in a name", referral(`"first_name":"John","last_name":"\udbff"`, ""), map[string]string{"last_name": "invalid_value"}},
		{"two at once", referral(`"first_name":"`+"\x80"+`","last_name":"Doe"`, `,"metadata":{"n":1e999}`),
			map[string]string{"first_name": "invalid_value", "metadata.n": "invalid_value"}},
		{"an unknown key that is not UTF-8", referral("", `,"`+"\xff"+`":1`), map[string]string{`"�"`: "unknown_field"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: c.body})
			got := wantProblem(t, res, 400, "validation_failed")
			if len(got) != len(c.want) {
				t.Fatalf("got field errors %v, want %v", got, c.want)
			}
			for f, code := range c.want {
				if got[f] != code {
					t.Fatalf("got field errors %v, want %v", got, c.want)
				}
			}
		})
	}

	// What I-JSON allows is stored and returned as it was written.
	const ok = `{"big":1e308,"tiny":1e-999,"long":123456789012345678901234567890,"pair":"\ud83d\ude00","raw":"😀","nul":"\u0000"}`
	res := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: referral("", `,"metadata":`+ok)})
	if res.Status != 201 || !strings.Contains(string(res.Body), `"metadata":`+ok) {
		t.Fatalf("got %d %s, want 201 with the metadata as sent", res.Status, res.Body)
	}

	// Every record's metadata, and every string of every body.
	prg := e.post("/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})["id"].(string)
	for _, c := range []struct{ method, path, body, field string }{
		{"POST", "/v1/programs", `{"name":"P","landing_url":"https://example.com","metadata":{"n":-1e999}}`, "metadata.n"},
		{"PATCH", "/v1/programs/" + prg, `{"metadata":{"n":[1e999]}}`, "metadata.n[0]"},
		{"PATCH", "/v1/programs/" + prg, `{"name":"\udfff"}`, "name"},
		{"POST", "/v1/ambassadors", `{"first_name":"A","last_name":"B","email":"a@b.example","school":"` + "\xff" + `"}`, "school"},
		{"POST", "/v1/impressions", `{"program_id":"` + prg + `","ambassador_id":"amb_01jdq3f7k8m2n4p6r8t0v2x4z6","user_agent":"\ud800"}`, "user_agent"},
		{"POST", "/v1/programs", `{"name":"P","landing_url":"https://example.com","commission":{"type":"flat","amount":1,"currency":"\ud800SD"}}`, "commission.currency"},
	} {
		got := wantProblem(t, e.call(request{Method: c.method, Path: c.path, Token: adminToken, Body: c.body}), 400, "validation_failed")
		if got[c.field] != "invalid_value" {
			t.Errorf("%s %s %s: got field errors %v, want %s invalid_value", c.method, c.path, c.body, got, c.field)
		}
	}

	// A body that is not JSON at all is still invalid_json.
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: "{\xff}"}), 400, "invalid_json")
}

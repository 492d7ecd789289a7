package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
)

var timestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func validReferral(imp string) map[string]any {
	return map[string]any{"impression_id": imp, "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com"}
}

func TestReferralCreate(t *testing.T) {
	e := newEnv(t)
	prg, amb, imp := e.impression()
	res := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: map[string]any{
		"impression_id": imp, "first_name": "  John ", "last_name": "Doe", "email": " John.Doe@EXAMPLE.com ",
		"profile_picture_url": "https://example.com/profiles/john-doe.jpg", "metadata": map[string]any{"source": "instagram"},
	}})
	if res.Status != http.StatusCreated {
		t.Fatalf("got %d %s, want 201", res.Status, res.Body)
	}
	got := res.JSON(t)
	want := map[string]any{
		"impression_id": imp, "first_name": "John", "last_name": "Doe", "email": "John.Doe@example.com",
		"profile_picture_url": "https://example.com/profiles/john-doe.jpg", "metadata": map[string]any{"source": "instagram"},
		"status": "pending", "program_id": prg, "ambassador_id": amb, "placement_id": nil, "flags": []any{}, "erased_at": nil,
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	id, _ := got["id"].(string)
	if _, ok := model.ParseID("ref", id); !ok || id != strings.ToLower(id) {
		t.Errorf("id: got %q, want ref_<lowercase ULID>", id)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if s, _ := got[k].(string); !timestamp.MatchString(s) {
			t.Errorf("%s: got %q, want RFC 3339 UTC with milliseconds", k, got[k])
		}
	}
	if len(got) != 15 {
		t.Errorf("got %d fields %v, want the 13 of the contract and flags", len(got), got)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/referrals/"+id {
		t.Errorf("Location: got %q", loc)
	}
	again := e.call(request{Method: "GET", Path: "/v1/referrals/" + id, Token: e.readToken})
	if again.Status != 200 || !bytes.Equal(again.Body, res.Body) {
		t.Fatalf("GET after create: got %d %s, want the created referral %s", again.Status, again.Body, res.Body)
	}
	events, err := e.st.FindEvents(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.Type != model.EventReferralCreated || !bytes.Contains(last.Data, []byte(id)) {
		t.Fatalf("last event: got %s %s, want referral.created for %s", last.Type, last.Data, id)
	}
}

func TestReferralFieldRules(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name  string
		set   map[string]any
		field string
		code  string // "" means the request is valid
	}{
		{"impression missing", map[string]any{"impression_id": nil}, "impression_id", "required"},
		{"impression unknown", map[string]any{"impression_id": "imp_01jdq3e0a1b2c3d4e5f6g7h8j9"}, "impression_id", "not_found"},
		{"impression malformed", map[string]any{"impression_id": "imp_123abc"}, "impression_id", "not_found"},
		{"impression of another kind", map[string]any{"impression_id": "ref_01jdq3e0a1b2c3d4e5f6g7h8j9"}, "impression_id", "not_found"},
		{"impression not a string", map[string]any{"impression_id": 7}, "impression_id", "invalid_type"},
		{"first name missing", map[string]any{"first_name": nil}, "first_name", "required"},
		{"first name blank", map[string]any{"first_name": "   "}, "first_name", "required"},
		{"first name 100", map[string]any{"first_name": long(100)}, "", ""},
		{"first name 100 after trimming", map[string]any{"first_name": "  " + long(100) + "  "}, "", ""},
		{"first name 100 multibyte", map[string]any{"first_name": strings.Repeat("é", 100)}, "", ""},
		{"first name 101", map[string]any{"first_name": long(101)}, "first_name", "too_long"},
		{"last name missing", map[string]any{"last_name": ""}, "last_name", "required"},
		{"last name 101", map[string]any{"last_name": long(101)}, "last_name", "too_long"},
		{"last name not a string", map[string]any{"last_name": []int{1}}, "last_name", "invalid_type"},
		{"email missing", map[string]any{"email": nil}, "email", "required"},
		{"email no at", map[string]any{"email": "john.example.com"}, "email", "invalid_email"},
		{"email no tld", map[string]any{"email": "john@example"}, "email", "invalid_email"},
		{"email display name", map[string]any{"email": "John <john@example.com>"}, "email", "invalid_email"},
		{"email two ats", map[string]any{"email": "a@b@example.com"}, "email", "invalid_email"},
		{"email space", map[string]any{"email": "jo hn@example.com"}, "email", "invalid_email"},
		{"email 254", map[string]any{"email": long(64) + "@" + long(63) + "." + long(63) + "." + long(57) + ".com"}, "", ""},
		{"email 255", map[string]any{"email": long(64) + "@" + long(63) + "." + long(63) + "." + long(58) + ".com"}, "email", "too_long"},
		{"picture ftp", map[string]any{"profile_picture_url": "ftp://example.com/a.jpg"}, "profile_picture_url", "invalid_url"},
		{"picture relative", map[string]any{"profile_picture_url": "/a.jpg"}, "profile_picture_url", "invalid_url"},
		{"picture no host", map[string]any{"profile_picture_url": "https://"}, "profile_picture_url", "invalid_url"},
		{"picture 2048", map[string]any{"profile_picture_url": "https://example.com/" + long(2048-20)}, "", ""},
		{"picture 2049", map[string]any{"profile_picture_url": "https://example.com/" + long(2049-20)}, "profile_picture_url", "too_long"},
		{"picture http", map[string]any{"profile_picture_url": "http://example.com/a.jpg"}, "", ""},
		{"metadata array", map[string]any{"metadata": []int{1}}, "metadata", "invalid_type"},
		{"metadata string", map[string]any{"metadata": "x"}, "metadata", "invalid_type"},
		{"metadata 50 keys", map[string]any{"metadata": keys(50, 1)}, "", ""},
		{"metadata 51 keys", map[string]any{"metadata": keys(51, 1)}, "metadata", "invalid_value"},
		{"metadata over 8 KiB", map[string]any{"metadata": map[string]any{"k": long(8 << 10)}}, "metadata", "too_long"},
		{"unknown field", map[string]any{"emial": "x@example.com"}, "emial", "unknown_field"},
		{"program cannot be set", map[string]any{"program_id": "prg_01jdq3e0a1b2c3d4e5f6g7h8j9"}, "program_id", "unknown_field"},
		{"status cannot be set", map[string]any{"status": "converted"}, "status", "unknown_field"},
		{"empty key is quoted", map[string]any{"": 1}, `""`, "unknown_field"},
		{"dotted key is quoted", map[string]any{"first.name": "x"}, `"first.name"`, "unknown_field"},
		{"idempotency key too long", map[string]any{"idempotency_key": long(256)}, "idempotency_key", "invalid_value"},
		{"idempotency key empty", map[string]any{"idempotency_key": ""}, "idempotency_key", "invalid_value"},
		{"idempotency key not ASCII", map[string]any{"idempotency_key": "clé"}, "idempotency_key", "invalid_value"},
		{"idempotency key 255", map[string]any{"idempotency_key": long(255)}, "", ""},
		{"idempotency key a number", map[string]any{"idempotency_key": 5}, "idempotency_key", "invalid_type"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := validReferral(imp)
			body["email"] = fmt.Sprintf("p%d@example.com", i)
			for k, v := range c.set {
				if v == nil {
					delete(body, k)
				} else {
					body[k] = v
				}
			}
			res := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: body})
			if c.code == "" {
				if res.Status != 201 {
					t.Fatalf("got %d %s, want 201", res.Status, res.Body)
				}
				return
			}
			fields := wantProblem(t, res, 400, "validation_failed")
			if fields[c.field] != c.code || len(fields) != 1 {
				t.Fatalf("got field errors %v, want only %s: %s", fields, c.field, c.code)
			}
		})
	}
}

func keys(n, v int) map[string]int {
	m := map[string]int{}
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = v
	}
	return m
}

func TestReferralAllProblemsTogether(t *testing.T) {
	e := newEnv(t)
	res := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: map[string]any{
		"impression_id": "imp_123abc", "first_name": "", "last_name": 5, "email": "nope", "profile_picture_url": "x", "emial": 1,
	}})
	fields := wantProblem(t, res, 400, "validation_failed")
	want := map[string]string{"impression_id": "not_found", "first_name": "required", "last_name": "invalid_type",
		"email": "invalid_email", "profile_picture_url": "invalid_url", "emial": "unknown_field"}
	if fmt.Sprint(fields) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", fields, want)
	}
	if d := res.JSON(t)["detail"]; d != "6 fields are invalid" {
		t.Fatalf("detail: got %q", d)
	}
}

func TestReferralMetadataKeptExactly(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	body := `{"impression_id":"` + imp + `","first_name":"J","last_name":"D","email":"j@example.com",` +
		`"metadata": {"z": 1, "a": {"nested": [1, 2.50, "x"]}, "m": null}}`
	res := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: body})
	if res.Status != 201 {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
	if want := `"metadata":{"z":1,"a":{"nested":[1,2.50,"x"]},"m":null}`; !bytes.Contains(res.Body, []byte(want)) {
		t.Fatalf("got %s, want metadata %s (key order and numbers as given)", res.Body, want)
	}
}

func TestReferralBodyRules(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	valid, _ := json.Marshal(validReferral(imp))
	cases := []struct {
		name   string
		body   string
		header map[string]string
		status int
		code   string
	}{
		{"not JSON", `{"impression_id":`, nil, 400, "invalid_json"},
		{"JSON array", `[1,2]`, nil, 400, "invalid_json"},
		{"JSON null", `null`, nil, 400, "invalid_json"},
		{"trailing garbage", string(valid) + "x", nil, 400, "invalid_json"},
		{"empty body", ``, nil, 400, "invalid_json"},
		{"text/plain", string(valid), map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type"},
		{"no content type", string(valid), map[string]string{"Content-Type": ""}, 415, "unsupported_media_type"},
		{"form", "a=b", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"over 64 KiB", `{"first_name":"` + strings.Repeat("a", 64<<10) + `"}`, nil, 413, "body_too_large"},
		{"charset is fine", string(valid), map[string]string{"Content-Type": "application/json; charset=utf-8"}, 201, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: c.body, Header: c.header})
			if c.code == "" {
				if res.Status != c.status {
					t.Fatalf("got %d %s, want %d", res.Status, res.Body, c.status)
				}
				return
			}
			wantProblem(t, res, c.status, c.code)
		})
	}
}

func TestReferralIdempotency(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	post := func(token string, body any, header map[string]string) response {
		return e.call(request{Method: "POST", Path: "/v1/referrals", Token: token, Body: body, Header: header})
	}
	eventCount := func() int {
		ev, err := e.st.FindEvents(context.Background(), "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(ev)
	}
	withKey := func(key string) map[string]any {
		b := validReferral(imp)
		b["idempotency_key"] = key
		return b
	}

	first := post(e.writeToken, withKey("k1"), nil)
	if first.Status != 201 || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: got %d %v", first.Status, first.Header)
	}
	events := eventCount()

	t.Run("replay returns the original response", func(t *testing.T) {
		// Same parameters, other layout: keys reordered, spaces added.
		body := `{ "email": "john.doe@example.com", "idempotency_key": "k1", "last_name": "Doe", "first_name": "John", "impression_id": "` + imp + `" }`
		res := post(e.writeToken, body, nil)
		if res.Status != 201 || res.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(res.Body, first.Body) {
			t.Fatalf("got %d replayed=%q %s, want 201, true and the original body", res.Status, res.Header.Get("Idempotent-Replayed"), res.Body)
		}
		if n := eventCount(); n != events {
			t.Fatalf("got %d events after a replay, want %d: a replay fires no hook", n, events)
		}
	})
	t.Run("header key is the same key", func(t *testing.T) {
		res := post(e.writeToken, validReferral(imp), map[string]string{"Idempotency-Key": "k1"})
		if res.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(res.Body, first.Body) {
			t.Fatalf("got %d %s, want the replay", res.Status, res.Body)
		}
	})
	t.Run("quoted header key", func(t *testing.T) {
		res := post(e.writeToken, validReferral(imp), map[string]string{"Idempotency-Key": `"k1"`})
		if res.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("got %d %s, want the replay", res.Status, res.Body)
		}
	})
	t.Run("header and body agree", func(t *testing.T) {
		res := post(e.writeToken, withKey("k1"), map[string]string{"Idempotency-Key": "k1"})
		if res.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("got %d %s, want the replay", res.Status, res.Body)
		}
	})
	t.Run("header and body differ", func(t *testing.T) {
		fields := wantProblem(t, post(e.writeToken, withKey("k1"), map[string]string{"Idempotency-Key": "k2"}), 400, "validation_failed")
		if fields["idempotency_key"] != "invalid_value" {
			t.Fatalf("got %v", fields)
		}
	})
	t.Run("malformed quoted header", func(t *testing.T) {
		wantProblem(t, post(e.writeToken, validReferral(imp), map[string]string{"Idempotency-Key": `"k1`}), 400, "validation_failed")
	})
	t.Run("different parameters", func(t *testing.T) {
		b := withKey("k1")
		b["first_name"] = "Jane"
		wantProblem(t, post(e.writeToken, b, nil), 422, "idempotency_key_reused")
	})
	t.Run("same key on another endpoint", func(t *testing.T) {
		res := e.call(request{Method: "POST", Path: "/v1/impressions", Token: e.writeToken,
			Body: map[string]any{"program_id": "x"}, Header: map[string]string{"Idempotency-Key": "k1"}})
		wantProblem(t, res, 400, "validation_failed")
		prg, amb := first.JSON(t)["program_id"], first.JSON(t)["ambassador_id"]
		res = e.call(request{Method: "POST", Path: "/v1/impressions", Token: e.writeToken,
			Body: map[string]any{"program_id": prg, "ambassador_id": amb}, Header: map[string]string{"Idempotency-Key": "k1"}})
		wantProblem(t, res, 422, "idempotency_key_reused")
	})
	t.Run("keys are per API key", func(t *testing.T) {
		res := post(adminToken, withKey("k1"), nil)
		if res.Status != 201 || res.Header.Get("Idempotent-Replayed") != "" || res.JSON(t)["id"] == first.JSON(t)["id"] {
			t.Fatalf("got %d %s, want a new referral for another key's client", res.Status, res.Body)
		}
	})
	t.Run("validation failure does not use the key", func(t *testing.T) {
		bad := withKey("k3")
		bad["email"] = "nope"
		wantProblem(t, post(e.writeToken, bad, nil), 400, "validation_failed")
		unknown := withKey("k3")
		unknown["impression_id"] = "imp_01jdq3e0a1b2c3d4e5f6g7h8j9"
		wantProblem(t, post(e.writeToken, unknown, nil), 400, "validation_failed")
		res := post(e.writeToken, withKey("k3"), nil)
		if res.Status != 201 || res.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("got %d %v, want a fresh 201", res.Status, res.Header)
		}
	})
	t.Run("key is forgotten after the window", func(t *testing.T) {
		e.clock.Add(time.Hour + time.Second)
		b := withKey("k1")
		b["first_name"] = "Jane"
		res := post(e.writeToken, b, nil)
		if res.Status != 201 || res.Header.Get("Idempotent-Replayed") != "" || res.JSON(t)["id"] == first.JSON(t)["id"] {
			t.Fatalf("got %d %s, want a new referral", res.Status, res.Body)
		}
	})
}

func TestReferralOneKeyFiftyGoroutines(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	body := validReferral(imp)
	body["idempotency_key"] = "one-key-for-all"
	const n = 50
	results := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: body})
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	for i, res := range results {
		if res.Status != 201 || !bytes.Equal(res.Body, results[0].Body) {
			t.Fatalf("request %d: got %d %s, want 201 with the one referral %s", i, res.Status, res.Body, results[0].Body)
		}
		if res.Header.Get("Idempotent-Replayed") == "" {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d responses were not replays, want exactly 1", created)
	}
	list := e.call(request{Method: "GET", Path: "/v1/referrals?limit=100", Token: e.readToken}).JSON(t)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("got %d referrals, want 1", n)
	}
}

func TestReferralStatusLifecycle(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	create := func() string {
		b := validReferral(imp)
		return e.post("/v1/referrals", b)["id"].(string)
	}
	patch := func(id string, body any) response {
		return e.call(request{Method: "PATCH", Path: "/v1/referrals/" + id, Token: e.writeToken, Body: body})
	}
	cases := []struct {
		from, to string
		status   int
	}{
		{"pending", "converted", 200},
		{"pending", "rejected", 200},
		{"pending", "pending", 200},
		{"converted", "rejected", 409},
		{"converted", "pending", 409},
		{"converted", "converted", 200},
		{"rejected", "converted", 409},
		{"rejected", "pending", 409},
	}
	for _, c := range cases {
		t.Run(c.from+" to "+c.to, func(t *testing.T) {
			id := create()
			if c.from != "pending" {
				if res := patch(id, map[string]any{"status": c.from}); res.Status != 200 {
					t.Fatalf("setup: %d %s", res.Status, res.Body)
				}
			}
			before := e.call(request{Method: "GET", Path: "/v1/referrals/" + id, Token: e.readToken}).JSON(t)
			eventsBefore := countEvents(t, e)
			e.clock.Add(time.Second)
			res := patch(id, map[string]any{"status": c.to})
			if c.status == 409 {
				wantProblem(t, res, 409, "conflict")
				return
			}
			got := res.JSON(t)
			if res.Status != 200 || got["status"] != c.to {
				t.Fatalf("got %d %v", res.Status, got)
			}
			// A change moves updated_at; the status it already has is a
			// no-op, which leaves the record as it was.
			if moved := got["updated_at"] != before["updated_at"]; moved != (c.from != c.to) {
				t.Fatalf("updated_at %v → %v going from %s to %s", before["updated_at"], got["updated_at"], c.from, c.to)
			}
			if events := countEvents(t, e) - eventsBefore; events != map[bool]int{true: 0, false: 1}[c.from == c.to] {
				t.Fatalf("%d events going from %s to %s", events, c.from, c.to)
			}
			stored := e.call(request{Method: "GET", Path: "/v1/referrals/" + id, Token: e.readToken}).JSON(t)
			if stored["status"] != c.to {
				t.Fatalf("stored status %v, want %s", stored["status"], c.to)
			}
		})
	}
	id := create()
	fields := wantProblem(t, patch(id, map[string]any{"status": "paid"}), 400, "validation_failed")
	if fields["status"] != "invalid_value" {
		t.Fatalf("got %v", fields)
	}
	wantProblem(t, patch(id, map[string]any{"email": "x@example.com"}), 400, "validation_failed")
	wantProblem(t, patch("ref_01jdq3f7k8m2n4p6r8t0v2x4z6", map[string]any{"status": "rejected"}), 404, "not_found")
	wantProblem(t, e.call(request{Method: "PATCH", Path: "/v1/referrals/" + id, Token: e.readToken, Body: map[string]any{"status": "rejected"}}), 403, "forbidden")
}

func TestReferralGetUnknown(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"ref_01jdq3f7k8m2n4p6r8t0v2x4z6", "ref_123", "imp_01jdq3f7k8m2n4p6r8t0v2x4z6", "x"} {
		wantProblem(t, e.call(request{Method: "GET", Path: "/v1/referrals/" + id, Token: e.readToken}), 404, "not_found")
	}
}

func TestReferralList(t *testing.T) {
	e := newEnv(t)
	prg1, amb1, imp1 := e.impression()
	_, amb2, imp2 := e.impression()
	var ids []string
	for i := range 7 {
		imp := imp1
		if i%2 == 1 {
			imp = imp2
		}
		b := validReferral(imp)
		b["email"] = fmt.Sprintf("person%d@example.com", i%3)
		ids = append(ids, e.post("/v1/referrals", b)["id"].(string))
	}
	e.call(request{Method: "PATCH", Path: "/v1/referrals/" + ids[0], Token: e.writeToken, Body: map[string]any{"status": "rejected"}})

	list := func(q string) (got []string, page map[string]any) {
		t.Helper()
		res := e.call(request{Method: "GET", Path: "/v1/referrals?" + q, Token: e.readToken})
		if res.Status != 200 {
			t.Fatalf("GET ?%s: got %d %s", q, res.Status, res.Body)
		}
		page = res.JSON(t)
		for _, r := range page["data"].([]any) {
			got = append(got, r.(map[string]any)["id"].(string))
		}
		return got, page
	}
	all, page := list("")
	if len(all) != 7 || all[0] != ids[6] || page["has_more"] != false || page["next_cursor"] != nil {
		t.Fatalf("got %v %v, want all 7 newest first and no more", all, page)
	}
	// Walk in pages of 3.
	var walked []string
	q := "limit=3"
	for {
		got, page := list(q)
		walked = append(walked, got...)
		if page["has_more"] != true {
			break
		}
		q = "limit=3&cursor=" + page["next_cursor"].(string)
	}
	if fmt.Sprint(walked) != fmt.Sprint(all) {
		t.Fatalf("paged: got %v, want %v", walked, all)
	}
	counts := map[string]int{
		"program_id=" + prg1:                              4,
		"ambassador_id=" + amb2:                           3,
		"ambassador_id=" + amb1 + "&status=pending":       3,
		"status=rejected":                                 1,
		"email=PERSON0@example.com":                       3,
		"email=person0@example.com&ambassador_id=" + amb2: 1,
		"program_id=" + prg1 + "&ambassador_id=" + amb2:   0,
		"program_id=prg_01jdq3f7k8m2n4p6r8t0v2x4z6":       0,
		// The seventh is the fourth signup from one scan, and its email
		// was referred in the program before.
		"flagged=true":                                      1,
		"flagged=false":                                     7,
		"flagged=true&ambassador_id=" + amb2:                0,
		"from=2020-01-01T00:00:00Z":                         7,
		"to=2020-01-01T00:00:00Z":                           0,
		"from=2020-01-01T00:00:00Z&to=2099-01-01T00:00:00Z": 7,
		"placement_id=plc_01jdq3f7k8m2n4p6r8t0v2x4z6":       0,
	}
	for q, want := range counts {
		if got, _ := list(q); len(got) != want {
			t.Errorf("?%s: got %d, want %d", q, len(got), want)
		}
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=nope", "status=paid", "program_id=nope", "colour=red", "limit=1&limit=2",
		"flagged=yes", "from=yesterday", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "placement_id=nope"} {
		wantProblem(t, e.call(request{Method: "GET", Path: "/v1/referrals?" + q, Token: e.readToken}), 400, "validation_failed")
	}
}

// An ID's ULID part may come in upper case anywhere: in a body it is
// stored in lower case, and as a list filter it finds what the lower case
// one finds.
func TestIDsInUpperCase(t *testing.T) {
	e := newEnv(t)
	prg, amb, imp := e.impression()
	upper := func(id string) string {
		prefix, ulid, _ := strings.Cut(id, "_")
		return prefix + "_" + strings.ToUpper(ulid)
	}
	body := validReferral(upper(imp))
	ref := e.post("/v1/referrals", body)
	if ref["impression_id"] != imp || ref["program_id"] != prg || ref["ambassador_id"] != amb {
		t.Fatalf("referral from an upper-case impression ID: %v", ref)
	}
	same := e.post("/v1/impressions", map[string]any{"program_id": upper(prg), "ambassador_id": upper(amb)})
	if same["program_id"] != prg || same["ambassador_id"] != amb {
		t.Fatalf("impression from upper-case IDs: %v", same)
	}
	// A placement's impression with the program named too, in upper case.
	pl := e.post("/v1/placements", map[string]any{"program_id": prg, "ambassador_id": amb})
	if got := e.post("/v1/impressions", map[string]any{"placement_id": upper(pl["id"].(string)), "program_id": upper(prg)}); got["program_id"] != prg {
		t.Fatalf("impression from an upper-case placement and program: %v", got)
	}
	earning := e.post("/v1/earnings", map[string]any{"referral_id": upper(ref["id"].(string)), "amount": 100, "currency": "USD"})
	if earning["referral_id"] != ref["id"] {
		t.Fatalf("earning for an upper-case referral ID: %v", earning)
	}
	if got := e.call(request{Method: "GET", Path: "/v1/ambassadors/" + upper(amb) + "/balance", Token: e.readToken}).JSON(t); got["ambassador_id"] != amb {
		t.Fatalf("balance of an upper-case ambassador ID: %v", got)
	}
	for _, path := range []string{"/v1/referrals?program_id=", "/v1/impressions?program_id="} {
		lower := e.call(request{Method: "GET", Path: path + prg, Token: e.readToken}).JSON(t)
		up := e.call(request{Method: "GET", Path: path + upper(prg), Token: e.readToken}).JSON(t)
		if n := len(lower["data"].([]any)); n == 0 || !reflect.DeepEqual(lower, up) {
			t.Fatalf("%s in upper case: %v; in lower case: %v", path, up, lower)
		}
	}
}

// countEvents counts the outbox's events.
func countEvents(t *testing.T, e *env) int {
	t.Helper()
	n, after := 0, ""
	for {
		evs, err := e.st.FindEvents(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return n
		}
		n += len(evs)
		after = evs[len(evs)-1].ID
	}
}

// countingChecker stands for the hook plugins' BeforeReferralCreate: it
// counts its calls and holds the first until released.
type countingChecker struct {
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (c *countingChecker) CheckReferral(ctx context.Context, in model.ReferralCreate, imp *model.Impression) (model.ReferralVerdict, error) {
	if c.calls.Add(1) == 1 {
		close(c.entered)
		<-c.release
	}
	return model.ReferralVerdict{}, nil
}

// Requests with one idempotency key that arrive while the first is still
// with the plugins must wait for it and replay its answer: a plugin is
// asked once per key, never again for a replay.
func TestConcurrentReplaysAskThePluginsOnce(t *testing.T) {
	e := newEnv(t)
	checker := &countingChecker{entered: make(chan struct{}), release: make(chan struct{})}
	e.srv = api.New(api.Services{Programs: e.st, Ambassadors: e.st, Impressions: e.st, Placements: e.st, Referrals: e.st,
		Keys: e.st, Earnings: e.st, Stats: e.st, Backup: e.st, Checker: checker},
		api.Config{AdminToken: adminToken, Metrics: metrics.New(func() float64 { return 0 }), Now: e.clock.Now})
	e.srv.SetReady(true)
	_, _, imp := e.impression()
	body := map[string]any{"impression_id": imp, "first_name": "Jo", "last_name": "Doe", "email": "jo@example.com"}
	send := func() response {
		return e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: body,
			Header: map[string]string{"Idempotency-Key": "signup-1"}})
	}
	const waiting = 4
	results := make(chan response, waiting+1)
	go func() { results <- send() }()
	<-checker.entered
	var started sync.WaitGroup
	for range waiting {
		started.Add(1)
		go func() { started.Done(); results <- send() }()
	}
	started.Wait()
	close(checker.release)
	var ids []string
	for range waiting + 1 {
		res := <-results
		if res.Status != http.StatusCreated {
			t.Fatalf("got %d %s, want 201", res.Status, res.Body)
		}
		ids = append(ids, res.JSON(t)["id"].(string))
	}
	if n := checker.calls.Load(); n != 1 {
		t.Errorf("the plugins were asked %d times, want once", n)
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("got referrals %v, want one", ids)
		}
	}
	if res := send(); res.Header.Get("Idempotent-Replayed") != "true" || checker.calls.Load() != 1 {
		t.Errorf("a later replay: Idempotent-Replayed %q, plugin calls %d; want true, 1", res.Header.Get("Idempotent-Replayed"), checker.calls.Load())
	}
}

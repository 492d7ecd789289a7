package api_test

import (
	"bytes"
	"context"
	"net/url"
	"testing"
)

func TestEraseReferral(t *testing.T) {
	e := newEnv(t)
	ref, amb := moneySetup(t, e, percentProgram)
	_, _, imp := e.impression()
	const email = "erase.me@example.com"
	body := map[string]any{"impression_id": imp, "first_name": "Erin", "last_name": "Erased", "email": email,
		"profile_picture_url": "https://example.com/erin.jpg", "metadata": map[string]any{"phone": "+49 555"}, "idempotency_key": "signup-erin"}
	erin := e.post("/v1/referrals", body)["id"].(string)
	e.call(request{Method: "PATCH", Path: "/v1/referrals/" + erin, Token: e.writeToken, Body: map[string]any{"status": "converted"}})
	e.earn(ref, 1000, nil)
	before := e.call(request{Method: "GET", Path: "/v1/stats/funnel", Token: e.readToken}).JSON(t)

	wantProblem(t, e.call(request{Method: "DELETE", Path: "/v1/referrals/" + erin, Token: e.writeToken}), 403, "forbidden")
	res := e.call(request{Method: "DELETE", Path: "/v1/referrals/" + erin, Token: adminToken})
	got := res.JSON(t)
	if res.Status != 200 || got["first_name"] != "" || got["email"] != "" || got["profile_picture_url"] != nil ||
		len(got["metadata"].(map[string]any)) != 0 || got["erased_at"] == nil || got["status"] != "converted" || got["impression_id"] != imp {
		t.Fatalf("tombstone: %d %v", res.Status, got)
	}
	// Erasing twice is harmless.
	if res := e.call(request{Method: "DELETE", Path: "/v1/referrals/" + erin, Token: adminToken}); res.Status != 200 {
		t.Fatalf("second erase: %d", res.Status)
	}
	// Nothing finds the person by email any more, a replay shows the
	// tombstone, and the counts still add up.
	if list := e.call(request{Method: "GET", Path: "/v1/referrals?email=" + email, Token: e.readToken}).JSON(t); len(list["data"].([]any)) != 0 {
		t.Fatalf("email filter still finds the erased referral: %v", list)
	}
	replay := e.call(request{Method: "POST", Path: "/v1/referrals", Token: adminToken, Body: body}) // the same client as e.post
	if replay.Header.Get("Idempotent-Replayed") != "true" || bytes.Contains(replay.Body, []byte("Erin")) {
		t.Fatalf("replay after erasure: %s", replay.Body)
	}
	after := e.call(request{Method: "GET", Path: "/v1/stats/funnel", Token: e.readToken}).JSON(t)
	if after["referrals"] != before["referrals"] || after["conversions"] != before["conversions"] {
		t.Fatalf("funnel changed: before %v, after %v", before, after)
	}
	if b := e.balance(t, amb); b["approved"] != 100.0 {
		t.Fatalf("commissions of others must stand: %v", b)
	}
	if err := e.st.VerifyCounters(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The person's data is nowhere in the store: not in records, indexes,
	// events or idempotency snapshots.
	backup := e.call(request{Method: "GET", Path: "/v1/admin/backup", Token: adminToken}).Body
	for _, s := range []string{email, "Erin", "Erased", "erin.jpg", "+49 555"} {
		if bytes.Contains(backup, []byte(s)) {
			t.Fatalf("the store still holds %q after erasure", s)
		}
	}
	// Plugins are told, to erase their copies.
	events, _ := e.st.FindEvents(context.Background(), "", 1000)
	if last := events[len(events)-1]; last.Type != "referral.erased" || !bytes.Contains(last.Data, []byte(erin)) {
		t.Fatalf("last event: %s %s", last.Type, last.Data)
	}
}

// TestErasureTakesTheScanAlongAndKeepsTheTombstone: the scan a person
// signed up from is theirs too, and an erased referral cannot be given
// personal data again.
func TestErasureTakesTheScanAlongAndKeepsTheTombstone(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	const referrer = "https://social.example/posts/by-erin-e"
	scan := e.scan(p.code, iPhone, "198.51.100.20:1", map[string]string{"Referer": referrer})
	loc, _ := url.Parse(scan.Header.Get("Location"))
	imp := loc.Query().Get("imp")
	erin := e.post("/v1/referrals", validReferral(imp))["id"].(string)
	if res := e.call(request{Method: "DELETE", Path: "/v1/referrals/" + erin, Token: adminToken}); res.Status != 200 {
		t.Fatalf("erase: %d %s", res.Status, res.Body)
	}
	got := e.call(request{Method: "GET", Path: "/v1/impressions/" + imp, Token: e.readToken}).JSON(t)
	if got["user_agent"] != nil || got["referrer"] != nil || got["placement_id"] != p.id {
		t.Fatalf("the scan after erasure: %v", got)
	}
	backup := e.call(request{Method: "GET", Path: "/v1/admin/backup", Token: adminToken}).Body
	if bytes.Contains(backup, []byte(referrer)) || bytes.Contains(backup, []byte("iPhone")) {
		t.Fatal("the store still holds the scan's referrer or user agent after erasure")
	}
	// Repeat detection forgot the scan too: the same phone again is a new
	// visitor, not a repeat.
	again := e.scan(p.code, iPhone, "198.51.100.20:1", nil)
	loc, _ = url.Parse(again.Header.Get("Location"))
	if flags := e.call(request{Method: "GET", Path: "/v1/impressions/" + loc.Query().Get("imp"), Token: e.readToken}).JSON(t)["flags"]; len(flags.([]any)) != 0 {
		t.Fatalf("a scan from the erased person's phone after erasure: flags %v, want none", flags)
	}
	patch := func(body map[string]any) response {
		return e.call(request{Method: "PATCH", Path: "/v1/referrals/" + erin, Token: e.writeToken, Body: body})
	}
	wantProblem(t, patch(map[string]any{"metadata": map[string]any{"phone": "+49 555"}}), 409, "conflict")
	if res := patch(map[string]any{"status": "converted"}); res.Status != 200 {
		t.Fatalf("a status change of an erased referral: %d %s", res.Status, res.Body)
	}
}

package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

type auditPage struct {
	Data []struct {
		ID    string
		Actor struct {
			Kind, ID, Label string
			SessionID       string `json:"session_id"`
		}
		Action, Subject, Summary string
	}
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

func (e *env) audit(t *testing.T, query string) auditPage {
	t.Helper()
	res := e.call(request{Method: "GET", Path: "/v1/audit" + query, Token: adminToken})
	if res.Status != http.StatusOK {
		t.Fatalf("GET /v1/audit%s: %d %s", query, res.Status, res.Body)
	}
	var p auditPage
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// The admin token's and admin keys' changes are audited, each under its
// own actor; a write-scope key's are not.
func TestAuditRecordsWhoChangedWhat(t *testing.T) {
	e := newEnv(t)
	ops, opsToken, err := e.st.CreateAPIKey(context.Background(), model.APIKeyCreate{Name: "ops laptop", Scope: model.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	prg, _, imp := e.impression() // by the admin token: a program, an ambassador; the impression is not audited
	ref := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: map[string]any{
		"impression_id": imp, "first_name": "John", "last_name": "Doe", "email": "john@example.com"}}).JSON(t)["id"].(string)
	if res := e.call(request{Method: "PATCH", Path: "/v1/referrals/" + ref, Token: e.writeToken,
		Body: map[string]any{"metadata": map[string]any{"crm": "1"}}}); res.Status != 200 {
		t.Fatalf("PATCH by the write key: %d %s", res.Status, res.Body)
	}
	if res := e.call(request{Method: "PATCH", Path: "/v1/programs/" + prg, Token: opsToken,
		Body: map[string]any{"name": "Renamed"}}); res.Status != 200 {
		t.Fatalf("PATCH by the admin key: %d %s", res.Status, res.Body)
	}
	if res := e.call(request{Method: "DELETE", Path: "/v1/referrals/" + ref, Token: opsToken}); res.Status != 200 {
		t.Fatalf("DELETE by the admin key: %d %s", res.Status, res.Body)
	}

	all := e.audit(t, "")
	var got []string
	for _, d := range all.Data {
		got = append(got, d.Actor.Kind+" "+d.Actor.ID+" "+d.Actor.Label+": "+d.Action+" "+d.Subject)
	}
	want := []string{
		"api_key " + ops.ID + " ops laptop: referral.erased " + ref,
		"api_key " + ops.ID + " ops laptop: program.updated " + prg,
		"admin_token  admin token: ambassador.created " + all.Data[2].Subject,
		"admin_token  admin token: program.created " + prg,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// Filters, paging, and IDs in any case.
	if p := e.audit(t, "?actor_id=key_"+strings.ToUpper(ops.ID[4:])); len(p.Data) != 2 {
		t.Fatalf("by actor: %+v", p)
	}
	if p := e.audit(t, "?subject="+strings.ToUpper(prg)); len(p.Data) != 0 {
		t.Fatalf("a subject with its prefix in upper case matched: %+v", p)
	}
	if p := e.audit(t, "?subject=prg_"+strings.ToUpper(prg[4:])+"&action=program.created"); len(p.Data) != 1 || p.Data[0].Actor.Kind != "admin_token" {
		t.Fatalf("by subject and action: %+v", p)
	}
	first := e.audit(t, "?limit=3")
	if len(first.Data) != 3 || !first.HasMore || first.NextCursor == nil {
		t.Fatalf("first page: %+v", first)
	}
	if rest := e.audit(t, "?limit=3&cursor="+*first.NextCursor); len(rest.Data) != 1 || rest.HasMore || rest.Data[0].ID != all.Data[3].ID {
		t.Fatalf("second page: %+v", rest)
	}
}

func TestAuditListValidation(t *testing.T) {
	e := newEnv(t)
	res := e.call(request{Method: "GET", Path: "/v1/audit?actor_id=prg_01jdq3f7k8m2n4p6r8t0v2x4z6&action=Program.Updated&subject=" +
		strings.Repeat("x", 129) + "&limit=0&cursor=prg_01jdq3f7k8m2n4p6r8t0v2x4z6&by=me", Token: adminToken})
	fields := wantProblem(t, res, http.StatusBadRequest, model.EValidation)
	want := map[string]string{"actor_id": model.FInvalidValue, "action": model.FInvalidValue, "subject": model.FTooLong,
		"limit": model.FInvalidValue, "cursor": model.FInvalidValue, "by": model.FUnknownField}
	if len(fields) != len(want) {
		t.Errorf("got field errors %v, want %v", fields, want)
	}
	for f, code := range want {
		if fields[f] != code {
			t.Errorf("%s: got %q, want %q", f, fields[f], code)
		}
	}
	for _, token := range []string{e.readToken, e.writeToken} {
		if res := e.call(request{Method: "GET", Path: "/v1/audit", Token: token}); res.Status != http.StatusForbidden {
			t.Errorf("a %s key: got %d, want 403", token[:4], res.Status)
		}
	}
}

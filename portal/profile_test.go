package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// The profile form changes an ambassador's first name, last name and
// school, refuses a bad value beside its input, changes nothing else
// whatever the form holds, and is in the audit log under the ambassador.
func TestProfileEdit(t *testing.T) {
	e := newTestEnv(t)
	c := e.signIn(e.ada.amb)
	ctx := context.Background()

	res := c.post("/portal/profile", url.Values{"first_name": {"Augusta"}, "last_name": {"King"}, "school": {"South campus"},
		"email": {"evil@attacker.example"}, "status": {"paused"}, "metadata": {`{"x":1}`}})
	wantStatus(t, res, http.StatusOK)
	if res.Request.URL.Path != "/portal/profile" {
		t.Errorf("saving landed on %s, want /portal/profile", res.Request.URL.Path)
	}
	wantBody(t, res, "Your profile is saved.", `value="Augusta"`, `value="King"`, `value="South campus"`)
	got, err := e.st.FindAmbassadorByID(ctx, e.ada.amb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FirstName != "Augusta" || got.LastName != "King" || got.School == nil || *got.School != "South campus" ||
		got.Email != "ada@uni.example" || got.Status != model.AmbassadorActive || len(got.Metadata) > 2 {
		t.Errorf("after saving: %+v, want the new names and school, and the email, status and metadata as they were", got)
	}
	wantBody(t, c.get("/portal/"), "Hi Augusta")

	audit, err := e.st.FindAudit(ctx, model.AuditFilter{Subject: e.ada.amb.ID, ListOptions: model.ListOptions{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	var entry *model.AuditEntry
	for _, a := range audit.Data {
		if a.Actor.Kind == model.ActorAmbassador {
			entry = a
		}
	}
	if entry == nil || entry.Actor.ID != e.ada.amb.ID || entry.Actor.Label != "ada@uni.example" ||
		!strings.HasPrefix(entry.Actor.SessionID, model.PrefixPortalSession+"_") || !strings.HasPrefix(entry.Action, "ambassador.") {
		t.Fatalf("audit entries %+v, want one by the ambassador with their portal session", audit.Data)
	}

	// A bad value: the form again, 422, the message beside its input,
	// nothing saved.
	res = c.post("/portal/profile", url.Values{"first_name": {"  "}, "last_name": {strings.Repeat("x", model.MaxNameLen+1)}, "school": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-first_name-error"`, "First name is required", `id="f-last_name-error"`, `aria-invalid="true"`,
		`href="#f-first_name"`)
	got, _ = e.st.FindAmbassadorByID(ctx, e.ada.amb.ID)
	if got.FirstName != "Augusta" || got.LastName != "King" || got.School == nil {
		t.Errorf("a refused form changed the ambassador: %+v", got)
	}

	// An empty school clears it.
	wantStatus(t, c.post("/portal/profile", url.Values{"first_name": {"Ada"}, "last_name": {"Lovelace"}, "school": {""}}), http.StatusOK)
	if got, _ = e.st.FindAmbassadorByID(ctx, e.ada.amb.ID); got.School != nil {
		t.Errorf("school %q, want none", *got.School)
	}

	// A form too large is refused.
	big := c.post("/portal/profile", url.Values{"first_name": {strings.Repeat("a", maxFormBytes)}})
	if big.StatusCode != http.StatusBadRequest {
		t.Errorf("a form of %d bytes: got %d, want 400", maxFormBytes, big.StatusCode)
	}
}

package console

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// programForm is a valid program form, as the new program page sends it.
func programForm(kv ...string) url.Values {
	f := formOf("name", "Spring 2027", "landing_url", "https://example.com/join", "commission.type", "flat",
		"commission.currency", "usd", "commission.amount", "5.00", "hold_days", "30", "fraud_policy", "flag",
		"idempotency_key", "console-test-1")
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// A manager creates a program through the form: mistakes come back next
// to their inputs with the values kept and status 422; a valid form makes
// the program, once even when sent twice, and shows it with a flash.
func TestProgramCreate(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/programs", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No programs yet", "Create a program")
	res = e.get("/console/programs/new", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `<label for="f-name">Name</label>`, `name="idempotency_key" value="console-`, `value="30"`)

	res = e.post("/console/programs/new", e.manager, programForm("name", " ", "landing_url", "ftp://x", "commission.currency", "usdx",
		"commission.amount", "5.001", "hold_days", "400"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "There are 5 problems", "Name is required", `href="#f-landing_url"`,
		"Landing page URL must be an absolute http or https URL", "Currency must be a currency’s three-letter code",
		"Amount per purchase must be an amount such as 5.00", "Hold, in days must be from 0 to 365", `value="ftp://x"`, `value="USDX"`)
	res = e.post("/console/programs/new", e.manager, programForm("commission.type", "percent", "commission.percent", "101",
		"commission.caps", "USD twenty"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Share of each purchase, in percent must be from 0 to 100", "Most one purchase pays must list a currency and an amount")

	res = e.post("/console/programs/new", e.manager, programForm())
	wantStatus(t, res, http.StatusSeeOther)
	id, ok := strings.CutPrefix(res.location(), "/console/programs/")
	if !ok {
		t.Fatalf("created: redirected to %q", res.location())
	}
	page := e.follow(res, e.manager)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Program created.", "Spring 2027", "USD 5.00 per purchase", "30 days")
	p, err := e.st.FindProgramByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}
	if p.Name != "Spring 2027" || !reflect.DeepEqual(p.Commission, want) || p.HoldDays != 30 || p.FraudPolicy != model.FraudFlag || p.Status != model.ProgramActive {
		t.Fatalf("got %+v, commission %+v", p, p.Commission)
	}
	// The same form again (a second click) shows the same program.
	res = e.post("/console/programs/new", e.manager, programForm())
	if res.location() != "/console/programs/"+id {
		t.Errorf("the form sent twice: redirected to %q, want the first program", res.location())
	}
	// The same key with other values is a new form to check.
	res = e.post("/console/programs/new", e.manager, programForm("name", "Fall 2027"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "already sent with other values")
	noBody(t, res, `value="console-test-1"`)
	page2, _ := e.st.FindPrograms(context.Background(), model.ProgramFilter{})
	if len(page2.Data) != 1 {
		t.Fatalf("got %d programs, want 1", len(page2.Data))
	}
	// The change is the manager's in the audit log.
	audit, err := e.st.FindAudit(context.Background(), model.AuditFilter{Subject: id})
	if err != nil || len(audit.Data) != 1 || audit.Data[0].Actor.ID != e.manager.ID || audit.Data[0].Actor.Kind != model.ActorUser ||
		audit.Data[0].Actor.SessionID == "" {
		t.Fatalf("audit of the new program: %+v %v, want one entry by the manager's session", audit.Data, err)
	}
}

// Editing sends only what changed; a percent rule with caps reads back as
// entered; archiving hides the program from the default list and refuses
// new placements; restoring brings it back.
func TestProgramEditArchiveRestore(t *testing.T) {
	e := newTestEnv(t)
	p := e.program("Spring")
	res := e.get("/console/programs/"+p.ID+"/edit", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `value="Spring"`, `value="https://example.com/join"`)

	form := programForm("name", "Spring 2027", "commission.type", "percent", "commission.percent", "12.5",
		"commission.caps", "usd 20.00, EUR 15", "fraud_policy", "reject")
	res = e.post("/console/programs/"+p.ID+"/edit", e.manager, form)
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.manager), "Changes saved.", "12.5% of each purchase, at most EUR 15.00, USD 20.00")
	got, _ := e.st.FindProgramByID(context.Background(), p.ID)
	if got.Name != "Spring 2027" || got.Commission.BasisPoints != 1250 || !maps.Equal(got.Commission.Caps, map[string]int64{"USD": 2000, "EUR": 1500}) ||
		got.FraudPolicy != model.FraudReject {
		t.Fatalf("after the edit: %+v %+v", got, got.Commission)
	}
	res = e.get("/console/programs/"+p.ID+"/edit", e.manager)
	wantBody(t, res, `value="12.5"`, `value="EUR 15.00, USD 20.00"`)

	res = e.post("/console/programs/"+p.ID+"/edit", e.manager, form)
	wantBody(t, e.follow(res, e.manager), "Nothing to save")
	audit, _ := e.st.FindAudit(context.Background(), model.AuditFilter{Subject: p.ID})
	if len(audit.Data) != 1 {
		t.Errorf("got %d audit entries, want the one of the change that changed something", len(audit.Data))
	}
	res = e.post("/console/programs/"+p.ID+"/edit", e.manager, programForm("hold_days", "", "landing_url", ""))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "There is a problem", "Hold, in days is required")
	noBody(t, res, "Landing page URL is required")

	// An empty landing page is the hosted signup page.
	res = e.post("/console/programs/"+p.ID+"/edit", e.manager, programForm("name", "Spring 2027", "landing_url", "",
		"commission.type", "percent", "commission.percent", "12.5", "commission.caps", "USD 20.00, EUR 15", "fraud_policy", "reject"))
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.manager), "Changes saved.", "The hosted signup page")
	if got, _ := e.st.FindProgramByID(context.Background(), p.ID); got.LandingURL != "" {
		t.Fatalf("after clearing the landing page: %q", got.LandingURL)
	}

	res = e.post("/console/programs/"+p.ID+"/archive", e.manager, nil)
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.manager), "is archived", "Restore program")
	noBody(t, e.get("/console/programs", e.viewer), "Spring 2027")
	wantBody(t, e.get("/console/programs?status=archived", e.viewer), "Spring 2027", "Archived")
	wantBody(t, e.get("/console/programs?status=all", e.viewer), "Spring 2027")
	a, _, err := e.st.CreateAmbassador(context.Background(), model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@uni.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.CreatePlacement(context.Background(), model.PlacementCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{}); model.ErrorCode(err) != model.EConflict {
		t.Errorf("a placement in the archived program: %v, want conflict", err)
	}
	res = e.post("/console/programs/"+p.ID+"/restore", e.manager, nil)
	wantBody(t, e.follow(res, e.manager), "is active again")
	wantBody(t, e.get("/console/programs", e.viewer), "Spring 2027")
}

// A viewer sees programs but no way to change them, and a change they
// send anyway is refused with nothing changed.
func TestProgramsForAViewer(t *testing.T) {
	e := newTestEnv(t)
	p := e.program("Spring")
	res := e.get("/console/programs", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Spring")
	noBody(t, res, "New program")
	res = e.get("/console/programs/"+p.ID, e.viewer)
	wantStatus(t, res, http.StatusOK)
	noBody(t, res, "/edit", "/archive", "<form method=\"post\" action=\"/console/programs")
	for _, path := range []string{"/console/programs/new", "/console/programs/" + p.ID + "/edit", "/console/programs/" + p.ID + "/archive"} {
		wantStatus(t, e.post(path, e.viewer, programForm("name", "Changed")), http.StatusForbidden)
	}
	if got, _ := e.st.FindProgramByID(context.Background(), p.ID); got.Name != "Spring" || got.Status != model.ProgramActive {
		t.Fatalf("a viewer changed the program: %+v", got)
	}
	if page, _ := e.st.FindPrograms(context.Background(), model.ProgramFilter{}); len(page.Data) != 1 {
		t.Fatalf("a viewer made a program")
	}
}

func TestAmountsAndPercents(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		want    int64
		ok      bool
	}{
		{"5", "USD", 500, true}, {"5.5", "USD", 550, true}, {"1,234.56", "USD", 123456, true}, {".5", "USD", 50, true},
		{"5.001", "USD", 0, false}, {"5.", "USD", 0, false}, {"-5", "USD", 0, false}, {"5e2", "USD", 0, false}, {"", "USD", 0, false},
		{"500", "JPY", 500, true}, {"5.5", "JPY", 0, false}, {"1.234", "KWD", 1234, true},
	} {
		if got, ok := parseAmount(tc.in, tc.cur); got != tc.want || ok != tc.ok {
			t.Errorf("parseAmount(%q, %s) = %d, %v; want %d, %v", tc.in, tc.cur, got, ok, tc.want, tc.ok)
		}
	}
	for amount, want := range map[int64]string{0: "USD 0.00", 5: "USD 0.05", 123456789: "USD 1,234,567.89", -250: "USD -2.50"} {
		if got := formatMoney(amount, "USD"); got != want {
			t.Errorf("formatMoney(%d, USD) = %q, want %q", amount, got, want)
		}
	}
	if got := formatMoney(1999, "JPY"); got != "JPY 1,999" {
		t.Errorf("formatMoney(1999, JPY) = %q", got)
	}
	for bp, want := range map[int64]string{1000: "10", 1250: "12.5", 1205: "12.05", 5: "0.05", 10000: "100"} {
		if got := formatPercentBP(bp); got != want {
			t.Errorf("formatPercentBP(%d) = %q, want %q", bp, got, want)
		}
	}
}

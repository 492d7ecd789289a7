package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// peopleSamplePages are views of the ambassador and poster pages, for
// TestPagesRender.
func peopleSamplePages(prg *model.Program) map[string]any {
	now := model.NewTime(time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC))
	school := "Trinity College"
	amb := &model.Ambassador{ID: "amb_01m8yqk4a5mstqtdtptfpvmbxh", FirstName: "Ada", LastName: "Lovelace", Email: "ada@uni.example",
		School: &school, Status: model.AmbassadorActive, CreatedAt: now, UpdatedAt: now}
	paused := *amb
	paused.ID, paused.FirstName, paused.Status, paused.School = "amb_01m8yqk4a5mstqtdtptfpvmbxj", "Grace", model.AmbassadorPaused, nil
	label := "Library, 2nd floor"
	lat, lng := 51.5072, -0.1276
	plc := &model.Placement{ID: "plc_01m8yqk4a5mstqtdtptfpvmbxh", ProgramID: prg.ID, AmbassadorID: amb.ID, Label: &label,
		Location: &model.Location{Address: "1 Library Way", Latitude: &lat, Longitude: &lng}, Code: "k7m2p9x4qa",
		ScanURL: "https://go.example.edu/s/k7m2p9x4qa", Active: true, CreatedAt: now, UpdatedAt: now}
	off := *plc
	off.Active, off.Label, off.Location = false, nil, nil
	rate := func(f float64) *float64 { return &f }
	funnel := model.Funnel{Counts: model.Counts{Impressions: 120, ExcludedImpressions: 8, ImpressionsWithReferral: 11, Referrals: 12,
		Conversions: 3, Rejected: 1}, ScanToSignupRate: rate(0.098), SignupToPurchaseRate: rate(0.25)}
	rows := []placementRow{{Placement: plc, ProgramName: prg.Name, AmbassadorName: "Ada Lovelace", Scans: 120, Signups: 12},
		{Placement: &off, ProgramName: "Fall 2026", AmbassadorName: "Ada Lovelace", ProgramArchived: true}}
	ref := &model.Referral{ID: "ref_1", FirstName: "John", LastName: "Doe", Email: "john@example.com", Status: model.ReferralConverted,
		ProgramID: prg.ID, AmbassadorID: amb.ID, Flags: model.Flags{model.FlagBot}, CreatedAt: now}
	erased := *ref
	erased.ErasedAt, erased.Status, erased.Flags = &now, model.ReferralPending, nil
	com := &model.Commission{ID: "com_1", Kind: model.CommissionEarning, Amount: 500, Currency: "USD", Status: model.CommissionPending, CreatedAt: now}
	claw := *com
	claw.Kind, claw.Amount, claw.Status = model.CommissionClawback, -500, model.CommissionPaid
	ambForm := newForm(ambassadorFields...)
	ambForm.Set("status", "active")
	ambForm.AddError("email", "must be a valid email address")
	imp := newImportView(newForm(importFields...))
	imp.FileName, imp.Rows, imp.Unlisted = "ambassadors.csv", 3, 12
	imp.Problems = []importProblem{{Row: 3, Column: "email", Message: "Must be a valid email address."}, {Message: "The file is too big."}}
	imp.Form.Fail("Nothing was imported: the file has 14 problems. Fix them and import the whole file again.")
	plcForm := newForm(placementFields...)
	plcForm.AddError("location.latitude", "must be a number of degrees, such as 51.5072")
	batch := newForm(posterBatchFields...)
	batch.Set("who", whoChosen)
	batch.Set("paper", "a4")
	batch.AddError("who", "are required: tick at least one")
	return map[string]any{
		"ambassadors": ambassadorListView{Search: "ada", Status: "all", Ambassadors: []*model.Ambassador{amb, &paused},
			Next: "/console/ambassadors?q=ada&cursor=x", Later: true},
		"ambassador": ambassadorView{Ambassador: amb, Funnel: funnel, Balances: []model.Balance{{Currency: "USD", Pending: 500, Approved: 1000, Paid: 250}},
			Placements: rows, Referrals: []referralRow{{Referral: ref, ProgramName: prg.Name}, {Referral: &erased, ProgramName: prg.Name}},
			Commissions:    []commissionRow{{Commission: com, ProgramName: prg.Name}, {Commission: &claw, ProgramName: prg.Name}},
			MorePlacements: true, MoreReferrals: true, MoreCommissions: true, Portal: true, Email: true},
		"portal_link": portalLinkView{Ambassador: amb, URL: "https://go.uni.example/portal/signin?token=sample",
			Expires: amb.CreatedAt},
		"ambassador_form":   ambassadorFormView{Form: ambForm},
		"ambassador_import": imp,
		"placements":        placementListView{Programs: []*model.Program{prg}, Program: prg, Ambassador: amb, Placements: rows, Next: "/console/placements?cursor=x"},
		"placement":         placementView{Placement: plc, Program: prg, Ambassador: amb, Funnel: funnel, Papers: papers},
		"placement_form":    placementFormView{Form: plcForm, Ambassador: amb, Programs: []*model.Program{prg}},
		"posters": posterBatchView{Form: batch, Programs: []*model.Program{prg}, Choices: []*model.Ambassador{amb, &paused},
			Chosen: map[string]bool{amb.ID: true}, MoreChoices: true, Papers: papers, MaxPosters: maxBatchPosters},
	}
}

// ambassador makes an ambassador through the store, as a test's setup.
func (e *testEnv) ambassador(first, last, email, school string) *model.Ambassador {
	e.t.Helper()
	a, _, err := e.st.CreateAmbassador(context.Background(), model.AmbassadorCreate{FirstName: first, LastName: last, Email: email,
		School: school, Status: model.AmbassadorActive}, model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// ambassadorCount is how many ambassadors the store has.
func (e *testEnv) ambassadorCount() int {
	e.t.Helper()
	n := 0
	f := model.AmbassadorFilter{ListOptions: model.ListOptions{Limit: model.MaxListLimit}}
	for {
		page, err := e.st.FindAmbassadors(context.Background(), f)
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(page.Data)
		if !page.HasMore {
			return n
		}
		f.Cursor = *page.NextCursor
	}
}

// The list shows ambassadors newest first, by status, and finds them by
// email, name or school; the buttons that add are a manager's.
func TestAmbassadorList(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/ambassadors", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No ambassadors yet", `href="/console/ambassadors/new"`, `aria-current="page">Ambassadors`)
	wantBody(t, e.get("/console/ambassadors", e.viewer), "A manager adds them")

	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "Trinity College")
	grace := e.ambassador("Grace", "Hopper", "grace@navy.example", "Yale")
	paused := model.AmbassadorPaused
	if _, err := e.st.UpdateAmbassador(context.Background(), grace.ID, model.AmbassadorUpdate{Status: &paused}); err != nil {
		t.Fatal(err)
	}
	res = e.get("/console/ambassadors", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Ada Lovelace", "Grace Hopper", "/console/ambassadors/"+ada.ID, "Trinity College", "Paused")
	noBody(t, res, `href="/console/ambassadors/new"`, `href="/console/ambassadors/import"`)
	if strings.Index(res.Body, "Grace Hopper") > strings.Index(res.Body, "Ada Lovelace") {
		t.Error("the list is not newest first")
	}
	wantBody(t, e.get("/console/ambassadors", e.manager), `href="/console/ambassadors/new"`, `href="/console/ambassadors/import"`)

	tests := []struct {
		query    string
		want, no []string
	}{
		{"status=active", []string{"Ada Lovelace"}, []string{"Grace Hopper"}},
		{"status=paused", []string{"Grace Hopper"}, []string{"Ada Lovelace"}},
		{"q=GRACE@navy.example", []string{"Grace Hopper"}, []string{"Ada Lovelace"}},
		{"q=lovel", []string{"Ada Lovelace"}, []string{"Grace Hopper"}},
		{"q=yale", []string{"Grace Hopper"}, []string{"Ada Lovelace"}},
		{"q=yale&status=active", []string{"No match"}, []string{"Grace Hopper"}},
		{"q=nobody", []string{"No match", "nobody"}, []string{"Ada Lovelace"}},
		{"cursor=nonsense", []string{"Ada Lovelace", "Grace Hopper"}, nil},
		{"q=" + url.QueryEscape(strings.Repeat("x", 10000)), []string{"No match"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := e.get("/console/ambassadors?"+tt.query, e.viewer)
			wantStatus(t, res, http.StatusOK)
			wantBody(t, res, tt.want...)
			noBody(t, res, tt.no...)
		})
	}
}

// A search for a rare name among many ambassadors says it has not found
// one yet, and its link looks further until it does.
func TestAmbassadorSearchLooksFurther(t *testing.T) {
	e := newTestEnv(t)
	rows := []model.AmbassadorCreate{{FirstName: "Needle", LastName: "Rare", Email: "needle@uni.example"}}
	for i := range 700 {
		rows = append(rows, model.AmbassadorCreate{FirstName: "Hay", LastName: fmt.Sprint(i), Email: fmt.Sprintf("hay%d@uni.example", i)})
	}
	if _, _, err := e.st.ImportAmbassadors(context.Background(), rows, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	res := e.get("/console/ambassadors?q=needle", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No match yet", "Look further")
	for range 10 {
		i := strings.Index(res.Body, `href="/console/ambassadors?cursor=`)
		if i < 0 {
			break
		}
		link := res.Body[i+len(`href="`):]
		link = strings.ReplaceAll(link[:strings.IndexByte(link, '"')], "&amp;", "&")
		res = e.get(link, e.viewer)
		wantStatus(t, res, http.StatusOK)
		if strings.Contains(res.Body, "Needle Rare") {
			return
		}
	}
	t.Fatalf("looking further never found the needle:\n%s", res.Body)
}

// The add form shows each problem next to its input with the values
// kept, a taken email next to the email, and adds once however often it
// is sent.
func TestAmbassadorCreate(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/ambassadors/new", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `name="first_name"`, `name="email"`, `name="school"`, `name="idempotency_key"`)
	wantStatus(t, e.get("/console/ambassadors/new", e.viewer), http.StatusForbidden)

	res = e.post("/console/ambassadors/new", e.manager, formOf("first_name", "", "last_name", "Lovelace", "email", "not-an-email",
		"school", "Trinity", "status", "active"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-first_name-error"`, "First name is required", `id="f-email-error"`, "Email must be a valid email address",
		`value="Lovelace"`, `value="not-an-email"`, "There are 2 problems")

	e.ambassador("Old", "Timer", "old@uni.example", "")
	res = e.post("/console/ambassadors/new", e.manager, formOf("first_name", "Ada", "last_name", "Lovelace", "email", "OLD@uni.example", "status", "active"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-email-error"`, "already the email of another ambassador")

	key := newFormKey()
	form := formOf("first_name", " Ada ", "last_name", "Lovelace", "email", "ada@uni.example", "school", "Trinity College",
		"status", "paused", "idempotency_key", key)
	res = e.post("/console/ambassadors/new", e.manager, form)
	wantStatus(t, res, http.StatusSeeOther)
	page := e.follow(res, e.manager)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Ada Lovelace is added", "Trinity College", "Paused")
	again := e.post("/console/ambassadors/new", e.manager, form)
	if again.location() != res.location() {
		t.Errorf("a second send went to %s, want %s, the one made", again.location(), res.location())
	}
	if n := e.ambassadorCount(); n != 2 {
		t.Errorf("got %d ambassadors, want 2", n)
	}
	wantStatus(t, e.post("/console/ambassadors/new", e.viewer, form), http.StatusForbidden)
}

// An ambassador's page shows who they are, how their posters do, their
// posters, their newest referrals with a link to all of them, their
// commissions and their balance by currency.
func TestAmbassadorPage(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	prg, _, err := e.st.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com/join",
		Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a := e.ambassador("Ada", "Lovelace", "ada@uni.example", "Trinity College")
	other := e.ambassador("Bo", "Other", "bo@uni.example", "")
	plc, _, err := e.st.CreatePlacement(ctx, model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: a.ID, Label: "Library"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	imp, _, err := e.st.CreateImpression(ctx, model.ImpressionCreate{PlacementID: plc.ID, UserAgent: "Mozilla/5.0 (iPhone)"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := e.st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "John", LastName: "Doe",
		Email: "john@example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.CreateEarning(ctx, model.EarningCreate{ReferralID: ref.ID, Amount: 10000, Currency: "USD"}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}

	res := e.get("/console/ambassadors/"+a.ID, e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Ada Lovelace", "ada@uni.example", "Trinity College",
		"/console/placements/"+plc.ID, plc.Code, "Library", "Spring",
		"John Doe", "john@example.com", "converted", `href="/console/referrals?ambassador=`+a.ID+`"`,
		"USD 5.00", "A purchase", "pending")
	for _, stat := range []string{"Scans", "Signups", "Purchases"} {
		wantBody(t, res, `<p class="stat-label">`+stat+`</p>`)
	}
	if !strings.Contains(res.Body, `<p class="stat-value">1</p>`) {
		t.Error("the funnel does not count their scan, signup and purchase")
	}
	noBody(t, res, "/pause", "/edit", "/placements/new")
	wantBody(t, e.get("/console/ambassadors/"+a.ID, e.manager), "/console/ambassadors/"+a.ID+"/pause", "/console/ambassadors/"+a.ID+"/edit",
		"/console/ambassadors/"+a.ID+"/placements/new")

	res = e.get("/console/ambassadors/"+other.ID, e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No posters yet", "No signups yet", "No commissions yet", "Nothing earned yet")
	noBody(t, res, "John Doe", plc.Code)

	for _, path := range []string{"/console/ambassadors/amb_01m8yqk4a5mstqtdtptfpvmbxh", "/console/ambassadors/nonsense",
		"/console/ambassadors/amb_01m8yqk4a5mstqtdtptfpvmbxh/edit", "/console/ambassadors/amb_01m8yqk4a5mstqtdtptfpvmbxh/placements/new"} {
		wantStatus(t, e.get(path, e.manager), http.StatusNotFound)
	}
	for _, path := range []string{"/console/ambassadors/amb_01m8yqk4a5mstqtdtptfpvmbxh/pause", "/console/ambassadors/nonsense/activate",
		"/console/ambassadors/nonsense/edit"} {
		wantStatus(t, e.post(path, e.manager, formOf("first_name", "X")), http.StatusNotFound)
	}
}

// Editing sends only what changed, keeps a taken email out, and pausing
// and making active again change the status.
func TestAmbassadorEditAndPause(t *testing.T) {
	e := newTestEnv(t)
	a := e.ambassador("Ada", "Lovelace", "ada@uni.example", "Trinity College")
	e.ambassador("Bo", "Other", "bo@uni.example", "")
	path := "/console/ambassadors/" + a.ID

	res := e.get(path+"/edit", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `value="Ada"`, `value="ada@uni.example"`, `value="Trinity College"`)
	noBody(t, res, `name="status"`)

	same := formOf("first_name", "Ada", "last_name", "Lovelace", "email", "ada@uni.example", "school", "Trinity College")
	wantBody(t, e.follow(e.post(path+"/edit", e.manager, same), e.manager), "Nothing to save")

	res = e.post(path+"/edit", e.manager, formOf("first_name", "Ada", "last_name", "", "email", "bo@uni.example", "school", ""))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Last name is required")
	res = e.post(path+"/edit", e.manager, formOf("first_name", "Ada", "last_name", "King", "email", "BO@uni.example", "school", ""))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-email-error"`, "already the email of another ambassador")

	res = e.post(path+"/edit", e.manager, formOf("first_name", "Ada", "last_name", "King", "email", "ada@uni.example", "school", ""))
	wantBody(t, e.follow(res, e.manager), "Changes saved.", "Ada King")
	got, _ := e.st.FindAmbassadorByID(context.Background(), a.ID)
	if got.LastName != "King" || got.School != nil {
		t.Errorf("got %+v, want the last name changed and the school cleared", got)
	}
	entries, err := e.st.FindAudit(context.Background(), model.AuditFilter{Subject: a.ID})
	if err != nil || len(entries.Data) == 0 || strings.Contains(entries.Data[0].Summary, "first_name") {
		t.Errorf("audit %+v, %v: want an entry that names only what changed", entries.Data, err)
	}

	wantStatus(t, e.post(path+"/pause", e.viewer, nil), http.StatusForbidden)
	page := e.follow(e.post(path+"/pause", e.manager, nil), e.manager)
	wantBody(t, page, "is paused", "Their posters still work", `action="`+path+`/activate"`)
	page = e.follow(e.post(path+"/activate", e.manager, nil), e.manager)
	wantBody(t, page, "is active again", `action="`+path+`/pause"`)
}

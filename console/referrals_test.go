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

// world is what the referral and money tests start from: a program that
// pays a flat 5.00 USD per purchase after a week's hold, two ambassadors,
// and a poster of the first.
type world struct {
	e          *testEnv
	program    *model.Program
	ada, grace *model.Ambassador
	poster     *model.Placement
}

func newWorld(e *testEnv) *world {
	e.t.Helper()
	ctx := context.Background()
	hold := 7
	p, _, err := e.st.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com/join", HoldDays: &hold,
		Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}}, model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	w := &world{e: e, program: p}
	w.ada = w.ambassador("Ada", "Lovelace", "ada@uni.example")
	w.grace = w.ambassador("Grace", "Hopper", "grace@uni.example")
	if w.poster, _, err = e.st.CreatePlacement(ctx, model.PlacementCreate{ProgramID: p.ID, AmbassadorID: w.ada.ID, Label: "Library"}, model.Idempotency{}); err != nil {
		e.t.Fatal(err)
	}
	return w
}

func (w *world) ambassador(first, last, email string) *model.Ambassador {
	w.e.t.Helper()
	a, _, err := w.e.st.CreateAmbassador(context.Background(), model.AmbassadorCreate{FirstName: first, LastName: last, Email: email}, model.Idempotency{})
	if err != nil {
		w.e.t.Fatal(err)
	}
	return a
}

// signup is a referral of email from a visit of its own to a's page, or
// from a scan of the world's poster when a is nil; it is not flagged
// unless its email repeats one, or the scan was too fast.
func (w *world) signup(a *model.Ambassador, email string) *model.Referral {
	w.e.t.Helper()
	ctx := context.Background()
	in := model.ImpressionCreate{PlacementID: w.poster.ID}
	if a != nil {
		in = model.ImpressionCreate{ProgramID: w.program.ID, AmbassadorID: a.ID}
	}
	imp, _, err := w.e.st.CreateImpression(ctx, in, model.Idempotency{})
	if err != nil {
		w.e.t.Fatal(err)
	}
	if a == nil {
		w.e.clock.Add(time.Minute) // a person's pace
	}
	r, _, err := w.e.st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "Person", LastName: email[:strings.Index(email, "@")],
		Email: email}, model.Idempotency{})
	if err != nil {
		w.e.t.Fatal(err)
	}
	return r
}

// purchase records an earning of amount USD cents for r and returns it
// with its commission.
func (w *world) purchase(r *model.Referral, amount int64) (*model.Earning, *model.Commission) {
	w.e.t.Helper()
	ctx := context.Background()
	e, _, err := w.e.st.CreateEarning(ctx, model.EarningCreate{ReferralID: r.ID, Amount: amount, Currency: "USD"}, model.Idempotency{})
	if err != nil {
		w.e.t.Fatal(err)
	}
	cs, err := w.e.st.FindCommissions(ctx, model.CommissionFilter{EarningID: e.ID})
	if err != nil || len(cs.Data) != 1 {
		w.e.t.Fatalf("commission of %s: %+v %v", e.ID, cs, err)
	}
	return e, cs.Data[0]
}

// resign gives the env's users new sessions, after a test moved the
// clock past their idle timeout to date its records.
func (e *testEnv) resign() {
	e.t.Helper()
	for _, u := range []*testUser{e.viewer, e.manager, e.owner} {
		_, token, err := e.st.CreateSession(context.Background(), u.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		u.Cookie = &http.Cookie{Name: sessionCookie, Value: token}
	}
}

// rowsOf are the referral IDs the list page shows, in order.
func rowsOf(body string) []string {
	var ids []string
	for _, part := range strings.Split(body, `<th scope="row" class="cell-person"><a href="/console/referrals/`)[1:] {
		ids = append(ids, part[:strings.Index(part, `"`)])
	}
	return ids
}

func idsOf(rs ...*model.Referral) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// Every filter of the referral list narrows it, alone and together, and
// a viewer reads it; a filter that is not right is said next to its
// input, with the list shown without it.
func TestReferralListFilters(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	fromPoster := w.signup(nil, "ann@mail.example")
	e.clock.Add(24 * time.Hour)
	byGrace := w.signup(w.grace, "bob@mail.example")
	twice := w.signup(w.grace, "ann@mail.example") // the same email again: flagged
	e.clock.Add(24 * time.Hour)
	rejected := w.signup(w.ada, "cyd@mail.example")
	reject := model.ReferralRejected
	if _, err := e.st.UpdateReferral(context.Background(), rejected.ID, model.ReferralUpdate{Status: &reject}); err != nil {
		t.Fatal(err)
	}
	if len(twice.Flags) == 0 || len(byGrace.Flags) != 0 || len(fromPoster.Flags) != 0 {
		t.Fatalf("flags %v %v %v; the test wants only the repeated email flagged", twice.Flags, byGrace.Flags, fromPoster.Flags)
	}
	e.resign()
	day := func(n int) string { return time.Date(2026, 11, 20+n, 0, 0, 0, 0, time.UTC).Format(time.DateOnly) }

	res := e.get("/console/referrals", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Person ann", "ann@mail.example", "Ada Lovelace", "Grace Hopper", "Spring", "Email already referred",
		`href="/console/exports/referrals.csv"`, `href="/console/ambassadors/`+w.grace.ID+`"`)
	if got, want := fmt.Sprint(rowsOf(res.Body)), fmt.Sprint(idsOf(rejected, twice, byGrace, fromPoster)); got != want {
		t.Fatalf("all: got %v, want %v newest first", got, want)
	}
	for query, want := range map[string][]*model.Referral{
		"status=rejected":                                   {rejected},
		"status=pending&program=" + w.program.ID:            {twice, byGrace, fromPoster},
		"flagged=true":                                      {twice},
		"email=ANN@mail.example":                            {twice, fromPoster},
		"ambassador=" + w.grace.ID:                          {twice, byGrace},
		"placement=" + w.poster.ID:                          {fromPoster},
		"from=" + day(1):                                    {rejected, twice, byGrace},
		"to=" + day(1):                                      {twice, byGrace, fromPoster},
		"from=" + day(1) + "&to=" + day(1):                  {twice, byGrace},
		"ambassador=" + w.ada.ID + "&flagged=true":          nil,
		"program=prg_01m8yqk4a5mstqtdtptfpvmbxh":            nil,
		"placement=plc_" + strings.ToUpper(w.poster.ID[4:]): {fromPoster},
	} {
		res := e.get("/console/referrals?"+query, e.viewer)
		wantStatus(t, res, http.StatusOK)
		if got := fmt.Sprint(rowsOf(res.Body)); got != fmt.Sprint(idsOf(want...)) {
			t.Errorf("?%s: got %v, want %v", query, got, idsOf(want...))
		}
		if len(want) == 0 {
			wantBody(t, res, "No referrals match", "Clear filters")
		}
	}
	// The export link carries the filters, the form keeps them.
	res = e.get("/console/referrals?status=pending&flagged=true&email=ann@mail.example", e.viewer)
	wantBody(t, res, `href="/console/exports/referrals.csv?email=ann%40mail.example&amp;flagged=true&amp;status=pending"`,
		`value="ann@mail.example"`, `<option value="pending" selected>`, `name="flagged" value="true" checked`)

	res = e.get("/console/referrals?status=lost&ambassador=bob&placement=plc_nope&from=yesterday&to="+day(-3)+"&flagged=maybe&email="+
		strings.Repeat("x", 300), e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Status must be pending, converted or rejected", "Ambassador ID must be an ID that starts with amb_",
		"Poster ID must be an ID that starts with plc_", "Signed up from must be a date such as", "Only flagged must be ticked or not",
		"Email must be at most 254 characters")
	if got := len(rowsOf(res.Body)); got != 4 {
		t.Errorf("with every filter wrong: %d rows, want all 4", got)
	}
	res = e.get("/console/referrals?from="+day(2)+"&to="+day(1), e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Signed up to must not be before the first day")
}

// The list pages by cursor, with the filters kept, and a cursor from
// elsewhere starts over rather than failing.
func TestReferralListPages(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	var made []*model.Referral
	for i := range listPageSize + 5 {
		made = append(made, w.signup(w.grace, fmt.Sprintf("p%d@mail.example", i)))
	}
	res := e.get("/console/referrals?status=pending", e.manager)
	first := rowsOf(res.Body)
	if len(first) != listPageSize || first[0] != made[len(made)-1].ID {
		t.Fatalf("first page: %d rows from %v", len(first), first[0])
	}
	next := "/console/referrals?cursor=" + first[len(first)-1] + "&amp;status=pending"
	wantBody(t, res, `href="`+next+`">Next page`)
	noBody(t, res, "First page")
	res = e.get(strings.ReplaceAll(next, "&amp;", "&"), e.manager)
	second := rowsOf(res.Body)
	if len(second) != 5 || second[4] != made[0].ID {
		t.Fatalf("second page: %v", second)
	}
	wantBody(t, res, `href="/console/referrals?status=pending">First page`)
	noBody(t, res, "Next page")
	res = e.get("/console/referrals?cursor=prg_nonsense", e.manager)
	wantStatus(t, res, http.StatusOK)
	if got := len(rowsOf(res.Body)); got != listPageSize {
		t.Errorf("a cursor from elsewhere: %d rows, want the first page", got)
	}
}

// A referral's page shows where the person came from, why each flag was
// raised, and what they bought with its commissions; a viewer sees no
// button that changes it.
func TestReferralPage(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	w.signup(w.ada, "ann@mail.example")
	ref := w.signup(nil, "ann@mail.example")
	earning, commission := w.purchase(ref, 2599)
	res := e.get("/console/referrals/"+ref.ID, e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Person ann", "ann@mail.example", "Converted", "Why this signup was flagged", "Email already referred",
		"Someone with this email address had already signed up in this program.", "Ada Lovelace", "Library",
		`href="/console/referrals?placement=`+w.poster.ID+`"`, `href="/console/money/earnings/`+earning.ID+`"`, "USD 25.99",
		`href="/console/money/commissions/`+commission.ID+`"`, "USD 5.00", "Pending")
	noBody(t, res, `action="/console/referrals/`+ref.ID+`/status"`, "/erase")
	res = e.get("/console/referrals/"+ref.ID, e.manager)
	wantBody(t, res, `href="/console/referrals/`+ref.ID+`/erase"`)
	noBody(t, res, `name="status" value="rejected"`) // converted: decided already

	for _, path := range []string{"/console/referrals/ref_01m8yqk4a5mstqtdtptfpvmbxh", "/console/referrals/nonsense", "/console/referrals/" + w.program.ID} {
		wantStatus(t, e.get(path, e.viewer), http.StatusNotFound)
	}
}

// Every flag has a sentence that says why it was raised; one the fraud
// rules do not know is a hook plugin's.
func TestFlagNotes(t *testing.T) {
	for _, fl := range []string{model.FlagSelfReferral, model.FlagImpressionReused, model.FlagDuplicateEmail, model.FlagDisposableEmail, model.FlagFastSignup} {
		n := flagNotes([]string{fl})[0]
		if n.Title == fl || n.Why == "" || strings.Contains(n.Why, "hook plugin") {
			t.Errorf("%s: %+v, want a sentence of its own", fl, n)
		}
	}
	if n := flagNotes([]string{"crm_duplicate"})[0]; n.Title != "crm_duplicate" || !strings.Contains(n.Why, "hook plugin") {
		t.Errorf("a plugin's flag: %+v", n)
	}
	if n := flagNotes([]string{model.FlagFastSignup})[0]; !strings.Contains(n.Why, "10 seconds") {
		t.Errorf("fast signup: %q, want the window in words", n.Why)
	}
}

// A manager rejects a pending referral; a change its status no longer
// allows shows the page again with why, as a 409; a viewer cannot.
func TestReferralStatusChange(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	ref := w.signup(w.ada, "ann@mail.example")
	path := "/console/referrals/" + ref.ID + "/status"
	wantStatus(t, e.post(path, e.viewer, formOf("status", "rejected")), http.StatusForbidden)
	res := e.post(path, e.manager, formOf("status", "rejected"))
	wantStatus(t, res, http.StatusSeeOther)
	page := e.follow(res, e.manager)
	wantBody(t, page, "Referral rejected", "Rejected")
	got, _ := e.st.FindReferralByID(context.Background(), ref.ID)
	if got.Status != model.ReferralRejected {
		t.Fatalf("status %s, want rejected", got.Status)
	}
	res = e.post(path, e.manager, formOf("status", "converted"))
	wantStatus(t, res, http.StatusConflict)
	wantBody(t, res, "That cannot be done", "is rejected and cannot become converted", "Person ann")
	wantStatus(t, e.post(path, e.manager, formOf("status", "lost")), http.StatusBadRequest)
	wantStatus(t, e.post("/console/referrals/ref_01m8yqk4a5mstqtdtptfpvmbxh/status", e.manager, formOf("status", "rejected")), http.StatusNotFound)
	audit, err := e.st.FindAudit(context.Background(), model.AuditFilter{Subject: ref.ID})
	if err != nil || len(audit.Data) != 1 || audit.Data[0].Actor.ID != e.manager.ID {
		t.Fatalf("audit: %+v %v, want the manager's change", audit.Data, err)
	}
}

// Erasing asks first, then erases the person's data and keeps the
// referral; a second erase is harmless.
func TestReferralErase(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	ref := w.signup(w.ada, "ann@mail.example")
	res := e.get("/console/referrals/"+ref.ID+"/erase", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Erase Person ann’s data?", "cannot be undone", `action="/console/referrals/`+ref.ID+`/erase"`)
	wantStatus(t, e.get("/console/referrals/"+ref.ID+"/erase", e.viewer), http.StatusForbidden)
	wantStatus(t, e.post("/console/referrals/"+ref.ID+"/erase", e.viewer, url.Values{}), http.StatusForbidden)
	res = e.post("/console/referrals/"+ref.ID+"/erase", e.owner, url.Values{})
	wantStatus(t, res, http.StatusSeeOther)
	page := e.follow(res, e.owner)
	wantBody(t, page, "The person’s data is erased", "This person’s data was erased")
	noBody(t, page, "ann@mail.example", "Person ann")
	got, _ := e.st.FindReferralByID(context.Background(), ref.ID)
	if got.ErasedAt == nil || got.Email != "" {
		t.Fatalf("after erasing: %+v", got)
	}
	wantBody(t, e.get("/console/referrals/"+ref.ID+"/erase", e.manager), "Already erased")
	wantStatus(t, e.post("/console/referrals/"+ref.ID+"/erase", e.manager, url.Values{}), http.StatusSeeOther)
	wantBody(t, e.get("/console/referrals", e.viewer), "Erased")
}

package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// The leaderboard ranks a program's ambassadors, or everyone's, over a
// period, with their names linking to their pages; a program that is
// not one is said, and all programs ranked meanwhile.
func TestLeaderboard(t *testing.T) {
	e := newTestEnv(t)
	w := newWorld(e)
	other := e.program("Fall")
	w.signup(w.grace, "ann@mail.example")
	w.purchase(w.signup(w.grace, "bob@mail.example"), 1000)
	w.signup(w.ada, "cyd@mail.example")
	if _, _, err := e.st.CreateImpression(context.Background(), model.ImpressionCreate{ProgramID: other.ID, AmbassadorID: w.ada.ID}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	res := e.get("/console/leaderboard?program="+w.program.ID+"&period=7", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Ambassadors of <strong>Spring</strong>", `<option value="7" selected>`, `href="/console/ambassadors/`+w.grace.ID+`">Grace Hopper</a>`,
		"USD 5.00")
	if g, a := strings.Index(res.Body, "Grace Hopper"), strings.Index(res.Body, "Ada Lovelace"); g < 0 || a < 0 || g > a {
		t.Errorf("Grace, with a purchase, should rank above Ada")
	}
	res = e.get("/console/leaderboard?program="+other.ID, e.viewer)
	wantBody(t, res, "Ada Lovelace")
	noBody(t, res, "Grace Hopper")
	wantBody(t, e.get("/console/leaderboard", e.viewer), "Ambassadors of all programs", "Grace Hopper", "Ada Lovelace")
	res = e.get("/console/leaderboard?program=prg_01m8yqk4a5mstqtdtptfpvmbxh&period=custom&from=2026-11-01&to=2026-11-30", e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "is not a program of this referrald", "1 Nov 2026 – 30 Nov 2026")
	res = e.get("/console/leaderboard?period=custom&from=2026-11-30&to=2026-11-01", e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "To must not be before the first day")
	wantBody(t, e.get("/console/leaderboard?period=custom&from=2020-01-01&to=2020-01-31", e.viewer), "Nobody to rank yet")
}

// The referral and money pages a viewer may open show them no form that
// changes anything, and a manager theirs.
func TestMoneyPagesHideChangesFromViewers(t *testing.T) {
	s := New(Services{}, Config{})
	managersOnly := map[string]bool{"payout_form": true, "referral_erase": true}
	for name, data := range moneySamples() {
		if managersOnly[name] {
			continue
		}
		for _, role := range []model.Role{model.RoleViewer, model.RoleManager} {
			r := httptest.NewRequest("GET", "/console/", nil)
			user := &model.User{ID: "usr_1", Email: "someone@x.example", Role: role}
			r = r.WithContext(withSignedIn(r.Context(), &signedIn{user: user, session: &model.Session{ID: "ses_1"}}))
			w := httptest.NewRecorder()
			if err := s.render(w, r, 200, name, data); err != nil {
				t.Fatalf("%s as %s: %v", name, role, err)
			}
			posts := strings.Count(w.Body.String(), `method="post"`) - 1 // signing out
			changes := posts > 0 || strings.Contains(w.Body.String(), "/console/money/payouts/new")
			switch {
			case role == model.RoleViewer && changes:
				t.Errorf("%s shows a viewer %d forms that change things", name, posts)
			case role == model.RoleManager && !changes && name != "referrals" && name != "earnings" && name != "leaderboard" && name != "payout":
				t.Errorf("%s shows a manager no form", name)
			}
		}
	}
}

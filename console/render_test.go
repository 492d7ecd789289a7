package console

import (
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// samplePages are a view of every page, as its handler builds it, for
// tests that render pages without a store.
func samplePages() map[string]any {
	now := model.NewTime(time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC))
	prg := &model.Program{ID: "prg_01m8yqk4a5mstqtdtptfpvmbxh", Name: "Spring 2027 campus launch", LandingURL: "https://example.com/join",
		Commission: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1250, Caps: map[string]int64{"USD": 2000, "EUR": 1500}},
		HoldDays:   30, FraudPolicy: model.FraudFlag, Status: model.ProgramActive, CreatedAt: now, UpdatedAt: now}
	archived := *prg
	archived.ID, archived.Name, archived.Status, archived.Commission = "prg_01m8yqk4a5mstqtdtptfpvmbxj", "Fall 2026", model.ProgramArchived,
		&model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}
	from := time.Date(2026, 10, 22, 0, 0, 0, 0, time.UTC)
	var days []dayRow
	for i := range 30 {
		days = append(days, dayRow{Day: from.AddDate(0, 0, i), Scans: int64(20 + (i*37)%60), Signups: int64((i * 7) % 11), Purchases: int64((i * 3) % 4)})
	}
	rate := func(f float64) *float64 { return &f }
	funnel := model.Funnel{Counts: model.Counts{Impressions: 1634, ExcludedImpressions: 122, ImpressionsWithReferral: 141, Referrals: 152,
		Conversions: 31, Rejected: 4, Money: []model.MoneyCounts{{Currency: "USD", Earnings: 29, Amount: 184599, Refunded: 1999, Commissions: 21540},
			{Currency: "EUR", Earnings: 2, Amount: 5000, Commissions: 625}}}, ScanToSignupRate: rate(0.0933), SignupToPurchaseRate: rate(0.2039)}
	overview := overviewView{Form: newForm(overviewFields...), Programs: []*model.Program{prg, &archived}, Program: prg,
		From: from, To: from.AddDate(0, 0, 29), Funnel: funnel, Days: days, Charts: dayCharts(days),
		Leaders: []leaderRow{{Rank: 1, LeaderboardEntry: model.LeaderboardEntry{AmbassadorID: "amb_1", AmbassadorName: "Ada Lovelace", Funnel: funnel}}}}
	overview.Form.Set("period", "30")
	overview.Form.Set("program", prg.ID)
	badForm := newForm(programFields...)
	badForm.Set("commission.type", "flat")
	badForm.AddError("name", "is required")
	badForm.AddError("commission.currency", "must be an ISO 4217 code in upper case that exists")
	pages := map[string]any{
		"login":        loginView{Form: newForm(loginFields...), Next: "/console/"},
		"setup":        setupView{Form: newForm(setupFields...), Token: "t"},
		"error":        errorView{Title: "Page not found", Message: "There is nothing here.", Action: "Go to the overview", ActionPath: "/console/"},
		"account":      accountView{User: &model.User{Email: "o@x.example", Role: model.RoleOwner}, Session: &model.Session{CreatedAt: now}, Idle: "12 hours", Absolute: "7 days", Password: newForm(accountPasswordFields...)},
		"overview":     overview,
		"programs":     programListView{Status: "active", Programs: []*model.Program{prg, &archived}},
		"program":      programView{Program: prg},
		"program_form": programFormView{Form: badForm},
	}
	maps.Copy(pages, opsSamples())
	maps.Copy(pages, peopleSamplePages(prg))
	maps.Copy(pages, moneySamples())
	maps.Copy(pages, webhookSamples())
	maps.Copy(pages, designSamples(prg))
	maps.Copy(pages, printRunSamples())
	return pages
}

// Every page renders, for each role, with a view of its kind; forms and
// buttons that change things are shown only to roles that may use them.
func TestPagesRender(t *testing.T) {
	s := New(Services{}, Config{})
	pages := samplePages()
	for name := range s.pages {
		if _, ok := pages[name]; !ok {
			t.Errorf("template %s has no sample view in samplePages", name)
		}
	}
	for _, role := range []model.Role{model.RoleViewer, model.RoleManager, model.RoleOwner} {
		for name, data := range pages {
			r := httptest.NewRequest("GET", "/console/", nil)
			user := &model.User{ID: "usr_1", Email: "someone@x.example", Role: role}
			r = r.WithContext(withSignedIn(r.Context(), &signedIn{user: user, session: &model.Session{ID: "ses_1"}}))
			w := httptest.NewRecorder()
			if err := s.render(w, r, 200, name, data); err != nil {
				t.Fatalf("%s as %s: %v", name, role, err)
			}
			body := w.Body.String()
			if !strings.Contains(body, `<main id="main"`) || !strings.Contains(body, `href="#main"`) {
				t.Errorf("%s: no main landmark or skip link", name)
			}
			if name == "program" || name == "programs" {
				hasWrite := strings.Contains(body, "/archive") || strings.Contains(body, "/console/programs/new") || strings.Contains(body, "/edit")
				if want := role != model.RoleViewer; hasWrite != want {
					t.Errorf("%s as %s: shows a change: %v, want %v", name, role, hasWrite, want)
				}
			}
		}
	}
}

package console

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// The overview without programs says what to do next, to those who can.
func TestOverviewEmpty(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No programs yet", `href="/console/programs/new"`)
	res = e.get("/console/", e.viewer)
	wantBody(t, res, "No programs yet")
	noBody(t, res, `href="/console/programs/new"`)
}

// The overview shows a program's funnel, money, days and leaders over
// the period asked for.
func TestOverview(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	other := e.program("Other")
	p, _, err := e.st.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com/join",
		Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	ada, _, err := e.st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "Ada", LastName: "Lovelace", Email: "ada@uni.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	// Three days ago: 4 scans, 2 signups, 1 purchase of 19.99 USD.
	e.clock.Add(-3 * 24 * time.Hour)
	for i := range 4 {
		imp, _, err := e.st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: ada.ID}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			r, _, err := e.st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "R", LastName: "S",
				Email: fmt.Sprintf("r%d@example.com", i)}, model.Idempotency{})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if _, _, err := e.st.CreateEarning(ctx, model.EarningCreate{ReferralID: r.ID, Amount: 1999, Currency: "USD"}, model.Idempotency{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	e.clock.Add(3 * 24 * time.Hour)

	// The first program is the newest active one, Spring; the other is
	// picked by name.
	res := e.get("/console/", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "<strong>Spring</strong>", ">4<", ">2<", ">1<", "50.0%", "USD 19.99", "USD 5.00", "Ada Lovelace",
		`role="img"`, `<title id="chart-scans-title">Scans per day</title>`, "4 scans from 22 Oct 2026 to 20 Nov 2026",
		"Tue 17 Nov 2026", `value="2026-10-22"`, `value="2026-11-20"`)
	res = e.get("/console/?program="+other.ID, e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "<strong>Other</strong>", "No purchases", "No ambassador")

	// A custom range that leaves the scans out, and one that has them.
	res = e.get("/console/?program="+p.ID+"&period=custom&from=2026-11-18&to=2026-11-20", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "18 Nov 2026 – 20 Nov 2026", "No scans from")
	res = e.get("/console/?program="+p.ID+"&period=7", e.viewer)
	wantBody(t, res, "14 Nov 2026 – 20 Nov 2026", "Ada Lovelace")

	// Mistakes in the period come back next to their inputs.
	res = e.get("/console/?program="+p.ID+"&period=custom&from=2026-11-20&to=2026-11-01", e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "To must not be before the first day", `value="2026-11-01"`)
	res = e.get("/console/?program="+p.ID+"&period=custom&from=yesterday&to=2026-11-01", e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "From must be a date such as 2026-11-20")
	res = e.get("/console/?program="+p.ID+"&period=custom&from=2024-01-01&to=2026-11-01", e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "days after the first day")
	res = e.get("/console/?program=prg_01m8yqk4a5mstqtdtptfpvmbxh&period=year", e.viewer)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Program is not a program of this referrald", "Period must be one of the periods offered")
}

// A chart's bars and labels fit its box, and say in words what they show.
func TestDayCharts(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{1, 7, 90, 400} {
		var days []dayRow
		for i := range n {
			days = append(days, dayRow{Day: from.AddDate(0, 0, i), Scans: int64(i % 13), Signups: 0, Purchases: 1})
		}
		for _, c := range dayCharts(days) {
			if len(c.Bars) != n || c.Desc == "" || c.Title == "" || len(c.Grid) == 0 {
				t.Fatalf("%d days, %s: %d bars, desc %q", n, c.ID, len(c.Bars), c.Desc)
			}
			for _, b := range c.Bars {
				if b.X < chartLeft || b.X+b.W > chartWidth-chartRight+0.1 || b.Y < chartTop-0.1 || b.Y+b.H > chartBaseY+0.1 || b.W <= 0 {
					t.Fatalf("%d days, %s: bar %+v outside the plot", n, c.ID, b)
				}
			}
		}
	}
	for v, want := range map[int64]int64{0: 1, 1: 1, 2: 2, 3: 5, 7: 10, 11: 20, 99: 100, 101: 200, 4999: 5000} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", v, got, want)
		}
	}
}

package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/referrald/referrald/model"
)

// The overview: how one program does over a period. Everything on it
// comes from the per-day counters (model.StatsService), so it costs the
// same however many scans and signups there are.

// periods are the overview's ready-made periods, in days, as the
// period input names them.
var periods = map[string]int{"7": 7, "30": 30, "90": 90}

const defaultPeriod = "30"

var overviewFields = []*field{
	{Name: "program", Label: "Program"},
	{Name: "period", Label: "Period"},
	{Name: "from", Label: "From", Type: "date"},
	{Name: "to", Label: "To", Type: "date"},
}

type overviewView struct {
	Form     *form
	Programs []*model.Program
	// Program is the one shown; nil when there are no programs yet.
	Program *model.Program
	// From and To are the first and last day shown, inclusive.
	From, To time.Time
	Funnel   model.Funnel
	Charts   []chart
	Days     []dayRow
	Leaders  []leaderRow
}

// RangeLabel says which days are shown: "3 Nov 2026 – 2 Dec 2026".
func (v overviewView) RangeLabel() string {
	return v.From.Format("2 Jan 2006") + " – " + v.To.Format("2 Jan 2006")
}

// dayRow is one day of the table that stands in for the charts.
type dayRow struct {
	Day                       time.Time
	Scans, Signups, Purchases int64
}

// leaderRow is one ambassador of the top ten.
type leaderRow struct {
	Rank int
	model.LeaderboardEntry
}

// handleOverview serves GET /console/?program=&period=&from=&to=.
func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f := newForm(overviewFields...).read(r)
	v := overviewView{Form: f}
	var err error
	if v.Programs, err = s.programChoices(ctx); err != nil {
		return err
	}
	if len(v.Programs) == 0 {
		return s.render(w, r, http.StatusOK, "overview", v)
	}
	if v.Program, err = s.chosenProgram(ctx, f, v.Programs); err != nil {
		return err
	}
	f.Set("program", v.Program.ID)
	v.From, v.To = s.period(f)
	status := http.StatusOK
	if f.HasErrors() {
		status = http.StatusUnprocessableEntity
	}
	filter := model.StatsFilter{ProgramID: v.Program.ID, From: model.NewTime(v.From), To: model.NewTime(v.To.AddDate(0, 0, 1))}
	if v.Funnel, err = s.svc.Stats.Funnel(ctx, filter); err != nil {
		return err
	}
	days, err := s.svc.Stats.FunnelByDay(ctx, filter)
	if err != nil {
		return err
	}
	v.Days = fillDays(v.From, v.To, days)
	v.Charts = dayCharts(v.Days)
	if v.Leaders, err = s.leaders(ctx, filter); err != nil {
		return err
	}
	return s.render(w, r, status, "overview", v)
}

// programChoices are the programs the picker offers: active ones first,
// then archived ones, newest first within each; a hundred of each at
// most, which is more than a school runs.
func (s *Server) programChoices(ctx context.Context) ([]*model.Program, error) {
	var out []*model.Program
	for _, status := range []model.ProgramStatus{model.ProgramActive, model.ProgramArchived} {
		page, err := s.svc.Programs.FindPrograms(ctx, model.ProgramFilter{ListOptions: model.ListOptions{Limit: model.MaxListLimit}, Status: status})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Data...)
	}
	return out, nil
}

// chosenProgram is the program the form names, or the first choice.
func (s *Server) chosenProgram(ctx context.Context, f *form, choices []*model.Program) (*model.Program, error) {
	id := f.Get("program")
	if id == "" {
		return choices[0], nil
	}
	for _, p := range choices {
		if p.ID == id {
			return p, nil
		}
	}
	p, err := s.svc.Programs.FindProgramByID(ctx, id)
	if model.ErrorCode(err) == model.ENotFound {
		f.AddError("program", "is not a program of this referrald; showing "+choices[0].Name+" instead")
		return choices[0], nil
	}
	return p, err
}

// period reads the form's period: the last 7, 30 or 90 days up to today
// (UTC), or the custom days from–to. A problem is recorded on the form,
// and the default period shown meanwhile, the user's dates left in the
// inputs to correct; otherwise the inputs show the days shown.
func (s *Server) period(f *form) (from, to time.Time) {
	today := s.now().UTC().Truncate(24 * time.Hour)
	from, to = today.AddDate(0, 0, -periods[defaultPeriod]+1), today
	p := f.Get("period")
	if p == "" {
		p = defaultPeriod
		f.Set("period", p)
	}
	switch days, ok := periods[p]; {
	case ok:
		from = today.AddDate(0, 0, -days+1)
	case p == "custom":
		cfrom, cto, ok := customDays(f, today)
		if !ok {
			return from, to
		}
		from, to = cfrom, cto
	default:
		f.AddError("period", "must be one of the periods offered")
		f.Set("period", defaultPeriod)
	}
	f.Set("from", dateValue(from))
	f.Set("to", dateValue(to))
	return from, to
}

// customDays reads the from and to inputs, or records their problems.
func customDays(f *form, today time.Time) (from, to time.Time, ok bool) {
	from, errFrom := time.Parse(time.DateOnly, f.Get("from"))
	to, errTo := time.Parse(time.DateOnly, f.Get("to"))
	if errFrom != nil {
		f.AddError("from", "must be a date such as "+dateValue(today))
	}
	if errTo != nil {
		f.AddError("to", "must be a date such as "+dateValue(today))
	}
	switch {
	case errFrom != nil || errTo != nil:
	case to.Before(from):
		f.AddError("to", "must not be before the first day")
	case to.Sub(from) >= model.MaxFunnelDays*24*time.Hour:
		f.AddError("to", "must be at most "+strconv.Itoa(model.MaxFunnelDays-1)+" days after the first day")
	default:
		return from, to, true
	}
	return from, to, false
}

// fillDays is one row per day from–to, zero where no day was counted.
func fillDays(from, to time.Time, days []model.DayFunnel) []dayRow {
	byDay := map[time.Time]model.DayFunnel{}
	for _, d := range days {
		byDay[d.Day.Time] = d
	}
	var out []dayRow
	for day := from; !day.After(to); day = day.AddDate(0, 0, 1) {
		d := byDay[day]
		out = append(out, dayRow{Day: day, Scans: d.Impressions, Signups: d.Referrals, Purchases: d.Conversions})
	}
	return out
}

// leaders are the program's top ten ambassadors over the filter's days.
func (s *Server) leaders(ctx context.Context, f model.StatsFilter) ([]leaderRow, error) {
	board, err := s.svc.Stats.Leaderboard(ctx, f, 10)
	if err != nil {
		return nil, err
	}
	out := make([]leaderRow, 0, len(board))
	for i, e := range board {
		out = append(out, leaderRow{Rank: i + 1, LeaderboardEntry: e})
	}
	return out, nil
}

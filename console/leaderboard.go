package console

import (
	"net/http"
	"time"

	"github.com/referrald/referrald/model"
)

// The leaderboard: every ambassador of a program (or of all of them)
// ranked over a period, from the per-day counters, so it costs the same
// however many scans and signups there are.

// leaderboardSize is how many ambassadors the leaderboard ranks.
const leaderboardSize = 100

var leaderboardFields = []*field{
	{Name: "program", Label: "Program"},
	{Name: "period", Label: "Period"},
	{Name: "from", Label: "From", Type: "date"},
	{Name: "to", Label: "To", Type: "date"},
}

type leaderboardView struct {
	Form     *form
	Programs []*model.Program
	// Program is the one ranked; nil for all programs.
	Program  *model.Program
	From, To time.Time
	Leaders  []leaderRow
}

// RangeLabel says which days are ranked: "3 Nov 2026 – 2 Dec 2026".
func (v leaderboardView) RangeLabel() string {
	return v.From.Format("2 Jan 2006") + " – " + v.To.Format("2 Jan 2006")
}

// handleLeaderboard serves GET /console/leaderboard?program=&period=
// &from=&to=: ranked by purchases, then signups, then scans.
func (s *Server) handleLeaderboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f := newForm(leaderboardFields...).read(r)
	v := leaderboardView{Form: f}
	var err error
	if v.Programs, err = s.programChoices(ctx); err != nil {
		return err
	}
	if id := readFilterID(f, "program", model.PrefixProgram); id != "" {
		v.Program, err = s.svc.Programs.FindProgramByID(ctx, id)
		if model.ErrorCode(err) == model.ENotFound {
			f.AddError("program", "is not a program of this referrald; showing all programs instead")
			f.Set("program", "")
		} else if err != nil {
			return err
		}
	}
	v.From, v.To = s.period(f)
	filter := model.StatsFilter{From: model.NewTime(v.From), To: model.NewTime(v.To.AddDate(0, 0, 1))}
	if v.Program != nil {
		filter.ProgramID = v.Program.ID
	}
	board, err := s.svc.Stats.Leaderboard(ctx, filter, leaderboardSize)
	if err != nil {
		return err
	}
	for i, e := range board {
		v.Leaders = append(v.Leaders, leaderRow{Rank: i + 1, LeaderboardEntry: e})
	}
	status := http.StatusOK
	if f.HasErrors() {
		status = http.StatusUnprocessableEntity
	}
	return s.render(w, r, status, "leaderboard", v)
}

package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// statsFilter reads the filters funnel and leaderboard share.
func statsFilter(q *query) model.StatsFilter {
	f := model.StatsFilter{ProgramID: q.id("program_id", model.PrefixProgram)}
	f.From, f.To = q.time("from"), q.time("to")
	switch v := q.str("exclude_flagged"); v {
	case "", "false":
	case "true":
		f.ExcludeFlagged = true
	default:
		q.errs.Add("exclude_flagged", model.FInvalidValue, "must be true or false")
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To.Time) {
		q.errs.Add("to", model.FInvalidValue, "must be after from")
	}
	return f
}

// handleFunnel serves
// GET /v1/stats/funnel?program_id=&ambassador_id=&placement_id=&from=&to=&exclude_flagged=.
func (s *Server) handleFunnel(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := statsFilter(q)
	f.AmbassadorID = q.id("ambassador_id", model.PrefixAmbassador)
	f.PlacementID = q.id("placement_id", model.PrefixPlacement)
	if err := q.finish(); err != nil {
		return err
	}
	funnel, err := s.svc.Stats.Funnel(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, funnel)
	return nil
}

// handleLeaderboard serves
// GET /v1/stats/leaderboard?program_id=&from=&to=&limit=&exclude_flagged=.
func (s *Server) handleLeaderboard(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := statsFilter(q)
	limit := q.limit("limit", 10, model.MaxListLimit)
	if err := q.finish(); err != nil {
		return err
	}
	board, err := s.svc.Stats.Leaderboard(r.Context(), f, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": board})
	return nil
}

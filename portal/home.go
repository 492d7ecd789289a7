package portal

import (
	"net/http"
	"slices"

	"github.com/referrald/referrald/model"
)

// maxHomePlacements bounds the posters the home page reads to name the
// ambassador's programs: an ambassador has a handful.
const maxHomePlacements = model.MaxListLimit

type homeView struct {
	Programs []string
	Posters  int
	// MorePosters: the ambassador has more posters than were read.
	MorePosters bool
	Numbers     numbers
	Balances    []model.Balance
}

// numbers are the headline figures of a funnel, in a student's words.
type numbers struct {
	Scans, Signups, Purchases int64
}

func numbersOf(f model.Funnel) numbers {
	return numbers{Scans: f.Impressions, Signups: f.Referrals, Purchases: f.Conversions}
}

// handleHome serves GET /portal/: a greeting, the ambassador's programs,
// their numbers and what they have earned, by currency.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	ctx, amb := r.Context(), ambOf(r)
	var v homeView
	placements, err := s.svc.Placements.FindPlacements(ctx, model.PlacementFilter{AmbassadorID: amb.ID,
		ListOptions: model.ListOptions{Limit: maxHomePlacements}})
	if err != nil {
		return err
	}
	v.Posters, v.MorePosters = len(placements.Data), placements.HasMore
	n := s.names(ctx)
	for _, p := range placements.Data {
		name, err := n.program(p.ProgramID)
		if err != nil {
			return err
		}
		if !slices.Contains(v.Programs, name) {
			v.Programs = append(v.Programs, name)
		}
	}
	funnel, err := s.svc.Stats.Funnel(ctx, model.StatsFilter{AmbassadorID: amb.ID})
	if err != nil {
		return err
	}
	v.Numbers = numbersOf(funnel)
	if v.Balances, err = s.svc.Earnings.AmbassadorBalance(ctx, amb.ID); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "home", v)
}

package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// handleImpressionCreate serves POST /v1/impressions.
func (s *Server) handleImpressionCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var in model.ImpressionCreate
	in.PlacementID = o.str("placement_id")
	in.ProgramID = o.str("program_id")
	in.AmbassadorID = o.str("ambassador_id")
	in.UserAgent = o.str("user_agent")
	in.Referrer = o.str("referrer")
	in.Metadata = o.metadata("metadata")
	idem := idempotency(r, o, "POST /v1/impressions", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	m, replayed, err := s.svc.Impressions.CreateImpression(r.Context(), in, idem)
	if err != nil {
		return err
	}
	return s.writeCreated(w, r, "/v1/impressions/"+m.ID, m, replayed)
}

// handleImpressionGet serves GET /v1/impressions/:id.
func (s *Server) handleImpressionGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	m, err := s.svc.Impressions.FindImpressionByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// handleImpressionList serves
// GET /v1/impressions?program_id=&ambassador_id=&placement_id=.
func (s *Server) handleImpressionList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := model.ImpressionFilter{ListOptions: q.list(model.PrefixImpression)}
	f.ProgramID = q.id("program_id", model.PrefixProgram)
	f.AmbassadorID = q.id("ambassador_id", model.PrefixAmbassador)
	f.PlacementID = q.id("placement_id", model.PrefixPlacement)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Impressions.FindImpressions(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

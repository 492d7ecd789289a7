package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// handleAmbassadorCreate serves POST /v1/ambassadors.
func (s *Server) handleAmbassadorCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var in model.AmbassadorCreate
	in.FirstName = o.str("first_name")
	in.LastName = o.str("last_name")
	in.Email = o.str("email")
	in.School = o.str("school")
	in.Status = model.AmbassadorStatus(o.str("status"))
	in.Metadata = o.metadata("metadata")
	idem := idempotency(r, o, "POST /v1/ambassadors", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	a, replayed, err := s.svc.Ambassadors.CreateAmbassador(r.Context(), in, idem)
	if err != nil {
		return err
	}
	return s.writeCreated(w, r, "/v1/ambassadors/"+a.ID, a, replayed)
}

// handleAmbassadorGet serves GET /v1/ambassadors/:id.
func (s *Server) handleAmbassadorGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	a, err := s.svc.Ambassadors.FindAmbassadorByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// handleAmbassadorList serves GET /v1/ambassadors?status=.
func (s *Server) handleAmbassadorList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := ambassadorFilter(q)
	f.ListOptions = q.list(model.PrefixAmbassador)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Ambassadors.FindAmbassadors(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// ambassadorFilter reads the filters of the ambassador list and export.
func ambassadorFilter(q *query) model.AmbassadorFilter {
	var f model.AmbassadorFilter
	f.Status = model.AmbassadorStatus(q.str("status"))
	if f.Status != "" && !f.Status.Valid() {
		q.errs.Add("status", model.FInvalidValue, "must be active or paused")
	}
	return f
}

// handleAmbassadorUpdate serves PATCH /v1/ambassadors/:id.
func (s *Server) handleAmbassadorUpdate(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var u model.AmbassadorUpdate
	u.FirstName = o.strPtr("first_name")
	u.LastName = o.strPtr("last_name")
	u.Email = o.strPtr("email")
	u.School = o.strPtr("school")
	if st := o.strPtr("status"); st != nil {
		u.Status = (*model.AmbassadorStatus)(st)
	}
	u.Metadata = o.metadataPtr("metadata")
	fe := o.finish()
	fe.Merge(u.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	a, err := s.svc.Ambassadors.UpdateAmbassador(r.Context(), p.ByName("id"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// portalLinkJSON is the answer of POST /v1/ambassadors/:id/portal_links.
type portalLinkJSON struct {
	URL       string     `json:"url"`
	ExpiresAt model.Time `json:"expires_at"`
}

// handlePortalLinkCreate serves POST /v1/ambassadors/:id/portal_links: a
// link that signs the ambassador in to the portal once, for an
// integrator's "my referrals" button. A body, when sent, is an empty
// object.
func (s *Server) handlePortalLinkCreate(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		o, err := s.readObject(w, r)
		if err != nil {
			return err
		}
		if err := o.finish().Err(); err != nil {
			return err
		}
	}
	if s.svc.Portal == nil {
		return model.Errorf(model.ENotFound, "the ambassador portal is not served here")
	}
	link, err := s.svc.Portal.CreatePortalLink(r.Context(), p.ByName("id"), model.PortalLinkTTL)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, portalLinkJSON{URL: model.PortalLinkURL(s.scanBase, link.Token), ExpiresAt: link.ExpiresAt})
	return nil
}

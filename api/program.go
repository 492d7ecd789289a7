package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// decodeCommission reads a commission rule object. A cap without a
// currency ("cap") is read too, so that the rule can refuse it by name.
func decodeCommission(o *object) *model.CommissionRule {
	c := &model.CommissionRule{
		Type: o.str("type"), Amount: o.int64("amount"), Currency: o.str("currency"), BasisPoints: o.int64("basis_points"),
		LegacyCap: o.int64("cap"),
	}
	if caps, _ := o.object("caps"); caps != nil {
		c.Caps = map[string]int64{}
		for cur := range caps.fields {
			c.Caps[cur] = caps.int64(cur)
		}
		caps.finish()
	}
	return c
}

// handleProgramCreate serves POST /v1/programs.
func (s *Server) handleProgramCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var in model.ProgramCreate
	in.Name = o.str("name")
	in.LandingURL = o.str("landing_url")
	if c, _ := o.object("commission"); c != nil {
		in.Commission = decodeCommission(c)
		c.finish()
	}
	if _, given := o.raw("hold_days"); given {
		days := int(o.int64("hold_days"))
		in.HoldDays = &days
	}
	in.FraudPolicy = o.str("fraud_policy")
	in.Status = model.ProgramStatus(o.str("status"))
	in.Metadata = o.metadata("metadata")
	idem := idempotency(r, o, "POST /v1/programs", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	p, replayed, err := s.svc.Programs.CreateProgram(r.Context(), in, idem)
	if err != nil {
		return err
	}
	return s.writeCreated(w, r, "/v1/programs/"+p.ID, p, replayed)
}

// handleProgramGet serves GET /v1/programs/:id.
func (s *Server) handleProgramGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	prg, err := s.svc.Programs.FindProgramByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, prg)
	return nil
}

// handleProgramList serves GET /v1/programs?status=.
func (s *Server) handleProgramList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := model.ProgramFilter{ListOptions: q.list(model.PrefixProgram)}
	f.Status = model.ProgramStatus(q.str("status"))
	if f.Status != "" && !f.Status.Valid() {
		q.errs.Add("status", model.FInvalidValue, "must be active or archived")
	}
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Programs.FindPrograms(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// handleProgramUpdate serves PATCH /v1/programs/:id.
func (s *Server) handleProgramUpdate(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var u model.ProgramUpdate
	u.Name = o.strPtr("name")
	u.LandingURL = o.strPtr("landing_url")
	if c, given := o.object("commission"); given {
		u.CommissionSet = true
		if c != nil {
			u.Commission = decodeCommission(c)
			c.finish()
		}
	}
	if _, given := o.raw("hold_days"); given {
		days := int(o.int64("hold_days"))
		u.HoldDays = &days
	}
	u.FraudPolicy = o.strPtr("fraud_policy")
	if st := o.strPtr("status"); st != nil {
		u.Status = (*model.ProgramStatus)(st)
	}
	u.Metadata = o.metadataPtr("metadata")
	fe := o.finish()
	fe.Merge(u.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	prg, err := s.svc.Programs.UpdateProgram(r.Context(), p.ByName("id"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, prg)
	return nil
}

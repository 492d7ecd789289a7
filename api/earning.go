package api

import (
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// handleEarningCreate serves POST /v1/earnings.
func (s *Server) handleEarningCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var in model.EarningCreate
	in.ReferralID = o.str("referral_id")
	in.Amount = o.int64("amount")
	o.need("amount")
	in.Currency = o.str("currency")
	in.ExternalID = o.str("external_id")
	in.Metadata = o.metadata("metadata")
	idem := idempotency(r, o, "POST /v1/earnings", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	if !fe.Has("referral_id") {
		// Checked here too so an unknown referral is reported with the
		// request's other problems.
		if _, err := s.svc.Referrals.FindReferralByID(r.Context(), in.ReferralID); model.ErrorCode(err) == model.ENotFound {
			fe.Add("referral_id", model.FNotFound, "referral %s does not exist", in.ReferralID)
		} else if err != nil {
			return err
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	e, replayed, err := s.svc.Earnings.CreateEarning(r.Context(), in, idem)
	if err != nil {
		return err
	}
	return s.writeCreated(w, r, "/v1/earnings/"+e.ID, e, replayed)
}

// handleEarningGet serves GET /v1/earnings/:id.
func (s *Server) handleEarningGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	e, err := s.svc.Earnings.FindEarningByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// handleEarningList serves GET /v1/earnings?program_id=&ambassador_id=&referral_id=&status=&from=&to=.
func (s *Server) handleEarningList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := earningFilter(q)
	f.ListOptions = q.list(model.PrefixEarning)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Earnings.FindEarnings(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// earningFilter reads the filters of the earning list and export.
func earningFilter(q *query) model.EarningFilter {
	var f model.EarningFilter
	f.ProgramID = q.id("program_id", model.PrefixProgram)
	f.AmbassadorID = q.id("ambassador_id", model.PrefixAmbassador)
	f.ReferralID = q.id("referral_id", model.PrefixReferral)
	f.Status = model.EarningStatus(q.str("status"))
	if f.Status != "" && !f.Status.Valid() {
		q.errs.Add("status", model.FInvalidValue, "must be recorded, partially_refunded or refunded")
	}
	f.From, f.To = q.time("from"), q.time("to")
	return f
}

// handleEarningRefund serves POST /v1/earnings/:id/refund {"amount": N,
// "reason": "..."}: refunds N (all that is left when absent) and claws the
// matching share of the commission back; the reason goes to the audit log.
func (s *Server) handleEarningRefund(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var in model.EarningRefund
	in.Amount = o.int64("amount")
	if raw, given := o.raw("amount"); given && raw != nil && in.Amount <= 0 {
		o.errs.Add("amount", model.FInvalidValue, "must be a positive integer; leave it out to refund all that is left")
	}
	in.Reason = o.str("reason")
	idem := idempotency(r, o, "POST /v1/earnings/"+p.ByName("id")+"/refund", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	e, replayed, err := s.svc.Earnings.RefundEarning(r.Context(), p.ByName("id"), in, idem)
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		s.metrics.IdempotentReplay(routeOf(r))
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// time reads an RFC 3339 timestamp parameter.
func (q *query) time(name string) model.Time {
	v := q.str(name)
	if v == "" {
		return model.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		q.errs.Add(name, model.FInvalidValue, "must be an RFC 3339 timestamp, e.g. 2026-11-01T00:00:00Z")
		return model.Time{}
	}
	return model.NewTime(t)
}

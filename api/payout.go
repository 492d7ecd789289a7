package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// handlePayoutCreate serves POST /v1/payouts.
func (s *Server) handlePayoutCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var in model.PayoutCreate
	in.AmbassadorID = o.str("ambassador_id")
	in.Currency = o.str("currency")
	in.ExternalReference = o.str("external_reference")
	idem := idempotency(r, o, "POST /v1/payouts", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	pay, replayed, err := s.svc.Earnings.CreatePayout(r.Context(), in, idem)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/payouts/"+pay.ID)
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		s.metrics.IdempotentReplay(routeOf(r))
	}
	writeJSON(w, http.StatusCreated, pay)
	return nil
}

// handlePayoutList serves GET /v1/payouts?ambassador_id=&currency=&from=&to=.
func (s *Server) handlePayoutList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := payoutFilter(q)
	f.ListOptions = q.list(model.PrefixPayout)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Earnings.FindPayouts(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// payoutFilter reads the filters of the payout list and export.
func payoutFilter(q *query) model.PayoutFilter {
	var f model.PayoutFilter
	f.AmbassadorID = q.id("ambassador_id", model.PrefixAmbassador)
	f.Currency = q.str("currency")
	if f.Currency != "" && !model.ValidCurrency(f.Currency) {
		q.errs.Add("currency", model.FInvalidValue, "must be an ISO 4217 code in upper case, e.g. USD")
	}
	f.From, f.To = q.time("from"), q.time("to")
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To.Time) {
		q.errs.Add("to", model.FInvalidValue, "must be after from")
	}
	return f
}

// handlePayoutGet serves GET /v1/payouts/:id: the payout and the
// commissions it paid, at most model.MaxPayoutCommissions of them.
func (s *Server) handlePayoutGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	d, err := s.svc.Earnings.FindPayoutByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

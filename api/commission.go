package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// handleCommissionGet serves GET /v1/commissions/:id.
func (s *Server) handleCommissionGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	c, err := s.svc.Earnings.FindCommissionByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// handleCommissionList serves GET /v1/commissions?ambassador_id=&earning_id=&payout_id=&status=.
func (s *Server) handleCommissionList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := commissionFilter(q)
	f.ListOptions = q.list(model.PrefixCommission)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Earnings.FindCommissions(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// commissionFilter reads the filters of the commission list and export.
func commissionFilter(q *query) model.CommissionFilter {
	var f model.CommissionFilter
	f.AmbassadorID = q.id("ambassador_id", model.PrefixAmbassador)
	f.EarningID = q.id("earning_id", model.PrefixEarning)
	f.PayoutID = q.id("payout_id", model.PrefixPayout)
	f.Status = model.CommissionStatus(q.str("status"))
	switch f.Status {
	case "", model.CommissionPending, model.CommissionApproved, model.CommissionPaid:
	default:
		q.errs.Add("status", model.FInvalidValue, "must be pending, approved or paid")
	}
	return f
}

// handleCommissionApprove serves POST /v1/commissions/:id/approve: a
// manager approves a commission before its program's hold ends.
func (s *Server) handleCommissionApprove(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	c, err := s.svc.Earnings.ApproveCommission(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// handleAmbassadorBalance serves GET /v1/ambassadors/:id/balance.
func (s *Server) handleAmbassadorBalance(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	id := p.ByName("id")
	b, err := s.svc.Earnings.AmbassadorBalance(r.Context(), id)
	if err != nil {
		return err
	}
	if k, ok := model.ParseID(model.PrefixAmbassador, id); ok {
		id = model.FormatID(model.PrefixAmbassador, k) // as the ID is returned everywhere else
	}
	writeJSON(w, http.StatusOK, map[string]any{"ambassador_id": id, "balances": b})
	return nil
}

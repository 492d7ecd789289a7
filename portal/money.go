package portal

import (
	"net/http"

	"github.com/referrald/referrald/model"
)

// What an ambassador has earned and been paid: commissions, each with
// how it was computed in words, and payouts with the commissions they
// paid.

type commissionRow struct {
	*model.Commission
	Status, Kind, Basis string
	Program             string
}

func (n *names) commissionRow(c *model.Commission) (commissionRow, error) {
	row := commissionRow{Commission: c, Status: commissionStatus(c), Kind: commissionKind(c), Basis: describeBasis(c)}
	var err error
	row.Program, err = n.program(c.ProgramID)
	return row, err
}

type commissionListView struct {
	Commissions []commissionRow
	Next        string
}

// handleCommissionList serves GET /portal/commissions: the ambassador's
// commissions, newest first.
func (s *Server) handleCommissionList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	opt, err := listOptions(r)
	if err != nil {
		return err
	}
	page, err := s.svc.Earnings.FindCommissions(ctx, model.CommissionFilter{AmbassadorID: ambOf(r).ID, ListOptions: opt})
	if err != nil {
		return err
	}
	v := commissionListView{Next: nextLink("/portal/commissions", page)}
	n := s.names(ctx)
	for _, c := range page.Data {
		row, err := n.commissionRow(c)
		if err != nil {
			return err
		}
		v.Commissions = append(v.Commissions, row)
	}
	return s.render(w, r, http.StatusOK, "commissions", v)
}

type commissionView struct {
	commissionRow
	// Referral is the sign-up the commission is for, when it still
	// exists.
	Referral *referralRow
}

// handleCommissionGet serves GET /portal/commissions/{id}.
func (s *Server) handleCommissionGet(w http.ResponseWriter, r *http.Request) error {
	c, err := s.myCommission(r)
	if err != nil {
		return err
	}
	n := s.names(r.Context())
	var v commissionView
	if v.commissionRow, err = n.commissionRow(c); err != nil {
		return err
	}
	if c.ReferralID != "" {
		ref, err := s.myReferral(r, c.ReferralID)
		switch model.ErrorCode(err) {
		case "":
			row, err := n.referralRow(ref)
			if err != nil {
				return err
			}
			v.Referral = &row
		case model.ENotFound:
		default:
			return err
		}
	}
	return s.render(w, r, http.StatusOK, "commission", v)
}

type payoutListView struct {
	Payouts []*model.Payout
	Next    string
}

// handlePayoutList serves GET /portal/payouts: the ambassador's payouts,
// newest first.
func (s *Server) handlePayoutList(w http.ResponseWriter, r *http.Request) error {
	opt, err := listOptions(r)
	if err != nil {
		return err
	}
	page, err := s.svc.Earnings.FindPayouts(r.Context(), model.PayoutFilter{AmbassadorID: ambOf(r).ID, ListOptions: opt})
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "payouts", payoutListView{Payouts: page.Data, Next: nextLink("/portal/payouts", page)})
}

type payoutView struct {
	*model.PayoutDetail
	Commissions []commissionRow
	// More: the payout paid more commissions than are shown.
	More bool
}

// handlePayoutGet serves GET /portal/payouts/{id}: a payout and the
// commissions it paid.
func (s *Server) handlePayoutGet(w http.ResponseWriter, r *http.Request) error {
	p, err := s.myPayout(r)
	if err != nil {
		return err
	}
	v := payoutView{PayoutDetail: p, More: p.Commissions > len(p.PaidCommissions)}
	n := s.names(r.Context())
	for _, c := range p.PaidCommissions {
		row, err := n.commissionRow(c)
		if err != nil {
			return err
		}
		v.Commissions = append(v.Commissions, row)
	}
	return s.render(w, r, http.StatusOK, "payout", v)
}

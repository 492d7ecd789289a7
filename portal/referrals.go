package portal

import (
	"net/http"

	"github.com/referrald/referrald/model"
)

// The people who signed up through an ambassador's posters, shown by
// first name and last initial only (personName): never their email,
// their full last name or anything else the referral holds.

type referralRow struct {
	ID        string
	CreatedAt model.Time
	Program   string
	Poster    *model.Placement
	Status    string
	Person    string
}

type referralListView struct {
	Referrals []referralRow
	Next      string
}

// referralRow is what a page shows of ref.
func (n *names) referralRow(ref *model.Referral) (referralRow, error) {
	row := referralRow{ID: ref.ID, CreatedAt: ref.CreatedAt, Status: referralStatus(ref.Status), Person: personName(ref)}
	var err error
	if row.Program, err = n.program(ref.ProgramID); err != nil {
		return row, err
	}
	row.Poster, err = n.placement(ref.PlacementID)
	return row, err
}

// handleReferralList serves GET /portal/referrals: the ambassador's
// referrals, newest first, a page at a time.
func (s *Server) handleReferralList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	opt, err := listOptions(r)
	if err != nil {
		return err
	}
	page, err := s.svc.Referrals.FindReferrals(ctx, model.ReferralFilter{AmbassadorID: ambOf(r).ID, ListOptions: opt})
	if err != nil {
		return err
	}
	v := referralListView{Next: nextLink("/portal/referrals", page)}
	n := s.names(ctx)
	for _, ref := range page.Data {
		row, err := n.referralRow(ref)
		if err != nil {
			return err
		}
		v.Referrals = append(v.Referrals, row)
	}
	return s.render(w, r, http.StatusOK, "referrals", v)
}

type referralView struct {
	referralRow
	// Purchases are the person's purchases, newest first: date and
	// amount, which their commissions are computed from.
	Purchases []*model.Earning
	More      bool
}

// handleReferralGet serves GET /portal/referrals/{id}: one referral and
// its purchases.
func (s *Server) handleReferralGet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ref, err := s.myReferral(r, id)
	if err != nil {
		return err
	}
	var v referralView
	if v.referralRow, err = s.names(ctx).referralRow(ref); err != nil {
		return err
	}
	earnings, err := s.svc.Earnings.FindEarnings(ctx, model.EarningFilter{ReferralID: ref.ID, AmbassadorID: ref.AmbassadorID,
		ListOptions: model.ListOptions{Limit: pageSize}})
	if err != nil {
		return err
	}
	v.Purchases, v.More = earnings.Data, earnings.HasMore
	return s.render(w, r, http.StatusOK, "referral", v)
}

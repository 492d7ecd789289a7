package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
)

// Money: commissions (the queue of those awaiting approval, those on
// hold, and all of them), one commission and how it was computed, and
// the changes a manager makes to commissions: approve one or many, hold
// and release. Earnings are in money_earnings.go, payouts and balances
// in money_payouts.go.

// handleMoney serves GET /console/money: the Money section starts at
// its commissions.
func (s *Server) handleMoney(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/console/money/commissions", http.StatusSeeOther)
	return nil
}

// Which commissions the commission page lists.
const (
	commissionsQueue = "queue"
	commissionsHeld  = "held"
	commissionsAll   = "all"
)

var commissionFilterFields = []*field{
	{Name: "view", Label: "Show"},
	{Name: "ambassador", Label: "Ambassador ID", Attrs: map[string]string{"maxlength": "40", "spellcheck": "false"}},
	{Name: "status", Label: "Status"},
	{Name: "payout", Label: "Payout ID", Attrs: map[string]string{"maxlength": "40", "spellcheck": "false"}},
}

// readCommissionFilter reads the filters of the list of all commissions.
func readCommissionFilter(f *form) model.CommissionFilter {
	var cf model.CommissionFilter
	cf.AmbassadorID = readFilterID(f, "ambassador", model.PrefixAmbassador)
	cf.PayoutID = readFilterID(f, "payout", model.PrefixPayout)
	switch st := model.CommissionStatus(f.Get("status")); st {
	case "":
	case model.CommissionPending, model.CommissionApproved, model.CommissionPaid:
		cf.Status = st
	default:
		f.AddError("status", "must be pending, approved or paid")
	}
	return cf
}

// commissionLine is one commission of a list, with the names it shows.
type commissionLine struct {
	*model.Commission
	AmbassadorName, ProgramName string
}

type commissionListView struct {
	Form *form
	// View is queue, held or all.
	View  string
	Lines []commissionLine
	listLinks
}

// Selectable reports whether the list offers approving its commissions
// together.
func (v commissionListView) Selectable() bool { return v.View != commissionsAll }

// handleCommissionList serves GET /console/money/commissions?view=&cursor=
// and, for the list of all, &ambassador=&status=&payout=. The queue lists
// the pending commissions whose hold period ends soonest first; held
// ones, those a manager put on hold, longest held first.
func (s *Server) handleCommissionList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f := newForm(commissionFilterFields...).read(r)
	v := commissionListView{Form: f, View: f.Get("view")}
	cursor := r.URL.Query().Get("cursor")
	q := listQuery(f, "view")
	var page model.Page[*model.Commission]
	var err error
	switch v.View {
	case commissionsAll:
		cf := readCommissionFilter(f)
		cf.ListOptions = model.ListOptions{Limit: listPageSize, Cursor: cursor}
		q = listQuery(f, "view", "ambassador", "status", "payout")
		v.Filtered = len(q) > 1
		exportQuery := listQuery(f, "ambassador", "status", "payout")
		v.Export = withQuery("/console/exports/commissions.csv", exportQuery)
		page, err = s.svc.Earnings.FindCommissions(ctx, cf)
		if model.ErrorCode(err) == model.EValidation && cursor != "" {
			cf.Cursor, cursor = "", ""
			page, err = s.svc.Earnings.FindCommissions(ctx, cf)
		}
	default:
		if v.View != commissionsHeld {
			v.View = commissionsQueue
		}
		q.Set("view", v.View)
		v.Export = "/console/exports/commissions.csv?status=pending"
		cq := model.CommissionQueueFilter{ListOptions: model.ListOptions{Limit: listPageSize, Cursor: cursor}, OnHold: v.View == commissionsHeld}
		page, err = s.svc.Earnings.FindCommissionQueue(ctx, cq)
		if model.ErrorCode(err) == model.EValidation && cursor != "" {
			cq.Cursor, cursor = "", ""
			page, err = s.svc.Earnings.FindCommissionQueue(ctx, cq)
		}
	}
	if err != nil {
		return err
	}
	if v.Lines, err = s.commissionLines(ctx, page.Data); err != nil {
		return err
	}
	v.paged("/console/money/commissions", q, cursor, len(page.Data), page.HasMore, page.NextCursor)
	status := http.StatusOK
	if f.HasErrors() {
		status = http.StatusUnprocessableEntity
	}
	return s.render(w, r, status, "commissions", v)
}

func (s *Server) commissionLines(ctx context.Context, cs []*model.Commission) ([]commissionLine, error) {
	names := s.newNameBook(ctx, nil)
	out := make([]commissionLine, 0, len(cs))
	for _, c := range cs {
		l := commissionLine{Commission: c}
		var err error
		if l.AmbassadorName, err = names.ambassador(c.AmbassadorID); err != nil {
			return nil, err
		}
		if l.ProgramName, err = names.program(c.ProgramID); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// maxApproveAtOnce bounds the commissions one approval form sends: a
// page of the queue.
const maxApproveAtOnce = model.MaxListLimit

// handleCommissionApproveMany serves POST /console/money/commissions/approve
// with the id of each commission ticked: each is approved on its own, as
// the API would, and the next page says which could not be and why.
func (s *Server) handleCommissionApproveMany(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "the form could not be read")
	}
	back := "/console/money/commissions"
	if view := r.PostForm.Get("view"); view == commissionsHeld {
		back += "?view=" + view
	}
	ids := r.PostForm["id"]
	switch {
	case len(ids) == 0:
		s.setFlash(w, r, flashInfo, "Nothing was approved: tick the commissions to approve first.")
		return s.redirect(w, r, back, "")
	case len(ids) > maxApproveAtOnce:
		return model.Errorf(model.EValidation, "at most %d commissions can be approved at once", maxApproveAtOnce)
	}
	approved := 0
	var failed []string
	for _, id := range ids {
		_, err := s.svc.Earnings.ApproveCommission(r.Context(), id)
		switch code := model.ErrorCode(err); {
		case err == nil:
			approved++
		case code == model.ENotFound:
			failed = append(failed, "There is no commission "+clipID(id)+".")
		case code == model.EConflict:
			failed = append(failed, conflictMessage(err))
		default:
			return err
		}
	}
	if len(failed) == 0 {
		return s.redirect(w, r, back, plural(approved, "commission", "commissions")+" approved.")
	}
	msg := fmt.Sprintf("%d of %d approved. Not approved: %s", approved, len(ids), strings.Join(firstN(failed, 5), " "))
	if len(failed) > 5 {
		msg += fmt.Sprintf(" And %d more.", len(failed)-5)
	}
	s.setFlash(w, r, flashInfo, msg)
	return s.redirect(w, r, back, "")
}

// plural says n things: "1 commission", "3 commissions".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// clipID bounds an ID a form sent before it is shown back.
func clipID(id string) string {
	if len(id) > 40 {
		return id[:40] + "…"
	}
	return id
}

func firstN(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

// commissionView is one commission's page.
type commissionView struct {
	Commission     *model.Commission
	AmbassadorName string
	Program        *model.Program
	Earning        *model.Earning
	// Related are the other commissions of its earning: the original a
	// clawback reverses, or an original's clawbacks.
	Related []*model.Commission
	Problem string
}

// CanApprove, CanHold and CanRelease say which changes the commission
// allows, as the model's rules do.
func (v commissionView) CanApprove() bool { return v.Commission.Status == model.CommissionPending }
func (v commissionView) CanHold() bool {
	return v.Commission.Status == model.CommissionPending && !v.Commission.OnHold && v.Commission.Kind != model.CommissionClawback
}
func (v commissionView) CanRelease() bool {
	return v.Commission.OnHold && v.Commission.Kind != model.CommissionClawback
}

// Source says who computed the commission.
func (v commissionView) Source() string {
	b := v.Commission.Basis
	if b.Source == "plugin" {
		s := "The commission hook plugin"
		if b.Plugin != nil {
			s += " " + *b.Plugin
			if b.PluginVersion != nil && *b.PluginVersion != "" {
				s += " (version " + *b.PluginVersion + ")"
			}
		}
		return s
	}
	return "The program’s commission rule"
}

// Rule says what the rule it applied paid, as the program page says it.
func (v commissionView) Rule() string {
	if v.Commission.Basis.Rule == nil {
		return ""
	}
	return describeCommission(v.Commission.Basis.Rule)
}

// AppliedTo is the amount the rule was applied to: the purchase, or for
// a clawback the amount refunded, in the earning's currency.
func (v commissionView) AppliedTo() string {
	cur := v.Commission.Currency
	if v.Earning != nil {
		cur = v.Earning.Currency
	}
	if v.Commission.Basis.EarningAmount == 0 && v.Commission.EarningID == nil {
		return ""
	}
	return formatMoney(v.Commission.Basis.EarningAmount, cur)
}

// Rounding says how fractions of a cent were rounded.
func (v commissionView) Rounding() string {
	if v.Commission.Basis.Rounding == model.RoundingHalfEven {
		return "To the nearest smallest unit of the currency, a half to the even one (banker’s rounding), so rounding favours nobody over many commissions."
	}
	return v.Commission.Basis.Rounding
}

// WorkedOut is the arithmetic of a percentage commission, in words:
// "12.5% of USD 19.99 is USD 2.50 (2.49875, rounded)".
func (v commissionView) WorkedOut() string {
	c := v.Commission
	rule := c.Basis.Rule
	if rule == nil || rule.Type != model.CommissionPercent || c.Kind != model.CommissionEarning {
		return ""
	}
	share := model.PercentOf(c.Basis.EarningAmount, rule.BasisPoints)
	s := formatPercentBP(rule.BasisPoints) + "% of " + formatMoney(c.Basis.EarningAmount, c.Currency) + " is " + formatMoney(share, c.Currency)
	if share != c.Amount {
		s += ", capped at " + formatMoney(c.Amount, c.Currency)
	}
	return s + "."
}

func (s *Server) commissionPage(ctx context.Context, id string) (commissionView, error) {
	c, err := s.svc.Earnings.FindCommissionByID(ctx, id)
	if err != nil {
		return commissionView{}, err
	}
	v := commissionView{Commission: c}
	if v.AmbassadorName, err = s.newNameBook(ctx, nil).ambassador(c.AmbassadorID); err != nil {
		return v, err
	}
	if v.Program, err = s.svc.Programs.FindProgramByID(ctx, c.ProgramID); err != nil && model.ErrorCode(err) != model.ENotFound {
		return v, err
	}
	if c.EarningID != nil {
		if v.Earning, err = s.svc.Earnings.FindEarningByID(ctx, *c.EarningID); err != nil && model.ErrorCode(err) != model.ENotFound {
			return v, err
		}
		others, err := s.svc.Earnings.FindCommissions(ctx, model.CommissionFilter{EarningID: *c.EarningID, ListOptions: model.ListOptions{Limit: model.MaxListLimit}})
		if err != nil {
			return v, err
		}
		for _, o := range others.Data {
			if o.ID != c.ID {
				v.Related = append(v.Related, o)
			}
		}
	}
	return v, nil
}

// handleCommissionGet serves GET /console/money/commissions/{id}.
func (s *Server) handleCommissionGet(w http.ResponseWriter, r *http.Request) error {
	v, err := s.commissionPage(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "commission", v)
}

// handleCommissionApprove serves POST /console/money/commissions/{id}/approve.
func (s *Server) handleCommissionApprove(w http.ResponseWriter, r *http.Request) error {
	c, err := s.svc.Earnings.ApproveCommission(r.Context(), r.PathValue("id"))
	msg := "Commission approved. The next payout to its ambassador pays it."
	return s.commissionChanged(w, r, c, err, msg)
}

// handleCommissionHold serves POST /console/money/commissions/{id}/hold.
func (s *Server) handleCommissionHold(w http.ResponseWriter, r *http.Request) error {
	c, err := s.svc.Earnings.HoldCommission(r.Context(), r.PathValue("id"))
	return s.commissionChanged(w, r, c, err, "Commission on hold. It stays pending until you release or approve it.")
}

// handleCommissionRelease serves POST /console/money/commissions/{id}/release.
func (s *Server) handleCommissionRelease(w http.ResponseWriter, r *http.Request) error {
	c, err := s.svc.Earnings.ReleaseCommission(r.Context(), r.PathValue("id"))
	msg := "Commission released. Its hold period is over, so it is approved."
	if err == nil && c.Status == model.CommissionPending {
		msg = "Commission released. It is approved when its hold period ends, " + formatDate(c.ApprovableAt) + "."
	}
	return s.commissionChanged(w, r, c, err, msg)
}

// commissionChanged answers a change to commission c: its page with the
// flash msg, or, when the commission no longer allows the change (it was
// paid meanwhile), its page again with why.
func (s *Server) commissionChanged(w http.ResponseWriter, r *http.Request, c *model.Commission, err error, msg string) error {
	if model.ErrorCode(err) == model.EConflict {
		v, perr := s.commissionPage(r.Context(), r.PathValue("id"))
		if perr != nil {
			return perr
		}
		v.Problem = conflictMessage(err)
		return s.render(w, r, http.StatusConflict, "commission", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/money/commissions/"+c.ID, msg)
}

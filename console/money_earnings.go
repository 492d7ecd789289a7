package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
)

// Earnings: the list, one earning's page with its commissions and
// refunds, and the refund form.

var earningFilterFields = []*field{
	{Name: "program", Label: "Program"},
	{Name: "status", Label: "Status"},
	{Name: "from", Label: "From", Type: "date"},
	{Name: "to", Label: "To", Type: "date"},
	{Name: "ambassador", Label: "Ambassador ID", Attrs: map[string]string{"maxlength": "40", "spellcheck": "false"}},
	{Name: "referral", Label: "Referral ID", Attrs: map[string]string{"maxlength": "40", "spellcheck": "false"}},
}

var earningListNames = []string{"program", "status", "from", "to", "ambassador", "referral"}

// readEarningFilter reads the earning list's filters from f.
func readEarningFilter(f *form) model.EarningFilter {
	var ef model.EarningFilter
	ef.ProgramID = readFilterID(f, "program", model.PrefixProgram)
	ef.AmbassadorID = readFilterID(f, "ambassador", model.PrefixAmbassador)
	ef.ReferralID = readFilterID(f, "referral", model.PrefixReferral)
	switch st := model.EarningStatus(f.Get("status")); {
	case st == "":
	case st.Valid():
		ef.Status = st
	default:
		f.AddError("status", "must be recorded, partially refunded or refunded")
	}
	ef.From, ef.To = readFilterDays(f, "from", "to")
	return ef
}

// earningLine is one earning of the list, with the names it shows.
type earningLine struct {
	*model.Earning
	AmbassadorName, ProgramName string
}

type earningListView struct {
	Form     *form
	Programs []*model.Program
	Lines    []earningLine
	listLinks
}

// handleEarningList serves GET /console/money/earnings?program=&status=
// &from=&to=&ambassador=&referral=&cursor=, newest first.
func (s *Server) handleEarningList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f := newForm(earningFilterFields...).read(r)
	v := earningListView{Form: f}
	var err error
	if v.Programs, err = s.programChoices(ctx); err != nil {
		return err
	}
	ef := readEarningFilter(f)
	cursor := r.URL.Query().Get("cursor")
	ef.ListOptions = model.ListOptions{Limit: listPageSize, Cursor: cursor}
	page, err := s.svc.Earnings.FindEarnings(ctx, ef)
	if model.ErrorCode(err) == model.EValidation && cursor != "" {
		ef.Cursor, cursor = "", ""
		page, err = s.svc.Earnings.FindEarnings(ctx, ef)
	}
	if err != nil {
		return err
	}
	names := s.newNameBook(ctx, v.Programs)
	for _, e := range page.Data {
		l := earningLine{Earning: e}
		if l.AmbassadorName, err = names.ambassador(e.AmbassadorID); err != nil {
			return err
		}
		if l.ProgramName, err = names.program(e.ProgramID); err != nil {
			return err
		}
		v.Lines = append(v.Lines, l)
	}
	q := listQuery(f, earningListNames...)
	v.Filtered = len(q) > 0
	v.Export = withQuery("/console/exports/earnings.csv", q)
	v.paged("/console/money/earnings", q, cursor, len(page.Data), page.HasMore, page.NextCursor)
	status := http.StatusOK
	if f.HasErrors() {
		status = http.StatusUnprocessableEntity
	}
	return s.render(w, r, status, "earnings", v)
}

// The refund form. The amount is typed in the currency's usual unit; an
// empty one refunds all that is left.
var refundFields = []*field{
	{Name: "amount", Label: "Amount to refund", Hint: "Leave it empty to refund all that is left.",
		Attrs:    map[string]string{"inputmode": "decimal", "autocomplete": "off"},
		Messages: map[string]string{model.FInvalidValue: "must not be more than what is left of the earning"}},
	{Name: "reason", Label: "Reason", Hint: "Optional, for the audit log: a returned order, a chargeback.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "idempotency_key", Label: "Form"},
}

// refundLine is one refund of an earning, as the audit log recorded it.
type refundLine struct {
	At      model.Time
	By      string
	Summary string
}

type earningView struct {
	Earning        *model.Earning
	Referral       *model.Referral
	Person         string
	AmbassadorName string
	Program        *model.Program
	Commissions    []*model.Commission
	Refunds        []refundLine
	Form           *form
}

// Left is what is left of the earning to refund.
func (v earningView) Left() int64 { return v.Earning.Amount - v.Earning.RefundedAmount }

func (s *Server) earningPage(ctx context.Context, id string) (earningView, error) {
	e, err := s.svc.Earnings.FindEarningByID(ctx, id)
	if err != nil {
		return earningView{}, err
	}
	v := earningView{Earning: e}
	if v.Referral, err = s.svc.Referrals.FindReferralByID(ctx, e.ReferralID); err == nil {
		v.Person = personName(v.Referral)
	} else if model.ErrorCode(err) != model.ENotFound {
		return v, err
	}
	if v.AmbassadorName, err = s.newNameBook(ctx, nil).ambassador(e.AmbassadorID); err != nil {
		return v, err
	}
	if v.Program, err = s.svc.Programs.FindProgramByID(ctx, e.ProgramID); err != nil && model.ErrorCode(err) != model.ENotFound {
		return v, err
	}
	cs, err := s.svc.Earnings.FindCommissions(ctx, model.CommissionFilter{EarningID: e.ID, ListOptions: model.ListOptions{Limit: model.MaxListLimit}})
	if err != nil {
		return v, err
	}
	v.Commissions = cs.Data
	if s.svc.Audit != nil && e.RefundedAmount > 0 {
		// Refunds are told apart only in the audit log: the earning
		// keeps their sum. One made through a key whose writes are not
		// audited is in the sum alone.
		log, err := s.svc.Audit.FindAudit(ctx, model.AuditFilter{Subject: e.ID, Action: "earning.refunded", ListOptions: model.ListOptions{Limit: model.MaxListLimit}})
		if err != nil {
			return v, err
		}
		for _, a := range log.Data {
			v.Refunds = append(v.Refunds, refundLine{At: a.CreatedAt, By: a.Actor.Label, Summary: a.Summary})
		}
	}
	return v, nil
}

// handleEarningGet serves GET /console/money/earnings/{id}.
func (s *Server) handleEarningGet(w http.ResponseWriter, r *http.Request) error {
	v, err := s.earningPage(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Form = newForm(refundFields...)
	v.Form.Set("idempotency_key", newFormKey())
	return s.render(w, r, http.StatusOK, "earning", v)
}

// handleEarningRefund serves POST /console/money/earnings/{id}/refund:
// the earning's page again with the form's problems, or with a flash
// once refunded. The form's key makes a second click refund once.
func (s *Server) handleEarningRefund(w http.ResponseWriter, r *http.Request) error {
	v, err := s.earningPage(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := newForm(refundFields...).read(r)
	v.Form = f
	in := model.EarningRefund{Reason: f.Get("reason")}
	cur := v.Earning.Currency
	if amount := strings.TrimSpace(f.Get("amount")); amount != "" {
		n, ok := parseAmount(amount, cur)
		switch {
		case !ok || n == 0:
			f.AddError("amount", "must be an amount such as "+exampleAmount(cur)+", or empty for all that is left")
		case n > v.Left():
			f.AddError("amount", "must be at most "+formatMoney(v.Left(), cur)+", what is left of the earning")
		}
		in.Amount = n
	}
	f.fromError(in.Validate().Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "earning", v)
	}
	idem := formIdempotency(r, "POST /console/money/earnings/"+v.Earning.ID+"/refund", f.Get("idempotency_key"), in)
	e, _, err := s.svc.Earnings.RefundEarning(r.Context(), v.Earning.ID, in, idem)
	if model.ErrorCode(err) == model.EIdempotencyKeyReused {
		f.Set("idempotency_key", newFormKey())
		f.Fail("This form was already sent with other values, which made a refund. Check the earning above and send it again to refund more.")
		return s.renderForm(w, r, "earning", v)
	}
	if f.fromError(err) {
		return s.renderForm(w, r, "earning", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/money/earnings/"+e.ID, "Refund recorded: "+formatMoney(e.RefundedAmount, cur)+
		" refunded in all. The matching share of its commission is clawed back.")
}

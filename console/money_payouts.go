package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
)

// Payouts and balances: the list of payouts, one payout with the
// commissions it paid, recording a payout (which marks an ambassador's
// approved commissions paid: the money itself moves outside referrald),
// and what each ambassador is owed.

var payoutFilterFields = []*field{
	{Name: "ambassador", Label: "Ambassador ID", Attrs: map[string]string{"maxlength": "40", "spellcheck": "false"}},
	{Name: "currency", Label: "Currency", Attrs: map[string]string{"maxlength": "3", "size": "4", "autocapitalize": "characters"}},
	{Name: "from", Label: "From", Type: "date"},
	{Name: "to", Label: "To", Type: "date"},
}

var payoutListNames = []string{"ambassador", "currency", "from", "to"}

// readPayoutFilter reads the payout list's filters from f.
func readPayoutFilter(f *form) model.PayoutFilter {
	var pf model.PayoutFilter
	pf.AmbassadorID = readFilterID(f, "ambassador", model.PrefixAmbassador)
	cur := strings.ToUpper(strings.TrimSpace(f.Get("currency")))
	f.Set("currency", cur)
	if cur != "" && !model.ValidCurrency(cur) {
		f.AddError("currency", "must be a currency’s three-letter code, such as USD or EUR")
	} else {
		pf.Currency = cur
	}
	pf.From, pf.To = readFilterDays(f, "from", "to")
	return pf
}

// payoutLine is one payout of the list, with its ambassador's name.
type payoutLine struct {
	*model.Payout
	AmbassadorName string
}

type payoutListView struct {
	Form  *form
	Lines []payoutLine
	listLinks
}

// handlePayoutList serves GET /console/money/payouts?ambassador=&currency=
// &from=&to=&cursor=, newest first.
func (s *Server) handlePayoutList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f := newForm(payoutFilterFields...).read(r)
	v := payoutListView{Form: f}
	pf := readPayoutFilter(f)
	cursor := r.URL.Query().Get("cursor")
	pf.ListOptions = model.ListOptions{Limit: listPageSize, Cursor: cursor}
	page, err := s.svc.Earnings.FindPayouts(ctx, pf)
	if model.ErrorCode(err) == model.EValidation && cursor != "" {
		pf.Cursor, cursor = "", ""
		page, err = s.svc.Earnings.FindPayouts(ctx, pf)
	}
	if err != nil {
		return err
	}
	names := s.newNameBook(ctx, nil)
	for _, p := range page.Data {
		l := payoutLine{Payout: p}
		if l.AmbassadorName, err = names.ambassador(p.AmbassadorID); err != nil {
			return err
		}
		v.Lines = append(v.Lines, l)
	}
	q := listQuery(f, payoutListNames...)
	v.Filtered = len(q) > 0
	v.Export = withQuery("/console/exports/payouts.csv", q)
	v.paged("/console/money/payouts", q, cursor, len(page.Data), page.HasMore, page.NextCursor)
	status := http.StatusOK
	if f.HasErrors() {
		status = http.StatusUnprocessableEntity
	}
	return s.render(w, r, status, "payouts", v)
}

type payoutView struct {
	Payout         *model.PayoutDetail
	AmbassadorName string
	// More says the payout paid more commissions than the page shows.
	More bool
}

// handlePayoutGet serves GET /console/money/payouts/{id}.
func (s *Server) handlePayoutGet(w http.ResponseWriter, r *http.Request) error {
	p, err := s.svc.Earnings.FindPayoutByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := payoutView{Payout: p, More: p.Commissions > len(p.PaidCommissions)}
	if v.AmbassadorName, err = s.newNameBook(r.Context(), nil).ambassador(p.AmbassadorID); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "payout", v)
}

// The payout form, named after model.PayoutCreate's fields.
var payoutFields = []*field{
	{Name: "ambassador_id", Label: "Ambassador ID", Required: true, Hint: "Such as amb_01…; the balances page links here with it filled in.",
		Attrs:    map[string]string{"maxlength": "40", "spellcheck": "false"},
		Messages: map[string]string{model.FNotFound: "is not an ambassador’s ID: copy it from their page, or pay from the balances page"}},
	{Name: "currency", Label: "Currency", Required: true, Hint: "Its three-letter code: the payout pays what is approved in it.",
		Attrs:    map[string]string{"maxlength": "3", "size": "4", "autocapitalize": "characters"},
		Messages: map[string]string{model.FInvalidValue: "must be a currency’s three-letter code, such as USD or EUR"}},
	{Name: "external_reference", Label: "Reference", Required: true,
		Hint:  "How you paid, so it can be found again: a bank transfer’s reference, a PayPal transaction ID.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "idempotency_key", Label: "Form"},
}

type payoutFormView struct {
	Form *form
	// Ambassador and Balances are the ambassador the form names, when it
	// names one, and what they are owed.
	Ambassador *model.Ambassador
	Balances   []model.Balance
}

// Due is what the payout would pay in the form's currency, or "".
func (v payoutFormView) Due() string {
	for _, b := range v.Balances {
		if b.Currency == v.Form.Get("currency") && b.Approved > 0 {
			return formatMoney(b.Approved, b.Currency)
		}
	}
	return ""
}

// payoutFormContext finds the ambassador the form names and their
// balances, to show what the payout would pay; a wrong ID is the form's
// to report.
func (s *Server) payoutFormContext(ctx context.Context, v *payoutFormView) error {
	k, ok := model.ParseID(model.PrefixAmbassador, strings.TrimSpace(v.Form.Get("ambassador_id")))
	if !ok {
		return nil
	}
	id := model.FormatID(model.PrefixAmbassador, k)
	a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, id)
	if model.ErrorCode(err) == model.ENotFound {
		return nil
	} else if err != nil {
		return err
	}
	v.Ambassador = a
	v.Balances, err = s.svc.Earnings.AmbassadorBalance(ctx, id)
	return err
}

// handlePayoutNew serves GET /console/money/payouts/new?ambassador_id=
// &currency=.
func (s *Server) handlePayoutNew(w http.ResponseWriter, r *http.Request) error {
	f := newForm(payoutFields...).read(r)
	f.Set("idempotency_key", newFormKey())
	v := payoutFormView{Form: f}
	if err := s.payoutFormContext(r.Context(), &v); err != nil {
		return err
	}
	if f.Get("currency") == "" {
		for _, b := range v.Balances {
			if b.Approved > 0 {
				f.Set("currency", b.Currency)
				break
			}
		}
	}
	return s.render(w, r, http.StatusOK, "payout_form", v)
}

// handlePayoutCreate serves POST /console/money/payouts/new: every
// approved commission of the ambassador in the currency is marked paid,
// with the reference. The form's key makes a second click record one
// payout.
func (s *Server) handlePayoutCreate(w http.ResponseWriter, r *http.Request) error {
	f := newForm(payoutFields...).read(r)
	v := payoutFormView{Form: f}
	in := model.PayoutCreate{AmbassadorID: strings.TrimSpace(f.Get("ambassador_id")),
		Currency: strings.ToUpper(strings.TrimSpace(f.Get("currency"))), ExternalReference: f.Get("external_reference")}
	f.Set("currency", in.Currency)
	f.fromError(in.Validate().Err())
	if f.HasErrors() {
		if err := s.payoutFormContext(r.Context(), &v); err != nil {
			return err
		}
		return s.renderForm(w, r, "payout_form", v)
	}
	idem := formIdempotency(r, "POST /console/money/payouts/new", f.Get("idempotency_key"), in)
	p, _, err := s.svc.Earnings.CreatePayout(r.Context(), in, idem)
	if model.ErrorCode(err) == model.EIdempotencyKeyReused {
		f.Set("idempotency_key", newFormKey())
		f.Fail("This form was already sent with other values, which recorded a payout. Check the values and send it again to record another.")
	} else if !f.fromError(err) && err != nil {
		return err
	}
	if f.HasErrors() {
		if err := s.payoutFormContext(r.Context(), &v); err != nil {
			return err
		}
		return s.renderForm(w, r, "payout_form", v)
	}
	return s.redirect(w, r, "/console/money/payouts/"+p.ID, "Payout recorded: "+formatMoney(p.Amount, p.Currency)+" for "+
		plural(p.Commissions, "commission", "commissions")+", now marked paid.")
}

// balanceLine is one ambassador's balance in one currency, or the
// ambassador alone when they have none; Span is how many lines the
// ambassador's name spans, on their first line, and 0 on the others.
type balanceLine struct {
	Ambassador *model.Ambassador
	Balance    *model.Balance
	Span       int
}

// PayURL is the payout form for the line's ambassador and currency.
func (l balanceLine) PayURL() string {
	q := url.Values{"ambassador_id": {l.Ambassador.ID}}
	if l.Balance != nil {
		q.Set("currency", l.Balance.Currency)
	}
	return "/console/money/payouts/new?" + q.Encode()
}

type balanceListView struct {
	Lines       []balanceLine
	First, Next string
}

// balancePageSize is how many ambassadors the balances page sums a
// page: each sum reads all of one ambassador's commissions.
const balancePageSize = 25

// handleBalanceList serves GET /console/money/balances?cursor=: what each
// ambassador is owed, by currency, newest ambassador first.
func (s *Server) handleBalanceList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cursor := r.URL.Query().Get("cursor")
	af := model.AmbassadorFilter{ListOptions: model.ListOptions{Limit: balancePageSize, Cursor: cursor}}
	page, err := s.svc.Ambassadors.FindAmbassadors(ctx, af)
	if model.ErrorCode(err) == model.EValidation && cursor != "" {
		af.Cursor, cursor = "", ""
		page, err = s.svc.Ambassadors.FindAmbassadors(ctx, af)
	}
	if err != nil {
		return err
	}
	var v balanceListView
	for _, a := range page.Data {
		b, err := s.svc.Earnings.AmbassadorBalance(ctx, a.ID)
		if err != nil && model.ErrorCode(err) != model.ENotFound {
			return err
		}
		if len(b) == 0 {
			v.Lines = append(v.Lines, balanceLine{Ambassador: a, Span: 1})
		}
		for i := range b {
			l := balanceLine{Ambassador: a, Balance: &b[i]}
			if i == 0 {
				l.Span = len(b)
			}
			v.Lines = append(v.Lines, l)
		}
	}
	if cursor != "" {
		v.First = "/console/money/balances"
	}
	if page.HasMore && page.NextCursor != nil {
		v.Next = "/console/money/balances?cursor=" + *page.NextCursor
	}
	return s.render(w, r, http.StatusOK, "balances", v)
}

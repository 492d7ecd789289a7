package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
)

// Programs: the list, one program's page, the form that creates or
// edits one, and archiving. The form's inputs are named after the
// model's fields, so a field error of model.ProgramCreate's Validate, or
// of the store, lands next to its input.

// The program form. A commission is entered as people think of it (5.00
// USD, 12.5 %) and turned into the model's minor units and basis points.
var programFields = []*field{
	{Name: "name", Label: "Name", Required: true, Hint: "What you and the ambassadors call it, such as Spring 2027 campus launch.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "landing_url", Label: "Landing page URL", Type: "url",
		Hint: "Where a poster's QR code sends people: your signup page, starting with https://. " +
			"Leave empty to use the hosted signup page."},
	{Name: "commission.type", Label: "Commission", Model: []string{"commission"}},
	{Name: "commission.currency", Label: "Currency", Hint: "Its three-letter code, such as USD or EUR.",
		Attrs:    map[string]string{"maxlength": "3", "autocapitalize": "characters", "size": "4"},
		Messages: map[string]string{model.FInvalidValue: "must be a currency’s three-letter code, such as USD or EUR"}},
	{Name: "commission.amount", Label: "Amount per purchase", Hint: "In the currency's usual unit, such as 5.00.",
		Attrs: map[string]string{"inputmode": "decimal"}},
	{Name: "commission.percent", Label: "Share of each purchase, in percent", Hint: "Such as 10 or 12.5.",
		Model: []string{"commission.basis_points"}, Attrs: map[string]string{"inputmode": "decimal"},
		Messages: map[string]string{model.FInvalidValue: "must be from 0 to 100, with at most two decimals"}},
	{Name: "commission.caps", Label: "Most one purchase pays", Hint: "Optional, per currency, such as USD 20.00, EUR 15. " +
		"With caps, a purchase in a currency they do not list is refused.", Model: []string{"commission.caps.", "commission.cap"},
		Messages: map[string]string{model.FInvalidValue: "must list a currency and an amount for each cap, such as USD 20.00, EUR 15"}},
	{Name: "hold_days", Label: "Hold, in days", Type: "number", Required: true,
		Hint:  "How long a new commission waits before it can be paid, so that refunds come first: 0 to 365.",
		Attrs: map[string]string{"min": "0", "max": strconv.Itoa(model.MaxHoldDays), "inputmode": "numeric"}},
	{Name: "fraud_policy", Label: "When a signup looks like fraud"},
	{Name: "idempotency_key", Label: "Form"},
}

// Commission types as the form names them.
const commissionNone = "none"

type programListView struct {
	Status   string
	Programs []*model.Program
	Next     string
}

// handleProgramList serves GET /console/programs?status=&cursor=: active
// programs unless archived or all are asked for.
func (s *Server) handleProgramList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := programListView{Status: q.Get("status")}
	f := model.ProgramFilter{ListOptions: model.ListOptions{Limit: 50, Cursor: q.Get("cursor")}}
	switch v.Status {
	case "archived":
		f.Status = model.ProgramArchived
	case "all":
	default:
		v.Status, f.Status = "active", model.ProgramActive
	}
	page, err := s.svc.Programs.FindPrograms(r.Context(), f)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		f.Cursor = ""
		page, err = s.svc.Programs.FindPrograms(r.Context(), f)
	}
	if err != nil {
		return err
	}
	v.Programs = page.Data
	if page.HasMore && page.NextCursor != nil {
		v.Next = "/console/programs?status=" + v.Status + "&cursor=" + *page.NextCursor
	}
	return s.render(w, r, http.StatusOK, "programs", v)
}

type programView struct {
	Program *model.Program
}

// handleProgramGet serves GET /console/programs/{id}.
func (s *Server) handleProgramGet(w http.ResponseWriter, r *http.Request) error {
	p, err := s.svc.Programs.FindProgramByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "program", programView{Program: p})
}

type programFormView struct {
	Form *form
	// Program is the program edited; nil on the new program form.
	Program *model.Program
}

// handleProgramNew serves GET /console/programs/new.
func (s *Server) handleProgramNew(w http.ResponseWriter, r *http.Request) error {
	f := newForm(programFields...)
	f.Set("commission.type", commissionNone)
	f.Set("hold_days", strconv.Itoa(model.DefaultHoldDays))
	f.Set("fraud_policy", model.FraudFlag)
	f.Set("idempotency_key", newFormKey())
	return s.render(w, r, http.StatusOK, "program_form", programFormView{Form: f})
}

// handleProgramCreate serves POST /console/programs/new.
func (s *Server) handleProgramCreate(w http.ResponseWriter, r *http.Request) error {
	f := newForm(programFields...).read(r)
	v := programFormView{Form: f}
	in := model.ProgramCreate{Name: f.Get("name"), LandingURL: f.Get("landing_url"), FraudPolicy: f.Get("fraud_policy")}
	in.Commission = readCommission(f)
	in.HoldDays = readHoldDays(f)
	f.fromError(in.Validate().Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "program_form", v)
	}
	// The form's key makes a second click of the button, or a reload of
	// the answer, show the program the first one made.
	idem := formIdempotency(r, "POST /console/programs/new", f.Get("idempotency_key"), in)
	p, _, err := s.svc.Programs.CreateProgram(r.Context(), in, idem)
	if model.ErrorCode(err) == model.EIdempotencyKeyReused {
		f.Set("idempotency_key", newFormKey())
		f.Fail("This form was already sent with other values, which made a program. Check the values and send it again to make another.")
		return s.renderForm(w, r, "program_form", v)
	}
	if f.fromError(err) {
		return s.renderForm(w, r, "program_form", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/programs/"+p.ID, "Program created. Add ambassadors and print their posters next.")
}

// handleProgramEdit serves GET /console/programs/{id}/edit.
func (s *Server) handleProgramEdit(w http.ResponseWriter, r *http.Request) error {
	p, err := s.svc.Programs.FindProgramByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := newForm(programFields...)
	f.Set("name", p.Name)
	f.Set("landing_url", p.LandingURL)
	writeCommission(f, p.Commission)
	f.Set("hold_days", strconv.Itoa(p.HoldDays))
	f.Set("fraud_policy", p.FraudPolicy)
	return s.render(w, r, http.StatusOK, "program_form", programFormView{Form: f, Program: p})
}

// handleProgramUpdate serves POST /console/programs/{id}/edit. Only what
// the form changed is sent, so the audit log says what changed.
func (s *Server) handleProgramUpdate(w http.ResponseWriter, r *http.Request) error {
	p, err := s.svc.Programs.FindProgramByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := newForm(programFields...).read(r)
	v := programFormView{Form: f, Program: p}
	name, landing, policy := f.Get("name"), f.Get("landing_url"), f.Get("fraud_policy")
	u := model.ProgramUpdate{Name: &name, LandingURL: &landing, FraudPolicy: &policy,
		Commission: readCommission(f), CommissionSet: true, HoldDays: readHoldDays(f)}
	if u.HoldDays == nil {
		f.AddError("hold_days", "is required")
	}
	f.fromError(u.Validate().Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "program_form", v)
	}
	if *u.Name == p.Name {
		u.Name = nil
	}
	if *u.LandingURL == p.LandingURL {
		u.LandingURL = nil
	}
	if *u.FraudPolicy == p.FraudPolicy {
		u.FraudPolicy = nil
	}
	if *u.HoldDays == p.HoldDays {
		u.HoldDays = nil
	}
	if reflect.DeepEqual(u.Commission, p.Commission) {
		u.Commission, u.CommissionSet = nil, false
	}
	if reflect.DeepEqual(u, model.ProgramUpdate{}) {
		s.setFlash(w, r, flashInfo, "Nothing to save: the program was already like that.")
		return s.redirect(w, r, "/console/programs/"+p.ID, "")
	}
	_, err = s.svc.Programs.UpdateProgram(r.Context(), p.ID, u)
	if f.fromError(err) {
		return s.renderForm(w, r, "program_form", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/programs/"+p.ID, "Changes saved.")
}

// handleProgramArchive serves POST /console/programs/{id}/archive.
func (s *Server) handleProgramArchive(w http.ResponseWriter, r *http.Request) error {
	p, err := s.setProgramStatus(r.Context(), r.PathValue("id"), model.ProgramArchived)
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/programs/"+p.ID, p.Name+" is archived. It takes no new posters and is left out of the program list; "+
		"its posters, referrals and money carry on.")
}

// handleProgramRestore serves POST /console/programs/{id}/restore.
func (s *Server) handleProgramRestore(w http.ResponseWriter, r *http.Request) error {
	p, err := s.setProgramStatus(r.Context(), r.PathValue("id"), model.ProgramActive)
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/programs/"+p.ID, p.Name+" is active again.")
}

func (s *Server) setProgramStatus(ctx context.Context, id string, status model.ProgramStatus) (*model.Program, error) {
	u := model.ProgramUpdate{Status: &status}
	if err := u.Validate().Err(); err != nil {
		return nil, err
	}
	return s.svc.Programs.UpdateProgram(ctx, id, u)
}

// renderForm shows a form again with its problems: 422, the user's
// values kept.
func (s *Server) renderForm(w http.ResponseWriter, r *http.Request, name string, data any) error {
	return s.render(w, r, http.StatusUnprocessableEntity, name, data)
}

// readCommission reads the commission inputs into a rule, or nil for
// none. What cannot be read as a number is recorded on the form; the
// rule's own checks are the model's.
func readCommission(f *form) *model.CommissionRule {
	switch f.Get("commission.type") {
	case "", commissionNone:
		return nil
	case model.CommissionFlat:
		cur := strings.ToUpper(strings.TrimSpace(f.Get("commission.currency")))
		f.Set("commission.currency", cur)
		c := &model.CommissionRule{Type: model.CommissionFlat, Currency: cur}
		switch amount := strings.TrimSpace(f.Get("commission.amount")); {
		case amount == "":
			f.AddError("commission.amount", "is required")
		default:
			n, ok := parseAmount(amount, cur)
			if !ok {
				f.AddError("commission.amount", "must be an amount such as "+exampleAmount(cur))
			}
			c.Amount = n
		}
		return c
	case model.CommissionPercent:
		c := &model.CommissionRule{Type: model.CommissionPercent}
		switch pct := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f.Get("commission.percent")), "%")); {
		case pct == "":
			f.AddError("commission.percent", "is required")
		default:
			bp, ok := parseDecimal(pct, 2)
			if !ok {
				f.AddError("commission.percent", "must be a number such as 10 or 12.5")
			}
			c.BasisPoints = bp
		}
		c.Caps = readCaps(f)
		return c
	}
	f.AddError("commission.type", "must be none, a flat amount or a percentage")
	return nil
}

// readCaps reads "USD 20.00, EUR 15" into caps per currency; empty is no
// caps.
func readCaps(f *form) map[string]int64 {
	text := strings.TrimSpace(f.Get("commission.caps"))
	if text == "" {
		return nil
	}
	caps := map[string]int64{}
	bad := func() map[string]int64 {
		f.AddError("commission.caps", "must list a currency and an amount for each cap, such as USD 20.00, EUR 15")
		return caps
	}
	for part := range strings.SplitSeq(strings.ReplaceAll(text, "\n", ","), ",") {
		words := strings.Fields(part)
		if len(words) == 0 {
			continue
		}
		if len(words) != 2 {
			return bad()
		}
		cur := strings.ToUpper(words[0])
		n, ok := parseDecimal(words[1], model.CurrencyDigits(cur))
		if !ok {
			return bad()
		}
		if _, twice := caps[cur]; twice {
			f.AddError("commission.caps", "names "+cur+" twice")
			return caps
		}
		caps[cur] = n
	}
	return caps
}

// writeCommission fills the commission inputs from rule.
func writeCommission(f *form, rule *model.CommissionRule) {
	if rule == nil {
		f.Set("commission.type", commissionNone)
		return
	}
	f.Set("commission.type", rule.Type)
	switch rule.Type {
	case model.CommissionFlat:
		f.Set("commission.amount", model.FormatAmount(rule.Amount, rule.Currency, false))
		f.Set("commission.currency", rule.Currency)
	case model.CommissionPercent:
		f.Set("commission.percent", formatPercentBP(rule.BasisPoints))
		f.Set("commission.caps", formatCaps(rule.Caps, false))
	}
}

// formatCaps lists caps by currency: "EUR 15.00, USD 20.00".
func formatCaps(caps map[string]int64, grouped bool) string {
	var parts []string
	for cur, n := range caps {
		parts = append(parts, cur+" "+model.FormatAmount(n, cur, grouped))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// readHoldDays reads the hold; nil when empty (the default on a create).
func readHoldDays(f *form) *int {
	s := strings.TrimSpace(f.Get("hold_days"))
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f.AddError("hold_days", "must be a whole number of days")
		return nil
	}
	return &n
}

// describeCommission says what a rule pays, in words.
func describeCommission(rule *model.CommissionRule) string {
	if rule == nil {
		return "None"
	}
	if rule.Type == model.CommissionFlat {
		return formatMoney(rule.Amount, rule.Currency) + " per purchase"
	}
	s := formatPercentBP(rule.BasisPoints) + "% of each purchase"
	if len(rule.Caps) > 0 {
		s += ", at most " + formatCaps(rule.Caps, true)
	}
	return s
}

// exampleAmount is five of cur's major unit, as an input takes it:
// "5.00", or "5" for a currency without decimals.
func exampleAmount(cur string) string {
	if d := model.CurrencyDigits(cur); d > 0 {
		return "5." + strings.Repeat("0", d)
	}
	return "5"
}

// newFormKey is a fresh idempotency key for a form that creates.
func newFormKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "console-" + hex.EncodeToString(b)
}

// formIdempotency is the idempotency of a create from a form: the form's
// key, scoped to the user, with the request's parameters as fingerprint.
// A form without a key (an old page) creates without one.
func formIdempotency(r *http.Request, route, key string, in any) model.Idempotency {
	if !model.ValidIdempotencyKey(key) {
		return model.Idempotency{}
	}
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(append([]byte(route+"\n"), b...))
	return model.Idempotency{Scope: "console:" + userOf(r).ID, Key: key, Fingerprint: sum}
}

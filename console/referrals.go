package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/referrald/referrald/model"
)

// Referrals: the list with its filters, one referral's page with what it
// came from and what it earned, and the changes a manager makes to one:
// reject or convert it, or erase the person's data.

// listPageSize is how many rows a list of the console shows a page.
const listPageSize = 50

// The referral list's filters, as the query string names them. The
// export of the list reads the same ones.
var referralFilterFields = []*field{
	{Name: "program", Label: "Program"},
	{Name: "status", Label: "Status"},
	{Name: "email", Label: "Email", Type: "email", Hint: "The whole address; case does not matter.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxEmailLen), "autocomplete": "off"}},
	{Name: "ambassador", Label: "Ambassador ID", Hint: "Such as amb_01…; an ambassador’s page links here.",
		Attrs: map[string]string{"maxlength": "40", "spellcheck": "false"}},
	{Name: "placement", Label: "Poster ID", Hint: "A placement, such as plc_01….",
		Attrs: map[string]string{"maxlength": "40", "spellcheck": "false"}},
	{Name: "from", Label: "Signed up from", Type: "date"},
	{Name: "to", Label: "Signed up to", Type: "date"},
	{Name: "flagged", Label: "Only flagged"},
}

// readReferralFilter reads the referral filters of f. A value that is
// not right is recorded on the form and left out of the filter, so the
// list still shows, with the problem next to its input.
func readReferralFilter(f *form) model.ReferralFilter {
	var rf model.ReferralFilter
	rf.ProgramID = readFilterID(f, "program", model.PrefixProgram)
	rf.AmbassadorID = readFilterID(f, "ambassador", model.PrefixAmbassador)
	rf.PlacementID = readFilterID(f, "placement", model.PrefixPlacement)
	switch st := model.ReferralStatus(f.Get("status")); {
	case st == "":
	case st.Valid():
		rf.Status = st
	default:
		f.AddError("status", "must be pending, converted or rejected")
	}
	email := strings.TrimSpace(f.Get("email"))
	f.Set("email", email)
	if len(email) > model.MaxEmailLen {
		f.AddError("email", "must be at most "+strconv.Itoa(model.MaxEmailLen)+" characters")
	} else {
		rf.Email = email
	}
	switch f.Get("flagged") {
	case "":
	case "true":
		rf.Flagged = true
	default:
		f.AddError("flagged", "must be ticked or not")
	}
	rf.From, rf.To = readFilterDays(f, "from", "to")
	return rf
}

// readFilterID reads the input name as the ID of a record with prefix,
// in the lower case records are stored in; "" when empty or wrong.
func readFilterID(f *form, name, prefix string) string {
	v := strings.TrimSpace(f.Get(name))
	f.Set(name, v)
	if v == "" {
		return ""
	}
	k, ok := model.ParseID(prefix, v)
	if !ok {
		f.AddError(name, "must be an ID that starts with "+prefix+"_")
		return ""
	}
	id := model.FormatID(prefix, k)
	f.Set(name, id)
	return id
}

// readFilterDays reads two date inputs as the days from and to, both
// included, in UTC: the bounds From ≤ created_at < To of a list.
func readFilterDays(f *form, fromName, toName string) (from, to model.Time) {
	day := func(name string) (time.Time, bool) {
		v := strings.TrimSpace(f.Get(name))
		if v == "" {
			return time.Time{}, true
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil || t.Year() < 2000 || t.Year() > 9999 {
			f.AddError(name, "must be a date such as 2026-11-01")
			return time.Time{}, false
		}
		return t, true
	}
	fromDay, okFrom := day(fromName)
	toDay, okTo := day(toName)
	if !okFrom || !okTo {
		return model.Time{}, model.Time{}
	}
	if !fromDay.IsZero() && !toDay.IsZero() && toDay.Before(fromDay) {
		f.AddError(toName, "must not be before the first day")
		return model.Time{}, model.Time{}
	}
	if !fromDay.IsZero() {
		from = model.NewTime(fromDay)
	}
	if !toDay.IsZero() {
		to = model.NewTime(toDay.AddDate(0, 0, 1))
	}
	return from, to
}

// listQuery is the query string of a list's filters that were read
// without a problem, for its next page and its export.
func listQuery(f *form, names ...string) url.Values {
	q := url.Values{}
	for _, name := range names {
		if v := f.Get(name); v != "" && f.errs[name] == "" {
			q.Set(name, v)
		}
	}
	return q
}

// listLinks are a filtered list page's links: the list without its
// cursor, the next page, and the export with the same filters.
type listLinks struct {
	// Filtered says a filter is set, for the empty state.
	Filtered bool
	// First is the list without its cursor, when on a later page.
	First, Next, Export string
	// Short says the page holds fewer rows than fit, though more may
	// match further on: a filter that matches little looks at a bounded
	// number of records a page.
	Short bool
}

// paged sets First, Next and Short for a page of n records read at
// cursor from the list at path with the filters q, which it changes.
func (l *listLinks) paged(path string, q url.Values, cursor string, n int, hasMore bool, next *string) {
	if cursor != "" {
		l.First = withQuery(path, q)
	}
	if hasMore && next != nil {
		q.Set("cursor", *next)
		l.Next = withQuery(path, q)
		l.Short = n < listPageSize
	}
}

// withQuery is path with q, when q has any value.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// nameBook finds the names of the programs and ambassadors a page shows,
// each once per request.
type nameBook struct {
	s           *Server
	ctx         context.Context
	programs    map[string]string
	ambassadors map[string]string
}

func (s *Server) newNameBook(ctx context.Context, programs []*model.Program) *nameBook {
	b := &nameBook{s: s, ctx: ctx, programs: map[string]string{}, ambassadors: map[string]string{}}
	for _, p := range programs {
		b.programs[p.ID] = p.Name
	}
	return b
}

// ambassador is the ambassador's name, or "" when there is none by id.
func (b *nameBook) ambassador(id string) (string, error) {
	if name, ok := b.ambassadors[id]; ok {
		return name, nil
	}
	a, err := b.s.svc.Ambassadors.FindAmbassadorByID(b.ctx, id)
	if model.ErrorCode(err) == model.ENotFound {
		b.ambassadors[id] = ""
		return "", nil
	} else if err != nil {
		return "", err
	}
	b.ambassadors[id] = a.FirstName + " " + a.LastName
	return b.ambassadors[id], nil
}

// program is the program's name, or "" when there is none by id.
func (b *nameBook) program(id string) (string, error) {
	if name, ok := b.programs[id]; ok {
		return name, nil
	}
	p, err := b.s.svc.Programs.FindProgramByID(b.ctx, id)
	if model.ErrorCode(err) == model.ENotFound {
		b.programs[id] = ""
		return "", nil
	} else if err != nil {
		return "", err
	}
	b.programs[id] = p.Name
	return p.Name, nil
}

// referralListRow is one referral of the list, with the names it shows.
type referralListRow struct {
	*model.Referral
	AmbassadorName, ProgramName string
}

// PersonName is the referred person's name, or how an erased one is
// shown.
func (r referralListRow) PersonName() string { return personName(r.Referral) }

func personName(r *model.Referral) string {
	if r.ErasedAt != nil {
		return "Erased"
	}
	return strings.TrimSpace(r.FirstName + " " + r.LastName)
}

type referralListView struct {
	Form     *form
	Programs []*model.Program
	Rows     []referralListRow
	listLinks
}

var referralListNames = []string{"program", "status", "email", "ambassador", "placement", "from", "to", "flagged"}

// handleReferralList serves GET /console/referrals?program=&status=&email=
// &ambassador=&placement=&from=&to=&flagged=&cursor=: newest first, a
// page from the most selective index the filters allow.
func (s *Server) handleReferralList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f := newForm(referralFilterFields...).read(r)
	v := referralListView{Form: f}
	var err error
	if v.Programs, err = s.programChoices(ctx); err != nil {
		return err
	}
	rf := readReferralFilter(f)
	rf.ListOptions = model.ListOptions{Limit: listPageSize, Cursor: r.URL.Query().Get("cursor")}
	page, err := s.svc.Referrals.FindReferrals(ctx, rf)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		rf.Cursor = ""
		page, err = s.svc.Referrals.FindReferrals(ctx, rf)
	}
	if err != nil {
		return err
	}
	names := s.newNameBook(ctx, v.Programs)
	for _, ref := range page.Data {
		row := referralListRow{Referral: ref}
		if row.AmbassadorName, err = names.ambassador(ref.AmbassadorID); err != nil {
			return err
		}
		if row.ProgramName, err = names.program(ref.ProgramID); err != nil {
			return err
		}
		v.Rows = append(v.Rows, row)
	}
	q := listQuery(f, referralListNames...)
	v.Filtered = len(q) > 0
	v.Export = withQuery("/console/exports/referrals.csv", q)
	v.paged("/console/referrals", q, rf.Cursor, len(page.Data), page.HasMore, page.NextCursor)
	status := http.StatusOK
	if f.HasErrors() {
		status = http.StatusUnprocessableEntity
	}
	return s.render(w, r, status, "referrals", v)
}

// flagNote is one flag of a referral with what it means.
type flagNote struct {
	Flag, Title, Why string
}

// flagNotes says, for each flag, what raised it, in the words of the
// fraud rules of model/fraud.go; a flag those rules do not know came
// from a hook plugin.
func flagNotes(flags []string) []flagNote {
	var out []flagNote
	for _, fl := range flags {
		n := flagNote{Flag: fl}
		switch fl {
		case model.FlagSelfReferral:
			n.Title, n.Why = "Self-referral", "The person signed up with the email address of the ambassador whose poster they scanned."
		case model.FlagImpressionReused:
			n.Title, n.Why = "Scan reused", "At least "+strconv.Itoa(model.MaxReferralsPerImpression)+
				" people had already signed up from the same scan: a poster scanned once and its link passed around."
		case model.FlagDuplicateEmail:
			n.Title, n.Why = "Email already referred", "Someone with this email address had already signed up in this program."
		case model.FlagDisposableEmail:
			n.Title, n.Why = "Throwaway email", "The email address is at a provider of disposable addresses."
		case model.FlagFastSignup:
			n.Title, n.Why = "Very fast signup", "The signup came less than "+inWords(model.FastSignupWindow)+
				" after the poster was scanned, faster than a person fills in a form."
		default:
			n.Title, n.Why = fl, "Raised by a hook plugin when the person signed up; the plugin’s documentation says what it means."
		}
		out = append(out, n)
	}
	return out
}

// FlagTitles are the short names of r's flags, for the list.
func (r referralListRow) FlagTitles() []string {
	var out []string
	for _, n := range flagNotes(r.Flags) {
		out = append(out, n.Title)
	}
	return out
}

// referralEarning is one earning of a referral with its commissions.
type referralEarning struct {
	*model.Earning
	Commissions []*model.Commission
}

type referralView struct {
	Referral   *model.Referral
	Person     string
	Program    *model.Program
	Ambassador *model.Ambassador
	Placement  *model.Placement
	Impression *model.Impression
	Flags      []flagNote
	// Metadata is the referral's metadata, indented, or "".
	Metadata string
	Earnings []referralEarning
	// MoreEarnings says there are more earnings than are shown.
	MoreEarnings bool
	// Problem is why a change was refused, shown above the page.
	Problem string
}

// ErasedOn says when the person's data was erased.
func (v referralView) ErasedOn() string {
	if v.Referral.ErasedAt == nil {
		return ""
	}
	return formatDateTime(*v.Referral.ErasedAt)
}

// CanDecide reports whether the referral can still be converted or
// rejected.
func (v referralView) CanDecide() bool { return v.Referral.Status == model.ReferralPending }

// referralPage gathers what one referral's page shows. Records it points
// to that are gone (a deleted impression cannot be, but an ID can be
// mistyped by an integration) are left out rather than failing the page.
func (s *Server) referralPage(ctx context.Context, id string) (referralView, error) {
	ref, err := s.svc.Referrals.FindReferralByID(ctx, id)
	if err != nil {
		return referralView{}, err
	}
	v := referralView{Referral: ref, Person: personName(ref), Flags: flagNotes(ref.Flags)}
	gone := func(err error) error {
		if model.ErrorCode(err) == model.ENotFound {
			return nil
		}
		return err
	}
	if v.Program, err = s.svc.Programs.FindProgramByID(ctx, ref.ProgramID); gone(err) != nil {
		return v, err
	}
	if v.Ambassador, err = s.svc.Ambassadors.FindAmbassadorByID(ctx, ref.AmbassadorID); gone(err) != nil {
		return v, err
	}
	if ref.PlacementID != nil {
		if v.Placement, err = s.svc.Placements.FindPlacementByID(ctx, *ref.PlacementID); gone(err) != nil {
			return v, err
		}
	}
	if v.Impression, err = s.svc.Impressions.FindImpressionByID(ctx, ref.ImpressionID); gone(err) != nil {
		return v, err
	}
	if len(ref.Metadata) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, ref.Metadata, "", "  ") == nil {
			v.Metadata = buf.String()
		}
	}
	earnings, err := s.svc.Earnings.FindEarnings(ctx, model.EarningFilter{ReferralID: ref.ID, ListOptions: model.ListOptions{Limit: 20}})
	if err != nil {
		return v, err
	}
	v.MoreEarnings = earnings.HasMore
	for _, e := range earnings.Data {
		cs, err := s.svc.Earnings.FindCommissions(ctx, model.CommissionFilter{EarningID: e.ID, ListOptions: model.ListOptions{Limit: model.MaxListLimit}})
		if err != nil {
			return v, err
		}
		v.Earnings = append(v.Earnings, referralEarning{Earning: e, Commissions: cs.Data})
	}
	return v, nil
}

// handleReferralGet serves GET /console/referrals/{id}.
func (s *Server) handleReferralGet(w http.ResponseWriter, r *http.Request) error {
	v, err := s.referralPage(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "referral", v)
}

// handleReferralStatus serves POST /console/referrals/{id}/status with
// status=converted or rejected. A change the referral's status does not
// allow (it was decided meanwhile) shows the page again with why.
func (s *Server) handleReferralStatus(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "the form could not be read")
	}
	status := model.ReferralStatus(r.PostForm.Get("status"))
	u := model.ReferralUpdate{Status: &status}
	if err := u.Validate().Err(); err != nil {
		return err
	}
	ref, err := s.svc.Referrals.UpdateReferral(r.Context(), r.PathValue("id"), u)
	if model.ErrorCode(err) == model.EConflict {
		v, perr := s.referralPage(r.Context(), r.PathValue("id"))
		if perr != nil {
			return perr
		}
		v.Problem = conflictMessage(err)
		return s.render(w, r, http.StatusConflict, "referral", v)
	} else if err != nil {
		return err
	}
	msg := "Referral rejected. It no longer counts for its ambassador, and cannot earn."
	switch status {
	case model.ReferralConverted:
		msg = "Referral marked converted."
	case model.ReferralPending:
		msg = "Nothing changed: the referral is still pending."
	}
	return s.redirect(w, r, "/console/referrals/"+ref.ID, msg)
}

// conflictMessage is the safe message of a conflict, as a sentence.
func conflictMessage(err error) string {
	var e *model.Error
	if errors.As(err, &e) {
		return sentence(e.Message)
	}
	return "That cannot be done now."
}

// handleReferralEraseConfirm serves GET /console/referrals/{id}/erase:
// what erasing does, and the button that does it.
func (s *Server) handleReferralEraseConfirm(w http.ResponseWriter, r *http.Request) error {
	v, err := s.referralPage(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "referral_erase", v)
}

// handleReferralErase serves POST /console/referrals/{id}/erase.
func (s *Server) handleReferralErase(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.svc.Referrals.EraseReferral(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/referrals/"+ref.ID, "The person’s data is erased: name, email, picture and metadata. "+
		"The referral stays, without them, so counts and commissions still add up.")
}

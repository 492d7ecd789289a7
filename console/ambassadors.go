package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/referrald/referrald/model"
)

// Ambassadors: the list and its search, one ambassador's page, the form
// that adds or edits one, and pausing. The CSV import is in
// ambassador_import.go, their posters in placements.go and posters.go.

// ambassadorFields are the inputs of the add and edit forms, named after
// model.AmbassadorCreate's fields.
var ambassadorFields = []*field{
	{Name: "first_name", Label: "First name", Required: true, Autocomplete: "off",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxNameLen)}},
	{Name: "last_name", Label: "Last name", Required: true, Autocomplete: "off",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxNameLen)}},
	{Name: "email", Label: "Email", Type: "email", Required: true, Autocomplete: "off",
		Hint:  "Each ambassador has an address of their own: two cannot share one.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxEmailLen), "autocapitalize": "none", "spellcheck": "false"}},
	{Name: "school", Label: "School", Hint: "Optional. Where they study, such as Trinity College: posters can be printed for everyone at one school.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "status", Label: "Status"},
	{Name: "idempotency_key", Label: "Form"},
}

// ambassadorPageSize is how many ambassadors a page of the list shows.
const ambassadorPageSize = 50

// maxSearchLen bounds the search box: the longest email there is.
const maxSearchLen = model.MaxEmailLen

type ambassadorListView struct {
	// Search is what was searched for, Status the tab: all, active or
	// paused.
	Search, Status string
	Ambassadors    []*model.Ambassador
	// Next is the URL of the next page; Later says this is not the first.
	Next  string
	Later bool
}

// Searching reports whether the list is narrowed by a search.
func (v ambassadorListView) Searching() bool { return v.Search != "" }

// TabURL is the list with status, keeping the search.
func (v ambassadorListView) TabURL(status string) string {
	return ambassadorListURL(v.Search, status, "")
}

func ambassadorListURL(search, status, cursor string) string {
	q := url.Values{}
	if search != "" {
		q.Set("q", search)
	}
	if status != "" && status != "all" {
		q.Set("status", status)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return "/console/ambassadors"
	}
	return "/console/ambassadors?" + q.Encode()
}

// handleAmbassadorList serves GET /console/ambassadors?q=&status=&cursor=:
// every ambassador, newest first, or those a search finds (see
// model.AmbassadorFilter.Search for what that costs).
func (s *Server) handleAmbassadorList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := ambassadorListView{Search: clipRunes(q.Get("q"), maxSearchLen), Status: q.Get("status")}
	f := model.AmbassadorFilter{ListOptions: model.ListOptions{Limit: ambassadorPageSize, Cursor: q.Get("cursor")}, Search: v.Search}
	switch v.Status {
	case string(model.AmbassadorActive), string(model.AmbassadorPaused):
		f.Status = model.AmbassadorStatus(v.Status)
	default:
		v.Status = "all"
	}
	page, err := s.svc.Ambassadors.FindAmbassadors(r.Context(), f)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		f.Cursor = ""
		page, err = s.svc.Ambassadors.FindAmbassadors(r.Context(), f)
	}
	if err != nil {
		return err
	}
	v.Ambassadors, v.Later = page.Data, f.Cursor != ""
	if page.HasMore && page.NextCursor != nil {
		v.Next = ambassadorListURL(v.Search, v.Status, *page.NextCursor)
	}
	return s.render(w, r, http.StatusOK, "ambassadors", v)
}

// clipRunes cuts s to at most n characters.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// How many of an ambassador's placements, referrals and commissions
// their page shows; each list links on to the rest.
const (
	ambassadorPagePlacements  = 10
	ambassadorPageReferrals   = 10
	ambassadorPageCommissions = 10
)

type ambassadorView struct {
	Ambassador *model.Ambassador
	// Funnel is theirs over every program, all time.
	Funnel      model.Funnel
	Balances    []model.Balance
	Placements  []placementRow
	Referrals   []referralRow
	Commissions []commissionRow
	// More* say a list has more than the page shows.
	MorePlacements, MoreReferrals, MoreCommissions bool
	// Portal says whether the portal's sign-in links can be made here,
	// Email whether they are emailed.
	Portal, Email bool
}

// ReferralsURL is the referral list filtered to this ambassador.
func (v ambassadorView) ReferralsURL() string {
	return "/console/referrals?ambassador=" + url.QueryEscape(v.Ambassador.ID)
}

// placementRow is a placement with what a list shows beside it.
type placementRow struct {
	*model.Placement
	ProgramName     string
	AmbassadorName  string
	Scans, Signups  int64
	ExcludedScans   int64
	ProgramArchived bool
}

type referralRow struct {
	*model.Referral
	ProgramName string
}

type commissionRow struct {
	*model.Commission
	ProgramName string
}

// handleAmbassadorGet serves GET /console/ambassadors/{id}: who they
// are, how their posters do, and what they have earned.
func (s *Server) handleAmbassadorGet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	v := ambassadorView{Ambassador: a, Portal: s.svc.Portal != nil, Email: s.cfg.EmailEnabled}
	if v.Funnel, err = s.svc.Stats.Funnel(ctx, model.StatsFilter{AmbassadorID: a.ID}); err != nil {
		return err
	}
	if v.Balances, err = s.svc.Earnings.AmbassadorBalance(ctx, a.ID); err != nil {
		return err
	}
	names := s.programNames()
	placements, err := s.svc.Placements.FindPlacements(ctx, model.PlacementFilter{AmbassadorID: a.ID,
		ListOptions: model.ListOptions{Limit: ambassadorPagePlacements}})
	if err != nil {
		return err
	}
	v.MorePlacements = placements.HasMore
	if v.Placements, err = s.placementRows(ctx, placements.Data, names, nil); err != nil {
		return err
	}
	referrals, err := s.svc.Referrals.FindReferrals(ctx, model.ReferralFilter{AmbassadorID: a.ID,
		ListOptions: model.ListOptions{Limit: ambassadorPageReferrals}})
	if err != nil {
		return err
	}
	v.MoreReferrals = referrals.HasMore
	for _, ref := range referrals.Data {
		name, err := names.of(ctx, ref.ProgramID)
		if err != nil {
			return err
		}
		v.Referrals = append(v.Referrals, referralRow{Referral: ref, ProgramName: name})
	}
	commissions, err := s.svc.Earnings.FindCommissions(ctx, model.CommissionFilter{AmbassadorID: a.ID,
		ListOptions: model.ListOptions{Limit: ambassadorPageCommissions}})
	if err != nil {
		return err
	}
	v.MoreCommissions = commissions.HasMore
	for _, c := range commissions.Data {
		name, err := names.of(ctx, c.ProgramID)
		if err != nil {
			return err
		}
		v.Commissions = append(v.Commissions, commissionRow{Commission: c, ProgramName: name})
	}
	return s.render(w, r, http.StatusOK, "ambassador", v)
}

// programNamer finds programs by ID, each once a request: a page lists
// records of a handful of programs at most.
type programNamer struct {
	s     *Server
	found map[string]*model.Program
}

func (s *Server) programNames() *programNamer {
	return &programNamer{s: s, found: map[string]*model.Program{}}
}

// program is the program id, or nil if there is none (a record never
// points at one that is not, but a page says so rather than fail).
func (n *programNamer) program(ctx context.Context, id string) (*model.Program, error) {
	if p, ok := n.found[id]; ok {
		return p, nil
	}
	p, err := n.s.svc.Programs.FindProgramByID(ctx, id)
	if model.ErrorCode(err) == model.ENotFound {
		p, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	n.found[id] = p
	return p, nil
}

// of is the name of program id.
func (n *programNamer) of(ctx context.Context, id string) (string, error) {
	p, err := n.program(ctx, id)
	if p == nil || err != nil {
		return "(unknown program)", err
	}
	return p.Name, nil
}

// placementRows adds to each placement its program's name, its scans
// and signups (a read of the placement's total counter each), and, when
// ambassadors is set, its ambassador's name.
func (s *Server) placementRows(ctx context.Context, ps []*model.Placement, names *programNamer, ambassadors map[string]string) ([]placementRow, error) {
	out := make([]placementRow, 0, len(ps))
	for _, p := range ps {
		prg, err := names.program(ctx, p.ProgramID)
		if err != nil {
			return nil, err
		}
		row := placementRow{Placement: p, ProgramName: "(unknown program)"}
		if prg != nil {
			row.ProgramName, row.ProgramArchived = prg.Name, prg.Status == model.ProgramArchived
		}
		funnel, err := s.svc.Stats.Funnel(ctx, model.StatsFilter{PlacementID: p.ID})
		if err != nil {
			return nil, err
		}
		row.Scans, row.ExcludedScans, row.Signups = funnel.Impressions, funnel.ExcludedImpressions, funnel.Referrals
		if ambassadors != nil {
			name, ok := ambassadors[p.AmbassadorID]
			if !ok {
				name = "(unknown ambassador)"
				if a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, p.AmbassadorID); err == nil {
					name = a.FirstName + " " + a.LastName
				} else if model.ErrorCode(err) != model.ENotFound {
					return nil, err
				}
				ambassadors[p.AmbassadorID] = name
			}
			row.AmbassadorName = name
		}
		out = append(out, row)
	}
	return out, nil
}

type ambassadorFormView struct {
	Form *form
	// Ambassador is the one edited; nil on the add form.
	Ambassador *model.Ambassador
}

// handleAmbassadorNew serves GET /console/ambassadors/new.
func (s *Server) handleAmbassadorNew(w http.ResponseWriter, r *http.Request) error {
	f := newForm(ambassadorFields...)
	f.Set("status", string(model.AmbassadorActive))
	f.Set("idempotency_key", newFormKey())
	return s.render(w, r, http.StatusOK, "ambassador_form", ambassadorFormView{Form: f})
}

// handleAmbassadorCreate serves POST /console/ambassadors/new.
func (s *Server) handleAmbassadorCreate(w http.ResponseWriter, r *http.Request) error {
	f := newForm(ambassadorFields...).read(r)
	v := ambassadorFormView{Form: f}
	in := model.AmbassadorCreate{FirstName: f.Get("first_name"), LastName: f.Get("last_name"), Email: f.Get("email"),
		School: f.Get("school"), Status: model.AmbassadorStatus(f.Get("status"))}
	f.fromError(in.Validate().Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "ambassador_form", v)
	}
	// As with programs, the form's key turns a second click into the
	// answer to the first.
	idem := formIdempotency(r, "POST /console/ambassadors/new", f.Get("idempotency_key"), in)
	a, _, err := s.svc.Ambassadors.CreateAmbassador(r.Context(), in, idem)
	if model.ErrorCode(err) == model.EIdempotencyKeyReused {
		f.Set("idempotency_key", newFormKey())
		f.Fail("This form was already sent with other values, which added an ambassador. Check the values and send it again to add another.")
		return s.renderForm(w, r, "ambassador_form", v)
	}
	if model.ErrorCode(err) == model.EConflict {
		// The one conflict of a create is the email, which has an input.
		f.AddError("email", "is already the email of another ambassador")
		return s.renderForm(w, r, "ambassador_form", v)
	}
	if f.fromError(err) {
		return s.renderForm(w, r, "ambassador_form", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/ambassadors/"+a.ID, a.FirstName+" "+a.LastName+" is added. Create a poster for them next.")
}

// handleAmbassadorEdit serves GET /console/ambassadors/{id}/edit.
func (s *Server) handleAmbassadorEdit(w http.ResponseWriter, r *http.Request) error {
	a, err := s.svc.Ambassadors.FindAmbassadorByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := newForm(ambassadorFields...)
	f.Set("first_name", a.FirstName)
	f.Set("last_name", a.LastName)
	f.Set("email", a.Email)
	if a.School != nil {
		f.Set("school", *a.School)
	}
	return s.render(w, r, http.StatusOK, "ambassador_form", ambassadorFormView{Form: f, Ambassador: a})
}

// handleAmbassadorUpdate serves POST /console/ambassadors/{id}/edit. Only
// what the form changed is sent, so the audit log says what changed; the
// status has buttons of its own on the ambassador's page.
func (s *Server) handleAmbassadorUpdate(w http.ResponseWriter, r *http.Request) error {
	a, err := s.svc.Ambassadors.FindAmbassadorByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := newForm(ambassadorFields...).read(r)
	v := ambassadorFormView{Form: f, Ambassador: a}
	first, last, email, school := f.Get("first_name"), f.Get("last_name"), f.Get("email"), f.Get("school")
	u := model.AmbassadorUpdate{FirstName: &first, LastName: &last, Email: &email, School: &school}
	f.fromError(u.Validate().Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "ambassador_form", v)
	}
	if *u.FirstName == a.FirstName {
		u.FirstName = nil
	}
	if *u.LastName == a.LastName {
		u.LastName = nil
	}
	if *u.Email == a.Email {
		u.Email = nil
	}
	if a.School != nil && *u.School == *a.School || a.School == nil && *u.School == "" {
		u.School = nil
	}
	if u == (model.AmbassadorUpdate{}) {
		s.setFlash(w, r, flashInfo, "Nothing to save: the ambassador was already like that.")
		return s.redirect(w, r, "/console/ambassadors/"+a.ID, "")
	}
	_, err = s.svc.Ambassadors.UpdateAmbassador(r.Context(), a.ID, u)
	if model.ErrorCode(err) == model.EConflict {
		f.AddError("email", "is already the email of another ambassador")
		return s.renderForm(w, r, "ambassador_form", v)
	}
	if f.fromError(err) {
		return s.renderForm(w, r, "ambassador_form", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/ambassadors/"+a.ID, "Changes saved.")
}

// handleAmbassadorPause serves POST /console/ambassadors/{id}/pause.
func (s *Server) handleAmbassadorPause(w http.ResponseWriter, r *http.Request) error {
	a, err := s.setAmbassadorStatus(r.Context(), r.PathValue("id"), model.AmbassadorPaused)
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/ambassadors/"+a.ID, a.FirstName+" "+a.LastName+" is paused. Their posters still work: "+
		"deactivate a poster on its page to stop it.")
}

// handleAmbassadorActivate serves POST /console/ambassadors/{id}/activate.
func (s *Server) handleAmbassadorActivate(w http.ResponseWriter, r *http.Request) error {
	a, err := s.setAmbassadorStatus(r.Context(), r.PathValue("id"), model.AmbassadorActive)
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/ambassadors/"+a.ID, a.FirstName+" "+a.LastName+" is active again.")
}

func (s *Server) setAmbassadorStatus(ctx context.Context, id string, status model.AmbassadorStatus) (*model.Ambassador, error) {
	u := model.AmbassadorUpdate{Status: &status}
	if err := u.Validate().Err(); err != nil {
		return nil, err
	}
	return s.svc.Ambassadors.UpdateAmbassador(ctx, id, u)
}

type portalLinkView struct {
	Ambassador *model.Ambassador
	URL        string
	Expires    model.Time
}

// handlePortalLink serves POST /console/ambassadors/{id}/portal-link: a
// sign-in link to the ambassador portal, emailed to the ambassador when
// referrald sends email (unless the form asks to copy it), else shown
// once to copy and hand over.
func (s *Server) handlePortalLink(w http.ResponseWriter, r *http.Request) error {
	if s.svc.Portal == nil {
		return model.Errorf(model.ENotFound, "the ambassador portal is not served here")
	}
	ctx, id := r.Context(), r.PathValue("id")
	a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, id)
	if err != nil {
		return err
	}
	if s.cfg.EmailEnabled && r.PostFormValue("how") != "copy" {
		if err := s.svc.Portal.RequestPortalLink(ctx, a.ID, model.LinkViaConsole); err != nil {
			return err
		}
		return s.redirect(w, r, "/console/ambassadors/"+a.ID, "A sign-in link is on its way to "+a.Email+
			". It works once, for 15 minutes.")
	}
	link, err := s.svc.Portal.CreatePortalLink(ctx, a.ID, model.PortalLinkTTL)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, "portal_link", portalLinkView{Ambassador: a,
		URL: model.PortalLinkURL(s.cfg.PublicBaseURL, link.Token), Expires: link.ExpiresAt})
}

package join

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/model"
)

// target is the poster a request is about, with its program and design.
type target struct {
	code      string
	placement *model.Placement
	program   *model.Program
	design    *model.PosterDesign
}

// find returns the poster whose code the path holds, or not_found when
// no poster has it or its program has a landing page of its own (whose
// scans never come here).
func (s *Server) find(r *http.Request) (*target, error) {
	code := strings.ToLower(r.PathValue("code"))
	if !model.ValidCode(code) {
		return nil, model.Errorf(model.ENotFound, "no poster has this code")
	}
	ctx := r.Context()
	pl, err := s.svc.Placements.FindPlacementByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	prg, err := s.svc.Programs.FindProgramByID(ctx, pl.ProgramID)
	if err != nil {
		return nil, err
	}
	if !prg.HostedSignup() {
		return nil, model.Errorf(model.ENotFound, "this program has a landing page of its own")
	}
	d, err := s.svc.Designs.FindPosterDesign(ctx, prg.ID)
	if err != nil {
		return nil, err
	}
	return &target{code: code, placement: pl, program: prg, design: d}, nil
}

// open reports whether t takes signups, and shows the page that says why
// not when it does not: a poster taken down has expired, as the scan
// route says, and an archived program's offer has ended.
func (s *Server) open(w http.ResponseWriter, r *http.Request, t *target) bool {
	switch {
	case !t.placement.Active:
		s.showMessage(w, r, http.StatusGone, brandOf(t), message{Title: api.ScanExpiredMessage,
			Text: "This poster no longer takes signups. Thank you for your interest."})
		return false
	case t.program.Status == model.ProgramArchived:
		s.showMessage(w, r, http.StatusGone, brandOf(t), message{Title: "This offer has ended",
			Text: fmt.Sprintf("Thank you for your interest. %s is no longer taking signups.", t.program.Name)})
		return false
	}
	return true
}

// impression returns the impression named id when it is a scan of t's
// poster, or nil: a missing, malformed or unknown one, or another
// poster's.
func (s *Server) impression(ctx context.Context, t *target, id string) (*model.Impression, error) {
	if _, ok := model.ParseID(model.PrefixImpression, id); !ok {
		return nil, nil
	}
	imp, err := s.svc.Impressions.FindImpressionByID(ctx, id)
	if model.ErrorCode(err) == model.ENotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if imp.PlacementID == nil || *imp.PlacementID != t.placement.ID {
		return nil, nil
	}
	return imp, nil
}

// toScan sends the browser to the scan route, which records a scan of the
// poster and sends it back with its impression.
func toScan(w http.ResponseWriter, r *http.Request, t *target) error {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/s/"+t.code, http.StatusSeeOther)
	return nil
}

// input is one labelled text input of the form.
type input struct {
	// Name is the input's name and the model's field name.
	Name, Label, Type, Autocomplete, InputMode string
	MaxLength                                  int
	Value, Error                               string
}

// ID is the input's HTML id.
func (in input) ID() string { return "f-" + in.Name }

// consentBox is the form's consent checkbox.
type consentBox struct {
	Text    string
	Checked bool
	Error   string
}

// ID is the checkbox's HTML id.
func (consentBox) ID() string { return "f-consent" }

// problem is one line of the form's summary of problems.
type problem struct {
	// ID is the input's id, for a link to it; empty for the whole form.
	ID, Message string
}

type signupView struct {
	Action string
	// InvitedBy is the ambassador's first name when the design shows it.
	InvitedBy string
	// Imp, Token and ConsentVersion are the form's hidden fields: the
	// scan, the one-time token that makes a second send of the form the
	// same signup, and which wording of the consent box was shown.
	Imp, Token, ConsentVersion string
	Inputs                     []input
	Consent                    consentBox
	// Problems sum up the form's problems, in page order.
	Problems []problem
}

// signupForm is the form with values; its labels are the words field
// errors are said with ("Email must be a valid email address").
func signupForm(first, last, email string) []input {
	return []input{
		{Name: "first_name", Label: "First name", Type: "text", Autocomplete: "given-name", MaxLength: model.MaxNameLen, Value: first},
		{Name: "last_name", Label: "Last name", Type: "text", Autocomplete: "family-name", MaxLength: model.MaxNameLen, Value: last},
		{Name: "email", Label: "Email", Type: "email", Autocomplete: "email", InputMode: "email", MaxLength: model.MaxEmailLen, Value: email},
	}
}

// showForm renders the form, its problems summed up at the top: those
// of the whole form (v.Problems, from place) first, then each field's.
func (s *Server) showForm(w http.ResponseWriter, r *http.Request, status int, t *target, v signupView) error {
	v.Action = "/join/" + t.code
	v.ConsentVersion = consentVersion(t.design.SignupConsent)
	v.Consent.Text = t.design.SignupConsent
	v.Problems = append([]problem(nil), v.Problems...)
	for _, in := range v.Inputs {
		if in.Error != "" {
			v.Problems = append(v.Problems, problem{ID: in.ID(), Message: in.Label + " " + in.Error})
		}
	}
	if v.Consent.Error != "" {
		v.Problems = append(v.Problems, problem{ID: v.Consent.ID(), Message: v.Consent.Error})
	}
	b := brandOf(t)
	title := b.Headline
	if len(v.Problems) > 0 {
		// Said first, as the page loads, by a screen reader.
		title = "Error: " + title
	}
	return s.render(w, r, status, "signup", page{Title: title, Brand: b, HeadlineIsTitle: true, Data: v})
}

// handleSignupPage serves GET /join/{code}?imp=: the form, for a scan of
// this poster; without one, the scan route first.
func (s *Server) handleSignupPage(w http.ResponseWriter, r *http.Request) error {
	t, err := s.find(r)
	if err != nil {
		return err
	}
	if !s.open(w, r, t) {
		return nil
	}
	imp, err := s.impression(r.Context(), t, r.URL.Query().Get("imp"))
	if err != nil {
		return err
	} else if imp == nil {
		return toScan(w, r, t)
	}
	v := signupView{Imp: imp.ID, Token: newToken(), Inputs: signupForm("", "", "")}
	if v.InvitedBy, err = s.invitedBy(r.Context(), t, imp); err != nil {
		return err
	}
	return s.showForm(w, r, http.StatusOK, t, v)
}

// invitedBy is the first name of imp's ambassador when the design shows
// it, else "".
func (s *Server) invitedBy(ctx context.Context, t *target, imp *model.Impression) (string, error) {
	if !t.design.ShowAmbassadorName {
		return "", nil
	}
	amb, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, imp.AmbassadorID)
	if model.ErrorCode(err) == model.ENotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return amb.FirstName, nil
}

// handleSignup serves POST /join/{code}: the signup, made by the rules of
// POST /v1/referrals with the page's scan as its impression and the
// consent given in its metadata. The form's token is its idempotency key,
// so a second send of the same form (a double click, a resend after a
// lost answer) makes no second referral and leads to the same thank-you
// page. A problem with a field shows the form again (422) with the values
// kept and the message beside the field. Whatever the program makes of a
// valid signup (a referral flagged or rejected as fraud, a second one for
// an email, one a hook plugin refused), the person sees the same
// thank-you page, so the page tells nobody what it checks.
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) error {
	if err := s.limit(w, r); err != nil {
		return err
	}
	t, err := s.find(r)
	if err != nil {
		return err
	}
	if !s.open(w, r, t) {
		return nil
	}
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return model.Errorf(model.EValidation, "the form could not be read")
	}
	f := r.PostForm
	ctx := r.Context()
	imp, err := s.impression(ctx, t, f.Get("imp"))
	if err != nil {
		return err
	} else if imp == nil {
		return toScan(w, r, t)
	}
	v := signupView{Imp: imp.ID, Token: f.Get("token"), Inputs: signupForm(clip(f.Get("first_name")), clip(f.Get("last_name")), clip(f.Get("email")))}
	if v.InvitedBy, err = s.invitedBy(ctx, t, imp); err != nil {
		return err
	}
	signup := model.PageSignup{ImpressionID: imp.ID, FirstName: f.Get("first_name"), LastName: f.Get("last_name"), Email: f.Get("email"),
		Consent: f.Get("consent") == "yes", ConsentText: t.design.SignupConsent}
	v.Consent.Checked = signup.Consent
	in, fe := signup.Referral()
	if signup.Consent && f.Get("consent_version") != consentVersion(t.design.SignupConsent) {
		// The box was ticked under other words than the program's now.
		v.Consent.Checked = false
		v.Consent.Error = "The wording of this box has changed. Read it again, and tick it to sign up."
	}
	if !validToken(v.Token) {
		v.Token = newToken()
		fe.Add("token", model.FInvalidValue, "this form has expired. Check your details and send it again")
	}
	if len(fe) > 0 || v.Consent.Error != "" {
		v.place(fe)
		return s.showForm(w, r, http.StatusUnprocessableEntity, t, v)
	}
	idem := model.Idempotency{Scope: "join:" + t.placement.ID, Key: v.Token, Fingerprint: fingerprint(t.code, in)}
	ref, replayed, err := s.signups.Create(ctx, in, imp, idem)
	var e *model.Error
	switch {
	case err == nil:
		s.log.LogAttrs(ctx, slog.LevelInfo, "signup", slog.String("referral_id", ref.ID), slog.String("program_id", ref.ProgramID),
			slog.Bool("replayed", replayed))
		return s.toThanks(w, r, t, ref.FirstName)
	case refusedByHook(err):
		s.log.LogAttrs(ctx, slog.LevelInfo, "signup refused by a hook plugin", slog.String("program_id", t.program.ID))
		return s.toThanks(w, r, t, in.FirstName)
	case model.ErrorCode(err) == model.EIdempotencyKeyReused:
		v.Token = newToken()
		v.place(model.FieldErrors{{Field: "token", Message: "this form was already sent with other details. Check them and send it again to sign up"}})
		return s.showForm(w, r, http.StatusUnprocessableEntity, t, v)
	case errors.As(err, &e) && e.Code == model.EValidation && len(e.Fields) > 0:
		v.place(e.Fields)
		return s.showForm(w, r, http.StatusUnprocessableEntity, t, v)
	}
	return err
}

// place puts each field error beside its input; one no input has (the
// form's token) is kept in v.Problems, for the top of the summary.
func (v *signupView) place(fe model.FieldErrors) {
	var general []problem
	for _, e := range fe {
		placed := false
		for i := range v.Inputs {
			if v.Inputs[i].Name == e.Field && v.Inputs[i].Error == "" {
				v.Inputs[i].Error, placed = e.Message, true
			}
		}
		if e.Field == "consent" {
			if v.Consent.Error == "" {
				v.Consent.Error = "Tick the box to agree, to sign up."
			}
			placed = true
		}
		if !placed {
			general = append(general, problem{Message: sentence(e.Message)})
		}
	}
	v.Problems = general
}

// refusedByHook reports whether a hook plugin refused the signup, as a
// whole or blaming a field.
func refusedByHook(err error) bool {
	var e *model.Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Code == model.ERejectedByHook {
		return true
	}
	for _, f := range e.Fields {
		if f.Code == model.ERejectedByHook {
			return true
		}
	}
	return false
}

// clip bounds a value shown back in the form.
func clip(s string) string {
	const max = 4 * model.MaxEmailLen
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "")
}

// newToken is a one-time form token: the idempotency key of the signup
// the form makes.
func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "join-" + hex.EncodeToString(b)
}

// validToken reports whether s could be a token of newToken's.
func validToken(s string) bool {
	return len(s) == 37 && strings.HasPrefix(s, "join-") && model.ValidIdempotencyKey(s)
}

// fingerprint is the idempotency fingerprint of a signup on code's page:
// a second send with the same token and other details is a new signup to
// check, not the first one again.
func fingerprint(code string, in model.ReferralCreate) [32]byte {
	b, _ := json.Marshal(in)
	return sha256.Sum256(append([]byte("POST /join/"+code+"\n"), b...))
}

// consentVersion names a wording of the consent box.
func consentVersion(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:8])
}

// The first name reaches the thank-you page in a cookie for that page
// only, signed with the process's key: the address carries no name, and
// a reload of the page still greets the person. Without the cookie (it
// lived a quarter of an hour, or the server restarted) the page thanks
// without a name.
const (
	thanksCookie = "referrald_join"
	thanksMaxAge = 15 * 60
)

func (s *Server) signThanks(code, v string) string {
	m := hmac.New(sha256.New, s.thanksKey)
	m.Write([]byte(code + "\n" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// toThanks answers a signup: 303 to the thank-you page, with first in its
// cookie.
func (s *Server) toThanks(w http.ResponseWriter, r *http.Request, t *target, first string) error {
	v := base64.RawURLEncoding.EncodeToString([]byte(first))
	// The browser's Origin says whether it reached us over https, behind
	// a proxy or not.
	secure := r.TLS != nil || strings.HasPrefix(r.Header.Get("Origin"), "https://")
	thanks := "/join/" + t.code + "/thanks"
	http.SetCookie(w, &http.Cookie{Name: thanksCookie, Value: v + "." + s.signThanks(t.code, v), Path: thanks, MaxAge: thanksMaxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, thanks, http.StatusSeeOther)
	return nil
}

// thanksName is the first name the request's cookie carries for code's
// thank-you page, or "".
func (s *Server) thanksName(r *http.Request, code string) string {
	c, err := r.Cookie(thanksCookie)
	if err != nil {
		return ""
	}
	v, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.signThanks(code, v))) {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// redirectDelay is how long the thank-you page shows before it leads on
// to the program's site, in seconds.
const redirectDelay = 5

type thanksView struct {
	Name string
	// Continue is the program's signup_redirect_url, when it has one.
	Continue string
	Delay    int
}

// handleThanks serves GET /join/{code}/thanks: "Thanks, Ada!", and, when
// the design has a signup_redirect_url, a link on to it that the page
// follows by itself after a few seconds.
func (s *Server) handleThanks(w http.ResponseWriter, r *http.Request) error {
	t, err := s.find(r)
	if err != nil {
		return err
	}
	v := thanksView{Name: s.thanksName(r, t.code), Delay: redirectDelay}
	p := page{Title: "Thank you", Brand: brandOf(t), Data: &v}
	if u, err := url.Parse(t.design.SignupRedirectURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		// The model allows only http and https; checked again, since the
		// URL goes into a refresh the browser follows on its own.
		v.Continue = u.String()
		p.Refresh = fmt.Sprintf("%d;url=%s", redirectDelay, v.Continue)
	}
	return s.render(w, r, http.StatusOK, "thanks", p)
}

// handleLogo serves GET /join/{code}/logo.png: the program's logo, as its
// posters print it. With the version its page links to, it is cached for
// a day.
func (s *Server) handleLogo(w http.ResponseWriter, r *http.Request) error {
	t, err := s.find(r)
	if err != nil {
		return err
	}
	png, err := s.svc.Designs.FindPosterLogo(r.Context(), t.program.ID)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	if t.design.Logo != nil && r.URL.Query().Get("v") == logoVersion(t.design.Logo) {
		h.Set("Cache-Control", "public, max-age=86400")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	sum := sha256.Sum256(png)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	http.ServeContent(w, r, "logo.png", time.Time{}, bytes.NewReader(png))
	return nil
}

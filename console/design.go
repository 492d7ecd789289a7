package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// A program's poster design: a page with a form for every setting, the
// logo's upload, and a preview of a page of its posters, drawn by the
// route the API's preview is drawn by. The store audits each change.

// designBodySlack is room in a design form's body, beyond its logo, for
// the multipart framing and the other inputs.
const designBodySlack = 16 << 10

var designFields = []*field{
	{Name: "accent_color", Label: "Accent colour", Hint: "Bands and accents, written #rrggbb, such as #1a56db.",
		Attrs: map[string]string{"maxlength": "7", "size": "8", "spellcheck": "false", "autocomplete": "off"}},
	// accent_color_picker is the colour input beside the text: the page
	// draws it; the text wins when the two differ (see readAccent).
	{Name: "accent_color_picker", Label: "Accent colour"},
	{Name: "headline", Label: "Headline", Hint: "The largest line. Empty: the program’s name.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxHeadlineLen)}},
	{Name: "incentive", Label: "Incentive", Hint: "Optional: the offer, such as Get 20 % off your first box.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxIncentiveLen)}},
	{Name: "call_to_action", Label: "Call to action", Hint: "Printed with the QR code. Empty: " + model.DefaultCallToAction + ".",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxCallToActionLen)}},
	{Name: "show_ambassador_name", Label: "Show the ambassador’s first name"},
	{Name: "logo", Label: "Logo file", Type: "file",
		Hint:  "A PNG or JPEG of at most 1 MiB and 4096 × 4096 pixels. If the page comes back with a problem, choose it again.",
		Attrs: map[string]string{"accept": "image/png,image/jpeg"}},
	{Name: "remove_logo", Label: "Remove the logo"},
	{Name: "logo_in_qr", Label: "Put the logo in the middle of each QR code"},
	{Name: "signup_consent", Label: "Consent text", Type: "textarea",
		Hint:  "The checkbox people tick on the hosted signup page.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxSignupConsentLen)}},
	{Name: "signup_redirect_url", Label: "After signing up, go on to", Type: "url",
		Hint: "Where the hosted signup page’s thank-you page leads on, starting with https://. Optional."},
}

// layoutChoice is a layout as the pages offer it.
type layoutChoice struct {
	Value       poster.Layout
	Label, Hint string
}

// layouts are poster.Layouts, as the pages name and describe them.
var layouts = []layoutChoice{
	{poster.LayoutPoster, "Poster, one a page", "One poster a page, to put up on a wall or a board."},
	{poster.LayoutFlyer4, "Flyers, four a page", "Four flyers a page, to cut apart and hand out."},
	{poster.LayoutStickers8, "Stickers, eight a page", "Eight stickers a page, for sticker sheets."},
	{poster.LayoutStickers12, "Stickers, twelve a page", "Twelve stickers a page, for sticker sheets."},
	{poster.LayoutTearoff, "Poster with tear-off strips", "A poster with strips along its foot that carry the code, for people to tear off and keep."},
}

// singleLayouts are the layouts of one placement alone, a poster a page:
// on a sheet of many, each cell is a placement of its own.
var singleLayouts = []layoutChoice{layouts[0], layouts[4]}

type designView struct {
	Program *model.Program
	Design  *model.PosterDesign
	Form    *form
	Layouts []layoutChoice
	// Layout is the layout the preview shows.
	Layout poster.Layout
}

// PreviewURL is the route of the preview of the layout shown.
func (v designView) PreviewURL() string {
	return "/console/programs/" + v.Program.ID + "/design/preview.png?layout=" + string(v.Layout)
}

// LogoURL is the route of the logo, versioned by its upload so a new one
// is never a cached old one.
func (v designView) LogoURL() string {
	if v.Design.Logo == nil {
		return ""
	}
	return "/console/programs/" + v.Program.ID + "/design/logo.png?v=" + strconv.FormatInt(v.Design.Logo.UpdatedAt.UnixMilli(), 10)
}

// designs is the service of poster designs, or not_found when this
// console keeps none.
func (s *Server) designs() (model.PosterDesignService, error) {
	if s.svc.Designs == nil {
		return nil, model.Errorf(model.ENotFound, "poster designs are not kept here")
	}
	return s.svc.Designs, nil
}

// designOf is the design a program's posters print with, and its logo
// (nil without one); the defaults when the console keeps no designs.
func (s *Server) designOf(ctx context.Context, programID string) (*model.PosterDesign, []byte, error) {
	if s.svc.Designs == nil {
		return model.DefaultPosterDesign(programID), nil, nil
	}
	d, err := s.svc.Designs.FindPosterDesign(ctx, programID)
	if err != nil || d.Logo == nil {
		return d, nil, err
	}
	logo, err := s.svc.Designs.FindPosterLogo(ctx, programID)
	if model.ErrorCode(err) == model.ENotFound {
		return d, nil, nil // removed since the design was read: print without it
	}
	return d, logo, err
}

// designPage reads the program and its design for the design routes.
func (s *Server) designPage(r *http.Request) (*model.Program, *model.PosterDesign, error) {
	designs, err := s.designs()
	if err != nil {
		return nil, nil, err
	}
	p, err := s.svc.Programs.FindProgramByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	d, err := designs.FindPosterDesign(r.Context(), p.ID)
	return p, d, err
}

// fillDesignForm sets the form's inputs to design d.
func fillDesignForm(f *form, d *model.PosterDesign) {
	f.Set("accent_color", d.AccentColor)
	f.Set("accent_color_picker", d.AccentColor)
	f.Set("headline", d.Headline)
	f.Set("incentive", d.Incentive)
	f.Set("call_to_action", d.CallToAction)
	f.Set("signup_consent", d.SignupConsent)
	f.Set("signup_redirect_url", d.SignupRedirectURL)
	for name, on := range map[string]bool{"show_ambassador_name": d.ShowAmbassadorName, "logo_in_qr": d.LogoInQR} {
		if on {
			f.Set(name, "on")
		}
	}
}

// previewLayout is the layout a query names, or a poster.
func previewLayout(q url.Values) poster.Layout {
	if l := poster.Layout(q.Get("layout")); l.Valid() {
		return l
	}
	return poster.LayoutPoster
}

// handleDesign serves GET /console/programs/{id}/design?layout=: the
// design, as a form for those who may change it, and its preview.
func (s *Server) handleDesign(w http.ResponseWriter, r *http.Request) error {
	p, d, err := s.designPage(r)
	if err != nil {
		return err
	}
	f := newForm(designFields...)
	fillDesignForm(f, d)
	v := designView{Program: p, Design: d, Form: f, Layouts: layouts, Layout: previewLayout(r.URL.Query())}
	return s.render(w, r, http.StatusOK, "design", v)
}

// handleDesignUpdate serves POST /console/programs/{id}/design, a
// multipart form with the logo: it saves what changed, the logo first,
// so that a logo sent with "in the QR codes" is there when that is set.
func (s *Server) handleDesignUpdate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, d, err := s.designPage(r)
	if err != nil {
		return err
	}
	allowBody(w, r, poster.MaxLogoBytes+designBodySlack)
	f := newForm(designFields...)
	v := designView{Program: p, Design: d, Form: f, Layouts: layouts, Layout: poster.LayoutPoster}
	upload, err := readDesignForm(r, f)
	if err != nil {
		fillDesignForm(f, d) // nothing of the form could be read
		f.AddError("logo", err.Error())
		return s.renderForm(w, r, "design", v)
	}
	u := readDesignUpdate(f, d)
	fe := u.Validate()
	var logo []byte
	if upload != nil {
		logo, err = poster.NormalizeLogo(upload)
		if msg := poster.LogoProblem(err); msg != "" {
			fe.Add("logo", model.FInvalidValue, "%s", msg)
		} else if err != nil {
			return err
		}
	}
	remove := f.Get("remove_logo") != ""
	if remove && logo != nil {
		fe.Add("remove_logo", model.FInvalidValue, "cannot go with a new logo: choose one or the other")
	}
	u.CheckLogoInQR(&fe, logo != nil || d.Logo != nil && !remove)
	f.fromError(fe.Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "design", v)
	}
	dropUnchanged(&u, d)
	if logo == nil && !(remove && d.Logo != nil) && reflect.DeepEqual(u, model.PosterDesignUpdate{}) {
		s.setFlash(w, r, flashInfo, "Nothing to save: the design was already like that.")
		return s.redirect(w, r, "/console/programs/"+p.ID+"/design", "")
	}
	designs := s.svc.Designs
	if logo != nil {
		width, height, err := poster.LogoSize(logo)
		if err != nil {
			return err
		}
		_, err = designs.SetPosterLogo(ctx, p.ID, logo, width, height)
		if f.fromError(err) {
			return s.renderForm(w, r, "design", v)
		} else if err != nil {
			return err
		}
	}
	if remove && d.Logo != nil {
		if _, err := designs.DeletePosterLogo(ctx, p.ID); err != nil {
			return err
		}
	}
	if !reflect.DeepEqual(u, model.PosterDesignUpdate{}) {
		_, err := designs.UpdatePosterDesign(ctx, p.ID, u)
		if f.fromError(err) {
			return s.renderForm(w, r, "design", v)
		} else if err != nil {
			return err
		}
	}
	return s.redirect(w, r, "/console/programs/"+p.ID+"/design", "Poster design saved. The preview shows it.")
}

// readDesignForm reads the design form's inputs into f and returns the
// logo file sent, nil for none; its error is the logo's problem when the
// body could not be read at all.
func readDesignForm(r *http.Request, f *form) ([]byte, error) {
	err := r.ParseMultipartForm(poster.MaxLogoBytes + designBodySlack)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, errors.New("must be at most 1 MiB")
	} else if err != nil {
		return nil, errors.New("could not be read: the upload broke off. Choose the logo and save again")
	}
	f.read(r)
	file, _, err := r.FormFile("logo")
	if errors.Is(err, http.ErrMissingFile) {
		return nil, nil
	} else if err != nil {
		return nil, errors.New("could not be read: choose it again")
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, poster.MaxLogoBytes+1))
	if err != nil {
		return nil, errors.New("could not be read: choose it again")
	}
	if len(data) == 0 {
		return nil, nil
	}
	return data, nil
}

// readDesignUpdate is the update the form asks for, every field set.
func readDesignUpdate(f *form, d *model.PosterDesign) model.PosterDesignUpdate {
	text := func(name string) *string { v := f.Get(name); return &v }
	on := func(name string) *bool { v := f.Get(name) != ""; return &v }
	// The colour input cannot be emptied and has no typing; the text can.
	// Without script the two are not kept alike, so the one changed wins.
	accent := f.Get("accent_color")
	if picker := f.Get("accent_color_picker"); strings.EqualFold(strings.TrimSpace(accent), d.AccentColor) && picker != "" {
		accent = picker
	}
	f.Set("accent_color", accent)
	return model.PosterDesignUpdate{AccentColor: &accent, Headline: text("headline"), Incentive: text("incentive"),
		CallToAction: text("call_to_action"), ShowAmbassadorName: on("show_ambassador_name"), LogoInQR: on("logo_in_qr"),
		SignupConsent: text("signup_consent"), SignupRedirectURL: text("signup_redirect_url")}
}

// dropUnchanged leaves out of u, once validated (normalized), what d
// already is, so the audit log says what changed.
func dropUnchanged(u *model.PosterDesignUpdate, d *model.PosterDesign) {
	for _, c := range []struct {
		field **string
		was   string
	}{{&u.AccentColor, d.AccentColor}, {&u.Headline, d.Headline}, {&u.Incentive, d.Incentive}, {&u.CallToAction, d.CallToAction},
		{&u.SignupConsent, d.SignupConsent}, {&u.SignupRedirectURL, d.SignupRedirectURL}} {
		if *c.field != nil && **c.field == c.was {
			*c.field = nil
		}
	}
	if u.ShowAmbassadorName != nil && *u.ShowAmbassadorName == d.ShowAmbassadorName {
		u.ShowAmbassadorName = nil
	}
	if u.LogoInQR != nil && *u.LogoInQR == d.LogoInQR {
		u.LogoInQR = nil
	}
}

// handleDesignPreview serves GET
// /console/programs/{id}/design/preview.png?layout=&paper=&width=: the
// API's preview of the program's posters, tagged the same way.
func (s *Server) handleDesignPreview(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var fe model.FieldErrors
	layout := previewLayout(q)
	if l := q.Get("layout"); l != "" && !poster.Layout(l).Valid() {
		fe.Add("layout", model.FInvalidValue, "must be one of %s", poster.LayoutNames())
	}
	paper := q.Get("paper")
	if paper == "" {
		paper = "a4"
	} else if _, ok := poster.Papers[paper]; !ok {
		fe.Add("paper", model.FInvalidValue, "must be a4 or letter")
	}
	width := poster.PreviewDefaultWidth
	if text := q.Get("width"); text != "" {
		n, err := strconv.Atoi(text)
		if err != nil || n < poster.MinPreviewWidth || n > poster.MaxPreviewWidth {
			fe.Add("width", model.FInvalidValue, "must be from %d to %d", poster.MinPreviewWidth, poster.MaxPreviewWidth)
		}
		width = n
	}
	if err := fe.Err(); err != nil {
		return err
	}
	p, d, err := s.designPage(r)
	if err != nil {
		return err
	}
	pr := poster.Preview(p, d, nil, s.cfg.PublicBaseURL, layout, paper)
	return poster.ServePNG(w, r, pr.PreviewTag(width), "private, no-cache", func(w io.Writer) error {
		if _, pr.Logo, err = s.designOf(r.Context(), p.ID); err != nil {
			return err
		}
		return poster.PreviewPNG(w, pr.Job(), width)
	})
}

// handleDesignLogo serves GET /console/programs/{id}/design/logo.png: the
// logo as it is kept.
func (s *Server) handleDesignLogo(w http.ResponseWriter, r *http.Request) error {
	designs, err := s.designs()
	if err != nil {
		return err
	}
	logo, err := designs.FindPosterLogo(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return poster.ServePNG(w, r, poster.LogoTag(logo), "private, max-age=300", func(w io.Writer) error {
		_, err := w.Write(logo)
		return err
	})
}

// nameProblem says that a's first name cannot be printed (err, from
// PosterDesign.CheckName) and what to do about it.
func nameProblem(a *model.Ambassador, err error) string {
	return a.FirstName + " " + a.LastName + "’s first name " + err.Error() + ", and the program’s poster design shows " +
		"the ambassador’s name. Change the name, or turn off “Show the ambassador’s first name” in the poster design"
}

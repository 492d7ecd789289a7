package console

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// designSamples are the design page's views for TestPagesRender: a
// design with a logo, shown with a problem.
func designSamples(prg *model.Program) map[string]any {
	now := model.NewTime(time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC))
	d := model.DefaultPosterDesign(prg.ID)
	d.Headline, d.ShowAmbassadorName, d.UpdatedAt = "Boxes for students", true, &now
	d.Logo = &model.Logo{Width: 120, Height: 40, Bytes: 900, UpdatedAt: now}
	f := newForm(designFields...)
	fillDesignForm(f, d)
	f.AddError("headline", "uses characters posters cannot print (Han: 王)")
	return map[string]any{"design": designView{Program: prg, Design: d, Form: f, Layouts: layouts, Layout: poster.LayoutFlyer4}}
}

// picture is a w×h PNG, or a GIF when asGIF.
func picture(t *testing.T, w, h int, asGIF bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, h/2, color.RGBA{200, 30, 30, 255})
	}
	var buf bytes.Buffer
	var err error
	if asGIF {
		err = gif.Encode(&buf, img, nil)
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// designForm is the design form as the page sends it for d, with kv
// over it ("" deletes an input, as an unticked box is not sent).
func designForm(d *model.PosterDesign, kv ...string) url.Values {
	f := newForm(designFields...)
	fillDesignForm(f, d)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			f.values.Del(kv[i])
		} else {
			f.Set(kv[i], kv[i+1])
		}
	}
	return f.values
}

// postDesign sends the design form of program id as multipart, with
// logo as its file when not nil, as a browser on the page would.
func (e *testEnv) postDesign(id string, u *testUser, form url.Values, logo []byte) response {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, vs := range form {
		for _, v := range vs {
			mw.WriteField(name, v)
		}
	}
	fw, err := mw.CreateFormFile("logo", "logo.png")
	if err != nil {
		e.t.Fatal(err)
	}
	fw.Write(logo) // nil: the empty file part of a file input left empty
	mw.Close()
	req := httptest.NewRequest("POST", "/console/programs/"+id+"/design", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return e.do(req, cookieOf(u))
}

func (e *testEnv) design(id string) *model.PosterDesign {
	e.t.Helper()
	d, err := e.st.FindPosterDesign(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// A viewer sees the design and its preview but no form; a manager
// changes it, logo and all, each change audited as theirs.
func TestDesignPage(t *testing.T) {
	e := newTestEnv(t, Config{PublicBaseURL: "https://go.example.edu"})
	prg := e.program("Spring")
	path := "/console/programs/" + prg.ID + "/design"
	wantBody(t, e.get("/console/programs/"+prg.ID, e.viewer), `href="`+path+`"`)

	res := e.get(path+"?layout=stickers8", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `src="`+path+`/preview.png?layout=stickers8"`, `<option value="stickers8" selected>`, "#1a56db", "Only managers")
	noBody(t, res, `enctype="multipart/form-data"`, "Save design")
	res = e.get(path, e.manager)
	wantBody(t, res, `enctype="multipart/form-data"`, `name="accent_color" type="text" value="#1a56db"`, `type="color"`,
		`value="Scan to join"`, `name="signup_consent"`, "hosted signup page", `src="`+path+`/preview.png?layout=poster"`)

	d := e.design(prg.ID)
	res = e.postDesign(prg.ID, e.manager, designForm(d, "accent_color", "#FF6600", "headline", "Boxes for students",
		"show_ambassador_name", "on", "logo_in_qr", "on", "signup_redirect_url", "https://shop.example/welcome"), picture(t, 90, 30, false))
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.manager), "Poster design saved", `value="#ff6600"`, `/design/logo.png?v=`, "90 × 30 pixels")
	d = e.design(prg.ID)
	if d.AccentColor != "#ff6600" || d.Headline != "Boxes for students" || !d.ShowAmbassadorName || !d.LogoInQR ||
		d.Logo == nil || d.Logo.Width != 90 || d.SignupRedirectURL != "https://shop.example/welcome" || d.CallToAction != model.DefaultCallToAction {
		t.Fatalf("after saving: %+v", d)
	}
	audit, err := e.st.FindAudit(context.Background(), model.AuditFilter{Subject: prg.ID})
	if err != nil || len(audit.Data) != 2 || audit.Data[0].Action != "poster_design.updated" || audit.Data[1].Action != "poster_design.logo_set" ||
		audit.Data[0].Actor.ID != e.manager.ID {
		t.Fatalf("audit: %+v %v, want the logo, then the change, by the manager", audit.Data, err)
	}
	logo := e.get(path+"/logo.png", e.viewer)
	if img, err := png.Decode(strings.NewReader(logo.Body)); err != nil || img.Bounds().Dx() != 90 {
		t.Fatalf("the logo route: %d %v", logo.StatusCode, err)
	}

	// The same form again changes nothing; the picker counts when the text
	// is left as it was.
	res = e.postDesign(prg.ID, e.manager, designForm(d), nil)
	wantBody(t, e.follow(res, e.manager), "Nothing to save")
	e.follow(e.postDesign(prg.ID, e.manager, designForm(d, "accent_color_picker", "#00aa00"), nil), e.manager)
	if got := e.design(prg.ID).AccentColor; got != "#00aa00" {
		t.Fatalf("the picker's colour: got %s", got)
	}
	res = e.postDesign(prg.ID, e.manager, designForm(d, "remove_logo", "on", "logo_in_qr", ""), nil)
	wantBody(t, e.follow(res, e.manager), "No logo yet")
	if got := e.design(prg.ID); got.Logo != nil || got.LogoInQR {
		t.Fatalf("after removing the logo: %+v", got)
	}
	wantStatus(t, e.get(path+"/logo.png", e.viewer), http.StatusNotFound)

	wantStatus(t, e.postDesign(prg.ID, e.viewer, designForm(d, "headline", "Viewer's"), nil), http.StatusForbidden)
	req := httptest.NewRequest("POST", path, strings.NewReader("headline=Evil"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantStatus(t, e.do(req, e.manager.Cookie), http.StatusForbidden)
	if got := e.design(prg.ID).Headline; got != "Boxes for students" {
		t.Fatalf("a refused form changed the headline to %q", got)
	}
	wantStatus(t, e.get("/console/programs/prg_01m8yqk4a5mstqtdtptfpvmbxh/design", e.viewer), http.StatusNotFound)
}

// Every problem is shown next to its input, with the values kept, and
// nothing is saved.
func TestDesignProblems(t *testing.T) {
	e := newTestEnv(t)
	prg := e.program("Spring")
	d := e.design(prg.ID)
	for name, tc := range map[string]struct {
		form url.Values
		logo []byte
		want []string
	}{
		"bad colour":         {designForm(d, "accent_color", "orange"), nil, []string{`id="f-accent_color-error"`, "#rrggbb", `value="orange"`}},
		"Han headline":       {designForm(d, "headline", "王的海报"), nil, []string{`id="f-headline-error"`, "cannot print", `value="王的海报"`}},
		"a GIF":              {designForm(d), picture(t, 8, 8, true), []string{`id="f-logo-error"`, "Logo file must be a PNG or JPEG image"}},
		"QR logo, none":      {designForm(d, "logo_in_qr", "on"), nil, []string{`id="f-logo_in_qr-error"`, "needs a logo"}},
		"no consent":         {designForm(d, "signup_consent", " "), nil, []string{`id="f-signup_consent-error"`, "Consent text is required"}},
		"too large":          {designForm(d), make([]byte, poster.MaxLogoBytes+designBodySlack), []string{"Logo file must be at most 1 MiB"}},
		"script redirect":    {designForm(d, "signup_redirect_url", "javascript:alert(1)"), nil, []string{`id="f-signup_redirect_url-error"`}},
		"remove and replace": {designForm(d, "remove_logo", "on"), picture(t, 8, 8, false), []string{"No logo yet"}},
	} {
		t.Run(name, func(t *testing.T) {
			res := e.postDesign(prg.ID, e.manager, tc.form, tc.logo)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, tc.want...)
		})
	}
	if got := e.design(prg.ID); got.UpdatedAt != nil || got.Logo != nil {
		t.Fatalf("refused forms saved: %+v", got)
	}
}

// The preview is the API's: a PNG of sample posters, a 304 with its tag
// until the design changes.
func TestDesignPreview(t *testing.T) {
	e := newTestEnv(t)
	prg := e.program("Spring")
	path := "/console/programs/" + prg.ID + "/design/preview.png"
	res := e.get(path+"?layout=flyer4&paper=letter", e.viewer)
	wantStatus(t, res, http.StatusOK)
	if _, err := png.Decode(strings.NewReader(res.Body)); err != nil || res.Header.Get("ETag") == "" {
		t.Fatalf("preview: %v %v", res.Header, err)
	}
	req := httptest.NewRequest("GET", path+"?layout=flyer4&paper=letter", nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	wantStatus(t, e.do(req, e.viewer.Cookie), http.StatusNotModified)
	headline := "New"
	if _, err := e.st.UpdatePosterDesign(context.Background(), prg.ID, model.PosterDesignUpdate{Headline: &headline}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do(req, e.viewer.Cookie), http.StatusOK)
	for _, q := range []string{"?layout=banner", "?paper=a3", "?width=20"} {
		wantStatus(t, e.get(path+q, e.viewer), http.StatusBadRequest)
	}
}

// The printout takes a layout and refuses, before making anything, a name
// the design shows and cannot print; a placement's own download offers
// only the layouts of one placement.
func TestPostersWithTheDesign(t *testing.T) {
	e := newTestEnv(t, Config{PublicBaseURL: "https://go.example.edu"})
	prg := e.program("Spring")
	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	wang := e.ambassador("王", "Fang", "wang@uni.example", "")
	res := e.post("/console/placements/print", e.manager, batchForm("program_id", prg.ID, "ambassador_id", ada.ID, "count", "4", "layout", "flyer4"))
	wantPDF(t, res)
	if n := e.placementCount(model.PlacementFilter{AmbassadorID: ada.ID}); n != 4 {
		t.Fatalf("flyer4 of 4: %d placements, want 4", n)
	}
	wantStatus(t, e.post("/console/placements/print", e.manager, batchForm("program_id", prg.ID, "ambassador_id", ada.ID, "layout", "banner")),
		http.StatusUnprocessableEntity)

	show := true
	if _, err := e.st.UpdatePosterDesign(context.Background(), prg.ID, model.PosterDesignUpdate{ShowAmbassadorName: &show}); err != nil {
		t.Fatal(err)
	}
	res = e.post("/console/placements/print", e.manager, batchForm("program_id", prg.ID, "ambassador_id", ada.ID, "ambassador_id", wang.ID))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-who-error"`, "王 Fang’s first name uses characters posters cannot print", "turn off")
	if n := e.placementCount(model.PlacementFilter{}); n != 4 {
		t.Fatalf("the refused printout made placements: %d, want the 4 from before", n)
	}

	plc, _, err := e.st.CreatePlacement(context.Background(), model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: ada.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	wantPDF(t, e.get("/console/placements/"+plc.ID+"/poster.pdf?layout=tearoff&paper=letter", e.viewer))
	wantStatus(t, e.get("/console/placements/"+plc.ID+"/poster.pdf?layout=flyer4", e.viewer), http.StatusBadRequest)
	wangs, _, err := e.st.CreatePlacement(context.Background(), model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: wang.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	res = e.get("/console/placements/"+wangs.ID+"/poster.pdf", e.viewer)
	wantStatus(t, res, http.StatusConflict)
	wantBody(t, res, "cannot print", "Show the ambassador’s first name")
}

package join_test

import (
	"bytes"
	"context"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/app"
	"github.com/referrald/referrald/join"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// The handler tests' environment: the API (for the scan route) and the
// signup page on a real store in a temp dir, behind the app's own
// handler, served by httptest. A program without a landing page has a
// design (headline, offer, accent, logo, consent, a page to lead on to)
// and Ada, an ambassador with a poster. Requests go through a client with
// a cookie jar that does not follow redirects, so each test says where
// every answer leads.

const iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"

// The person who signs up in these tests: distinctive, so that the log
// can be searched for them.
const (
	personFirst = "Zebulon"
	personLast  = "Quixworth"
	personEmail = "zebulon.quixworth@mail.example"
	// peer is the client's address; the log must not hold it either.
	peer = "203.0.113.77"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

type env struct {
	t       *testing.T
	st      *store.Store
	http    *httptest.Server
	client  *http.Client
	logged  *bytes.Buffer
	metrics *metrics.Metrics
	program *model.Program
	ada     *model.Ambassador
	poster  *model.Placement
	logo    []byte
}

type envOption func(*join.Services, *join.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)}
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{Now: clk.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	var logged bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	apiSrv := api.New(api.Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Referrals: st},
		api.Config{Now: clk.Now, Logger: log})
	svc := join.Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Designs: st, Referrals: st}
	m := metrics.New(func() float64 { return 0 })
	cfg := join.Config{Logger: log, Now: clk.Now, Metrics: m}
	for _, o := range opts {
		o(&svc, &cfg)
	}
	signup := join.New(svc, cfg)
	hs := httptest.NewServer(app.Handler(apiSrv, http.NotFoundHandler(), http.NotFoundHandler(), signup))
	t.Cleanup(hs.Close)
	jar, _ := cookiejar.New(nil)
	e := &env{t: t, st: st, http: hs, logged: &logged, metrics: m, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	ctx := context.Background()
	e.program = e.newProgram("Spring campus launch", "")
	e.ada, _, err = st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "Ada", LastName: "Lovelace", Email: "ada@uni.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	e.poster = e.newPoster(e.program, e.ada)
	headline, incentive, accent, consent := "Fresh food, every week", "Get 20 % off your first box", "#f2c94c",
		"I agree that Spring campus launch may email me about this offer."
	show, redirect := true, "https://program.example/welcome"
	if _, err := st.UpdatePosterDesign(ctx, e.program.ID, model.PosterDesignUpdate{Headline: &headline, Incentive: &incentive,
		AccentColor: &accent, ShowAmbassadorName: &show, SignupConsent: &consent, SignupRedirectURL: &redirect}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	png.Encode(&buf, img)
	e.logo = buf.Bytes()
	if _, err := st.SetPosterLogo(ctx, e.program.ID, e.logo, 4, 2); err != nil {
		t.Fatal(err)
	}
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (e *env) newProgram(name, landing string) *model.Program {
	e.t.Helper()
	p, _, err := e.st.CreateProgram(context.Background(), model.ProgramCreate{Name: name, LandingURL: landing}, model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) newPoster(p *model.Program, a *model.Ambassador) *model.Placement {
	e.t.Helper()
	pl, _, err := e.st.CreatePlacement(context.Background(), model.PlacementCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	return pl
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

// do sends req from a phone at peer.
func (e *env) do(req *http.Request) response {
	e.t.Helper()
	req.Header.Set("User-Agent", iPhone)
	req.Header.Set("X-Forwarded-For", peer) // not trusted: the tests' own peer is the client
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func (e *env) get(path string) response {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.http.URL+path, nil)
	return e.do(req)
}

// post sends form to path as a browser on this site does.
func (e *env) post(path string, form url.Values, header ...string) response {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.http.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(req)
}

// scan scans pl's poster and returns where the scan route sends the
// phone.
func (e *env) scan(pl *model.Placement) *url.URL {
	e.t.Helper()
	res := e.get("/s/" + pl.Code)
	if res.Status != http.StatusFound {
		e.t.Fatalf("scan: got %d %s, want 302", res.Status, res.Body)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return loc
}

// form scans pl's poster, opens the signup page it leads to and returns
// the page's form, filled in with the test's person and the box ticked.
func (e *env) form(pl *model.Placement) (url.Values, response) {
	e.t.Helper()
	page := e.get(e.scan(pl).RequestURI())
	if page.Status != http.StatusOK {
		e.t.Fatalf("signup page: got %d %s", page.Status, page.Body)
	}
	f := url.Values{"first_name": {personFirst}, "last_name": {personLast}, "email": {personEmail}, "consent": {"yes"}}
	for _, name := range []string{"imp", "token", "consent_version"} {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page.Body)
		if m == nil {
			e.t.Fatalf("the signup page has no hidden %s:\n%s", name, page.Body)
		}
		f.Set(name, m[1])
	}
	return f, page
}

// referrals are the referrals of amb.
func (e *env) referrals(amb *model.Ambassador) []*model.Referral {
	e.t.Helper()
	page, err := e.st.FindReferrals(context.Background(), model.ReferralFilter{AmbassadorID: amb.ID, ListOptions: model.ListOptions{Limit: 100}})
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Data
}

func wantStatus(t *testing.T, res response, status int) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("got status %d, want %d:\n%s", res.Status, status, res.Body)
	}
}

func wantBody(t *testing.T, res response, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(res.Body, w) {
			t.Errorf("the page does not say %q:\n%s", w, res.Body)
		}
	}
}

// A scan of a poster of a program without a landing page lands on the
// signup page, which shows the program's design, the ambassador's first
// name and the form, and serves the logo it shows.
func TestScanLandsOnSignupPage(t *testing.T) {
	e := newEnv(t)
	loc := e.scan(e.poster)
	if loc.IsAbs() || loc.Path != "/join/"+e.poster.Code || !strings.HasPrefix(loc.Query().Get("imp"), "imp_") {
		t.Fatalf("the scan leads to %s, want /join/%s?imp=...", loc, e.poster.Code)
	}
	page := e.get(loc.RequestURI())
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, `<html lang="en">`, `<h1 class="headline">Fresh food, every week</h1>`, "Get 20 % off your first box",
		"Ada invited you.", `<label for="f-first_name">First name</label>`, `<label for="f-last_name">Last name</label>`,
		`<label for="f-email">Email</label>`, `autocomplete="email"`,
		`<label for="f-consent">I agree that Spring campus launch may email me about this offer.</label>`,
		`name="imp" value="`+loc.Query().Get("imp")+`"`, `name="token" value="join-`, `<button type="submit" class="button">Sign up</button>`,
		// A yellow accent carries black text.
		"--accent: #f2c94c; --on-accent: #000000;")
	if strings.Contains(page.Body, "Lovelace") {
		t.Errorf("the page shows the ambassador's last name")
	}
	// The inline style is allowed by this response's nonce, and no other.
	csp := page.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(page.Body, `<style nonce="`+m[1]+`">`) || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q and the page's style do not match", csp)
	}
	if page.Header.Get("Cache-Control") != "no-store" || page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers: %v", page.Header)
	}

	src := regexp.MustCompile(`<img src="([^"]+)" alt="Spring campus launch" width="4" height="2">`).FindStringSubmatch(page.Body)
	if src == nil {
		t.Fatalf("the page shows no logo:\n%s", page.Body)
	}
	logo := e.get(strings.ReplaceAll(src[1], "&amp;", "&"))
	if logo.Status != http.StatusOK || logo.Header.Get("Content-Type") != "image/png" || logo.Body != string(e.logo) ||
		!strings.Contains(logo.Header.Get("Cache-Control"), "max-age") {
		t.Errorf("the logo: %d %v", logo.Status, logo.Header)
	}
	css := regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)">`).FindStringSubmatch(page.Body)
	if css == nil {
		t.Fatal("the page links no stylesheet")
	}
	if res := e.get(css[1]); res.Status != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("the stylesheet: %d %v", res.Status, res.Header)
	}

	// Without the ambassador's name when the design hides it.
	hide := false
	if _, err := e.st.UpdatePosterDesign(context.Background(), e.program.ID, model.PosterDesignUpdate{ShowAmbassadorName: &hide}); err != nil {
		t.Fatal(err)
	}
	if page := e.get(e.scan(e.poster).RequestURI()); strings.Contains(page.Body, "Ada invited you") {
		t.Errorf("the design hides names, yet the page says who invited")
	}
}

// The form makes one referral, tied to the page's scan, with the consent
// shown in its metadata, and leads to the thank-you page, which thanks by
// first name and leads on to the program's site. The same form sent
// again makes no second referral and leads to the same page.
func TestSignupMakesOneReferral(t *testing.T) {
	e := newEnv(t)
	form, _ := e.form(e.poster)
	res := e.post("/join/"+e.poster.Code, form)
	wantStatus(t, res, http.StatusSeeOther)
	thanksPath := "/join/" + e.poster.Code + "/thanks"
	if res.Header.Get("Location") != thanksPath {
		t.Fatalf("the signup leads to %q, want %s", res.Header.Get("Location"), thanksPath)
	}
	refs := e.referrals(e.ada)
	if len(refs) != 1 {
		t.Fatalf("got %d referrals, want 1", len(refs))
	}
	ref := refs[0]
	if ref.ImpressionID != form.Get("imp") || ref.PlacementID == nil || *ref.PlacementID != e.poster.ID || ref.ProgramID != e.program.ID ||
		ref.FirstName != personFirst || ref.Email != personEmail || ref.Status != model.ReferralPending {
		t.Errorf("the referral: %+v", ref)
	}
	if want := `{"consent":"I agree that Spring campus launch may email me about this offer.","source":"signup_page"}`; string(ref.Metadata) != want {
		t.Errorf("metadata %s, want %s", ref.Metadata, want)
	}

	thanks := e.get(thanksPath)
	wantStatus(t, thanks, http.StatusOK)
	wantBody(t, thanks, "Thanks, "+personFirst+"!", `<meta http-equiv="refresh" content="5;url=https://program.example/welcome">`,
		`<a class="button" href="https://program.example/welcome" rel="noreferrer">Continue</a>`, "Fresh food, every week")

	// A double click, or the answer lost and the form sent again: the
	// same thank-you page, no second referral.
	again := e.post("/join/"+e.poster.Code, form)
	if again.Status != http.StatusSeeOther || again.Header.Get("Location") != thanksPath {
		t.Fatalf("the form sent again: %d %q", again.Status, again.Header.Get("Location"))
	}
	if refs := e.referrals(e.ada); len(refs) != 1 || refs[0].ID != ref.ID {
		t.Fatalf("after sending the form again: %d referrals, want the first one only", len(refs))
	}
	wantBody(t, e.get(thanksPath), "Thanks, "+personFirst+"!")

	// The same token with other details is not that signup: the form
	// comes back with a fresh token, and nothing is made.
	other := url.Values{}
	for k, v := range form {
		other[k] = v
	}
	other.Set("first_name", "Someone")
	res = e.post("/join/"+e.poster.Code, other)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "This form was already sent with other details", `value="Someone"`)
	if strings.Contains(res.Body, form.Get("token")) {
		t.Errorf("the form came back with its used token")
	}
	if n := len(e.referrals(e.ada)); n != 1 {
		t.Errorf("got %d referrals, want 1", n)
	}

	// One referral counted, as the API counts its own; requests by their
	// route's pattern, never their path.
	scrape := httptest.NewRecorder()
	e.metrics.Handler().ServeHTTP(scrape, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"referrald_referrals_created_total 1\n",
		`referrald_http_requests_total{code="3xx",method="POST",route="/join/{code}"} 2`} {
		if !strings.Contains(scrape.Body.String(), want) {
			t.Errorf("the metrics do not say %q", want)
		}
	}
	if strings.Contains(scrape.Body.String(), e.poster.Code) {
		t.Errorf("the metrics name the poster's code")
	}

	// Without the cookie (another browser), the page thanks without a name.
	e.client.Jar, _ = cookiejar.New(nil)
	plain := e.get(thanksPath)
	wantStatus(t, plain, http.StatusOK)
	wantBody(t, plain, "Thank you!")
	if strings.Contains(plain.Body, personFirst) {
		t.Errorf("another browser's thank-you page names the person")
	}

	// Nothing the person typed, nor their address, is in the log.
	for _, secret := range []string{personFirst, personLast, personEmail, peer, form.Get("token"), form.Get("imp")} {
		if strings.Contains(e.logged.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, e.logged.String())
		}
	}
	if !strings.Contains(e.logged.String(), "referral_id="+ref.ID) {
		t.Errorf("the log does not name the referral made:\n%s", e.logged.String())
	}
}

// A mistake comes back beside its field with everything typed kept, and
// sends nothing; so does a form without the consent box ticked.
func TestSignupFieldErrors(t *testing.T) {
	e := newEnv(t)
	form, _ := e.form(e.poster)
	form.Set("first_name", "  ")
	form.Set("email", "zebulon@nowhere")
	form.Del("consent")
	res := e.post("/join/"+e.poster.Code, form)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "<title>Error: Fresh food, every week</title>", "There are 3 problems",
		`<a href="#f-first_name">First name is required</a>`, `<a href="#f-email">Email must be a valid email address</a>`,
		`<a href="#f-consent">Tick the box to agree, to sign up.</a>`,
		`id="f-first_name-error"><span class="visually-hidden">Error: </span>First name is required</p>`,
		`id="f-email-error"><span class="visually-hidden">Error: </span>Email must be a valid email address</p>`,
		`aria-invalid="true" aria-describedby="f-email-error"`, `value="zebulon@nowhere"`, `value="`+personLast+`"`,
		`name="token" value="`+form.Get("token")+`"`)
	if strings.Contains(res.Body, " checked") {
		t.Errorf("the consent box came back ticked")
	}

	// A body past the form's bound is refused as a whole.
	huge := url.Values{}
	for k, v := range form {
		huge[k] = v
	}
	huge.Set("first_name", strings.Repeat("x", 10<<10))
	res = e.post("/join/"+e.poster.Code, huge)
	wantStatus(t, res, http.StatusRequestEntityTooLarge)
	wantBody(t, res, "That form is too large")

	// Only the box missing.
	form.Set("first_name", personFirst)
	form.Set("email", personEmail)
	res = e.post("/join/"+e.poster.Code, form)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "There is a problem", `id="f-consent-error"`, `value="`+personEmail+`"`)
	if n := len(e.referrals(e.ada)); n != 0 {
		t.Fatalf("got %d referrals after refused forms, want 0", n)
	}

	// The box ticked under words the program has changed since: ticked
	// again under the new ones, it signs up.
	form.Set("consent", "yes")
	consent := "I agree to be emailed about the spring offer."
	if _, err := e.st.UpdatePosterDesign(context.Background(), e.program.ID, model.PosterDesignUpdate{SignupConsent: &consent}); err != nil {
		t.Fatal(err)
	}
	res = e.post("/join/"+e.poster.Code, form)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "The wording of this box has changed", consent)
	form.Set("consent_version", regexp.MustCompile(`name="consent_version" value="([^"]*)"`).FindStringSubmatch(res.Body)[1])
	wantStatus(t, e.post("/join/"+e.poster.Code, form), http.StatusSeeOther)
	if refs := e.referrals(e.ada); len(refs) != 1 || !strings.Contains(string(refs[0].Metadata), consent) {
		t.Fatalf("after ticking the new words: %d referrals", len(refs))
	}
}

// The page takes only a scan of its own poster: without one, with a
// malformed or unknown one, or with another poster's, it sends the phone
// to the scan route, which records one.
func TestSignupNeedsThisPostersScan(t *testing.T) {
	e := newEnv(t)
	other := e.newPoster(e.program, e.ada)
	othersImp := e.scan(other).Query().Get("imp")
	for _, q := range []string{"", "?imp=", "?imp=nope", "?imp=imp_01jdq3f7k8m2n4p6r8t0v2x4z6", "?imp=" + othersImp} {
		res := e.get("/join/" + e.poster.Code + q)
		if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/s/"+e.poster.Code {
			t.Errorf("GET with %q: %d %q, want 303 to /s/%s", q, res.Status, res.Header.Get("Location"), e.poster.Code)
		}
	}
	form, _ := e.form(e.poster)
	form.Set("imp", othersImp)
	res := e.post("/join/"+e.poster.Code, form)
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/s/"+e.poster.Code {
		t.Errorf("POST with another poster's scan: %d %q", res.Status, res.Header.Get("Location"))
	}
	if n := len(e.referrals(e.ada)); n != 0 {
		t.Errorf("got %d referrals, want 0", n)
	}
	// Following the redirect records a scan that the page takes.
	loc := e.scan(e.poster)
	if res := e.get(loc.RequestURI()); res.Status != http.StatusOK {
		t.Errorf("after the scan route: %d", res.Status)
	}
}

// Codes that lead nowhere get the scan route's pages: unknown, or a
// program with a landing page of its own (404), a poster taken down
// (410). An archived program's page says its offer has ended.
func TestSignupPageForPostersThatTakeNone(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/join/zzzzzzzzzz", "/join/nope", "/join/", "/join", "/join/" + e.poster.Code + "/nothing"} {
		res := e.get(path)
		wantStatus(t, res, http.StatusNotFound)
		wantBody(t, res, template.HTMLEscapeString(api.ScanUnknownMessage))
	}

	// A program with a site of its own: its scans never come here.
	own := e.newProgram("Own site", "https://example.com/join")
	ownPoster := e.newPoster(own, e.ada)
	imp, _, err := e.st.CreateImpression(context.Background(), model.ImpressionCreate{PlacementID: ownPoster.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/join/" + ownPoster.Code + "?imp=" + imp.ID, "/join/" + ownPoster.Code + "/thanks", "/join/" + ownPoster.Code + "/logo.png"} {
		res := e.get(path)
		wantStatus(t, res, http.StatusNotFound)
		wantBody(t, res, template.HTMLEscapeString(api.ScanUnknownMessage))
	}
	form, _ := e.form(e.poster)
	form.Set("imp", imp.ID)
	wantStatus(t, e.post("/join/"+ownPoster.Code, form), http.StatusNotFound)

	// A poster taken down, with the scan it had before.
	form, _ = e.form(e.poster)
	active := false
	if _, err := e.st.UpdatePlacement(context.Background(), e.poster.ID, model.PlacementUpdate{Active: &active}); err != nil {
		t.Fatal(err)
	}
	res := e.get("/join/" + e.poster.Code + "?imp=" + form.Get("imp"))
	wantStatus(t, res, http.StatusGone)
	wantBody(t, res, template.HTMLEscapeString(api.ScanExpiredMessage))
	wantStatus(t, e.post("/join/"+e.poster.Code, form), http.StatusGone)
	active = true
	e.st.UpdatePlacement(context.Background(), e.poster.ID, model.PlacementUpdate{Active: &active})

	// An archived program: its scans still come, its offer has ended.
	form, _ = e.form(e.poster)
	archived := model.ProgramArchived
	if _, err := e.st.UpdateProgram(context.Background(), e.program.ID, model.ProgramUpdate{Status: &archived}); err != nil {
		t.Fatal(err)
	}
	res = e.get(e.scan(e.poster).RequestURI())
	wantStatus(t, res, http.StatusGone)
	wantBody(t, res, "This offer has ended", "Spring campus launch is no longer taking signups", "Fresh food, every week")
	res = e.post("/join/"+e.poster.Code, form)
	wantStatus(t, res, http.StatusGone)
	wantBody(t, res, "This offer has ended")
	if n := len(e.referrals(e.ada)); n != 0 {
		t.Errorf("got %d referrals, want 0", n)
	}
}

// Another site's page cannot post the form: the browser's Sec-Fetch-Site
// or Origin gives it away, and it is refused with 403.
func TestSignupRefusesCrossSitePosts(t *testing.T) {
	e := newEnv(t)
	form, _ := e.form(e.poster)
	for _, header := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
	} {
		res := e.post("/join/"+e.poster.Code, form, header...)
		wantStatus(t, res, http.StatusForbidden)
		wantBody(t, res, "This form was sent from another site, so it was refused.")
	}
	if n := len(e.referrals(e.ada)); n != 0 {
		t.Fatalf("got %d referrals, want 0", n)
	}
}

// Signups from one client are limited: past its bucket, a 429 page with
// Retry-After, and nothing made; another client is not held up.
func TestSignupRateLimit(t *testing.T) {
	e := newEnv(t, func(_ *join.Services, c *join.Config) { c.SignupLimit = api.Bucket{Rate: 0.001, Burst: 2} })
	form, _ := e.form(e.poster)
	form.Del("consent") // refused forms count too
	for range 2 {
		wantStatus(t, e.post("/join/"+e.poster.Code, form), http.StatusUnprocessableEntity)
	}
	form.Set("consent", "yes")
	res := e.post("/join/"+e.poster.Code, form)
	wantStatus(t, res, http.StatusTooManyRequests)
	wantBody(t, res, "Too many signups from your network", "Nothing was sent.")
	if res.Header.Get("Retry-After") == "" {
		t.Errorf("a 429 without Retry-After")
	}
	if n := len(e.referrals(e.ada)); n != 0 {
		t.Fatalf("got %d referrals, want 0", n)
	}
}

// Whatever the program makes of a valid signup, the person sees the same
// thank-you page: a referral its fraud policy rejects (recorded as
// rejected), a second one for an email (recorded, flagged), and one a
// hook plugin refuses (not recorded).
func TestSignupThanksWhateverTheOutcome(t *testing.T) {
	refuse := false
	e := newEnv(t, func(s *join.Services, _ *join.Config) { s.Checker = checker{&refuse} })
	reject := model.FraudReject
	if _, err := e.st.UpdateProgram(context.Background(), e.program.ID, model.ProgramUpdate{FraudPolicy: &reject}); err != nil {
		t.Fatal(err)
	}
	thanksPath := "/join/" + e.poster.Code + "/thanks"
	signUp := func(email string) {
		t.Helper()
		form, _ := e.form(e.poster)
		form.Set("email", email)
		res := e.post("/join/"+e.poster.Code, form)
		if res.Status != http.StatusSeeOther || res.Header.Get("Location") != thanksPath {
			t.Fatalf("signup as %s: %d %q, want the thank-you page", email, res.Status, res.Header.Get("Location"))
		}
		wantBody(t, e.get(thanksPath), "Thanks, "+personFirst+"!")
	}
	// The ambassador signing themself up.
	signUp("ada@uni.example")
	// The same email twice.
	signUp(personEmail)
	signUp(personEmail)
	refs := e.referrals(e.ada)
	if len(refs) != 3 {
		t.Fatalf("got %d referrals, want 3", len(refs))
	}
	// Newest first.
	if r := refs[2]; r.Status != model.ReferralRejected || !strings.Contains(strings.Join(r.Flags, ","), model.FlagSelfReferral) {
		t.Errorf("the self-referral: %s %v, want rejected and flagged", r.Status, r.Flags)
	}
	if r := refs[0]; !strings.Contains(strings.Join(r.Flags, ","), model.FlagDuplicateEmail) {
		t.Errorf("the second signup of one email: %v, want it flagged", r.Flags)
	}
	refuse = true
	signUp("another@mail.example")
	if n := len(e.referrals(e.ada)); n != 3 {
		t.Errorf("after a hook plugin refused a signup: %d referrals, want 3", n)
	}
}

// checker is a hook plugin that refuses every signup while *refuse.
type checker struct{ refuse *bool }

func (c checker) CheckReferral(ctx context.Context, in model.ReferralCreate, imp *model.Impression) (model.ReferralVerdict, error) {
	if *c.refuse {
		return model.ReferralVerdict{}, model.Errorf(model.ERejectedByHook, "known fraud ring")
	}
	return model.ReferralVerdict{Flags: []string{"checked"}}, nil
}

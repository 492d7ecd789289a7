package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// phoneUserAgent is a phone's browser: the scans in these tests are a
// person's, not a bot's.
const phoneUserAgent = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36"

// A person scans a poster of a program that has no site of its own, on a
// phone: the scan lands on the hosted signup page, in the program's
// design and with the ambassador's first name. A wrong email comes back
// beside its field; corrected, the form leads to the thank-you page,
// which leads on to the program's site. The API then has one referral
// for the ambassador, from that scan. A second person signs up with the
// keyboard alone.
func TestJoinSignupJourney(t *testing.T) {
	// The program's site, where the thank-you page leads on. Each visit
	// waits for the test to let it through, so that the thank-you page
	// stays on screen while the test looks at it.
	let := make(chan struct{}, 2)
	var letOnce sync.Once
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-let:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Welcome</title><h1 id="welcome">Welcome to Green Box</h1></html>`)
	}))
	t.Cleanup(site.Close)
	t.Cleanup(func() { letOnce.Do(func() { close(let) }) })

	var program string
	srv := startServer(t, withStore(func(st *store.Store) {
		// The design has no API of its own yet: it is set in the store.
		ctx := context.Background()
		p, _, err := st.CreateProgram(ctx, model.ProgramCreate{Name: "Green Box campus"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		program = p.ID
		headline, incentive, accent, consent := "Fresh food, every week", "Get 20 % off your first box", "#0b6e4f",
			"I agree that Green Box may email me about this offer. I can unsubscribe at any time."
		show, redirect := true, site.URL+"/welcome"
		if _, err := st.UpdatePosterDesign(ctx, p.ID, model.PosterDesignUpdate{Headline: &headline, Incentive: &incentive,
			AccentColor: &accent, ShowAmbassadorName: &show, SignupConsent: &consent, SignupRedirectURL: &redirect}); err != nil {
			t.Fatal(err)
		}
		logo := logoPNG(t)
		if _, err := st.SetPosterLogo(ctx, p.ID, logo, 120, 40); err != nil {
			t.Fatal(err)
		}
	}))
	ada := apiID(t, srv.api(t, 201, "POST", "/v1/ambassadors", `{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example"}`))
	grace := apiID(t, srv.api(t, 201, "POST", "/v1/ambassadors", `{"first_name": "Grace", "last_name": "Hopper", "email": "grace@uni.example"}`))
	poster := func(amb string) string {
		var p struct{ Code string }
		json.Unmarshal(srv.api(t, 201, "POST", "/v1/placements", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q}`, program, amb)), &p)
		return p.Code
	}
	adaCode, graceCode := poster(ada), poster(grace)

	b := newBrowser(t)
	b.phone()
	b.do("use a phone's user agent", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: phoneUserAgent})
		return err
	}))

	// The scan lands on the signup page.
	if status := b.open(srv.URL + "/s/" + adaCode); status != http.StatusOK {
		t.Fatalf("scan: got %d at %s", status, b.location())
	}
	landed, err := url.Parse(b.location())
	if err != nil || landed.Path != "/join/"+adaCode || !strings.HasPrefix(landed.Query().Get("imp"), "imp_") {
		t.Fatalf("the scan landed on %s, want the signup page with the scan's impression", b.location())
	}
	imp := landed.Query().Get("imp")
	if got := b.text("h1"); got != "Fresh food, every week" {
		t.Errorf("the page's heading is %q", got)
	}
	if got := b.text(".invited"); got != "Ada invited you." {
		t.Errorf("the invitation says %q", got)
	}
	if !run(b, "see the logo", chromedp.Evaluate[bool](`(() => { const i = document.querySelector(".logo img"); return !!i && i.complete && i.naturalWidth === 120 })()`)) {
		t.Error("the logo is not shown")
	}
	b.wantNoSideways()
	b.screenshot("join-signup")
	b.phone()

	// A wrong email first.
	b.fill("#f-first_name", "Jonah")
	b.fill("#f-last_name", "Doerrington")
	b.fill("#f-email", "jonah@mail")
	b.click("#f-consent")
	if status := b.submit("main form button[type=submit]"); status != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong email: got %d, want 422", status)
	}
	if got := b.text("#f-email-error"); !strings.Contains(got, "Email must be a valid email address") {
		t.Errorf("the email's error: %q", got)
	}
	if got := b.text(".error-summary"); !strings.Contains(got, "There is a problem") {
		t.Errorf("the summary: %q", got)
	}
	if got := run(b, "read the first name", chromedp.Value("#f-first_name")); got != "Jonah" {
		t.Errorf("the first name came back as %q", got)
	}
	b.wantNoSideways()
	b.screenshot("join-signup-error")
	b.phone()

	// Corrected, it signs up.
	b.fill("#f-email", "jonah.doerrington@mail.example")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("the signup: got %d at %s", status, b.location())
	}
	if loc := b.location(); loc != srv.URL+"/join/"+adaCode+"/thanks" {
		t.Fatalf("the signup led to %s", loc)
	}
	if got := b.text("main h1"); got != "Thanks, Jonah!" {
		t.Errorf("the thank-you page says %q", got)
	}
	if n := b.count(`a[href="` + site.URL + `/welcome"]`); n != 1 {
		t.Errorf("the thank-you page has %d links on to the program's site, want 1", n)
	}
	b.wantNoSideways()
	b.screenshot("join-thanks")

	// The page leads on by itself.
	let <- struct{}{}
	b.do("wait for the program's site", chromedp.WaitVisible("#welcome"))
	if loc := b.location(); loc != site.URL+"/welcome" {
		t.Errorf("the thank-you page led on to %s", loc)
	}

	var refs struct {
		Data []struct {
			ImpressionID string `json:"impression_id"`
			FirstName    string `json:"first_name"`
			Email        string `json:"email"`
			Metadata     map[string]string
		}
	}
	json.Unmarshal(srv.api(t, 200, "GET", "/v1/referrals?ambassador_id="+ada, ""), &refs)
	if len(refs.Data) != 1 {
		t.Fatalf("Ada has %d referrals, want 1", len(refs.Data))
	}
	if r := refs.Data[0]; r.ImpressionID != imp || r.FirstName != "Jonah" || r.Email != "jonah.doerrington@mail.example" ||
		r.Metadata["source"] != "signup_page" || !strings.HasPrefix(r.Metadata["consent"], "I agree that Green Box") {
		t.Errorf("the referral: %+v", r)
	}

	// The keyboard alone: Tab from the top of the page reaches each
	// input in order, Space ticks the box, Enter sends the form.
	b.phone()
	if status := b.open(srv.URL + "/s/" + graceCode); status != http.StatusOK {
		t.Fatalf("scan of Grace's poster: got %d", status)
	}
	for _, step := range []struct{ id, keys string }{
		{"f-first_name", "Linus"}, {"f-last_name", "Torvalds"}, {"f-email", "linus@mail.example"}, {"f-consent", " "},
	} {
		b.do("press Tab", chromedp.KeyEvent(kb.Tab))
		if got := b.focusedID(); got != step.id {
			t.Fatalf("Tab reached %q, want %s", got, step.id)
		}
		if outline := b.focusedOutline(); outline == "" || strings.HasPrefix(outline, "none") || strings.Contains(outline, " 0px") {
			t.Errorf("the focused %s's outline is %q, want a visible one", step.id, outline)
		}
		b.do("type into "+step.id, chromedp.KeyEvent(step.keys))
	}
	if !run(b, "read the box", chromedp.Evaluate[bool](`document.querySelector("#f-consent").checked`)) {
		t.Error("Space did not tick the consent box")
	}
	b.do("press Tab", chromedp.KeyEvent(kb.Tab))
	if got := b.focusedText(); got != "Sign up" {
		t.Fatalf("the last Tab reached %q, want the Sign up button", got)
	}
	b.screenshot("join-signup-keyboard")
	b.phone()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.KeyEvent(kb.Enter))
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("Enter on the button: %v, %v", res, err)
	}
	if got := b.text("main h1"); got != "Thanks, Linus!" {
		t.Errorf("after the keyboard's signup the page says %q", got)
	}
	json.Unmarshal(srv.api(t, 200, "GET", "/v1/referrals?ambassador_id="+grace, ""), &refs)
	if len(refs.Data) != 1 || refs.Data[0].FirstName != "Linus" {
		t.Errorf("Grace's referrals: %+v, want Linus's", refs.Data)
	}

	// An address that leads nowhere says so, as the scan route does.
	b.phone()
	if status := b.open(srv.URL + "/join/zzzzzzzzzz"); status != http.StatusNotFound {
		t.Errorf("an unknown code: got %d, want 404", status)
	}
	if got := b.text("h1"); got != "This poster's code is not known." {
		t.Errorf("an unknown code's page says %q", got)
	}
	b.screenshot("join-not-found")
}

// phone makes the page a phone's: 360 × 740, mobile, touch.
func (b *browser) phone() {
	b.t.Helper()
	b.do("emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulateTouch))
}

// wantNoSideways fails the test when the page is wider than its viewport:
// nothing on a phone's page should need a sideways scroll.
func (b *browser) wantNoSideways() {
	b.t.Helper()
	if w := run(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`)); w > 0 {
		b.t.Errorf("%s is %d px wider than the screen", b.location(), w)
	}
}

// focusedID is the id of the element that has the keyboard's focus.
func (b *browser) focusedID() string {
	b.t.Helper()
	return run(b, "read the focused element", chromedp.Evaluate[string](`document.activeElement?.id ?? ""`))
}

// logoPNG is a 120 × 40 logo: a green mark on white.
func logoPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 120, 40))
	for y := range 40 {
		for x := range 120 {
			c := color.RGBA{255, 255, 255, 255}
			if x > 8 && x < 32 && y > 8 && y < 32 {
				c = color.RGBA{11, 110, 79, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

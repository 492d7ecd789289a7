package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// A magic link signs in once; the session it starts shows the
// ambassador's own pages and nothing of another ambassador's.
func TestSignInShowsOnlyOwnRecords(t *testing.T) {
	e := newTestEnv(t)
	link := e.link(e.ada.amb)

	nr := e.newClient().noRedirects()
	res := nr.get(link)
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/portal/" {
		t.Errorf("the link redirects to %q, want /portal/", loc)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer", got)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.Path != "/portal/" || cookie.SameSite != http.SameSiteLaxMode ||
		cookie.MaxAge != int(DefaultSessionAbsolute.Seconds()) || cookie.Secure {
		t.Fatalf("session cookie %+v, want HttpOnly, Path /portal/, SameSite Lax, MaxAge the absolute timeout, not Secure over http", cookie)
	}

	home := nr.get("/portal/")
	wantStatus(t, home, http.StatusOK)
	if ct := home.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("home Content-Type %q", ct)
	}
	wantBody(t, home, "Hi Ada", "Spring launch")
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if home.Header.Get(h) == "" {
			t.Errorf("home has no %s header", h)
		}
	}
	if csp := home.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// The same link again signs nobody in.
	again := e.newClient()
	res = again.get(link)
	wantStatus(t, res, http.StatusUnauthorized)
	wantBody(t, res, "This sign-in link does not work", `href="/portal/login"`)
	if res := again.noRedirects().get("/portal/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/portal/login" {
		t.Errorf("a second use of the link: GET /portal/ got %d to %q, want 303 to /portal/login", res.StatusCode, res.Header.Get("Location"))
	}

	// Grace's records, by ID, are Ada's 404.
	g := e.grace
	for _, path := range []string{
		"/portal/referrals/" + g.referral.ID,
		"/portal/posters/" + g.placement.ID,
		"/portal/posters/" + g.placement.ID + "/qr.png",
		"/portal/posters/" + g.placement.ID + "/qr.svg",
		"/portal/posters/" + g.placement.ID + "/poster.pdf",
		"/portal/commissions/" + g.commission.ID,
		"/portal/payouts/" + g.payout.ID,
		"/portal/referrals/ref_nonsense",
		"/portal/posters/" + strings.Repeat("x", 200),
		"/portal/payouts/" + e.ada.referral.ID, // an ID of the wrong kind
	} {
		res := nr.get(path)
		wantStatus(t, res, http.StatusNotFound)
		wantBody(t, res, "Page not found")
		noBody(t, res, g.data()...)
	}
	// And no list of Ada's shows them.
	for _, path := range []string{"/portal/", "/portal/posters", "/portal/referrals", "/portal/commissions", "/portal/payouts", "/portal/profile"} {
		res := nr.get(path)
		wantStatus(t, res, http.StatusOK)
		noBody(t, res, g.data()...)
	}
}

// Every page of the signed-in ambassador shows their records, and never
// a referred person's email or full last name.
func TestPagesShowOwnData(t *testing.T) {
	e := newTestEnv(t)
	c := e.signIn(e.ada.amb)
	a := e.ada
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/portal/", []string{"Hi Ada", "Spring launch", "Scans", "4.90 EUR", "Paid to you"}},
		{"/portal/posters", []string{"Library, 2nd floor", a.placement.Code, "https://go.uni.example/s/" + a.placement.Code, "Spring launch"}},
		{"/portal/posters/" + a.placement.ID, []string{"Library, 2nd floor", "qr.svg", "/qr.png?download=1", "/poster.pdf?paper=a4",
			"Scans per day", "<svg class=\"chart\""}},
		{"/portal/referrals", []string{"Jonah D.", "Bought", "Library, 2nd floor"}},
		{"/portal/referrals/" + a.referral.ID, []string{"Jonah D.", "49.00 EUR", "Spring launch"}},
		{"/portal/commissions", []string{"4.90 EUR", "10 % of a 49.00 EUR purchase", "paid"}},
		{"/portal/commissions/" + a.commission.ID, []string{"4.90 EUR", "10 % of a 49.00 EUR purchase", "Jonah D.", "/portal/payouts/" + a.payout.ID}},
		{"/portal/payouts", []string{"4.90 EUR", "Bank transfer Ada"}},
		{"/portal/payouts/" + a.payout.ID, []string{"4.90 EUR", "Bank transfer Ada", "/portal/commissions/" + a.commission.ID}},
		{"/portal/profile", []string{`value="Ada"`, `value="Lovelace"`, `value="North campus"`, "ada@uni.example"}},
	} {
		res := c.get(tc.path)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, tc.want...)
		noBody(t, res, a.secrets()...)
	}
	for _, tc := range []struct{ path, ctype, prefix string }{
		{"/portal/posters/" + a.placement.ID + "/qr.png", "image/png", "\x89PNG"},
		{"/portal/posters/" + a.placement.ID + "/qr.svg", "image/svg+xml", "<"},
		{"/portal/posters/" + a.placement.ID + "/poster.pdf", "application/pdf", "%PDF"},
	} {
		res := c.get(tc.path)
		wantStatus(t, res, http.StatusOK)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) || !strings.HasPrefix(res.Body, tc.prefix) {
			t.Errorf("%s: %s starting %q", tc.path, ct, res.Body[:min(8, len(res.Body))])
		}
	}
	// The PDF prints the placement there is; no new one is made.
	page, err := e.st.FindPlacements(context.Background(), model.PlacementFilter{AmbassadorID: a.amb.ID, ListOptions: model.ListOptions{Limit: 10}})
	if err != nil || len(page.Data) != 1 {
		t.Errorf("Ada has %d placements after the downloads (%v), want 1", len(page.Data), err)
	}
}

// Without a session, every page but the login and sign-in pages sends the
// browser to the login page.
func TestPagesNeedASession(t *testing.T) {
	e := newTestEnv(t)
	c := e.newClient().noRedirects()
	for _, path := range []string{"/portal/", "/portal/posters", "/portal/posters/" + e.ada.placement.ID + "/qr.png",
		"/portal/referrals", "/portal/commissions/" + e.ada.commission.ID, "/portal/payouts", "/portal/profile"} {
		res := c.get(path)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/portal/login" {
			t.Errorf("GET %s: got %d to %q, want 303 to /portal/login", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if res := c.post("/portal/logout", nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/portal/login" {
		t.Errorf("POST /portal/logout: got %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	wantStatus(t, c.get("/portal/login"), http.StatusOK)
	wantStatus(t, c.get("/portal/static/portal.css"), http.StatusOK)
	wantStatus(t, c.get("/portal/nothing-here"), http.StatusNotFound)
}

// The login page answers a known and an unknown address alike; only a
// known one asks the mailer for a link; requests are limited per address
// and per client.
func TestLoginAnswersAlike(t *testing.T) {
	e := newTestEnv(t)
	c := e.newClient()
	known := c.post("/portal/login", url.Values{"email": {"  ADA@uni.example "}})
	unknown := c.post("/portal/login", url.Values{"email": {"nobody@uni.example"}})
	wantStatus(t, known, http.StatusOK)
	wantStatus(t, unknown, http.StatusOK)
	wantBody(t, known, "If this address belongs to an ambassador, a sign-in link is on its way; it works once, for 15 minutes")
	if known.Body != unknown.Body {
		t.Errorf("the answers differ:\nknown:\n%s\nunknown:\n%s", known.Body, unknown.Body)
	}
	events, err := e.st.FindEvents(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var requested []string
	for _, ev := range events {
		if ev.Type == model.EventPortalLinkRequested {
			requested = append(requested, string(ev.Data))
		}
	}
	if len(requested) != 1 || !strings.Contains(requested[0], e.ada.amb.ID) || !strings.Contains(requested[0], `"via":"login"`) {
		t.Errorf("link requests %q, want one for Ada via login", requested)
	}

	bad := c.post("/portal/login", url.Values{"email": {"not an address"}})
	wantStatus(t, bad, http.StatusUnprocessableEntity)
	wantBody(t, bad, "does not look like an email address", `aria-invalid="true"`)

	// Ada's address has had one request; two more are allowed, then the
	// third is refused, with the same words and how long to wait.
	for range DefaultAddressLinkLimit.Burst - 1 {
		wantStatus(t, c.post("/portal/login", url.Values{"email": {"ada@uni.example"}}), http.StatusOK)
	}
	refused := c.post("/portal/login", url.Values{"email": {"ada@uni.example"}})
	wantStatus(t, refused, http.StatusTooManyRequests)
	wantBody(t, refused, "If this address belongs to an ambassador, a sign-in link is on its way", "wait 10 minutes")
	if refused.Header.Get("Retry-After") == "" {
		t.Error("a refused request has no Retry-After")
	}
	// An unknown address is limited the same way.
	for range DefaultAddressLinkLimit.Burst - 1 {
		wantStatus(t, c.post("/portal/login", url.Values{"email": {"nobody@uni.example"}}), http.StatusOK)
	}
	wantStatus(t, c.post("/portal/login", url.Values{"email": {"nobody@uni.example"}}), http.StatusTooManyRequests)
	// Time refills the address's bucket.
	e.clock.Add(10 * 60e9)
	wantStatus(t, c.post("/portal/login", url.Values{"email": {"ada@uni.example"}}), http.StatusOK)

	// Per client: a new address each time still runs out.
	f := newTestEnv(t)
	fc := f.newClient()
	for i := range DefaultIPLinkLimit.Burst {
		wantStatus(t, fc.post("/portal/login", url.Values{"email": {"someone" + string(rune('a'+i)) + "@uni.example"}}), http.StatusOK)
	}
	wantStatus(t, fc.post("/portal/login", url.Values{"email": {"one-more@uni.example"}}), http.StatusTooManyRequests)
}

// Without email, the login page says to ask the program manager, and a
// POST sends nothing.
func TestLoginWithoutEmail(t *testing.T) {
	e := newTestEnv(t, Config{EmailEnabled: false})
	c := e.newClient()
	page := c.get("/portal/login")
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "ask your program manager for a sign-in link")
	noBody(t, page, `name="email"`)
	res := c.post("/portal/login", url.Values{"email": {"ada@uni.example"}})
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "ask your program manager")
	noBody(t, res, "on its way")
	events, _ := e.st.FindEvents(context.Background(), "", 1000)
	for _, ev := range events {
		if ev.Type == model.EventPortalLinkRequested {
			t.Errorf("a link was requested without email: %s", ev.Data)
		}
	}
}

// Pausing an ambassador ends their open session, and their links no
// longer sign in.
func TestPausedAmbassadorIsSignedOut(t *testing.T) {
	e := newTestEnv(t)
	c := e.signIn(e.ada.amb)
	link := e.link(e.ada.amb)
	paused := model.AmbassadorPaused
	if _, err := e.st.UpdateAmbassador(context.Background(), e.ada.amb.ID, model.AmbassadorUpdate{Status: &paused}); err != nil {
		t.Fatal(err)
	}
	nr := c.noRedirects()
	if res := nr.get("/portal/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/portal/login" {
		t.Fatalf("a paused ambassador's session: GET /portal/ got %d to %q, want 303 to /portal/login", res.StatusCode, res.Header.Get("Location"))
	}
	res := e.newClient().get(link)
	wantStatus(t, res, http.StatusUnauthorized)
	wantBody(t, res, "This sign-in link does not work")
}

// Signing out ends the session; an expired link shows the clear page.
func TestSignOutAndExpiredLink(t *testing.T) {
	e := newTestEnv(t)
	c := e.signIn(e.ada.amb)
	cross := c.noRedirects()
	// A form sent from another site is refused.
	req, _ := http.NewRequest("POST", e.http.URL+"/portal/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantStatus(t, cross.do(req), http.StatusForbidden)
	wantStatus(t, c.get("/portal/"), http.StatusOK)

	res := c.post("/portal/logout", nil)
	wantStatus(t, res, http.StatusOK)
	if res.Request.URL.Path != "/portal/login" {
		t.Errorf("signing out landed on %s, want /portal/login", res.Request.URL.Path)
	}
	wantBody(t, res, "You have signed out")
	if res := c.noRedirects().get("/portal/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after signing out, GET /portal/ got %d, want 303", res.StatusCode)
	}

	link := e.link(e.ada.amb)
	e.clock.Add(model.PortalLinkTTL)
	res = e.newClient().get(link)
	wantStatus(t, res, http.StatusUnauthorized)
	wantBody(t, res, "This sign-in link does not work", "more than 15 minutes old", `href="/portal/login"`)
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("the refused link's page: Cache-Control %q, Referrer-Policy %q", res.Header.Get("Cache-Control"), res.Header.Get("Referrer-Policy"))
	}
	wantStatus(t, e.newClient().get("/portal/signin"), http.StatusUnauthorized)
}

// Lists come a page at a time, newest first, with a link to the older
// ones; a cursor that is not one answers 400.
func TestReferralsPaged(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for i := range pageSize {
		imp, _, err := e.st.CreateImpression(ctx, model.ImpressionCreate{PlacementID: e.ada.placement.ID, UserAgent: "Mozilla/5.0"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "Person" + string(rune('A'+i)),
			LastName: "Surname", Email: "p" + string(rune('a'+i)) + "@mail.example"}, model.Idempotency{}); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
	}
	c := e.signIn(e.ada.amb)
	first := c.get("/portal/referrals")
	wantStatus(t, first, http.StatusOK)
	if n := strings.Count(first.Body, `<li class="item">`); n != pageSize {
		t.Errorf("the first page lists %d, want %d", n, pageSize)
	}
	wantBody(t, first, "PersonT S.")
	noBody(t, first, "Jonah D.", "Surname")
	i := strings.Index(first.Body, `href="/portal/referrals?after=`)
	if i < 0 {
		t.Fatalf("the first page has no link to older ones:\n%s", first.Body)
	}
	next := first.Body[i+len(`href="`):]
	next = strings.ReplaceAll(next[:strings.Index(next, `"`)], "&amp;", "&")
	second := c.get(next)
	wantStatus(t, second, http.StatusOK)
	wantBody(t, second, "Jonah D.")
	if n := strings.Count(second.Body, `<li class="item">`); n != 1 {
		t.Errorf("the second page lists %d, want 1", n)
	}
	for _, after := range []string{strings.Repeat("x", 100), "ref_not-a-cursor"} {
		if res := c.get("/portal/referrals?after=" + url.QueryEscape(after)); res.StatusCode != http.StatusBadRequest {
			t.Errorf("after=%.20s: got %d, want 400", after, res.StatusCode)
		}
	}
}

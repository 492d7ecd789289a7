package portal

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// The handler tests' environment: the portal on a real store in a temp
// dir, served by httptest, with two ambassadors who each have a program,
// a poster, a scan, a sign-up, a purchase, a commission and a payout.
// Tests sign in the way a browser does: a magic link opened with a
// cookie jar.

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testEnv struct {
	t     *testing.T
	st    *store.Store
	srv   *Server
	http  *httptest.Server
	clock *clock
	// ada and grace are two ambassadors with a world each.
	ada, grace *world
}

// world is one ambassador's records.
type world struct {
	amb        *model.Ambassador
	program    *model.Program
	placement  *model.Placement
	referral   *model.Referral
	commission *model.Commission
	payout     *model.Payout
}

func newTestEnv(t *testing.T, cfg ...Config) *testEnv {
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
	c := Config{EmailEnabled: true, PublicBaseURL: "https://go.uni.example"}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	c.Now = clk.Now
	srv := New(Services{Ambassadors: st, Programs: st, Placements: st, Referrals: st, Earnings: st, Stats: st, Portal: st, Designs: st}, c)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e := &testEnv{t: t, st: st, srv: srv, http: hs, clock: clk}
	e.ada = e.newWorld("Ada", "Lovelace", "ada@uni.example", "Spring launch", "Library, 2nd floor",
		model.ReferralCreate{FirstName: "Jonah", LastName: "Doerrington", Email: "jonah.doerrington@mail.example"})
	e.grace = e.newWorld("Grace", "Hopper", "grace@uni.example", "Autumn secret program", "Gym noticeboard",
		model.ReferralCreate{FirstName: "Priya", LastName: "Ramaswamy", Email: "priya.ramaswamy@mail.example"})
	return e
}

// newWorld makes an ambassador with a program (10 % commission), a
// poster, a scan of it, a sign-up, a purchase, its commission approved
// and paid.
func (e *testEnv) newWorld(first, last, email, program, label string, person model.ReferralCreate) *world {
	e.t.Helper()
	ctx := context.Background()
	var w world
	var err error
	must := func(err error) {
		e.t.Helper()
		if err != nil {
			e.t.Fatal(err)
		}
	}
	w.program, _, err = e.st.CreateProgram(ctx, model.ProgramCreate{Name: program, LandingURL: "https://example.com/join",
		Commission: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1000}}, model.Idempotency{})
	must(err)
	w.amb, _, err = e.st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: first, LastName: last, Email: email, School: "North campus"}, model.Idempotency{})
	must(err)
	w.placement, _, err = e.st.CreatePlacement(ctx, model.PlacementCreate{ProgramID: w.program.ID, AmbassadorID: w.amb.ID, Label: label}, model.Idempotency{})
	must(err)
	imp, _, err := e.st.CreateImpression(ctx, model.ImpressionCreate{PlacementID: w.placement.ID, UserAgent: "Mozilla/5.0 (iPhone)"}, model.Idempotency{})
	must(err)
	person.ImpressionID = imp.ID
	w.referral, _, err = e.st.CreateReferral(ctx, person, model.Idempotency{})
	must(err)
	earning, _, err := e.st.CreateEarning(ctx, model.EarningCreate{ReferralID: w.referral.ID, Amount: 4900, Currency: "EUR"}, model.Idempotency{})
	must(err)
	coms, err := e.st.FindCommissions(ctx, model.CommissionFilter{EarningID: earning.ID, ListOptions: model.ListOptions{Limit: 1}})
	must(err)
	if len(coms.Data) != 1 {
		e.t.Fatalf("the earning made %d commissions, want 1", len(coms.Data))
	}
	w.commission, err = e.st.ApproveCommission(ctx, coms.Data[0].ID)
	must(err)
	w.payout, _, err = e.st.CreatePayout(ctx, model.PayoutCreate{AmbassadorID: w.amb.ID, Currency: "EUR", ExternalReference: "Bank transfer " + first},
		model.Idempotency{})
	must(err)
	return &w
}

// link makes a sign-in link for amb and returns its path.
func (e *testEnv) link(amb *model.Ambassador) string {
	e.t.Helper()
	l, err := e.st.CreatePortalLink(context.Background(), amb.ID, model.PortalLinkTTL)
	if err != nil {
		e.t.Fatal(err)
	}
	u, _ := url.Parse(model.PortalLinkURL(e.http.URL, l.Token))
	return u.RequestURI()
}

// client is a browser: a cookie jar, following redirects.
type client struct {
	e *testEnv
	c *http.Client
}

func (e *testEnv) newClient() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, c: &http.Client{Jar: jar}}
}

// signIn opens a fresh sign-in link for amb, and fails unless it lands
// on the home page.
func (e *testEnv) signIn(amb *model.Ambassador) *client {
	e.t.Helper()
	c := e.newClient()
	res := c.get(e.link(amb))
	wantStatus(e.t, res, http.StatusOK)
	if res.Request.URL.Path != "/portal/" {
		e.t.Fatalf("signing in landed on %s, want /portal/", res.Request.URL)
	}
	return c
}

type response struct {
	*http.Response
	Body string
}

func (c *client) do(req *http.Request) response {
	c.e.t.Helper()
	res, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Response: res, Body: string(b)}
}

func (c *client) get(path string) response {
	c.e.t.Helper()
	req, _ := http.NewRequest("GET", c.e.http.URL+path, nil)
	return c.do(req)
}

// post sends form to path as a browser does from a page of the portal.
func (c *client) post(path string, form url.Values) response {
	c.e.t.Helper()
	req, _ := http.NewRequest("POST", c.e.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// noRedirects makes c stop at the first answer, to see a redirect itself.
func (c *client) noRedirects() *client {
	cc := *c.c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{e: c.e, c: &cc}
}

func wantStatus(t *testing.T, res response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s: got status %d, want %d:\n%s", res.Request.Method, res.Request.URL.Path, res.StatusCode, status, res.Body)
	}
}

func wantBody(t *testing.T, res response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(res.Body, p) {
			t.Errorf("%s %s: the page does not say %q:\n%s", res.Request.Method, res.Request.URL.Path, p, res.Body)
		}
	}
}

func noBody(t *testing.T, res response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(res.Body, p) {
			t.Errorf("%s %s: the page says %q, and should not", res.Request.Method, res.Request.URL.Path, p)
		}
	}
}

// secrets are what no page of w's ambassador's may show of w's
// referred person: their email and full last name.
func (w *world) secrets() []string {
	return []string{w.referral.Email, w.referral.LastName}
}

// data is what pages of w's own show, and another's must not.
func (w *world) data() []string {
	return append(w.secrets(), w.amb.FirstName, w.program.Name, *w.placement.Label, w.placement.Code, w.referral.FirstName,
		"Bank transfer "+w.amb.FirstName)
}

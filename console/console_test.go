package console

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// The handler tests' environment: the console on a real store in a temp
// dir, driven through its real router, with a signed-in user of each
// role. A page's tests add a file of their own and use newTestEnv, get,
// post and the users' cookies.

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

// testPassword is every test user's password.
const testPassword = "correct horse battery staple"

type testUser struct {
	*model.User
	// Cookie is the session cookie of a session of theirs.
	Cookie *http.Cookie
}

type testEnv struct {
	t     *testing.T
	st    *store.Store
	srv   *Server
	clock *clock
	// viewer, manager and owner are signed in.
	viewer, manager, owner *testUser
}

// newTestEnv opens a store in a temp dir and builds the console on it,
// with cfg's settings (its clock is the env's), and a user of each role.
func newTestEnv(t *testing.T, cfg ...Config) *testEnv {
	t.Helper()
	e := newEmptyEnv(t, cfg...)
	e.owner = e.newUser("owner@uni.example", model.RoleOwner)
	e.manager = e.newUser("manager@uni.example", model.RoleManager)
	e.viewer = e.newUser("viewer@uni.example", model.RoleViewer)
	return e
}

// newEmptyEnv is newTestEnv without users: a first run.
func newEmptyEnv(t *testing.T, cfg ...Config) *testEnv {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)}
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{Now: clk.Now, IdempotencyWindow: time.Hour, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	var c Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	c.Now = clk.Now
	svc := Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Referrals: st, Keys: st,
		Earnings: st, Stats: st, Backup: st, Writes: st, Users: st, Audit: st, Portal: st, Webhooks: st, Designs: st}
	return &testEnv{t: t, st: st, srv: New(svc, c), clock: clk}
}

// newUser makes a user with testPassword and a session of theirs.
func (e *testEnv) newUser(email string, role model.Role) *testUser {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.st.CreateUser(ctx, model.UserCreate{Email: email, Role: role, Password: testPassword})
	if err != nil {
		e.t.Fatal(err)
	}
	_, token, err := e.st.CreateSession(ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return &testUser{User: u, Cookie: &http.Cookie{Name: sessionCookie, Value: token}}
}

// response is what the console answered.
type response struct {
	*http.Response
	Body string
}

// cookie is the cookie the answer sets under name, or nil.
func (r response) cookie(name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// location is where a redirect points.
func (r response) location() string { return r.Header.Get("Location") }

// do sends req through the console's router, with the cookies given.
func (e *testEnv) do(req *http.Request, cookies ...*http.Cookie) response {
	e.t.Helper()
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(c)
		}
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	res := w.Result()
	res.Request = req
	b, _ := io.ReadAll(res.Body)
	return response{Response: res, Body: string(b)}
}

// get asks for path as the user (nil: nobody signed in).
func (e *testEnv) get(path string, u *testUser) response {
	e.t.Helper()
	return e.do(httptest.NewRequest("GET", path, nil), cookieOf(u))
}

// post sends form to path as the user (nil: nobody signed in), as a
// browser would from a page of the console.
func (e *testEnv) post(path string, u *testUser, form url.Values) response {
	e.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return e.do(req, cookieOf(u))
}

// follow follows a redirect res with the flash it set: the page after
// a change, as the browser shows it.
func (e *testEnv) follow(res response, u *testUser) response {
	e.t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("got %d, want a 303 to follow:\n%s", res.StatusCode, res.Body)
	}
	return e.do(httptest.NewRequest("GET", res.location(), nil), cookieOf(u), res.cookie(flashCookie))
}

func cookieOf(u *testUser) *http.Cookie {
	if u == nil {
		return nil
	}
	return u.Cookie
}

// wantStatus fails the test unless res has status.
func wantStatus(t *testing.T, res response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s: got status %d, want %d:\n%s", res.Request.Method, res.Request.URL, res.StatusCode, status, res.Body)
	}
}

// wantBody fails the test unless res's body holds each of parts.
func wantBody(t *testing.T, res response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(res.Body, p) {
			t.Errorf("%s %s: the page does not say %q:\n%s", res.Request.Method, res.Request.URL, p, res.Body)
		}
	}
}

// noBody fails the test if res's body holds any of parts.
func noBody(t *testing.T, res response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(res.Body, p) {
			t.Errorf("%s %s: the page says %q, and should not", res.Request.Method, res.Request.URL, p)
		}
	}
}

// program makes a program through the store, as the test's setup.
func (e *testEnv) program(name string) *model.Program {
	e.t.Helper()
	p, _, err := e.st.CreateProgram(context.Background(), model.ProgramCreate{Name: name, LandingURL: "https://example.com/join"}, model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// Every route with a role refuses a browser without a session, sending
// it to sign in, and refuses a user whose role is too low with the 403
// page: the router decides, whatever the handler would do.
func TestRoutesNeedTheirRole(t *testing.T) {
	e := newTestEnv(t)
	p := e.program("Spring")
	users := map[model.Role]*testUser{model.RoleViewer: e.viewer, model.RoleManager: e.manager, model.RoleOwner: e.owner}
	for _, r := range e.srv.Routes() {
		if r.Role == "" {
			continue
		}
		path := strings.ReplaceAll(strings.ReplaceAll(r.Pattern, "{id}", p.ID), "{$}", "")
		t.Run(r.Method+" "+r.Pattern, func(t *testing.T) {
			// Each request has a session of its own: some routes end it.
			send := func(u *testUser) response {
				if u != nil {
					_, token, err := e.st.CreateSession(context.Background(), u.ID)
					if err != nil {
						t.Fatal(err)
					}
					u = &testUser{User: u.User, Cookie: &http.Cookie{Name: sessionCookie, Value: token}}
				}
				if r.Method == "POST" {
					return e.post(path, u, url.Values{})
				}
				return e.get(path, u)
			}
			res := send(nil)
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.location(), "/console/login") {
				t.Errorf("signed out: got %d to %q, want 303 to the sign-in page", res.StatusCode, res.location())
			}
			for role, u := range users {
				res := send(u)
				if allowed := role.Allows(r.Role); !allowed && res.StatusCode != http.StatusForbidden {
					t.Errorf("as %s: got %d, want 403", role, res.StatusCode)
				} else if allowed && res.StatusCode == http.StatusForbidden {
					t.Errorf("as %s: got 403, want the page", role)
				}
			}
		})
	}
}

// Paths no route has get the 404 page, with the nav for a signed-in
// user; static files are served with a long cache when versioned.
func TestNotFoundAndStatic(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/nowhere", e.viewer)
	wantStatus(t, res, http.StatusNotFound)
	wantBody(t, res, "Page not found", `aria-label="Main"`)
	res = e.get("/console/nowhere", nil)
	wantStatus(t, res, http.StatusNotFound)
	wantBody(t, res, "Page not found", `href="/console/login"`)
	noBody(t, res, `aria-label="Main"`)
	wantStatus(t, e.get("/console/programs/prg_01m8yqk4a5mstqtdtptfpvmbxh", e.viewer), http.StatusNotFound)
	wantStatus(t, e.get("/console/programs/nonsense", e.viewer), http.StatusNotFound)

	css := e.srv.assets["console.css"]
	res = e.get("/console/static/console.css?v="+css.hash, nil)
	wantStatus(t, res, http.StatusOK)
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("versioned CSS: Cache-Control %q, Content-Type %q", cc, res.Header.Get("Content-Type"))
	}
	if cc := e.get("/console/static/console.css", nil).Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("unversioned CSS: Cache-Control %q, want no-cache", cc)
	}
	wantStatus(t, e.get("/console/static/nope.css", nil), http.StatusNotFound)
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
		if res.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

// A write sent by another site's page is refused with 403 before any
// handler runs, whether the browser says so (Sec-Fetch-Site) or only its
// Origin tells.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	e := newTestEnv(t)
	for name, headers := range map[string]map[string]string{
		"Sec-Fetch-Site": {"Sec-Fetch-Site": "cross-site"},
		"Origin":         {"Origin": "https://evil.example"},
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/console/programs/new", strings.NewReader("name=Evil&landing_url=https://evil.example"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			res := e.do(req, e.manager.Cookie)
			wantStatus(t, res, http.StatusForbidden)
			wantBody(t, res, "another site")
		})
	}
	if page, _ := e.st.FindPrograms(context.Background(), model.ProgramFilter{}); len(page.Data) != 0 {
		t.Fatalf("a cross-site form made %d programs", len(page.Data))
	}
	// The same form from the console's own page goes through.
	req := httptest.NewRequest("POST", "http://example.com/console/logout", nil)
	req.Header.Set("Origin", "http://example.com")
	wantStatus(t, e.do(req, e.viewer.Cookie), http.StatusSeeOther)
}

// limits is a Config with small sign-in buckets, for tests of them.
func limits(account, ip int) Config {
	return Config{AccountSignInLimit: api.Bucket{Rate: 1.0 / 60, Burst: account}, IPSignInLimit: api.Bucket{Rate: 1.0 / 60, Burst: ip}}
}

func formOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// A body larger than any form of the console is not read: the form says
// it could not be read, and nothing is done.
func TestLargeBodyIsRefused(t *testing.T) {
	e := newTestEnv(t)
	res := e.post("/console/programs/new", e.manager, formOf("name", strings.Repeat("x", maxFormBytes), "landing_url", "https://example.com"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "The form could not be read")
	if page, _ := e.st.FindPrograms(context.Background(), model.ProgramFilter{}); len(page.Data) != 0 {
		t.Fatalf("an oversized form made a program")
	}
}

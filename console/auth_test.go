package console

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Signing in: a wrong password or an unknown address get the same
// answer and no session; the right one gets a session cookie with the
// right attributes and goes where it was going.
func TestSignIn(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/programs?status=all", nil)
	wantStatus(t, res, http.StatusSeeOther)
	if want := "/console/login?next=" + url.QueryEscape("/console/programs?status=all"); res.location() != want {
		t.Fatalf("signed out: redirected to %q, want %q", res.location(), want)
	}
	res = e.get("/console/login?next="+url.QueryEscape("/console/programs?status=all"), nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `<label for="f-email">Email</label>`, `<label for="f-password">Password</label>`, `value="/console/programs?status=all"`)

	var answers []string
	for _, email := range []string{"manager@uni.example", "nobody@uni.example"} {
		res := e.post("/console/login", nil, formOf("email", email, "password", "wrong password here", "next", "/console/programs"))
		wantStatus(t, res, http.StatusUnauthorized)
		wantBody(t, res, "The email address or the password is not right")
		if c := res.cookie(sessionCookie); c != nil {
			t.Fatalf("a failed sign-in set a session cookie %v", c)
		}
		answers = append(answers, strings.ReplaceAll(res.Body, email, ""))
	}
	if answers[0] != answers[1] {
		t.Errorf("a wrong password and an unknown address are answered differently")
	}
	res = e.post("/console/login", nil, formOf("email", "", "password", ""))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Email is required", "Password is required", `href="#f-email"`, `aria-invalid="true"`)

	res = e.post("/console/login", nil, formOf("email", " Manager@UNI.example ", "password", testPassword, "next", "/console/programs?status=all"))
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/programs?status=all" {
		t.Errorf("signed in: redirected to %q, want the next page", res.location())
	}
	c := res.cookie(sessionCookie)
	if c == nil || c.Value == "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/console/" || c.Secure ||
		c.MaxAge != int(DefaultSessionAbsolute.Seconds()) {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/console/, not Secure over http, for the absolute timeout", c)
	}
	res = e.do(httptest.NewRequest("GET", "/console/", nil), c)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "manager@uni.example")
	// Signed in, the sign-in page sends you on.
	res = e.do(httptest.NewRequest("GET", "/console/login?next=/console/programs", nil), c)
	if res.StatusCode != http.StatusSeeOther || res.location() != "/console/programs" {
		t.Errorf("sign-in page when signed in: got %d to %q", res.StatusCode, res.location())
	}
	// A next that leads elsewhere is dropped.
	res = e.post("/console/login", nil, formOf("email", "manager@uni.example", "password", testPassword, "next", "//evil.example/"))
	if res.location() != "/console/" {
		t.Errorf("next //evil.example/: redirected to %q, want /console/", res.location())
	}
}

func TestLocalNext(t *testing.T) {
	for next, want := range map[string]string{
		"":                              "/console/",
		"/console/programs":             "/console/programs",
		"/console/programs?status=all":  "/console/programs?status=all",
		"/console/programs/prg_1/edit":  "/console/programs/prg_1/edit",
		"//evil.example/console/":       "/console/",
		"https://evil.example/console/": "/console/",
		"/console/../v1/programs":       "/console/",
		"/console/./x":                  "/console/",
		"/console\\@evil.example":       "/console/",
		"/console/\\evil.example":       "/console/",
		"/v1/programs":                  "/console/",
		"/console/login":                "/console/",
		"/console/logout":               "/console/",
		"javascript:alert(1)":           "/console/",
		"/console/%0d%0aSet-Cookie:x=1": "/console/%0d%0aSet-Cookie:x=1",
		"/console/\r\nSet-Cookie: x=1":  "/console/",
	} {
		if got := localNext(next); got != want {
			t.Errorf("localNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// The cookie is Secure when the browser came over https: over TLS, or
// through a trusted proxy that says so; a client's own header is not
// believed.
func TestSecureCookie(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, header, peer, fwdHeader, value string
		tls, want                            bool
	}{
		{name: "tls", tls: true, peer: "192.0.2.1:1", want: true},
		{name: "plain http", peer: "192.0.2.1:1"},
		{name: "X-Forwarded-Proto from a trusted proxy", header: "x-forwarded-for", peer: "10.0.0.1:1", fwdHeader: "X-Forwarded-Proto", value: "https", want: true},
		{name: "X-Forwarded-Proto from a client", header: "x-forwarded-for", peer: "192.0.2.1:1", fwdHeader: "X-Forwarded-Proto", value: "https"},
		{name: "Forwarded from a trusted proxy", header: "forwarded", peer: "10.0.0.1:1", fwdHeader: "Forwarded", value: "for=192.0.2.9;proto=https", want: true},
		{name: "Forwarded http", header: "forwarded", peer: "10.0.0.1:1", fwdHeader: "Forwarded", value: "for=192.0.2.9;proto=http"},
		{name: "the other header", header: "forwarded", peer: "10.0.0.1:1", fwdHeader: "X-Forwarded-Proto", value: "https"},
		{name: "the nearest proxy's word", header: "forwarded", peer: "10.0.0.1:1", fwdHeader: "Forwarded", value: "proto=https, for=192.0.2.9;proto=http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, Config{TrustedProxies: proxy, ClientIPHeader: tc.header})
			req := httptest.NewRequest("POST", "/console/login", strings.NewReader(formOf("email", "viewer@uni.example", "password", testPassword).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = tc.peer
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			if tc.fwdHeader != "" {
				req.Header.Set(tc.fwdHeader, tc.value)
			}
			res := e.do(req)
			wantStatus(t, res, http.StatusSeeOther)
			if c := res.cookie(sessionCookie); c == nil || c.Secure != tc.want {
				t.Errorf("cookie %+v: want Secure %v", c, tc.want)
			}
		})
	}
}

// Failed sign-ins are limited per address typed and per client IP, the
// same way for an address nobody has; a sign-in that works gives its
// tokens back.
func TestSignInLimits(t *testing.T) {
	e := newTestEnv(t, limits(3, 6))
	fail := func(email, ip string) response {
		req := httptest.NewRequest("POST", "/console/login", strings.NewReader(formOf("email", email, "password", "not the password").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = ip
		return e.do(req)
	}
	signIn := func(email, ip string) response {
		req := httptest.NewRequest("POST", "/console/login", strings.NewReader(formOf("email", email, "password", testPassword).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = ip
		return e.do(req)
	}
	for _, email := range []string{"viewer@uni.example", "nobody@uni.example"} {
		for range 3 {
			wantStatus(t, fail(email, "192.0.2.1:1"), http.StatusUnauthorized)
		}
		res := fail(email, "192.0.2.2:1")
		wantStatus(t, res, http.StatusTooManyRequests)
		wantBody(t, res, "Too many failed sign-ins")
		if res.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	}
	// The right password is refused too while the address's bucket is
	// empty: otherwise the limit would tell a guesser when they are right.
	wantStatus(t, signIn("viewer@uni.example", "192.0.2.3:1"), http.StatusTooManyRequests)
	e.clock.Add(time.Minute)
	wantStatus(t, signIn("viewer@uni.example", "192.0.2.3:1"), http.StatusSeeOther)

	// Per IP: six failures from one client over several addresses.
	for i, email := range []string{"a@uni.example", "b@uni.example", "c@uni.example", "d@uni.example", "e@uni.example"} {
		if res := fail(email, "198.51.100.1:1"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d from one IP: got %d", i+1, res.StatusCode)
		}
	}
	wantStatus(t, signIn("manager@uni.example", "198.51.100.1:1"), http.StatusSeeOther) // given back
	wantStatus(t, fail("f@uni.example", "198.51.100.1:1"), http.StatusUnauthorized)
	wantStatus(t, fail("g@uni.example", "198.51.100.1:1"), http.StatusTooManyRequests)
}

// Signing out ends the session; signing out everywhere ends every
// session of the user, and only theirs.
func TestSignOut(t *testing.T) {
	e := newTestEnv(t)
	res := e.post("/console/logout", e.viewer, nil)
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/login" {
		t.Errorf("signed out to %q", res.location())
	}
	if c := res.cookie(sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("sign-out did not clear the cookie: %+v", c)
	}
	wantBody(t, e.follow(res, nil), "You have signed out.")
	if res := e.get("/console/", e.viewer); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the ended session still works: %d", res.StatusCode)
	}

	_, other, err := e.st.CreateSession(context.Background(), e.manager.ID)
	if err != nil {
		t.Fatal(err)
	}
	res = e.get("/console/account", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Sign out everywhere", "12 hours", "7 days")
	wantStatus(t, e.post("/console/account/sign-out-everywhere", e.manager, nil), http.StatusSeeOther)
	for _, c := range []*http.Cookie{e.manager.Cookie, {Name: sessionCookie, Value: other}} {
		if res := e.do(httptest.NewRequest("GET", "/console/", nil), c); res.StatusCode != http.StatusSeeOther {
			t.Errorf("a session of the user still works after signing out everywhere: %d", res.StatusCode)
		}
	}
	wantStatus(t, e.get("/console/", e.owner), http.StatusOK)
}

// A session ends after the idle timeout, and after the absolute one
// however much it is used.
func TestSessionTimeouts(t *testing.T) {
	e := newTestEnv(t, Config{SessionIdle: time.Hour, SessionAbsolute: 3 * time.Hour})
	for range 4 {
		wantStatus(t, e.get("/console/", e.viewer), http.StatusOK)
		e.clock.Add(50 * time.Minute)
	}
	// 3h20m after sign-in, never idle an hour.
	if res := e.get("/console/", e.viewer); res.StatusCode != http.StatusSeeOther {
		t.Errorf("past the absolute timeout: got %d, want the sign-in page", res.StatusCode)
	} else if c := res.cookie(sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("an ended session's cookie is not cleared: %+v", c)
	}
	e.clock.Add(61 * time.Minute) // the manager's session has been idle since the start
	if res := e.get("/console/", e.manager); res.StatusCode != http.StatusSeeOther {
		t.Errorf("past the idle timeout: got %d, want the sign-in page", res.StatusCode)
	}
}

// The setup link makes the first owner, once, and signs them in.
func TestSetup(t *testing.T) {
	e := newTestEnv(t)
	wantStatus(t, e.get("/console/setup?token=whatever", nil), http.StatusConflict) // users exist
	e = newEmptyEnv(t)
	token, err := e.st.CreateSetupToken(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	res := e.get("/console/setup?token="+url.QueryEscape(token), nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Set up referrald", `name="token"`)
	wantStatus(t, e.get("/console/setup", nil), http.StatusBadRequest)

	res = e.post("/console/setup", nil, formOf("token", token, "email", "ann@uni.example", "password", "short", "confirm", "short"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Password must be at least 12 characters", `value="ann@uni.example"`)
	noBody(t, res, `value="short"`)
	res = e.post("/console/setup", nil, formOf("token", token, "email", "ann@uni.example", "password", testPassword, "confirm", testPassword+"!"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Password again does not match the password")
	res = e.post("/console/setup", nil, formOf("token", "not-the-token", "email", "ann@uni.example", "password", testPassword, "confirm", testPassword))
	wantStatus(t, res, http.StatusUnauthorized)
	wantBody(t, res, "expired or has been used")

	res = e.post("/console/setup", nil, formOf("token", token, "email", "ann@uni.example", "password", testPassword, "confirm", testPassword))
	wantStatus(t, res, http.StatusSeeOther)
	owner := &testUser{Cookie: res.cookie(sessionCookie)}
	if owner.Cookie == nil {
		t.Fatal("setup did not sign the owner in")
	}
	page := e.follow(res, owner)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Welcome to referrald", "ann@uni.example", "owner")
	res = e.post("/console/setup", nil, formOf("token", token, "email", "bob@uni.example", "password", testPassword, "confirm", testPassword))
	wantStatus(t, res, http.StatusConflict)
	if n, _ := e.st.CountUsers(context.Background()); n != 1 {
		t.Fatalf("got %d users, want the one owner", n)
	}
}

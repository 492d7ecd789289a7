package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/referrald/referrald/model"
)

// signedOut fails the test unless the cookie's session has ended.
func signedOut(t *testing.T, e *testEnv, c *http.Cookie) {
	t.Helper()
	if res := e.do(httptest.NewRequest("GET", "/console/", nil), c); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the session still works: got %d", res.StatusCode)
	}
}

// An owner lists the users and adds one, who can then sign in; the form
// says what is wrong and never sends a password back.
func TestUserCreate(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/users", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "owner@uni.example", "(you)", "manager@uni.example", "viewer@uni.example", `href="/console/users/new"`)

	res = e.get("/console/users/new", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `value="viewer" checked`, `autocomplete="new-password"`)

	for _, c := range []struct {
		name string
		form []string
		want []string
	}{
		{"empty", nil, []string{"Email is required", "Role must be owner, manager or viewer", "Password is required"}},
		{"short password", []string{"email", "new@uni.example", "role", "viewer", "password", "short", "confirm", "short"},
			[]string{"Password must be at least 12 characters"}},
		{"passwords differ", []string{"email", "new@uni.example", "role", "viewer", "password", "a long passphrase here", "confirm", "a long passphrase there"},
			[]string{"Password again does not match the password"}},
		{"email taken", []string{"email", "Manager@uni.example", "role", "viewer", "password", testPassword, "confirm", testPassword},
			[]string{"Email belongs to a console user already"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := e.post("/console/users/new", e.owner, formOf(c.form...))
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, c.want...)
			noBody(t, res, "a long passphrase", testPassword)
		})
	}

	res = e.post("/console/users/new", e.owner, formOf("email", "New@Uni.example", "role", "manager", "password", "a long passphrase here", "confirm", "a long passphrase here"))
	wantStatus(t, res, http.StatusSeeOther)
	page := e.follow(res, e.owner)
	wantBody(t, page, "New@uni.example can sign in now, as manager.", "Manager")
	u, err := e.st.Authenticate(context.Background(), "new@uni.example", "a long passphrase here")
	if err != nil || u.Role != model.RoleManager || res.location() != "/console/users/"+u.ID {
		t.Fatalf("the new user: %+v, %v, page %q", u, err, res.location())
	}
}

// An owner changes someone's role, disables them (which ends their
// sessions), enables them, sets their password and signs them out.
func TestUserChanges(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	path := "/console/users/" + e.manager.ID

	res := e.get(path, e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "manager@uni.example", `value="manager" checked`, `action="`+path+`/password"`, `href="/console/audit?subject=`+e.manager.ID+`"`)

	res = e.post(path+"/role", e.owner, formOf("role", "boss"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Role must be owner, manager or viewer")
	res = e.post(path+"/role", e.owner, formOf("role", "viewer"))
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.owner), "manager@uni.example is a viewer now.")
	if u, _ := e.st.FindUserByID(ctx, e.manager.ID); u.Role != model.RoleViewer {
		t.Fatalf("role: got %s, want viewer", u.Role)
	}
	res = e.post(path+"/role", e.owner, formOf("role", "viewer"))
	wantBody(t, e.follow(res, e.owner), "is a viewer already")

	res = e.post(path+"/disable", e.owner, nil)
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.owner), "is disabled: they cannot sign in", "Disabled", `action="`+path+`/enable"`)
	signedOut(t, e, e.manager.Cookie)
	if _, err := e.st.Authenticate(ctx, "manager@uni.example", testPassword); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("a disabled user signs in: %v", err)
	}
	res = e.post(path+"/enable", e.owner, nil)
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.owner), "can sign in again")
	if _, err := e.st.Authenticate(ctx, "manager@uni.example", testPassword); err != nil {
		t.Fatalf("an enabled user cannot sign in: %v", err)
	}

	// A new password, set by an owner, ends their sessions.
	_, token, err := e.st.CreateSession(ctx, e.manager.ID)
	if err != nil {
		t.Fatal(err)
	}
	res = e.post(path+"/password", e.owner, formOf("password", "a brand new passphrase", "confirm", "not the same one"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "New password again does not match the password")
	noBody(t, res, "a brand new passphrase")
	res = e.post(path+"/password", e.owner, formOf("password", "a brand new passphrase", "confirm", "a brand new passphrase"))
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.owner), "has a new password, and their sessions have ended")
	signedOut(t, e, &http.Cookie{Name: sessionCookie, Value: token})
	if _, err := e.st.Authenticate(ctx, "manager@uni.example", "a brand new passphrase"); err != nil {
		t.Fatalf("the new password: %v", err)
	}

	// Signed out everywhere by an owner.
	_, token, err = e.st.CreateSession(ctx, e.manager.ID)
	if err != nil {
		t.Fatal(err)
	}
	res = e.post(path+"/sign-out-everywhere", e.owner, nil)
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.owner), "Every session of manager@uni.example has ended")
	signedOut(t, e, &http.Cookie{Name: sessionCookie, Value: token})
	wantStatus(t, e.get("/console/", e.owner), http.StatusOK)

	wantStatus(t, e.get("/console/users/usr_01m8yqk4a5mstqtdtptfpvmbxh", e.owner), http.StatusNotFound)
	wantStatus(t, e.post("/console/users/nonsense/disable", e.owner, nil), http.StatusNotFound)

	// Every change is in the audit log, by the owner.
	audit, err := e.st.FindAudit(ctx, model.AuditFilter{Subject: e.manager.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Data) < 5 {
		t.Errorf("the audit log of the user has %d entries, want one per change", len(audit.Data))
	}
	for _, a := range audit.Data {
		if a.Actor.ID != e.owner.ID && a.Action != "user.created" {
			t.Errorf("%s by %+v, want by the owner", a.Action, a.Actor)
		}
	}
}

// The last enabled owner cannot be demoted or disabled, and the page
// says why; an owner who demotes or disables themselves is asked first.
func TestLastOwnerAndYourself(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	self := "/console/users/" + e.owner.ID

	res := e.get(self, e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "This is you.", "your account page", "Sign me out everywhere", "Disable my account")
	noBody(t, res, `action="`+self+`/password"`)

	// Asked first, and nothing changes until confirmed.
	res = e.post(self+"/role", e.owner, formOf("role", "manager"))
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Make yourself a manager?", `name="confirm" value="yes"`, `name="role" value="manager"`, `href="`+self+`"`)
	res = e.post(self+"/disable", e.owner, nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Disable your own account?", `name="confirm" value="yes"`)
	if u, _ := e.st.FindUserByID(ctx, e.owner.ID); u.Role != model.RoleOwner || u.DisabledAt != nil {
		t.Fatalf("unconfirmed, the owner became %+v", u)
	}

	// Confirmed, the store refuses: this is the last owner.
	for _, c := range []struct{ path, role string }{{self + "/role", "viewer"}, {self + "/disable", ""}} {
		res = e.post(c.path, e.owner, formOf("role", c.role, "confirm", "yes"))
		wantStatus(t, res, http.StatusConflict)
		wantBody(t, res, "That cannot be done.", "owner@uni.example is the last enabled owner", "Make another user an owner first")
	}
	if u, _ := e.st.FindUserByID(ctx, e.owner.ID); u.Role != model.RoleOwner || u.DisabledAt != nil {
		t.Fatalf("the last owner became %+v", u)
	}
	// Your own password is changed on the account page.
	res = e.post(self+"/password", e.owner, formOf("password", "a brand new passphrase", "confirm", "a brand new passphrase"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Change your own password on your account page")
	if _, err := e.st.Authenticate(ctx, "owner@uni.example", testPassword); err != nil {
		t.Fatalf("the owner's password changed: %v", err)
	}

	// With a second owner, the first can step down, and lands where a
	// manager may go.
	second := e.newUser("second@uni.example", model.RoleOwner)
	res = e.post(self+"/role", e.owner, formOf("role", "manager", "confirm", "yes"))
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/account" {
		t.Errorf("after stepping down: redirected to %q", res.location())
	}
	wantBody(t, e.follow(res, e.owner), "You are a manager now.")
	wantStatus(t, e.get("/console/users", e.owner), http.StatusForbidden)

	// The second owner disables themselves, and is signed out.
	res = e.post("/console/users/"+second.ID+"/disable", second, formOf("confirm", "yes"))
	wantStatus(t, res, http.StatusConflict) // the last enabled owner now
	res = e.post("/console/users/"+e.owner.ID+"/role", second, formOf("role", "owner"))
	wantStatus(t, res, http.StatusSeeOther)
	res = e.post("/console/users/"+second.ID+"/disable", second, formOf("confirm", "yes"))
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/login" {
		t.Errorf("disabled yourself: redirected to %q", res.location())
	}
	if c := res.cookie(sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("disabled yourself: the cookie is not cleared: %+v", c)
	}
	wantBody(t, e.follow(res, nil), "Your account is disabled")
	signedOut(t, e, second.Cookie)

	// Signing yourself out everywhere from your page ends this session too.
	res = e.post(self+"/sign-out-everywhere", e.owner, nil)
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/login" {
		t.Errorf("signed yourself out: redirected to %q", res.location())
	}
	signedOut(t, e, e.owner.Cookie)
}

// A user changes their own password with their current one: every
// other session ends, and this browser gets a fresh one.
func TestAccountPassword(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	res := e.get("/console/account", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `action="/console/account/password"`, `autocomplete="current-password"`, "Sign out everywhere")

	_, other, err := e.st.CreateSession(ctx, e.viewer.ID)
	if err != nil {
		t.Fatal(err)
	}
	const fresh = "a fresh and long passphrase"
	for _, c := range []struct {
		form []string
		want string
	}{
		{[]string{"current", "", "password", fresh, "confirm", fresh}, "Current password is required"},
		{[]string{"current", testPassword, "password", "short", "confirm", "short"}, "New password must be at least 12 characters"},
		{[]string{"current", testPassword, "password", fresh, "confirm", fresh + "!"}, "New password again does not match the new password"},
		{[]string{"current", "not my password at all", "password", fresh, "confirm", fresh}, "Current password is not right"},
	} {
		res := e.post("/console/account/password", e.viewer, formOf(c.form...))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, c.want)
		noBody(t, res, fresh, testPassword)
	}
	if _, err := e.st.Authenticate(ctx, "viewer@uni.example", testPassword); err != nil {
		t.Fatalf("a refused change changed the password: %v", err)
	}

	res = e.post("/console/account/password", e.viewer, formOf("current", testPassword, "password", fresh, "confirm", fresh))
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/account" {
		t.Errorf("changed: redirected to %q", res.location())
	}
	c := res.cookie(sessionCookie)
	if c == nil || c.Value == "" || c.Value == e.viewer.Cookie.Value || !c.HttpOnly {
		t.Fatalf("changed: session cookie %+v, want a fresh one", c)
	}
	signedOut(t, e, e.viewer.Cookie)
	signedOut(t, e, &http.Cookie{Name: sessionCookie, Value: other})
	page := e.do(httptest.NewRequest("GET", "/console/account", nil), c, res.cookie(flashCookie))
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Your password is changed.")
	if _, err := e.st.Authenticate(ctx, "viewer@uni.example", fresh); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}

// Too many wrong current passwords are refused for a while, as sign-ins
// are.
func TestAccountPasswordLimit(t *testing.T) {
	e := newTestEnv(t, limits(2, 100))
	for range 2 {
		res := e.post("/console/account/password", e.viewer, formOf("current", "wrong password here", "password", "a fresh and long one", "confirm", "a fresh and long one"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
	}
	res := e.post("/console/account/password", e.viewer, formOf("current", testPassword, "password", "a fresh and long one", "confirm", "a fresh and long one"))
	wantStatus(t, res, http.StatusTooManyRequests)
	wantBody(t, res, "Too many wrong passwords")
}

// Users are the owner's: a manager cannot see them, a viewer cannot
// change one.
func TestUsersAreForOwners(t *testing.T) {
	e := newTestEnv(t)
	wantStatus(t, e.get("/console/users", e.manager), http.StatusForbidden)
	wantStatus(t, e.get("/console/users/"+e.viewer.ID, e.manager), http.StatusForbidden)
	res := e.post("/console/users/"+e.viewer.ID+"/role", e.viewer, formOf("role", "owner"))
	wantStatus(t, res, http.StatusForbidden)
	res = e.post("/console/users/new", e.manager, formOf("email", "x@uni.example", "role", "owner", "password", testPassword, "confirm", testPassword))
	wantStatus(t, res, http.StatusForbidden)
	if u, _ := e.st.FindUserByID(context.Background(), e.viewer.ID); u.Role != model.RoleViewer {
		t.Fatalf("a viewer made themselves %s", u.Role)
	}
	if n, _ := e.st.CountUsers(context.Background()); n != 3 {
		t.Fatalf("a manager's form made a user: %d users", n)
	}
}

package console

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/model"
)

// Signing in. A session's token lives only in the browser's cookie
// (HttpOnly, SameSite=Lax, Path=/console/, Secure over https); the store
// keeps its hash, and ends the session after the idle or the absolute
// timeout. Failed sign-ins spend a token of the email address's bucket
// and of the client IP's; a bucket that is empty refuses sign-ins for a
// while, the same way whether or not the address belongs to anyone.

const sessionCookie = "referrald_session"

// signedIn is the user of a request with a live session.
type signedIn struct {
	user    *model.User
	session *model.Session
	token   string
}

type signedInKey struct{}

// withSignedIn returns ctx carrying si, and si's user as the actor of
// every change made with ctx, so that the store audits it.
func withSignedIn(ctx context.Context, si *signedIn) context.Context {
	ctx = context.WithValue(ctx, signedInKey{}, si)
	return model.WithActor(ctx, model.Actor{Kind: model.ActorUser, ID: si.user.ID, Label: si.user.Email,
		SessionID: si.session.ID, Audited: true})
}

func signedInOf(r *http.Request) *signedIn {
	si, _ := r.Context().Value(signedInKey{}).(*signedIn)
	return si
}

// userOf is the signed-in user of a request to a route with a role.
func userOf(r *http.Request) *model.User { return signedInOf(r).user }

// session returns the request's live session, or nil without one (no
// cookie, or one whose session has ended, which it clears).
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*signedIn, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, user, err := s.svc.Users.SessionByToken(r.Context(), c.Value, s.cfg.SessionIdle, s.cfg.SessionAbsolute)
	if model.ErrorCode(err) == model.EUnauthorized {
		s.clearSessionCookie(w, r)
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &signedIn{user: user, session: sess, token: c.Value}, nil
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/console/", MaxAge: int(s.cfg.SessionAbsolute.Seconds()),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/console/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode})
}

// secure reports whether the browser reached the console over https:
// over TLS to us, or to a trusted proxy that says so in the header the
// API reads it by (Forwarded's proto, or X-Forwarded-Proto beside
// X-Forwarded-For). The nearest proxy's word, the right-most, counts.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(peer.Unmap(), s.cfg.TrustedProxies) {
		return false
	}
	if strings.EqualFold(s.cfg.ClientIPHeader, api.XForwardedForHeader) {
		vals := r.Header.Values("X-Forwarded-Proto")
		if len(vals) == 0 {
			return false
		}
		parts := strings.Split(vals[len(vals)-1], ",")
		return strings.EqualFold(strings.TrimSpace(parts[len(parts)-1]), "https")
	}
	vals := r.Header.Values("Forwarded")
	if len(vals) == 0 {
		return false
	}
	elems := strings.Split(vals[len(vals)-1], ",")
	for pair := range strings.SplitSeq(elems[len(elems)-1], ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
		if strings.EqualFold(k, "proto") {
			return strings.EqualFold(strings.Trim(v, `"`), "https")
		}
	}
	return false
}

func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// toSignIn sends a browser without a session to the sign-in page, which
// brings it back to the page it asked for.
func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request) {
	to := "/console/login"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if next := localNext(r.URL.RequestURI()); next != "/console/" {
			to += "?next=" + url.QueryEscape(next)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// localNext is next when it is a page of the console to return to after
// signing in, else the overview: never another site (//evil.example,
// /\evil.example), never a path that climbs out of /console/, never the
// sign-in pages themselves.
func localNext(next string) string {
	const home = "/console/"
	if !strings.HasPrefix(next, home) || strings.ContainsAny(next, "\\\x00\r\n\t") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(clean+"/", home) || strings.Contains(u.Path, "/..") || strings.Contains(u.Path, "/./") {
		return home
	}
	switch clean {
	case "/console/login", "/console/setup", "/console/logout":
		return home
	}
	return next
}

// The sign-in form.
var loginFields = []*field{
	{Name: "email", Label: "Email", Type: "email", Required: true, Autocomplete: "username"},
	{Name: "password", Label: "Password", Type: "password", Required: true, Autocomplete: "current-password"},
}

type loginView struct {
	Form *form
	Next string
}

// handleLogin serves GET /console/login: the sign-in form, or, for a
// browser already signed in, the page it was going to.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	next := localNext(r.URL.Query().Get("next"))
	if si, err := s.session(w, r); err != nil {
		return err
	} else if si != nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, "login", loginView{Form: newForm(loginFields...), Next: next})
}

// handleLoginPost serves POST /console/login.
func (s *Server) handleLoginPost(w http.ResponseWriter, r *http.Request) error {
	f := newForm(loginFields...).read(r)
	v := loginView{Form: f, Next: localNext(r.PostFormValue("next"))}
	email, password := strings.TrimSpace(f.Get("email")), f.Get("password")
	f.Set("password", "") // never sent back
	if email == "" {
		f.AddError("email", "is required")
	}
	if password == "" {
		f.AddError("password", "is required")
	}
	if f.HasErrors() {
		return s.render(w, r, http.StatusUnprocessableEntity, "login", v)
	}
	if wait, ok := s.takeSignInTokens(r, email); !ok {
		f.Fail(fmt.Sprintf("Too many failed sign-ins. Wait %s and try again.", minutes(wait)))
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		return s.render(w, r, http.StatusTooManyRequests, "login", v)
	}
	user, err := s.svc.Users.Authenticate(r.Context(), email, password)
	if model.ErrorCode(err) == model.EUnauthorized {
		f.Fail("The email address or the password is not right. Check both and try again.")
		return s.render(w, r, http.StatusUnauthorized, "login", v)
	} else if err != nil {
		return err
	}
	s.returnSignInTokens(r, email)
	if err := s.startSession(w, r, user); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
	return nil
}

// takeSignInTokens spends a token of the client's bucket and, unless
// email is empty, of the address's, or reports how long until both have
// one.
func (s *Server) takeSignInTokens(r *http.Request, email string) (time.Duration, bool) {
	ip := api.ClientKey(r, s.cfg.TrustedProxies, s.cfg.ClientIPHeader)
	ipOK, ipWait := s.ipLimits.Take(ip)
	acctOK, acctWait := true, time.Duration(0)
	if email != "" {
		acctOK, acctWait = s.accountLimits.Take(model.EmailKey(email))
	}
	if ipOK && acctOK {
		return 0, true
	}
	// What was taken is given back: a refused attempt is not a failure.
	if ipOK {
		s.ipLimits.Return(ip)
	}
	if acctOK && email != "" {
		s.accountLimits.Return(model.EmailKey(email))
	}
	return max(ipWait, acctWait), false
}

// returnSignInTokens gives back the tokens of a sign-in that succeeded:
// only failures count.
func (s *Server) returnSignInTokens(r *http.Request, email string) {
	s.ipLimits.Return(api.ClientKey(r, s.cfg.TrustedProxies, s.cfg.ClientIPHeader))
	if email != "" {
		s.accountLimits.Return(model.EmailKey(email))
	}
}

// minutes says how long d is for a person: "1 minute", "3 minutes".
func minutes(d time.Duration) string {
	n := int(math.Ceil(d.Minutes()))
	if n <= 1 {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// startSession signs user in: a new session, its token in the cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user *model.User) error {
	ctx := model.WithActor(r.Context(), model.Actor{Kind: model.ActorUser, ID: user.ID, Label: user.Email, Audited: true})
	_, token, err := s.svc.Users.CreateSession(ctx, user.ID)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, token)
	return nil
}

// handleLogout serves POST /console/logout: this session ends.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.Users.EndSession(r.Context(), signedInOf(r).token); err != nil {
		return err
	}
	s.clearSessionCookie(w, r)
	s.setFlash(w, r, flashInfo, "You have signed out.")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	return nil
}

// handleSignOutEverywhere serves POST
// /console/account/sign-out-everywhere: every session of the user ends,
// on every device, this one too.
func (s *Server) handleSignOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.Users.EndUserSessions(r.Context(), userOf(r).ID); err != nil {
		return err
	}
	s.clearSessionCookie(w, r)
	s.setFlash(w, r, flashInfo, "You have signed out everywhere: every session of yours has ended.")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	return nil
}

type accountView struct {
	User    *model.User
	Session *model.Session
	// Idle and Absolute are the session timeouts in words.
	Idle, Absolute string
	// Password is the form that changes the user's password.
	Password *form
}

// accountPage is the account page of si's user, with an empty password
// form.
func (s *Server) accountPage(si *signedIn) accountView {
	return accountView{User: si.user, Session: si.session, Idle: inWords(s.cfg.SessionIdle), Absolute: inWords(s.cfg.SessionAbsolute),
		Password: newForm(accountPasswordFields...)}
}

// handleAccount serves GET /console/account: who is signed in, the form
// that changes their password, and the way to sign out everywhere.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "account", s.accountPage(signedInOf(r)))
}

// The first-run form: the first owner's account.
var setupFields = []*field{
	{Name: "email", Label: "Email", Type: "email", Required: true, Autocomplete: "username"},
	{Name: "password", Label: "Password", Type: "password", Required: true, Autocomplete: "new-password",
		Hint: fmt.Sprintf("At least %d characters. A few unrelated words make a strong one.", model.MinPasswordLen)},
	{Name: "confirm", Label: "Password again", Type: "password", Required: true, Autocomplete: "new-password"},
}

type setupView struct {
	Form  *form
	Token string
}

// handleSetup serves GET /console/setup?token=: the form that makes the
// first owner, from the link serve prints while there is no user.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if done, err := s.setUpAlready(w, r); done || err != nil {
		return err
	}
	if token == "" {
		return s.render(w, r, http.StatusBadRequest, "error", errorView{Title: "This setup link is incomplete",
			Message: "Copy the whole link that referrald printed when it started, with its token, and open it again.",
			Action:  "Sign in", ActionPath: "/console/login"})
	}
	return s.render(w, r, http.StatusOK, "setup", setupView{Form: newForm(setupFields...), Token: token})
}

// setUpAlready shows the "already set up" page when a user exists.
func (s *Server) setUpAlready(w http.ResponseWriter, r *http.Request) (bool, error) {
	n, err := s.svc.Users.CountUsers(r.Context())
	if err != nil || n == 0 {
		return false, err
	}
	return true, s.render(w, r, http.StatusConflict, "error", errorView{Title: "referrald is already set up",
		Message: "This setup link is for the first account, which has been made. Sign in, or ask an owner for an account.",
		Action:  "Sign in", ActionPath: "/console/login"})
}

// handleSetupPost serves POST /console/setup: it makes the first owner
// with the link's token and signs them in.
func (s *Server) handleSetupPost(w http.ResponseWriter, r *http.Request) error {
	if done, err := s.setUpAlready(w, r); done || err != nil {
		return err
	}
	f := newForm(setupFields...).read(r)
	v := setupView{Form: f, Token: r.PostFormValue("token")}
	in := model.UserCreate{Email: f.Get("email"), Role: model.RoleOwner, Password: f.Get("password")}
	confirm := f.Get("confirm")
	f.Set("password", "")
	f.Set("confirm", "")
	fe := in.Validate()
	if !fe.Has("password") && confirm != in.Password {
		fe.Add("confirm", model.FInvalidValue, "does not match the password")
	}
	if err := fe.Err(); err != nil {
		f.fromError(err)
		return s.render(w, r, http.StatusUnprocessableEntity, "setup", v)
	}
	if wait, ok := s.takeSignInTokens(r, ""); !ok {
		f.Fail(fmt.Sprintf("Too many failed attempts. Wait %s and try again.", minutes(wait)))
		return s.render(w, r, http.StatusTooManyRequests, "setup", v)
	}
	user, err := s.svc.Users.RedeemSetupToken(r.Context(), v.Token, in)
	switch model.ErrorCode(err) {
	case "":
	case model.EUnauthorized:
		f.Fail("This setup link has expired or has been used. Restart referrald for a new one, or run `referrald users create` with the server stopped.")
		return s.render(w, r, http.StatusUnauthorized, "setup", v)
	case model.EConflict:
		_, err := s.setUpAlready(w, r)
		return err
	default:
		if f.fromError(err) {
			return s.render(w, r, http.StatusUnprocessableEntity, "setup", v)
		}
		return err
	}
	s.returnSignInTokens(r, "")
	if err := s.startSession(w, r, user); err != nil {
		return err
	}
	return s.redirect(w, r, "/console/", "Welcome to referrald: you are its owner. Start with a program.")
}

package portal

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/model"
)

// Signing in. An ambassador asks for a link on the login page (the mailer
// emails it) or gets one from whoever runs their program (the API's
// portal_links); opening it spends it and starts a session, whose token
// lives only in the browser's cookie (HttpOnly, SameSite=Lax,
// Path=/portal/, Secure over https). The store keeps hashes only, ends a
// session after the idle or the absolute timeout, and ends every session
// of an ambassador who is paused.

const sessionCookie = "referrald_portal"

// signedIn is the ambassador of a request with a live session.
type signedIn struct {
	amb     *model.Ambassador
	session *model.PortalSession
	token   string
}

type signedInKey struct{}

// withSignedIn returns ctx carrying si, and si's ambassador as the actor
// of every change made with ctx, so that the store audits it.
func withSignedIn(ctx context.Context, si *signedIn) context.Context {
	ctx = context.WithValue(ctx, signedInKey{}, si)
	return model.WithActor(ctx, model.Actor{Kind: model.ActorAmbassador, ID: si.amb.ID, Label: si.amb.Email,
		SessionID: si.session.ID, Audited: true})
}

func signedInOf(r *http.Request) *signedIn {
	si, _ := r.Context().Value(signedInKey{}).(*signedIn)
	return si
}

// ambOf is the signed-in ambassador of a request to a page route.
func ambOf(r *http.Request) *model.Ambassador { return signedInOf(r).amb }

// session returns the request's live session, or nil without one (no
// cookie, or one whose session has ended, which it clears).
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*signedIn, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, amb, err := s.svc.Portal.PortalSessionByToken(r.Context(), c.Value, s.cfg.SessionIdle, s.cfg.SessionAbsolute)
	if model.ErrorCode(err) == model.EUnauthorized {
		s.clearSessionCookie(w, r)
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &signedIn{amb: amb, session: sess, token: c.Value}, nil
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/portal/", MaxAge: int(s.cfg.SessionAbsolute.Seconds()),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/portal/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode})
}

// secure reports whether the browser reached the portal over https: over
// TLS to us, or to a trusted proxy that says so (Forwarded's proto, or
// X-Forwarded-Proto beside X-Forwarded-For); the nearest proxy's word,
// the right-most, counts. The console's twin is console.(*Server).secure
// in console/auth.go; keep the two alike.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !trusted(peer.Unmap(), s.cfg.TrustedProxies) {
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

func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// toLogin sends a browser without a session to the login page.
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/portal/login", http.StatusSeeOther)
}

// loginView is what the login page shows.
type loginView struct {
	// EmailEnabled: the page asks for an address; without it, it says
	// to ask the program's manager for a link.
	EmailEnabled bool
	// Sent: the page answers a request for a link, alike whether or not
	// the address is an ambassador's.
	Sent bool
	// Wait, when set, says how long until another request is taken.
	Wait string
	// Error is a problem with the address typed (empty, too long).
	Error string
	Email string
}

// maxEmailLen bounds the address typed, as the model bounds an email.
const maxEmailLen = 254

// handleLogin serves GET /portal/login: the form that asks for a sign-in
// link, or, for a browser already signed in, its home page.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if si, err := s.session(w, r); err != nil {
		return err
	} else if si != nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/portal/", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, "login", loginView{EmailEnabled: s.cfg.EmailEnabled})
}

// handleLoginPost serves POST /portal/login: a sign-in link is emailed
// when the address is an active ambassador's. The answer is the same
// whether it is or not, so the page tells nobody who is an ambassador;
// requests are limited per address and per client, the same way for
// known and unknown addresses.
func (s *Server) handleLoginPost(w http.ResponseWriter, r *http.Request) error {
	v := loginView{EmailEnabled: s.cfg.EmailEnabled}
	if !s.cfg.EmailEnabled {
		// Nothing would be sent: say so again, rather than pretend.
		return s.render(w, r, http.StatusOK, "login", v)
	}
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "the form could not be read")
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	switch {
	case email == "":
		v.Error = "Type the email address you use for the program."
	case len(email) > maxEmailLen || !strings.Contains(email, "@"):
		v.Error = "That does not look like an email address. Check it and try again."
	}
	if v.Error != "" {
		v.Email = clipString(email, maxEmailLen)
		return s.render(w, r, http.StatusUnprocessableEntity, "login", v)
	}
	key := model.EmailKey(email)
	if wait, ok := s.takeLinkTokens(r, key); !ok {
		v.Sent, v.Wait = true, minutes(wait)
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "portal sign-in link request refused: too many")
		return s.render(w, r, http.StatusTooManyRequests, "login", v)
	}
	// A known address writes an event, an unknown one nothing: the answer
	// waits the same time either way, so its timing does not tell them
	// apart.
	answerAt := time.Now().Add(linkAnswerAfter)
	if err := s.requestLink(r.Context(), key); err != nil {
		return err
	}
	t := time.NewTimer(time.Until(answerAt))
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
	}
	v.Sent = true
	return s.render(w, r, http.StatusOK, "login", v)
}

// linkAnswerAfter is how long a sign-in link request takes to answer,
// whatever it did: far longer than the write a known address costs.
const linkAnswerAfter = 250 * time.Millisecond

// requestLink asks the mailer for a link for the active ambassador whose
// address key is, if there is one; nobody else learns whether there was.
func (s *Server) requestLink(ctx context.Context, key string) error {
	page, err := s.svc.Ambassadors.FindAmbassadors(ctx, model.AmbassadorFilter{Search: key, ListOptions: model.ListOptions{Limit: 1}})
	if err != nil {
		return err
	}
	if len(page.Data) == 0 || model.EmailKey(page.Data[0].Email) != key || !page.Data[0].CanSignIn() {
		return nil
	}
	amb := page.Data[0]
	err = s.svc.Portal.RequestPortalLink(ctx, amb.ID, model.LinkViaLogin)
	switch model.ErrorCode(err) {
	case "":
		s.log.LogAttrs(ctx, slog.LevelInfo, "portal sign-in link requested", slog.String("ambassador_id", amb.ID))
		return nil
	case model.ENotFound, model.EConflict:
		return nil // deleted or paused meanwhile: as unknown
	}
	return err
}

// takeLinkTokens spends a token of the client's bucket and of the
// address's, or reports how long until both have one. Every request
// counts, known address or not: each may send an email.
func (s *Server) takeLinkTokens(r *http.Request, key string) (time.Duration, bool) {
	ip := api.ClientKey(r, s.cfg.TrustedProxies, s.cfg.ClientIPHeader)
	ipOK, ipWait := s.ipLimits.Take(ip)
	addrOK, addrWait := s.addrLimits.Take(key)
	if ipOK && addrOK {
		return 0, true
	}
	// What was taken is given back: a refused request sends nothing.
	if ipOK {
		s.ipLimits.Return(ip)
	}
	if addrOK {
		s.addrLimits.Return(key)
	}
	return max(ipWait, addrWait), false
}

// minutes says how long d is for a person: "a minute", "3 minutes".
func minutes(d time.Duration) string {
	n := int(math.Ceil(d.Minutes()))
	if n <= 1 {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// handleSignIn serves GET /portal/signin?token=: the magic link. It
// spends the link, starts a session and sends the browser home; a link
// that is unknown, used, expired or of a paused ambassador gets a page
// that says so and offers a new one. The token is never logged, and the
// answer is neither cached nor sent on as a referrer.
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	token := r.URL.Query().Get("token")
	sess, sessToken, err := s.svc.Portal.RedeemPortalLink(r.Context(), token)
	if model.ErrorCode(err) == model.EUnauthorized {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "portal sign-in link refused: unknown, used or expired")
		s.clearSessionCookie(w, r)
		return s.render(w, r, http.StatusUnauthorized, "signin_failed", loginView{EmailEnabled: s.cfg.EmailEnabled})
	} else if err != nil {
		return err
	}
	s.setSessionCookie(w, r, sessToken)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "portal sign-in", slog.String("ambassador_id", sess.AmbassadorID),
		slog.String("session_id", sess.ID))
	http.Redirect(w, r, "/portal/", http.StatusSeeOther)
	return nil
}

// handleLogout serves POST /portal/logout: this session ends.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	si := signedInOf(r)
	if err := s.svc.Portal.EndPortalSession(r.Context(), si.token); err != nil {
		return err
	}
	s.clearSessionCookie(w, r)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "portal sign-out", slog.String("ambassador_id", si.amb.ID),
		slog.String("session_id", si.session.ID))
	return s.redirect(w, r, "/portal/login", "You have signed out. See you soon!")
}

// clipString cuts s to at most n bytes, for a value shown back.
func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

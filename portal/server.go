// Package portal serves the ambassador portal at /portal/: the pages on
// which a student ambassador, signed in with a magic link, sees their
// posters, the people who signed up through them, what they have earned
// and what has been paid, and keeps their name and school up to date.
//
// It is built as the console (package console) is, smaller: server-rendered
// html/template pages embedded in the binary, a stylesheet of its own and
// no script, sessions in an HttpOnly cookie of which the store keeps only
// the hash, cross-site writes refused. It sees the domain only through
// model's service interfaces, and shows an ambassador only their own
// records: every record read by ID is compared with the session's
// ambassador and answers the 404 page when it is someone else's. People
// who signed up are shown by first name and last initial only.
//
// # Adding a page
//
// Add its route to routes() with s.page (a signed-in ambassador's) or
// s.public, a handler in the file of its area that calls the services with
// r.Context() (which carries the ambassador as the actor of any change),
// and templates/<name>.html defining "title" and "content"; the layout,
// the nav, the flash and the skip link come with it. A record read by ID
// goes through owned, which turns another ambassador's into not_found.
package portal

import (
	"context"
	"crypto/rand"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// Services are what the portal reads, and the one change it makes (an
// ambassador's profile).
type Services struct {
	Ambassadors model.AmbassadorService
	Programs    model.ProgramService
	Placements  model.PlacementService
	Referrals   model.ReferralService
	Earnings    model.EarningService
	Stats       model.StatsService
	Portal      model.PortalService
	// Designs, when set, are the programs' poster designs, which the
	// posters print with; without it they print with the defaults.
	Designs model.PosterDesignService
}

// Config holds the portal's settings.
type Config struct {
	// SessionIdle ends a session unused this long; SessionAbsolute ends
	// it this long after sign-in. Zero means DefaultSessionIdle and
	// DefaultSessionAbsolute.
	SessionIdle, SessionAbsolute time.Duration
	// EmailEnabled says whether a sign-in link asked for on the login
	// page is emailed. Without email the page says to ask the program's
	// manager for a link, and asks for no address.
	EmailEnabled bool
	// TrustedProxies and ClientIPHeader are the API's: whose forwarding
	// headers are believed, and which header names the client. A trusted
	// proxy's word also decides whether the browser used https.
	TrustedProxies []netip.Prefix
	ClientIPHeader string
	// PublicBaseURL is where posters point: a QR code carries
	// PublicBaseURL/s/<code>.
	PublicBaseURL string
	// AddressLinkLimit bounds the sign-in links asked for one email
	// address, IPLinkLimit those asked from one client IP; a zero Bucket
	// means the default.
	AddressLinkLimit, IPLinkLimit api.Bucket
	Logger                        *slog.Logger
	// Metrics, when set, records every request by route pattern.
	Metrics *metrics.Metrics
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Defaults for Config.
var (
	DefaultSessionIdle     = 7 * 24 * time.Hour
	DefaultSessionAbsolute = 30 * 24 * time.Hour
	// Three links for one address, then one every ten minutes: someone
	// whose email is slow can ask again, nobody can flood an inbox.
	DefaultAddressLinkLimit = api.Bucket{Rate: 1.0 / 600, Burst: 3}
	// Twenty requests from one client, then one every half minute: a
	// campus behind one address is hardly slowed, a script trying
	// addresses is.
	DefaultIPLinkLimit = api.Bucket{Rate: 1.0 / 30, Burst: 20}
)

// Server is the portal: an http.Handler for /portal/.
type Server struct {
	svc        Services
	cfg        Config
	log        *slog.Logger
	now        func() time.Time
	mux        *http.ServeMux
	handler    http.Handler
	pages      map[string]*template.Template
	assets     map[string]asset
	flashKey   []byte
	addrLimits *api.Limiter
	ipLimits   *api.Limiter
	// qrImages are the posters' QR codes, drawn as the API draws them.
	qrImages *poster.Cache
}

// New builds the portal on svc. It panics if its embedded templates do
// not parse, which a test of this package would have caught.
func New(svc Services, cfg Config) *Server {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionAbsolute <= 0 {
		cfg.SessionAbsolute = DefaultSessionAbsolute
	}
	if cfg.AddressLinkLimit.Rate <= 0 || cfg.AddressLinkLimit.Burst < 1 {
		cfg.AddressLinkLimit = DefaultAddressLinkLimit
	}
	if cfg.IPLinkLimit.Rate <= 0 || cfg.IPLinkLimit.Burst < 1 {
		cfg.IPLinkLimit = DefaultIPLinkLimit
	}
	s := &Server{svc: svc, cfg: cfg, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(), flashKey: make([]byte, 32)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	rand.Read(s.flashKey) // a flash lives for one redirect: a key per process is enough
	s.addrLimits = api.NewLimiter(cfg.AddressLinkLimit, s.now)
	s.ipLimits = api.NewLimiter(cfg.IPLinkLimit, s.now)
	// An ambassador has a handful of posters: a small cache holds them.
	s.qrImages = poster.NewCache(1 << 20)
	var err error
	if s.assets, err = loadAssets(); err != nil {
		panic(err)
	}
	if s.pages, err = parsePages(s.funcs()); err != nil {
		panic(err)
	}
	s.routes()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.handleCrossOrigin))
	s.handler = cop.Handler(s.mux)
	return s
}

// routes registers every route; read it top to bottom to see the portal.
func (s *Server) routes() {
	s.public("GET /portal/static/{name}", s.serveStatic)
	s.public("/portal/", s.handleNotFound)

	s.public("GET /portal/login", s.handleLogin)
	s.public("POST /portal/login", s.handleLoginPost)
	s.public("GET /portal/signin", s.handleSignIn)
	s.page("POST /portal/logout", s.handleLogout)

	s.page("GET /portal/{$}", s.handleHome)
	s.page("GET /portal/posters", s.handlePosterList)
	s.page("GET /portal/posters/{id}", s.handlePosterGet)
	s.page("GET /portal/posters/{id}/qr.png", s.handlePosterQR("png"))
	s.page("GET /portal/posters/{id}/qr.svg", s.handlePosterQR("svg"))
	s.page("GET /portal/posters/{id}/poster.pdf", s.handlePosterPDF)
	s.page("GET /portal/referrals", s.handleReferralList)
	s.page("GET /portal/referrals/{id}", s.handleReferralGet)
	s.page("GET /portal/commissions", s.handleCommissionList)
	s.page("GET /portal/commissions/{id}", s.handleCommissionGet)
	s.page("GET /portal/payouts", s.handlePayoutList)
	s.page("GET /portal/payouts/{id}", s.handlePayoutGet)
	s.page("GET /portal/profile", s.handleProfile)
	s.page("POST /portal/profile", s.handleProfileUpdate)
}

// navItem is one entry of the nav.
type navItem struct {
	// Section is the first path segment after /portal/ of the pages the
	// entry covers ("" for home).
	Section, Path, Label string
}

// navItems is the nav, in reading order.
var navItems = []navItem{
	{"", "/portal/", "Home"},
	{"posters", "/portal/posters", "Posters"},
	{"referrals", "/portal/referrals", "Sign-ups"},
	{"commissions", "/portal/commissions", "Earnings"},
	{"payouts", "/portal/payouts", "Payouts"},
	{"profile", "/portal/profile", "Profile"},
}

// handler serves one route. It returns an error rather than writing one,
// so every error is shown the same way (see fail).
type handler func(w http.ResponseWriter, r *http.Request) error

// public registers h for pattern, for anyone.
func (s *Server) public(pattern string, h handler) { s.handle(pattern, false, h) }

// page registers h for pattern, for a signed-in ambassador only: a
// browser without a live session is sent to the login page first.
func (s *Server) page(pattern string, h handler) { s.handle(pattern, true, h) }

func (s *Server) handle(pattern string, signedIn bool, h handler) {
	_, path, ok := strings.Cut(pattern, " ")
	if !ok {
		path = pattern
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if info := infoOf(r); info != nil {
			info.route = path
		}
		if signedIn {
			si, err := s.session(w, r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if si == nil {
				s.toLogin(w, r)
				return
			}
			r = r.WithContext(withSignedIn(r.Context(), si))
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// ServeHTTP implements http.Handler: security headers, the cross-origin
// check of every write, a bound on every body, and a log line and metrics
// per request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{route: "(not found)"}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	h := w.Header()
	// Everything the pages load is ours: no script at all, no inline
	// style, no frames, forms that post only here.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "+
		"object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// A sign-in link carries its token in the URL, and every page is
	// private: no page tells another site where it came from.
	h.Set("Referrer-Policy", "no-referrer")
	rec := &metrics.StatusRecorder{ResponseWriter: w}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(rec, r.Body, maxFormBytes)
	}
	s.handler.ServeHTTP(rec, r)
	elapsed := time.Since(start)
	s.cfg.Metrics.ObserveRequest(info.route, r.Method, rec.Status, elapsed)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "portal request", slog.String("method", r.Method), slog.String("route", info.route),
		slog.Int("status", rec.Status), slog.Duration("duration", elapsed))
}

// maxFormBytes bounds a request's body: the portal's forms are three
// short fields at most.
const maxFormBytes = 16 << 10

// requestInfo carries the matched route pattern back up to ServeHTTP's
// log line: the pattern, never the raw path, which can hold IDs and, for
// a sign-in link, a token.
type requestInfo struct {
	route string
}

type requestInfoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	i, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return i
}

// sectionOf is the nav section of the request's route: the first path
// segment after /portal/.
func sectionOf(r *http.Request) string {
	route := "/portal/"
	if i := infoOf(r); i != nil {
		route = i.route
	}
	rest, _ := strings.CutPrefix(route, "/portal/")
	section, _, _ := strings.Cut(rest, "/")
	return strings.TrimSuffix(section, "{$}")
}

// errorView is what the error page shows.
type errorView struct {
	Title, Message string
	// Action and ActionPath are the way on that the page offers.
	Action, ActionPath string
}

// fail shows err as a page. A model error the ambassador caused gets its
// own status and a safe message; anything else is logged with its cause
// and shown as a 500 that says nothing of it. Not found says nothing of
// what was asked for: a record of another ambassador's looks the same as
// one that never was.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	v := errorView{Action: "Go to your home page", ActionPath: "/portal/"}
	var status int
	msg := ""
	var e *model.Error
	if errors.As(err, &e) {
		msg = sentence(e.Message)
	}
	switch model.ErrorCode(err) {
	case model.ENotFound:
		status, v.Title = http.StatusNotFound, "Page not found"
		v.Message = "There is nothing here for you. The link may be mistyped, or what it showed may have moved."
	case model.EUnauthorized:
		s.toLogin(w, r)
		return
	case model.EForbidden:
		status, v.Title, v.Message = http.StatusForbidden, "That was refused", msg
	case model.EUnavailable:
		w.Header().Set("Retry-After", "5")
		status, v.Title = http.StatusServiceUnavailable, "Changes cannot be saved right now"
		v.Message = "Nothing was changed. Try again in a moment."
	case model.EConflict:
		status, v.Title, v.Message = http.StatusConflict, "That cannot be done", msg
	case model.EValidation, model.EBodyTooLarge:
		status, v.Title = http.StatusBadRequest, "That request is not right"
		v.Message = "Something in the address or the form is not right. Go back and try again."
	default:
		s.log.ErrorContext(r.Context(), "portal request failed", "route", routeOf(r), "err", err)
		status, v.Title = http.StatusInternalServerError, "Something went wrong"
		v.Message = "The page could not be shown because of a problem on the server. It has been logged. Try again in a little while."
	}
	if signedInOf(r) == nil {
		v.Action, v.ActionPath = "Sign in", "/portal/login"
	}
	if err := s.render(w, r, status, "error", v); err != nil {
		s.log.ErrorContext(r.Context(), "portal error page failed", "err", err)
		http.Error(w, v.Title, status)
	}
}

func routeOf(r *http.Request) string {
	if i := infoOf(r); i != nil {
		return i.route
	}
	return ""
}

// handleNotFound serves every /portal/ path no other route has: the 404
// page, with the nav when signed in.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) error {
	if si, err := s.session(w, r); err == nil && si != nil {
		r = r.WithContext(withSignedIn(r.Context(), si))
	}
	s.fail(w, r, model.Errorf(model.ENotFound, ""))
	return nil
}

// handleCrossOrigin answers a write that another site's page sent: the
// browser says so (Sec-Fetch-Site) or its Origin is not this host.
func (s *Server) handleCrossOrigin(w http.ResponseWriter, r *http.Request) {
	if info := infoOf(r); info != nil {
		info.route = "(cross-origin)"
	}
	s.fail(w, r, model.Errorf(model.EForbidden, "This form was sent from another site, so it was refused. Open the portal at its own address and try again."))
}

// redirect answers a successful POST: 303 to the page that shows the
// result, with msg as a flash there when it is not empty.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to, msg string) error {
	if msg != "" {
		s.setFlash(w, r, msg)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// sentence starts s with a capital letter and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

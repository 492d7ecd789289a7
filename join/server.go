// Package join serves the hosted signup page at /join/{code}: where a
// poster's scan lands when its program has no landing page of its own.
// The page shows the program's poster design (logo, accent colour,
// headline, offer, and the ambassador's first name when the design says
// so) and a form, first name, last name, email and a consent box, that
// signs the person up through the same rules as POST /v1/referrals
// (api.Signups): hook plugins, fraud signals, events, webhooks and
// metrics alike. A thank-you page follows and, when the design has a
// signup_redirect_url, leads on to it.
//
// It is built as the portal is: server-rendered html/template pages and a
// stylesheet embedded in the binary, no script, cross-site posts refused,
// bodies bounded, signups limited per client IP, one log line per request
// with the route pattern and never a name, an email, an IP or a body. It
// sees the domain only through model's service interfaces.
//
// The page takes only a recorded scan: without the impression of this
// very poster in its imp parameter it sends the browser to /s/{code}, the
// scan route, which records one and sends it back.
package join

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
)

// Services are what the signup page reads, and the referrals it makes.
type Services struct {
	Programs    model.ProgramService
	Ambassadors model.AmbassadorService
	Impressions model.ImpressionService
	Placements  model.PlacementService
	Designs     model.PosterDesignService
	Referrals   model.ReferralService
	// Checker, when set, vets each signup (hook plugins), as it vets the
	// API's.
	Checker model.ReferralChecker
}

// Config holds the signup page's settings.
type Config struct {
	// TrustedProxies and ClientIPHeader are the API's: whose forwarding
	// headers are believed, and which header names the client.
	TrustedProxies []netip.Prefix
	ClientIPHeader string
	// SignupLimit bounds the signups sent from one client IP; a zero
	// Bucket means DefaultSignupLimit.
	SignupLimit api.Bucket
	Logger      *slog.Logger
	// Metrics, when set, records every request by route pattern and
	// counts new referrals.
	Metrics *metrics.Metrics
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// DefaultSignupLimit lets twenty signups through from one client at
// once, then one every five seconds: a stand at a campus fair behind one
// address is hardly slowed, a script filling the form is.
var DefaultSignupLimit = api.Bucket{Rate: 0.2, Burst: 20}

// Server is the signup page: an http.Handler for /join/.
type Server struct {
	svc     Services
	cfg     Config
	log     *slog.Logger
	signups *api.Signups
	limits  *api.Limiter
	mux     *http.ServeMux
	handler http.Handler
	pages   map[string]*template.Template
	css     asset
	// thanksKey signs the cookie that carries a first name to the
	// thank-you page; it lives a quarter of an hour, so a key per process
	// is enough.
	thanksKey []byte
}

// New builds the signup page on svc. It panics if its embedded templates
// do not parse, which a test of this package would have caught.
func New(svc Services, cfg Config) *Server {
	if cfg.SignupLimit.Rate <= 0 || cfg.SignupLimit.Burst < 1 {
		cfg.SignupLimit = DefaultSignupLimit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{svc: svc, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), thanksKey: make([]byte, 32)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	rand.Read(s.thanksKey)
	s.signups = &api.Signups{Referrals: svc.Referrals, Checker: svc.Checker, Metrics: cfg.Metrics}
	s.limits = api.NewLimiter(cfg.SignupLimit, cfg.Now)
	var err error
	if s.css, err = loadCSS(); err != nil {
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

// routes registers every route; read it top to bottom to see the page.
func (s *Server) routes() {
	s.handle("GET "+cssPath, s.serveCSS)
	s.handle("/join/", s.handleNotFound)
	s.handle("/join", s.handleNotFound)

	s.handle("GET /join/{code}", s.handleSignupPage)
	s.handle("POST /join/{code}", s.handleSignup)
	s.handle("GET /join/{code}/thanks", s.handleThanks)
	s.handle("GET /join/{code}/logo.png", s.handleLogo)
}

// handler serves one route. It returns an error rather than writing one,
// so every error is shown the same way (see fail).
type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handler) {
	_, path, ok := strings.Cut(pattern, " ")
	if !ok {
		path = pattern
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if info := infoOf(r); info != nil {
			info.route = path
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// ServeHTTP implements http.Handler: security headers, the cross-origin
// check of every post, a bound on every body, and a log line and metrics
// per request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	nonce := newNonce()
	info := &requestInfo{route: "(not found)", nonce: nonce}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	h := w.Header()
	// Everything the pages load is ours; the one inline style, the
	// program's accent colour, carries this response's nonce.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'nonce-"+nonce+"'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The address holds the scan's impression: no page tells another
	// site, the program's own included, where it came from.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex")
	rec := &metrics.StatusRecorder{ResponseWriter: w}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(rec, r.Body, maxFormBytes)
	}
	s.handler.ServeHTTP(rec, r)
	elapsed := time.Since(start)
	s.cfg.Metrics.ObserveRequest(info.route, r.Method, rec.Status, elapsed)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "signup page request", slog.String("method", r.Method),
		slog.String("route", info.route), slog.Int("status", rec.Status), slog.Duration("duration", elapsed))
}

// maxFormBytes bounds a request's body: the form is three short fields,
// a box and three tokens.
const maxFormBytes = 8 << 10

// requestInfo carries the matched route pattern back up to ServeHTTP's
// log line (the pattern, never the raw path, whose query holds the
// impression), and the nonce of the response's inline style down to the
// page.
type requestInfo struct {
	route string
	nonce string
}

type requestInfoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	i, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return i
}

func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// message is what a page that only says something shows.
type message struct {
	Title, Text string
}

// fail shows err as a page. A model error the visitor caused gets its own
// status and a plain message; anything else is logged with its cause and
// shown as a 500 that says nothing of it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var m message
	var tooLarge *http.MaxBytesError
	switch code := model.ErrorCode(err); {
	case code == model.ENotFound:
		// The scan route's words: a mistyped address and a program with a
		// site of its own look the same.
		status, m = http.StatusNotFound, message{Title: api.ScanUnknownMessage,
			Text: "Check the address, or scan the poster's QR code again."}
	case code == model.EForbidden:
		status, m = http.StatusForbidden, message{Title: "That was refused", Text: sentence(errorMessage(err))}
	case code == model.ERateLimited:
		status, m = http.StatusTooManyRequests, message{Title: "Too many signups from your network",
			Text: sentence(errorMessage(err)) + " Nothing was sent."}
	case code == model.EUnavailable:
		w.Header().Set("Retry-After", "5")
		status, m = http.StatusServiceUnavailable, message{Title: "Signups cannot be saved right now",
			Text: "Nothing was sent. Go back and try again in a moment."}
	case errors.As(err, &tooLarge), code == model.EBodyTooLarge:
		status, m = http.StatusRequestEntityTooLarge, message{Title: "That form is too large",
			Text: "Go back, check what you typed and send it again."}
	case code == model.EValidation:
		status, m = http.StatusBadRequest, message{Title: "That request is not right",
			Text: "Go back, or scan the poster's QR code again."}
	default:
		s.log.ErrorContext(r.Context(), "signup page request failed", "route", routeOf(r), "err", err)
		status, m = http.StatusInternalServerError, message{Title: "Something went wrong",
			Text: "The page could not be shown because of a problem on the server. It has been logged. Try again in a little while."}
	}
	s.showMessage(w, r, status, nil, m)
}

// showMessage renders a page that only says m, in the program's look when
// b is set.
func (s *Server) showMessage(w http.ResponseWriter, r *http.Request, status int, b *brand, m message) {
	if err := s.render(w, r, status, "message", page{Title: m.Title, Brand: b, Data: m}); err != nil {
		s.log.ErrorContext(r.Context(), "signup page error page failed", "err", err)
		http.Error(w, m.Title, status)
	}
}

// errorMessage is a model error's safe message.
func errorMessage(err error) string {
	var e *model.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}

func routeOf(r *http.Request) string {
	if i := infoOf(r); i != nil {
		return i.route
	}
	return ""
}

// handleNotFound serves every /join/ path no other route has.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) error {
	return model.Errorf(model.ENotFound, "")
}

// handleCrossOrigin answers a post that another site's page sent: the
// browser says so (Sec-Fetch-Site) or its Origin is not this host.
func (s *Server) handleCrossOrigin(w http.ResponseWriter, r *http.Request) {
	if info := infoOf(r); info != nil {
		info.route = "(cross-origin)"
	}
	s.fail(w, r, model.Errorf(model.EForbidden, "this form was sent from another site, so it was refused. Scan the poster's QR code to sign up"))
}

// limit spends a token of the client's signup bucket, or returns
// rate_limited with Retry-After set.
func (s *Server) limit(w http.ResponseWriter, r *http.Request) error {
	ok, wait := s.limits.Take(api.ClientKey(r, s.cfg.TrustedProxies, s.cfg.ClientIPHeader))
	if ok {
		return nil
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "signup refused: too many from one client")
	return model.Errorf(model.ERateLimited, "wait %s and try again", waitWords(secs))
}

// waitWords says how long secs seconds are for a person.
func waitWords(secs int) string {
	switch {
	case secs <= 1:
		return "a second"
	case secs < 60:
		return fmt.Sprintf("%d seconds", secs)
	case secs < 120:
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", (secs+59)/60)
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

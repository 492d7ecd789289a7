// Package console serves the web console at /console/: server-rendered
// pages on which the people who run referral programs sign in, watch how
// their programs do and change them. It sees the domain only through
// model's service interfaces, as the API does, and changes nothing the
// API could not: every change goes through the same service call after
// the same model validation, with the signed-in user as the actor the
// store writes to the audit log.
//
// # Adding a page
//
//  1. Routes: add them to routes() below, each with the least role that
//     may use it. s.handle("GET /console/things", model.RoleViewer,
//     s.handleThingList) lets every signed-in user read;
//     s.handle("POST /console/things/new", model.RoleManager,
//     s.handleThingCreate) refuses a viewer with the 403 page before the
//     handler runs. An empty role is a public route (sign-in only). A
//     handler never checks roles itself.
//  2. Handler: a file named after the area (things.go). It returns an
//     error instead of writing one: model errors become the 404, 403,
//     409 or 503 page, anything else a logged 500. Call the services
//     with r.Context(): it carries the actor. Build a small view struct
//     and s.render(w, r, http.StatusOK, "things", view). After a change,
//     s.redirect(w, r, "/console/things/"+id, "Thing saved.") shows the
//     message as a flash on the next page (POST, redirect, GET).
//  3. Template: templates/things.html defines "title" and "content"; the
//     layout, the nav, the flash and the skip link come with it. The view
//     is .Data; {{if .Can "manager"}} hides forms and buttons from those
//     who cannot use them. partials.html has "input" (a labelled input
//     with its hint and error), "fielderror" and "described" (the same
//     for radio buttons and selects a page draws itself), "errors" (the
//     summary of a form's problems), "empty" (an empty state: dict
//     "Title" "Text" "Action" "Href"), "pager" and "barchart". Funcs:
//     money, count, rate, date, datetime, commission, asset, dict. An
//     area's own partials go in partials_<area>.html, which every page
//     sees too; partials_ops.html has "audit-link", the link to a
//     record's history in the audit log: {{template "audit-link" dict
//     "Page" $ "Subject" .Data.Thing.ID}}.
//  4. Forms post back to the page they came from (GET and POST
//     /console/things/new). Describe the inputs once as []*field: names
//     are the model's field names, so its field errors land next to the
//     right input (field.Model and field.Messages map the others). Then
//     f := newForm(fields...).read(r), build the model's Create or Update,
//     f.fromError(in.Validate().Err()), and if !f.HasErrors() call the
//     service; when f.fromError(err) says its error is the user's to fix,
//     show the form again with s.renderForm (422, the values kept).
//     programs.go is the example to copy.
//  5. Nav: add the page's entry to navItems, or to a group of navGroups,
//     with the role that sees it.
//  6. Tests: handler tests beside the page with newTestEnv
//     (console_test.go): a real store, a signed-in user of each role.
//     Browser tests: a file of your own in browsertest/, see its doc.go.
package console

import (
	"context"
	"crypto/rand"
	"errors"
	"html/template"
	"io"
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

// Services are what the console reads and changes: the API's services,
// and the console's own users and audit log.
type Services struct {
	Programs    model.ProgramService
	Ambassadors model.AmbassadorService
	Impressions model.ImpressionService
	Placements  model.PlacementService
	Referrals   model.ReferralService
	Keys        model.APIKeyService
	Earnings    model.EarningService
	Stats       model.StatsService
	Backup      model.BackupService
	// Checker, when set, vets each new referral (hook plugins).
	Checker model.ReferralChecker
	// Hooks, when set, is the hook plugins' state.
	Hooks model.HookAdmin
	// Writes, when set, says whether the store takes writes.
	Writes model.WriteHealth
	Users  model.UserService
	Audit  model.AuditService
	// Portal, when set, makes and sends ambassadors' portal sign-in
	// links.
	Portal model.PortalService
	// Webhooks, when set, are the webhook endpoints and their
	// deliveries.
	Webhooks model.WebhookService
	// Designs, when set, are the programs' poster designs, which every
	// poster prints with; without it posters print with the defaults.
	Designs model.PosterDesignService
	// PrintRuns, when set, are the print runs: many ambassadors'
	// posters made and printed together.
	PrintRuns model.PrintRunService
}

// Config holds the console's settings.
type Config struct {
	// SessionIdle ends a session unused this long; SessionAbsolute ends
	// it this long after sign-in. Zero means DefaultSessionIdle and
	// DefaultSessionAbsolute.
	SessionIdle, SessionAbsolute time.Duration
	// TrustedProxies and ClientIPHeader are the API's: whose forwarding
	// headers are believed, and which header names the client. A trusted
	// proxy's word also decides whether the browser used https.
	TrustedProxies []netip.Prefix
	ClientIPHeader string
	// AccountSignInLimit bounds failed sign-ins per email address typed,
	// IPSignInLimit per client IP; a zero Bucket means the default.
	AccountSignInLimit, IPSignInLimit api.Bucket
	Logger                            *slog.Logger
	// Metrics, when set, records every request by route pattern.
	Metrics *metrics.Metrics
	// PublicBaseURL is where posters point, as the API's: a QR code
	// carries PublicBaseURL/s/<code>.
	PublicBaseURL string
	// EmailEnabled says whether referrald sends email: then the console
	// emails sign-in links, else it shows them to copy.
	EmailEnabled bool
	// WebhooksAllowHTTP lets webhook endpoints have http URLs, as the
	// API's setting of the same name (webhooks.allow_http).
	WebhooksAllowHTTP bool
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Defaults for Config.
var (
	DefaultSessionIdle     = 12 * time.Hour
	DefaultSessionAbsolute = 7 * 24 * time.Hour
	// Ten failures for one address, then one a minute: a person who has
	// forgotten their password is hardly slowed, a guesser is.
	DefaultAccountSignInLimit = api.Bucket{Rate: 1.0 / 60, Burst: 10}
	// Thirty failures from one client, then one every ten seconds, so
	// one client cannot try a password on every address in turn.
	DefaultIPSignInLimit = api.Bucket{Rate: 0.1, Burst: 30}
)

// Server is the console: an http.Handler for /console/.
type Server struct {
	svc           Services
	cfg           Config
	log           *slog.Logger
	now           func() time.Time
	mux           *http.ServeMux
	handler       http.Handler
	pages         map[string]*template.Template
	assets        map[string]asset
	flashKey      []byte
	accountLimits *api.Limiter
	ipLimits      *api.Limiter
	routeList     []Route
	// keyForms are the API key forms that have made a key.
	keyForms formOnce
	// webhookForms are the webhook forms that have made an endpoint or
	// rotated its secret: each shows a secret once.
	webhookForms formOnce
	// qrImages are the posters' QR codes, drawn as the API draws them.
	qrImages *poster.Cache
}

// New builds the console on svc. It panics if its embedded templates do
// not parse, which a test of this package would have caught.
func New(svc Services, cfg Config) *Server {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionAbsolute <= 0 {
		cfg.SessionAbsolute = DefaultSessionAbsolute
	}
	if cfg.AccountSignInLimit.Rate <= 0 || cfg.AccountSignInLimit.Burst < 1 {
		cfg.AccountSignInLimit = DefaultAccountSignInLimit
	}
	if cfg.IPSignInLimit.Rate <= 0 || cfg.IPSignInLimit.Burst < 1 {
		cfg.IPSignInLimit = DefaultIPSignInLimit
	}
	s := &Server{svc: svc, cfg: cfg, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(), flashKey: make([]byte, 32)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	rand.Read(s.flashKey) // a flash lives for one redirect: a key per process is enough
	s.accountLimits = api.NewLimiter(cfg.AccountSignInLimit, s.now)
	s.ipLimits = api.NewLimiter(cfg.IPSignInLimit, s.now)
	s.qrImages = poster.NewCache(poster.DefaultCacheBytes)
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

// routes registers every route; read it top to bottom to see the console.
func (s *Server) routes() {
	s.handle("GET /console/static/{name}", "", s.serveStatic)
	s.handle("/console/", "", s.handleNotFound)

	s.handle("GET /console/login", "", s.handleLogin)
	s.handle("POST /console/login", "", s.handleLoginPost)
	s.handle("GET /console/setup", "", s.handleSetup)
	s.handle("POST /console/setup", "", s.handleSetupPost)
	s.handle("POST /console/logout", model.RoleViewer, s.handleLogout)
	s.handle("GET /console/account", model.RoleViewer, s.handleAccount)
	s.handle("POST /console/account/sign-out-everywhere", model.RoleViewer, s.handleSignOutEverywhere)
	s.handle("POST /console/account/password", model.RoleViewer, s.handleAccountPassword)

	s.handle("GET /console/{$}", model.RoleViewer, s.handleOverview)

	s.handle("GET /console/programs", model.RoleViewer, s.handleProgramList)
	s.handle("GET /console/programs/new", model.RoleManager, s.handleProgramNew)
	s.handle("POST /console/programs/new", model.RoleManager, s.handleProgramCreate)
	s.handle("GET /console/programs/{id}", model.RoleViewer, s.handleProgramGet)
	s.handle("GET /console/programs/{id}/edit", model.RoleManager, s.handleProgramEdit)
	s.handle("POST /console/programs/{id}/edit", model.RoleManager, s.handleProgramUpdate)
	s.handle("POST /console/programs/{id}/archive", model.RoleManager, s.handleProgramArchive)
	s.handle("POST /console/programs/{id}/restore", model.RoleManager, s.handleProgramRestore)
	s.handle("GET /console/programs/{id}/design", model.RoleViewer, s.handleDesign)
	s.handle("POST /console/programs/{id}/design", model.RoleManager, s.handleDesignUpdate)
	s.handle("GET /console/programs/{id}/design/preview.png", model.RoleViewer, s.handleDesignPreview)
	s.handle("GET /console/programs/{id}/design/logo.png", model.RoleViewer, s.handleDesignLogo)

	s.handle("GET /console/keys", model.RoleOwner, s.handleKeyList)
	s.handle("GET /console/keys/new", model.RoleOwner, s.handleKeyNew)
	s.handle("POST /console/keys/new", model.RoleOwner, s.handleKeyCreate)
	s.handle("GET /console/keys/{id}", model.RoleOwner, s.handleKeyGet)
	s.handle("GET /console/keys/{id}/revoke", model.RoleOwner, s.handleKeyRevokeConfirm)
	s.handle("POST /console/keys/{id}/revoke", model.RoleOwner, s.handleKeyRevoke)

	s.handle("GET /console/hooks", model.RoleOwner, s.handleHookList)
	s.handle("GET /console/hooks/{name}", model.RoleOwner, s.handleHookGet)
	s.handle("POST /console/hooks/{name}/retry", model.RoleOwner, s.handleHookRetry)

	s.handle("GET /console/webhooks", model.RoleOwner, s.handleWebhookList)
	s.handle("GET /console/webhooks/new", model.RoleOwner, s.handleWebhookNew)
	s.handle("POST /console/webhooks/new", model.RoleOwner, s.handleWebhookCreate)
	s.handle("GET /console/webhooks/{id}", model.RoleOwner, s.handleWebhookGet)
	s.handle("POST /console/webhooks/{id}/disable", model.RoleOwner, s.handleWebhookDisable)
	s.handle("POST /console/webhooks/{id}/enable", model.RoleOwner, s.handleWebhookEnable)
	s.handle("GET /console/webhooks/{id}/rotate", model.RoleOwner, s.handleWebhookRotateConfirm)
	s.handle("POST /console/webhooks/{id}/rotate", model.RoleOwner, s.handleWebhookRotate)
	s.handle("GET /console/webhooks/{id}/delete", model.RoleOwner, s.handleWebhookDeleteConfirm)
	s.handle("POST /console/webhooks/{id}/delete", model.RoleOwner, s.handleWebhookDelete)
	s.handle("POST /console/webhooks/{id}/retry", model.RoleOwner, s.handleWebhookRetry)
	s.handle("POST /console/webhooks/{id}/recover", model.RoleOwner, s.handleWebhookRecover)

	s.handle("GET /console/users", model.RoleOwner, s.handleUserList)
	s.handle("GET /console/users/new", model.RoleOwner, s.handleUserNew)
	s.handle("POST /console/users/new", model.RoleOwner, s.handleUserCreate)
	s.handle("GET /console/users/{id}", model.RoleOwner, s.handleUserGet)
	s.handle("POST /console/users/{id}/role", model.RoleOwner, s.handleUserRole)
	s.handle("POST /console/users/{id}/disable", model.RoleOwner, s.handleUserDisable)
	s.handle("POST /console/users/{id}/enable", model.RoleOwner, s.handleUserEnable)
	s.handle("POST /console/users/{id}/password", model.RoleOwner, s.handleUserPassword)
	s.handle("POST /console/users/{id}/sign-out-everywhere", model.RoleOwner, s.handleUserSignOut)

	s.handle("GET /console/audit", model.RoleManager, s.handleAuditList)
	s.handle("GET /console/ambassadors", model.RoleViewer, s.handleAmbassadorList)
	s.handle("GET /console/ambassadors/new", model.RoleManager, s.handleAmbassadorNew)
	s.handle("POST /console/ambassadors/new", model.RoleManager, s.handleAmbassadorCreate)
	s.handle("GET /console/ambassadors/import", model.RoleManager, s.handleAmbassadorImportForm)
	s.handle("POST /console/ambassadors/import", model.RoleManager, s.handleAmbassadorImport)
	s.handle("GET /console/ambassadors/import/template.csv", model.RoleManager, s.handleAmbassadorImportTemplate)
	s.handle("GET /console/ambassadors/{id}", model.RoleViewer, s.handleAmbassadorGet)
	s.handle("GET /console/ambassadors/{id}/edit", model.RoleManager, s.handleAmbassadorEdit)
	s.handle("POST /console/ambassadors/{id}/edit", model.RoleManager, s.handleAmbassadorUpdate)
	s.handle("POST /console/ambassadors/{id}/pause", model.RoleManager, s.handleAmbassadorPause)
	s.handle("POST /console/ambassadors/{id}/activate", model.RoleManager, s.handleAmbassadorActivate)
	s.handle("POST /console/ambassadors/{id}/portal-link", model.RoleManager, s.handlePortalLink)
	s.handle("GET /console/ambassadors/{id}/placements/new", model.RoleManager, s.handlePlacementNew)
	s.handle("POST /console/ambassadors/{id}/placements/new", model.RoleManager, s.handlePlacementCreate)

	s.handle("GET /console/placements", model.RoleViewer, s.handlePlacementList)
	s.handle("GET /console/placements/print", model.RoleManager, s.handlePosterBatchForm)
	s.handle("POST /console/placements/print", model.RoleManager, s.handlePosterBatch)
	s.handle("GET /console/placements/{id}", model.RoleViewer, s.handlePlacementGet)
	s.handle("GET /console/placements/{id}/qr.png", model.RoleViewer, s.handlePlacementQR("png"))
	s.handle("GET /console/placements/{id}/qr.svg", model.RoleViewer, s.handlePlacementQR("svg"))
	s.handle("GET /console/placements/{id}/poster.pdf", model.RoleViewer, s.handlePlacementPoster)
	s.handle("POST /console/placements/{id}/deactivate", model.RoleManager, s.handlePlacementDeactivate)
	s.handle("POST /console/placements/{id}/activate", model.RoleManager, s.handlePlacementActivate)

	s.handle("GET /console/print-runs", model.RoleViewer, s.handlePrintRunList)
	s.handle("GET /console/print-runs/new", model.RoleManager, s.handlePrintRunNew)
	s.handle("POST /console/print-runs/new", model.RoleManager, s.handlePrintRunCreate)
	s.handle("GET /console/print-runs/{id}", model.RoleViewer, s.handlePrintRunGet)
	s.handle("GET /console/print-runs/{id}/posters.pdf", model.RoleViewer, s.handlePrintRunPDF)

	s.handle("GET /console/referrals", model.RoleViewer, s.handleReferralList)
	s.handle("GET /console/referrals/{id}", model.RoleViewer, s.handleReferralGet)
	s.handle("POST /console/referrals/{id}/status", model.RoleManager, s.handleReferralStatus)
	s.handle("GET /console/referrals/{id}/erase", model.RoleManager, s.handleReferralEraseConfirm)
	s.handle("POST /console/referrals/{id}/erase", model.RoleManager, s.handleReferralErase)

	s.handle("GET /console/money", model.RoleViewer, s.handleMoney)
	s.handle("GET /console/money/commissions", model.RoleViewer, s.handleCommissionList)
	s.handle("POST /console/money/commissions/approve", model.RoleManager, s.handleCommissionApproveMany)
	s.handle("GET /console/money/commissions/{id}", model.RoleViewer, s.handleCommissionGet)
	s.handle("POST /console/money/commissions/{id}/approve", model.RoleManager, s.handleCommissionApprove)
	s.handle("POST /console/money/commissions/{id}/hold", model.RoleManager, s.handleCommissionHold)
	s.handle("POST /console/money/commissions/{id}/release", model.RoleManager, s.handleCommissionRelease)
	s.handle("GET /console/money/earnings", model.RoleViewer, s.handleEarningList)
	s.handle("GET /console/money/earnings/{id}", model.RoleViewer, s.handleEarningGet)
	s.handle("POST /console/money/earnings/{id}/refund", model.RoleManager, s.handleEarningRefund)
	s.handle("GET /console/money/payouts", model.RoleViewer, s.handlePayoutList)
	s.handle("GET /console/money/payouts/new", model.RoleManager, s.handlePayoutNew)
	s.handle("POST /console/money/payouts/new", model.RoleManager, s.handlePayoutCreate)
	s.handle("GET /console/money/payouts/{id}", model.RoleViewer, s.handlePayoutGet)
	s.handle("GET /console/money/balances", model.RoleViewer, s.handleBalanceList)
	s.handle("GET /console/exports/{file}", model.RoleViewer, s.handleExport)

	s.handle("GET /console/leaderboard", model.RoleViewer, s.handleLeaderboard)
}

// navItem is one entry of the nav.
type navItem struct {
	// Section is the first path segment after /console/ of the pages
	// the entry covers ("" for the overview).
	Section, Path, Label string
	// Role is the least role that sees the entry.
	Role model.Role
}

// navItems is the nav, top to bottom.
var navItems = []navItem{
	{"", "/console/", "Overview", model.RoleViewer},
	{"programs", "/console/programs", "Programs", model.RoleViewer},
	{"ambassadors", "/console/ambassadors", "Ambassadors", model.RoleViewer},
	{"placements", "/console/placements", "Posters", model.RoleViewer},
	{"print-runs", "/console/print-runs", "Print runs", model.RoleViewer},
	{"referrals", "/console/referrals", "Referrals", model.RoleViewer},
	{"money", "/console/money/commissions", "Money", model.RoleViewer},
	{"leaderboard", "/console/leaderboard", "Leaderboard", model.RoleViewer},
}

// navGroup is a labelled group of the nav, below its main entries.
type navGroup struct {
	// ID names the group's label, which its list is labelled by.
	ID, Label string
	Items     []navItem
}

// navGroups are the nav's groups, top to bottom.
var navGroups = []navGroup{
	{"nav-ops", "Operations", []navItem{
		{"keys", "/console/keys", "API keys", model.RoleOwner},
		{"hooks", "/console/hooks", "Hooks", model.RoleOwner},
		{"webhooks", "/console/webhooks", "Webhooks", model.RoleOwner},
		{"users", "/console/users", "Users", model.RoleOwner},
		{"audit", "/console/audit", "Audit log", model.RoleManager},
	}},
}

// Route is one registered route, for tests and documentation.
type Route struct {
	// Method is "" for a route of every method (the 404 page).
	Method, Pattern string
	// Role is the least role that may use the route; "" for public ones.
	Role model.Role
}

// Routes lists the registered routes in registration order.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routeList...) }

// handler serves one route. It returns an error rather than writing one,
// so every error is shown the same way (see fail).
type handler func(w http.ResponseWriter, r *http.Request) error

// handle registers h for pattern (a ServeMux pattern with its method).
// With a role, the route needs a session whose user has that role or a
// higher one: without a session the browser is sent to sign in, and
// with too low a role it gets the 403 page, whatever the handler does.
func (s *Server) handle(pattern string, need model.Role, h handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	s.routeList = append(s.routeList, Route{method, path, need})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if info := infoOf(r); info != nil {
			info.route = path
		}
		if need != "" {
			si, err := s.session(w, r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if si == nil {
				s.toSignIn(w, r)
				return
			}
			r = r.WithContext(withSignedIn(r.Context(), si))
			if !si.user.Role.Allows(need) {
				s.fail(w, r, model.Errorf(model.EForbidden, "Your role, %s, cannot do this: it needs %s. Ask an owner if you should.", si.user.Role, need))
				return
			}
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// ServeHTTP implements http.Handler: security headers, the cross-origin
// check of every write, and a log line and metrics per request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{route: "(not found)"}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	h := w.Header()
	// Everything the pages load is ours: no inline script or style, no
	// frames, forms that post only here.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	rec := &metrics.StatusRecorder{ResponseWriter: w}
	if r.Body != nil {
		info.body = r.Body
		r.Body = http.MaxBytesReader(rec, r.Body, maxFormBytes)
	}
	s.handler.ServeHTTP(rec, r)
	elapsed := time.Since(start)
	s.cfg.Metrics.ObserveRequest(info.route, r.Method, rec.Status, elapsed)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("route", info.route),
		slog.Int("status", rec.Status), slog.Duration("duration", elapsed))
}

// maxFormBytes bounds a request's body: the console's forms are small.
const maxFormBytes = 64 << 10

// requestInfo carries the matched route pattern back up to ServeHTTP's
// log line: the pattern, never the raw path, which can hold IDs.
type requestInfo struct {
	route string
	// body is the request's body before maxFormBytes bounds it, for
	// a handler that takes an upload to bound by its own limit
	// (allowBody).
	body io.ReadCloser
}

// allowBody lets a handler read up to n bytes of r's body, rather than
// maxFormBytes: an upload, such as a CSV file. Call it before anything
// reads the body.
func allowBody(w http.ResponseWriter, r *http.Request, n int64) {
	if i := infoOf(r); i != nil && i.body != nil {
		r.Body = http.MaxBytesReader(w, i.body, n)
	}
}

type requestInfoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	i, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return i
}

// sectionOf is the nav section of the request's route: the first path
// segment after /console/.
func sectionOf(r *http.Request) string {
	route := "/console/"
	if i := infoOf(r); i != nil {
		route = i.route
	}
	rest, _ := strings.CutPrefix(route, "/console/")
	section, _, _ := strings.Cut(rest, "/")
	return strings.TrimSuffix(section, "{$}")
}

// errorView is what the error page shows.
type errorView struct {
	Title, Message string
	// Action and ActionPath are the way on that the page offers.
	Action, ActionPath string
}

// fail shows err as a page. A model error the user caused gets its own
// status and its safe message; anything else is logged with its cause
// and shown as a 500 that says nothing of it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	v := errorView{Action: "Go to the overview", ActionPath: "/console/"}
	var status int
	code := model.ErrorCode(err)
	msg := ""
	var e *model.Error
	if errors.As(err, &e) {
		msg = sentence(e.Message)
	}
	switch code {
	case model.ENotFound:
		status, v.Title = http.StatusNotFound, "Page not found"
		if msg == "" || strings.HasPrefix(msg, "No route") {
			msg = "There is nothing at this address. The link may be mistyped, or what it showed may have moved."
		}
		v.Message = msg
	case model.EForbidden:
		status, v.Title, v.Message = http.StatusForbidden, "You cannot do that", msg
	case model.EUnauthorized:
		s.toSignIn(w, r)
		return
	case model.ERateLimited:
		status, v.Title, v.Message = http.StatusTooManyRequests, "Too many requests", msg
	case model.EUnavailable:
		w.Header().Set("Retry-After", "5")
		status, v.Title = http.StatusServiceUnavailable, "Changes cannot be saved right now"
		v.Message = msg + " Nothing was changed. Try again in a moment."
	case model.EConflict:
		status, v.Title, v.Message = http.StatusConflict, "That cannot be done", msg
	case model.EValidation, model.EInvalidJSON, model.EIdempotencyKeyReused, model.EBodyTooLarge:
		status, v.Title, v.Message = http.StatusBadRequest, "That request is not right", msg
	default:
		s.log.ErrorContext(r.Context(), "console request failed", "route", routeOf(r), "err", err)
		status, v.Title = http.StatusInternalServerError, "Something went wrong"
		v.Message = "The page could not be shown because of a problem on the server. It has been logged. Try again, and if it keeps happening, tell whoever runs referrald."
	}
	if signedInOf(r) == nil {
		v.Action, v.ActionPath = "Sign in", "/console/login"
	}
	if err := s.render(w, r, status, "error", v); err != nil {
		s.log.ErrorContext(r.Context(), "console error page failed", "err", err)
		http.Error(w, v.Title, status)
	}
}

func routeOf(r *http.Request) string {
	if i := infoOf(r); i != nil {
		return i.route
	}
	return ""
}

// handleNotFound serves every /console/ path no other route has: the 404
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
	s.fail(w, r, model.Errorf(model.EForbidden, "This form was sent from another site, so it was refused. Open the console at its own address and try again."))
}

// redirect answers a successful POST: 303 to the page that shows the
// result, with msg as a flash there when it is not empty.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to, msg string) error {
	if msg != "" {
		s.setFlash(w, r, flashSuccess, msg)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// Package api serves referrald's HTTP API (../shared/API.md) on
// httprouter. Handlers see the domain only through model's service
// interfaces; they never touch the store.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/export"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// Services are what the API serves.
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
	// Mail, when set (email is sent), holds the mailer's dead letters,
	// listed and retried as plugin model.MailConsumer.
	Mail model.HookStore
	// Webhooks, when set, serves /v1/webhook_endpoints.
	Webhooks model.WebhookService
	// Designs, when set, keeps programs' poster designs, which every
	// poster prints with; without it posters print with the defaults.
	Designs model.PosterDesignService
	// Portal, when set, makes the ambassador portal's sign-in links.
	Portal model.PortalService
	// PrintRuns, when set, serves /v1/print_runs.
	PrintRuns model.PrintRunService
	// Users are the console's users; the console serves them, the API
	// does not (yet).
	Users model.UserService
	// Audit, when set, serves GET /v1/audit.
	Audit model.AuditService
	// Checker, when set, vets each new referral (hook plugins).
	Checker model.ReferralChecker
	// Hooks, when set, serves /v1/admin/hooks/...
	Hooks model.HookAdmin
	// Writes, when set, makes /readyz answer 503 while the store cannot
	// take writes.
	Writes model.WriteHealth
}

// Config holds the API's settings.
type Config struct {
	// AdminToken, when set, is accepted with scope admin, alongside the
	// keys in the store (bootstrap and tests).
	AdminToken string
	Logger     *slog.Logger
	// Metrics, when set, records every request; with ServeMetrics it is
	// also served at GET /metrics on this router.
	Metrics      *metrics.Metrics
	ServeMetrics bool
	// WebhooksAllowHTTP lets webhook endpoints have http URLs, for
	// receivers on a private network; else they must be https.
	WebhooksAllowHTTP bool
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// KeyRateLimit is each API key's bucket; IPRateLimit each client IP's
	// on public routes. A zero Bucket means DefaultKeyRateLimit or
	// DefaultIPRateLimit.
	KeyRateLimit Bucket
	IPRateLimit  Bucket
	// Now is the clock; tests replace it.
	Now func() time.Time
	// PublicBaseURL is where posters point: scan URLs are
	// PublicBaseURL/s/<code>.
	PublicBaseURL string
	// ScanSecret keys the daily hash of scanners' IPs.
	ScanSecret []byte
	// RepeatWindow is how long a second scan of a poster by the same
	// client counts as a repeat; 0 means DefaultRepeatWindow.
	RepeatWindow time.Duration
	// ExpiredPage, when set, answers scans of an inactive poster with a
	// "this poster has expired" page instead of redirecting.
	ExpiredPage bool
	// TrustedProxies are the peers whose forwarding header is believed.
	TrustedProxies []netip.Prefix
	// ClientIPHeader is the one header read from a trusted proxy for the
	// client's address: ForwardedHeader (also when empty) or
	// XForwardedForHeader. Any other is ignored.
	ClientIPHeader string
	// StripeWebhookSecrets are the signing secrets of the Stripe endpoint,
	// POST /v1/integrations/stripe/events, any of which may sign an
	// event; without one the endpoint answers 404.
	StripeWebhookSecrets [][]byte
	// StripeReferralMetadataKey, when set, names the Checkout Session
	// metadata key read for the referral ID when client_reference_id is
	// empty.
	StripeReferralMetadataKey string
}

// Defaults for Config.
var (
	DefaultKeyRateLimit = Bucket{Rate: 1000, Burst: 2000}
	DefaultIPRateLimit  = Bucket{Rate: 10, Burst: 50}
)

// Server is the HTTP API.
type Server struct {
	svc            Services
	router         *httprouter.Router
	log            *slog.Logger
	adminTokenHash *[32]byte
	metrics        *metrics.Metrics
	maxBody        int64
	now            func() time.Time
	keyLimits      *limiter
	ipLimits       *limiter
	scanBase       string
	scanSecret     []byte
	repeatWindow   time.Duration
	webhooksHTTP   bool
	expiredPage    bool
	trustedProxies []netip.Prefix
	clientIPHeader string
	qrImages       *poster.Cache
	ready          atomic.Bool
	routeList      []Route
	// signups creates referrals (referral.go).
	signups *Signups
	// stripeSecrets and stripeMetadataKey configure the Stripe endpoint
	// (stripe.go).
	stripeSecrets     [][]byte
	stripeMetadataKey string
}

// New returns a server that answers /readyz with 503 until SetReady(true).
func New(svc Services, cfg Config) *Server {
	s := &Server{svc: svc, router: httprouter.New(), log: cfg.Logger, metrics: cfg.Metrics,
		maxBody: cfg.MaxBodyBytes, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.KeyRateLimit.Rate <= 0 || cfg.KeyRateLimit.Burst < 1 {
		cfg.KeyRateLimit = DefaultKeyRateLimit
	}
	if cfg.IPRateLimit.Rate <= 0 || cfg.IPRateLimit.Burst < 1 {
		cfg.IPRateLimit = DefaultIPRateLimit
	}
	s.scanBase, s.scanSecret, s.repeatWindow = strings.TrimRight(cfg.PublicBaseURL, "/"), cfg.ScanSecret, cfg.RepeatWindow
	s.webhooksHTTP = cfg.WebhooksAllowHTTP
	s.expiredPage, s.trustedProxies = cfg.ExpiredPage, cfg.TrustedProxies
	s.clientIPHeader = ForwardedHeader
	if strings.EqualFold(cfg.ClientIPHeader, XForwardedForHeader) {
		s.clientIPHeader = XForwardedForHeader
	}
	if s.repeatWindow <= 0 {
		s.repeatWindow = DefaultRepeatWindow
	}
	if len(s.scanSecret) == 0 {
		s.scanSecret = make([]byte, 32)
		rand.Read(s.scanSecret) // a key of this process only: fine for tests
	}
	s.stripeSecrets, s.stripeMetadataKey = cfg.StripeWebhookSecrets, cfg.StripeReferralMetadataKey
	s.signups = &Signups{Referrals: svc.Referrals, Checker: svc.Checker, Metrics: cfg.Metrics}
	s.qrImages = poster.NewCache(poster.DefaultCacheBytes)
	s.keyLimits = newLimiter(cfg.KeyRateLimit, s.now)
	s.ipLimits = newLimiter(cfg.IPRateLimit, s.now)
	if cfg.AdminToken != "" {
		h := sha256.Sum256([]byte(cfg.AdminToken))
		s.adminTokenHash = &h
	}
	s.routes(cfg.ServeMetrics)
	s.metrics.SetReadiness(func() bool { return s.readiness() == nil })
	return s
}

// routes registers every route; read it top to bottom to see the API.
func (s *Server) routes(serveMetrics bool) {
	// The router would answer OPTIONS and redirect near-miss paths on its
	// own, before any authentication; every answer here is ours.
	s.router.HandleOPTIONS, s.router.RedirectTrailingSlash, s.router.RedirectFixedPath = false, false, false
	s.router.NotFound = http.HandlerFunc(s.handleNotFound)
	s.router.MethodNotAllowed = http.HandlerFunc(s.handleMethodNotAllowed)
	s.router.PanicHandler = s.handlePanic

	s.handle("GET", "/healthz", "", s.handleHealthz)
	s.handle("GET", "/readyz", "", s.handleReadyz)
	if serveMetrics && s.metrics != nil {
		s.handle("GET", "/metrics", "", s.handleMetrics)
	}
	s.handlePublic("GET", "/openapi.json", s.handleOpenAPI)
	s.handlePublic("GET", "/s/:code", s.handleScan)

	s.handle("POST", "/v1/programs", model.ScopeAdmin, s.handleProgramCreate)
	s.handle("GET", "/v1/programs", model.ScopeRead, s.handleProgramList)
	s.handle("GET", "/v1/programs/:id", model.ScopeRead, s.handleProgramGet)
	s.handle("PATCH", "/v1/programs/:id", model.ScopeAdmin, s.handleProgramUpdate)
	s.handle("GET", "/v1/programs/:id/poster_design", model.ScopeRead, s.handlePosterDesignGet)
	s.handle("PATCH", "/v1/programs/:id/poster_design", model.ScopeAdmin, s.handlePosterDesignUpdate)
	s.handle("PUT", "/v1/programs/:id/poster_design/logo", model.ScopeAdmin, s.handlePosterLogoPut)
	s.handle("GET", "/v1/programs/:id/poster_design/logo", model.ScopeRead, s.handlePosterLogoGet)
	s.handle("DELETE", "/v1/programs/:id/poster_design/logo", model.ScopeAdmin, s.handlePosterLogoDelete)
	s.handleCost("GET", "/v1/programs/:id/poster_preview.png", model.ScopeRead, imageCost, s.handlePosterPreview)

	s.handle("POST", "/v1/ambassadors", model.ScopeAdmin, s.handleAmbassadorCreate)
	s.handle("GET", "/v1/ambassadors", model.ScopeRead, s.handleAmbassadorList)
	s.handle("GET", "/v1/ambassadors/:id", model.ScopeRead, s.handleAmbassadorGet)
	s.handle("PATCH", "/v1/ambassadors/:id", model.ScopeAdmin, s.handleAmbassadorUpdate)
	s.handle("POST", "/v1/ambassadors/:id/posters", model.ScopeAdmin, s.handlePosters)
	s.handle("POST", "/v1/ambassadors/:id/portal_links", model.ScopeAdmin, s.handlePortalLinkCreate)

	s.handle("POST", "/v1/print_runs", model.ScopeAdmin, s.handlePrintRunCreate)
	s.handle("GET", "/v1/print_runs", model.ScopeRead, s.handlePrintRunList)
	s.handle("GET", "/v1/print_runs/:id", model.ScopeRead, s.handlePrintRunGet)
	s.handleCost("GET", "/v1/print_runs/:id/posters.pdf", model.ScopeRead, printRunPDFCost, s.handlePrintRunPDF)

	s.handle("POST", "/v1/placements", model.ScopeAdmin, s.handlePlacementCreate)
	s.handle("GET", "/v1/placements", model.ScopeRead, s.handlePlacementList)
	s.handle("GET", "/v1/placements/:id", model.ScopeRead, s.handlePlacementGet)
	s.handle("PATCH", "/v1/placements/:id", model.ScopeAdmin, s.handlePlacementUpdate)
	s.handleCost("GET", "/v1/placements/:id/qr.png", model.ScopeRead, imageCost, s.handlePlacementQR("png"))
	s.handleCost("GET", "/v1/placements/:id/qr.svg", model.ScopeRead, imageCost, s.handlePlacementQR("svg"))

	s.handle("POST", "/v1/impressions", model.ScopeWrite, s.handleImpressionCreate)
	s.handle("GET", "/v1/impressions", model.ScopeRead, s.handleImpressionList)
	s.handle("GET", "/v1/impressions/:id", model.ScopeRead, s.handleImpressionGet)

	s.handle("POST", "/v1/referrals", model.ScopeWrite, s.handleReferralCreate)
	s.handle("GET", "/v1/referrals", model.ScopeRead, s.handleReferralList)
	s.handle("GET", "/v1/referrals/:id", model.ScopeRead, s.handleReferralGet)
	s.handle("PATCH", "/v1/referrals/:id", model.ScopeWrite, s.handleReferralUpdate)
	s.handle("DELETE", "/v1/referrals/:id", model.ScopeAdmin, s.handleReferralErase)

	s.handle("POST", "/v1/earnings", model.ScopeWrite, s.handleEarningCreate)
	s.handle("GET", "/v1/earnings", model.ScopeRead, s.handleEarningList)
	s.handle("GET", "/v1/earnings/:id", model.ScopeRead, s.handleEarningGet)
	s.handle("POST", "/v1/earnings/:id/refund", model.ScopeWrite, s.handleEarningRefund)

	s.handle("GET", "/v1/commissions", model.ScopeRead, s.handleCommissionList)
	s.handle("GET", "/v1/commissions/:id", model.ScopeRead, s.handleCommissionGet)
	s.handle("POST", "/v1/commissions/:id/approve", model.ScopeAdmin, s.handleCommissionApprove)
	s.handle("POST", "/v1/commissions/:id/hold", model.ScopeAdmin, s.handleCommissionHold)
	s.handle("POST", "/v1/commissions/:id/release", model.ScopeAdmin, s.handleCommissionRelease)
	s.handle("GET", "/v1/ambassadors/:id/balance", model.ScopeRead, s.handleAmbassadorBalance)
	s.handle("POST", "/v1/payouts", model.ScopeAdmin, s.handlePayoutCreate)
	s.handle("GET", "/v1/payouts", model.ScopeRead, s.handlePayoutList)
	s.handle("GET", "/v1/payouts/:id", model.ScopeRead, s.handlePayoutGet)

	s.handle("GET", "/v1/exports/ambassadors.csv", model.ScopeAdmin, s.handleExport(export.Ambassadors))
	s.handle("GET", "/v1/exports/referrals.csv", model.ScopeAdmin, s.handleExport(export.Referrals))
	s.handle("GET", "/v1/exports/earnings.csv", model.ScopeAdmin, s.handleExport(export.Earnings))
	s.handle("GET", "/v1/exports/commissions.csv", model.ScopeAdmin, s.handleExport(export.Commissions))
	s.handle("GET", "/v1/exports/payouts.csv", model.ScopeAdmin, s.handleExport(export.Payouts))

	s.handle("GET", "/v1/stats/funnel", model.ScopeRead, s.handleFunnel)
	s.handle("GET", "/v1/stats/leaderboard", model.ScopeRead, s.handleLeaderboard)

	s.handle("POST", "/v1/keys", model.ScopeAdmin, s.handleKeyCreate)
	s.handle("GET", "/v1/keys", model.ScopeAdmin, s.handleKeyList)
	s.handle("GET", "/v1/keys/:id", model.ScopeAdmin, s.handleKeyGet)
	s.handle("DELETE", "/v1/keys/:id", model.ScopeAdmin, s.handleKeyRevoke)

	s.handle("GET", "/v1/audit", model.ScopeAdmin, s.handleAuditList)

	s.handle("POST", "/v1/webhook_endpoints", model.ScopeAdmin, s.handleWebhookCreate)
	s.handle("GET", "/v1/webhook_endpoints", model.ScopeAdmin, s.handleWebhookList)
	s.handle("GET", "/v1/webhook_endpoints/:id", model.ScopeAdmin, s.handleWebhookGet)
	s.handle("PATCH", "/v1/webhook_endpoints/:id", model.ScopeAdmin, s.handleWebhookUpdate)
	s.handle("DELETE", "/v1/webhook_endpoints/:id", model.ScopeAdmin, s.handleWebhookDelete)
	s.handle("POST", "/v1/webhook_endpoints/:id/rotate_secret", model.ScopeAdmin, s.handleWebhookRotate)
	s.handle("GET", "/v1/webhook_endpoints/:id/attempts", model.ScopeAdmin, s.handleWebhookAttempts)
	s.handle("GET", "/v1/webhook_endpoints/:id/failed_messages", model.ScopeAdmin, s.handleWebhookFailed)
	s.handle("POST", "/v1/webhook_endpoints/:id/messages/:event_id/retry", model.ScopeAdmin, s.handleWebhookRetry)
	s.handle("POST", "/v1/webhook_endpoints/:id/recover", model.ScopeAdmin, s.handleWebhookRecover)

	s.handle("GET", "/v1/admin/backup", model.ScopeAdmin, s.handleBackup)
	s.handle("GET", "/v1/admin/hooks", model.ScopeAdmin, s.handleHookList)
	s.handle("GET", "/v1/admin/hooks/dead-letters", model.ScopeAdmin, s.handleDeadLetterList)
	s.handle("POST", "/v1/admin/hooks/dead-letters/retry", model.ScopeAdmin, s.handleDeadLetterRetry)
	s.handle("GET", "/v1/admin/hooks/results", model.ScopeAdmin, s.handleHookResultList)

	// Public, without a per-IP limit: each event is signed with the
	// endpoint's secret, and Stripe sends bursts from few addresses.
	s.handle("POST", "/v1/integrations/stripe/events", "", s.handleStripeEvent)
}

// Route is one registered route, for tests and documentation.
type Route struct {
	Method, Pattern string
	Scope           model.Scope
}

// Routes lists the registered routes in registration order.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routeList...) }

// handler is a route's handler: it returns an error rather than writing
// one, so every error is written the same way.
type handler func(w http.ResponseWriter, r *http.Request, p httprouter.Params) error

// imageCost is how many tokens of the key's rate limit bucket a QR image
// request spends: drawing an image takes far more than a JSON answer.
const imageCost = 10

// handle registers h for method and pattern. A non-empty scope makes the
// route authenticated: the bearer token must name a key with at least that
// scope, and each request spends a token of that key's rate limit bucket.
func (s *Server) handle(method, pattern string, scope model.Scope, h handler) {
	s.handleCost(method, pattern, scope, 1, h)
}

// handleCost is handle for an authenticated route whose requests each
// spend cost tokens.
func (s *Server) handleCost(method, pattern string, scope model.Scope, cost int, h handler) {
	s.routeList = append(s.routeList, Route{method, pattern, scope})
	s.router.Handle(method, pattern, func(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
		setRoute(r, pattern)
		if scope != "" {
			// The bucket is spent before the scope is checked, so a 403 is
			// rate limited and reported like any authenticated answer.
			principal, err := s.authenticate(r)
			if err == nil {
				err = s.limit(w, s.keyLimits, principal.ID, "key", cost)
			}
			if err == nil && !principal.Scope.Allows(scope) {
				err = model.Errorf(model.EForbidden, "this API key has scope %s; this route needs %s", principal.Scope, scope)
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			ctx := context.WithValue(r.Context(), principalKey{}, principal)
			r = r.WithContext(model.WithActor(ctx, actorOf(principal)))
		}
		if err := h(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// handlePublic registers an unauthenticated route that each client IP may
// call only at its own bucket's rate.
func (s *Server) handlePublic(method, pattern string, h handler) {
	s.handle(method, pattern, "", func(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
		if err := s.limit(w, s.ipLimits, ipLimitKey(clientIP(r, s.trustedProxies, s.clientIPHeader)), "ip", 1); err != nil {
			return err
		}
		return h(w, r, p)
	})
}

// ipLimitKey is the bucket of a client address: the address itself for
// IPv4, its /64 for IPv6. One IPv6 subscriber is usually given a whole /64,
// so a limit per address would let one client make 2^64 buckets.
func ipLimitKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if addr.Unmap().Is4() {
		return addr.Unmap().String()
	}
	return netip.PrefixFrom(addr.WithZone(""), 64).Masked().String()
}

// limit spends cost tokens of key's bucket in l and sets the rate limit
// headers, or returns rate_limited.
func (s *Server) limit(w http.ResponseWriter, l *limiter, key, name string, cost int) error {
	v := l.take(key, cost)
	setRateLimitHeaders(w.Header(), v, l.shape, s.now())
	if !v.allowed {
		s.metrics.RateLimited(name)
		return rateLimited(v)
	}
	return nil
}

// SetReady flips /readyz.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.observe(w, r, s.router)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if err := s.readiness(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// readiness is nil when /readyz answers 200, else why it answers 503.
func (s *Server) readiness() error {
	if !s.ready.Load() {
		return model.Errorf(model.EUnavailable, "not ready: starting or shutting down")
	}
	if s.svc.Writes != nil {
		return s.svc.Writes.Writable()
	}
	return nil
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	setRoute(r, "(not found)")
	s.writeError(w, r, model.Errorf(model.ENotFound, "no route for %s %s", r.Method, r.URL.Path))
}

func (s *Server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	setRoute(r, "(method not allowed)")
	// httprouter lists OPTIONS as allowed even with HandleOPTIONS off.
	var allowed []string
	for m := range strings.SplitSeq(w.Header().Get("Allow"), ",") {
		if m = strings.TrimSpace(m); m != "" && m != http.MethodOptions {
			allowed = append(allowed, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	s.writeError(w, r, model.Errorf(model.EMethodNotAllowed, "%s is not allowed here; allowed: %s", r.Method, w.Header().Get("Allow")))
}

func (s *Server) handlePanic(w http.ResponseWriter, r *http.Request, v any) {
	s.log.ErrorContext(r.Context(), "panic in handler", "route", routeOf(r), "request_id", requestIDOf(r), "panic", v)
	s.writeError(w, r, model.Errorf(model.EInternal, "internal error"))
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeBody(w, status, "application/json", v)
}

func writeBody(w http.ResponseWriter, status int, contentType string, v any) {
	// An Encoder, unlike json.Marshal, can leave <, > and & alone, so
	// metadata and names come back byte for byte as they were sent.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status, contentType = http.StatusInternalServerError, "application/problem+json"
		buf.Reset()
		buf.WriteString(`{"type":"` + problemBase + `internal","title":"Internal error","status":500,"code":"internal","detail":"internal error"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// writeCreated answers a create: 201 with the record, and
// Idempotent-Replayed when it replays an earlier request's answer.
func (s *Server) writeCreated(w http.ResponseWriter, r *http.Request, location string, v any, replayed bool) error {
	w.Header().Set("Location", location)
	s.markReplayed(w, r, replayed)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// markReplayed says, in a header and a metric, that a create answered
// from its idempotency key's first response.
func (s *Server) markReplayed(w http.ResponseWriter, r *http.Request, replayed bool) {
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		s.metrics.IdempotentReplay(routeOf(r))
	}
}

// handleMetrics serves GET /metrics.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	s.metrics.Handler().ServeHTTP(w, r)
	return nil
}

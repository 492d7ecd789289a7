// Package api serves referrald's HTTP API (../shared/API.md) on
// httprouter. Handlers see the domain only through model's service
// interfaces; they never touch the store.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// Services are what the API serves.
type Services struct {
	Programs    model.ProgramService
	Ambassadors model.AmbassadorService
	Impressions model.ImpressionService
	Referrals   model.ReferralService
	Keys        model.APIKeyService
}

// Config holds the API's settings.
type Config struct {
	// AdminToken, when set, is accepted with scope admin, alongside the
	// keys in the store (bootstrap and tests).
	AdminToken string
	Logger     *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	svc            Services
	router         *httprouter.Router
	log            *slog.Logger
	adminTokenHash *[32]byte
	ready          atomic.Bool
	routeList      []Route
}

// New returns a server that answers /readyz with 503 until SetReady(true).
func New(svc Services, cfg Config) *Server {
	s := &Server{svc: svc, router: httprouter.New(), log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.AdminToken != "" {
		h := sha256.Sum256([]byte(cfg.AdminToken))
		s.adminTokenHash = &h
	}
	s.routes()
	return s
}

// routes registers every route; read it top to bottom to see the API.
func (s *Server) routes() {
	s.router.NotFound = http.HandlerFunc(s.handleNotFound)
	s.router.MethodNotAllowed = http.HandlerFunc(s.handleMethodNotAllowed)
	s.router.PanicHandler = s.handlePanic

	s.handle("GET", "/healthz", "", s.handleHealthz)
	s.handle("GET", "/readyz", "", s.handleReadyz)

	s.handle("POST", "/v1/programs", model.ScopeAdmin, s.handleProgramCreate)
	s.handle("GET", "/v1/programs", model.ScopeRead, s.handleProgramList)
	s.handle("GET", "/v1/programs/:id", model.ScopeRead, s.handleProgramGet)
	s.handle("PATCH", "/v1/programs/:id", model.ScopeAdmin, s.handleProgramUpdate)

	s.handle("POST", "/v1/ambassadors", model.ScopeAdmin, s.handleAmbassadorCreate)
	s.handle("GET", "/v1/ambassadors", model.ScopeRead, s.handleAmbassadorList)
	s.handle("GET", "/v1/ambassadors/:id", model.ScopeRead, s.handleAmbassadorGet)
	s.handle("PATCH", "/v1/ambassadors/:id", model.ScopeAdmin, s.handleAmbassadorUpdate)

	s.handle("POST", "/v1/impressions", model.ScopeWrite, s.handleImpressionCreate)
	s.handle("GET", "/v1/impressions", model.ScopeRead, s.handleImpressionList)
	s.handle("GET", "/v1/impressions/:id", model.ScopeRead, s.handleImpressionGet)

	s.handle("POST", "/v1/referrals", model.ScopeWrite, s.handleReferralCreate)
	s.handle("GET", "/v1/referrals", model.ScopeRead, s.handleReferralList)
	s.handle("GET", "/v1/referrals/:id", model.ScopeRead, s.handleReferralGet)
	s.handle("PATCH", "/v1/referrals/:id", model.ScopeWrite, s.handleReferralUpdate)

	s.handle("POST", "/v1/keys", model.ScopeAdmin, s.handleKeyCreate)
	s.handle("GET", "/v1/keys", model.ScopeAdmin, s.handleKeyList)
	s.handle("DELETE", "/v1/keys/:id", model.ScopeAdmin, s.handleKeyRevoke)
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

// handle registers h for method and pattern. A non-empty scope makes the
// route authenticated: the bearer token must name a key with at least that
// scope.
func (s *Server) handle(method, pattern string, scope model.Scope, h handler) {
	s.routeList = append(s.routeList, Route{method, pattern, scope})
	s.router.Handle(method, pattern, func(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
		setRoute(r, pattern)
		if scope != "" {
			principal, err := s.authenticate(r, scope)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, principal))
		}
		if err := h(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
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
	if !s.ready.Load() {
		return model.Errorf(model.EUnavailable, "not ready: starting or shutting down")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	setRoute(r, "(not found)")
	s.writeError(w, r, model.Errorf(model.ENotFound, "no route for %s %s", r.Method, r.URL.Path))
}

func (s *Server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	setRoute(r, "(method not allowed)")
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
	b, err := json.Marshal(v)
	if err != nil {
		status, contentType = http.StatusInternalServerError, "application/problem+json"
		b = []byte(`{"type":"` + problemBase + `internal","title":"Internal error","status":500,"code":"internal","detail":"internal error"}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeCreated answers a create: 201 with the record, and
// Idempotent-Replayed when it replays an earlier request's answer.
func writeCreated(w http.ResponseWriter, location string, v any, replayed bool) error {
	w.Header().Set("Location", location)
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
)

type principalKey struct{}

// principalOf returns who made an authenticated request.
func principalOf(r *http.Request) model.Principal {
	p, _ := r.Context().Value(principalKey{}).(model.Principal)
	return p
}

// adminTokenPrincipal is the principal of REFERRALD_ADMIN_TOKEN; its ID
// scopes that token's idempotency keys.
const adminTokenPrincipal = "admin_token"

// authenticate finds the principal of the request's bearer token.
func (s *Server) authenticate(r *http.Request) (model.Principal, error) {
	unauthorized := model.Errorf(model.EUnauthorized, "send a valid API key as Authorization: Bearer <token>")
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return model.Principal{}, unauthorized
	}
	var p model.Principal
	if s.adminTokenHash != nil {
		h := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(h[:], s.adminTokenHash[:]) == 1 {
			p = model.Principal{ID: adminTokenPrincipal, Scope: model.ScopeAdmin}
		}
	}
	if p.ID == "" {
		k, err := s.svc.Keys.AuthenticateToken(r.Context(), token)
		if model.ErrorCode(err) == model.EUnauthorized {
			return p, unauthorized
		} else if err != nil {
			return p, err
		}
		p = model.Principal{ID: k.ID, Scope: k.Scope, Name: k.Name}
	}
	return p, nil
}

// actorOf is who a principal's changes are by, for the audit log: every
// change of an admin-scope key or of the admin token is audited; a
// write-scope key's (signups, scans, purchases) are not.
func actorOf(p model.Principal) model.Actor {
	if p.ID == adminTokenPrincipal {
		return model.Actor{Kind: model.ActorAdminToken, Label: "admin token", Audited: true}
	}
	return model.Actor{Kind: model.ActorAPIKey, ID: p.ID, Label: p.Name, Audited: p.Scope == model.ScopeAdmin}
}

// requestInfo travels in the request context so the log line written after
// the handler knows the route pattern the router matched.
type requestInfo struct {
	id    string
	route string
}

type requestInfoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	i, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return i
}

func setRoute(r *http.Request, pattern string) {
	if i := infoOf(r); i != nil {
		i.route = pattern
	}
}

func routeOf(r *http.Request) string {
	if i := infoOf(r); i != nil {
		return i.route
	}
	return ""
}

func requestIDOf(r *http.Request) string {
	if i := infoOf(r); i != nil {
		return i.id
	}
	return ""
}

// observe gives every request an ID (the client's X-Request-Id if it is
// sane, else a new one), echoes it, and logs one line per request: the
// route pattern, never the raw path (which may hold IDs or emails), and
// never headers or bodies.
func (s *Server) observe(w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := time.Now()
	info := &requestInfo{id: r.Header.Get("X-Request-Id")}
	if !validRequestID(info.id) {
		info.id = newRequestID()
	}
	w.Header().Set("X-Request-Id", info.id)
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	rec := &metrics.StatusRecorder{ResponseWriter: w}
	next.ServeHTTP(rec, r)
	elapsed := time.Since(start)
	s.metrics.ObserveRequest(info.route, r.Method, rec.Status, elapsed)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method), slog.String("route", info.route), slog.Int("status", rec.Status),
		slog.Duration("duration", elapsed), slog.String("request_id", info.id))
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

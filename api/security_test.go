package api_test

import (
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// TestEveryRouteNeedsItsScope walks every registered route: each /v1 route
// answers 401 without a token and 403 with a token of a smaller scope, so
// a route added without the right scope cannot slip through.
func TestEveryRouteNeedsItsScope(t *testing.T) {
	e := newEnv(t)
	below := map[model.Scope]string{model.ScopeWrite: e.readToken, model.ScopeAdmin: e.writeToken}
	// Routes another service calls, authenticated by its signature of
	// the body instead of a token; stripe_test.go shows each refuses what
	// is not signed.
	signed := map[string]bool{"POST /v1/integrations/stripe/events": true}
	checked := 0
	for _, rt := range e.srv.Routes() {
		if !strings.HasPrefix(rt.Pattern, "/v1/") || signed[rt.Method+" "+rt.Pattern] {
			continue
		}
		if rt.Scope == "" {
			t.Errorf("%s %s is not authenticated", rt.Method, rt.Pattern)
			continue
		}
		path := strings.ReplaceAll(rt.Pattern, ":id", "x_01jdq3f7k8m2n4p6r8t0v2x4z6")
		var body any
		if rt.Method == "POST" || rt.Method == "PATCH" {
			body = map[string]any{}
		}
		res := e.call(request{Method: rt.Method, Path: path, Body: body})
		if res.Status != 401 || res.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("%s %s without a token: got %d, want 401 with WWW-Authenticate", rt.Method, rt.Pattern, res.Status)
		}
		if token, ok := below[rt.Scope]; ok {
			if res := e.call(request{Method: rt.Method, Path: path, Body: body, Token: token}); res.Status != 403 {
				t.Errorf("%s %s with a smaller scope: got %d, want 403", rt.Method, rt.Pattern, res.Status)
			}
		}
		checked++
	}
	if checked < 30 {
		t.Fatalf("checked only %d routes", checked)
	}
}

// Nothing under /v1 answers without authentication by the router's own
// doing: no OPTIONS answered for the routes, and no redirect of a path
// with a trailing slash or in another case (a redirect would also drop a
// POST's body).
func TestRouterAnswersNothingOfItsOwn(t *testing.T) {
	e := newEnv(t)
	if res := e.call(request{Method: "OPTIONS", Path: "/v1/referrals"}); res.Status != 405 || res.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("OPTIONS /v1/referrals: got %d, Allow %q; want 405 allowing GET, POST", res.Status, res.Header.Get("Allow"))
	}
	for _, path := range []string{"/v1/referrals/", "/V1/REFERRALS", "/v1//referrals"} {
		for _, method := range []string{"GET", "POST"} {
			res := e.call(request{Method: method, Path: path, Token: adminToken, Body: map[string]any{}})
			if res.Status != 404 || res.Header.Get("Location") != "" {
				t.Errorf("%s %s: got %d, Location %q; want 404", method, path, res.Status, res.Header.Get("Location"))
			}
		}
	}
}

package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An admin makes a portal sign-in link: a URL under the public base that
// signs the ambassador in once, with its expiry; nobody else may, and a
// paused ambassador gets none.
func TestPortalLinkCreate(t *testing.T) {
	e := newEnv(t)
	_, amb, _ := e.impression()
	path := "/v1/ambassadors/" + amb + "/portal_links"

	for _, body := range []any{nil, map[string]any{}} {
		res := e.call(request{Method: "POST", Path: path, Token: adminToken, Body: body})
		if res.Status != http.StatusCreated {
			t.Fatalf("got %d %s, want 201", res.Status, res.Body)
		}
		m := res.JSON(t)
		url, _ := m["url"].(string)
		token, ok := strings.CutPrefix(url, publicBaseURL+"/portal/signin?token=")
		if !ok || len(token) < 40 {
			t.Fatalf("url %q: want %s/portal/signin?token=…", url, publicBaseURL)
		}
		exp, err := time.Parse(time.RFC3339Nano, m["expires_at"].(string))
		if err != nil || !exp.Equal(e.clock.Now().Add(15*time.Minute).Truncate(time.Millisecond)) {
			t.Fatalf("expires_at %v (%v), want 15 minutes from now", m["expires_at"], err)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Error("the link may be cached")
		}
		if _, _, err := e.st.RedeemPortalLink(context.Background(), token); err != nil {
			t.Fatalf("the link does not sign in: %v", err)
		}
	}

	wantProblem(t, e.call(request{Method: "POST", Path: path, Token: e.writeToken}), http.StatusForbidden, "forbidden")
	wantProblem(t, e.call(request{Method: "POST", Path: path}), http.StatusUnauthorized, "unauthorized")
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/ambassadors/amb_01jdq3f7k8m2n4p6r8t0v2x4z6/portal_links", Token: adminToken}),
		http.StatusNotFound, "not_found")
	fe := wantProblem(t, e.call(request{Method: "POST", Path: path, Token: adminToken, Body: map[string]any{"ttl": 3600}}),
		http.StatusBadRequest, "validation_failed")
	if fe["ttl"] != "unknown_field" {
		t.Fatalf("field errors %v", fe)
	}
	if res := e.call(request{Method: "PATCH", Path: "/v1/ambassadors/" + amb, Token: adminToken, Body: map[string]any{"status": "paused"}}); res.Status != 200 {
		t.Fatalf("pause: %d %s", res.Status, res.Body)
	}
	wantProblem(t, e.call(request{Method: "POST", Path: path, Token: adminToken}), http.StatusConflict, "conflict")
}

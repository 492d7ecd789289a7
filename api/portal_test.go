package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
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

// Emails that could not be sent are the dead letters of the mailer's
// consumer, listed and sent again like a plugin's.
func TestMailDeadLetters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.impression()
	events, _ := e.st.FindEvents(ctx, "", 1)
	if err := e.st.DeadLetterHookEvent(ctx, model.DeadLetter{Plugin: model.MailConsumer, EventID: events[0].ID, EventType: events[0].Type,
		Attempts: 1, LastError: "550 no such mailbox", FailedAt: model.NewTime(e.clock.Now())}); err != nil {
		t.Fatal(err)
	}
	res := e.call(request{Method: "GET", Path: "/v1/admin/hooks/dead-letters?plugin=@mail", Token: adminToken})
	if data, _ := res.JSON(t)["data"].([]any); res.Status != 200 || len(data) != 1 {
		t.Fatalf("list: %d %s", res.Status, res.Body)
	}
	res = e.call(request{Method: "POST", Path: "/v1/admin/hooks/dead-letters/retry", Token: adminToken, Body: map[string]any{"plugin": "@mail"}})
	if res.Status != 200 || res.JSON(t)["queued"] != 1.0 {
		t.Fatalf("retry: %d %s", res.Status, res.Body)
	}
	if ev, _ := e.st.NextHookRetry(ctx, model.MailConsumer); ev == nil || ev.ID != events[0].ID {
		t.Fatal("the email is not queued to be sent again")
	}
}

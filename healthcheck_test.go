package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// healthcheck exits 0 against a real server that is ready, found from
// the listen setting or from -url, and 1 with one line on stderr when
// nothing listens or the answer is not 200.
func TestHealthcheck(t *testing.T) {
	srv := startServer(t, t.TempDir())
	addr := strings.TrimPrefix(srv.url, "http://")
	check := func(vars map[string]string, args ...string) (int, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(append([]string{"healthcheck"}, args...), testEnv(vars), &out, &errOut)
		if out.Len() > 0 {
			t.Errorf("healthcheck printed %q on stdout", out.String())
		}
		return code, errOut.String()
	}
	if code, msg := check(map[string]string{"REFERRALD_LISTEN": addr}); code != exitOK || msg != "" {
		t.Fatalf("ready server from REFERRALD_LISTEN %s: exit %d, %q; want 0 and silence", addr, code, msg)
	}
	if code, msg := check(nil, "-url", srv.url); code != exitOK || msg != "" {
		t.Fatalf("ready server from -url %s: exit %d, %q; want 0 and silence", srv.url, code, msg)
	}

	// A port nothing listens on: taken, then let go.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	code, msg := check(map[string]string{"REFERRALD_LISTEN": closed})
	if code != exitFailed || strings.Count(msg, "\n") != 1 ||
		!strings.Contains(msg, "http://"+closed+"/readyz") || !strings.Contains(msg, "connection refused") {
		t.Fatalf("closed port %s: exit %d, %q; want 1 and one line naming the address and the refusal", closed, code, msg)
	}

	// Not ready: the problem's detail is the reason.
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the store cannot take writes"}`))
	}))
	defer unready.Close()
	code, msg = check(nil, "-url", unready.URL)
	if code != exitFailed || msg != "referrald: healthcheck: "+unready.URL+"/readyz: 503 Service Unavailable: the store cannot take writes\n" {
		t.Fatalf("503: exit %d, %q; want 1 and the status with its detail", code, msg)
	}

	// Mistakes are failures too: exit 2 is reserved by container engines.
	for _, args := range [][]string{{"-url", "localhost:8080"}, {"-nope"}, {"extra"}} {
		if code, msg := check(nil, args...); code != exitFailed || msg == "" {
			t.Errorf("healthcheck %v: exit %d, %q; want 1 with a reason", args, code, msg)
		}
	}
}

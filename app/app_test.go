package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/config"
)

// testConfig is the defaults on loopback ports the system picks and a
// data dir of the test's own.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen, cfg.DataDir, cfg.AdminToken = "127.0.0.1:0", t.TempDir(), "app-test-admin-token"
	return cfg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer app-test-admin-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// An app serves the API, ready, with its metrics on their own address
// when metrics.listen says so, and stops: the listeners close and the
// store is let go, so that it can be opened again.
func TestAppServesAndStops(t *testing.T) {
	cfg := testConfig(t)
	cfg.Metrics.Listen = "127.0.0.1:0"
	var logged bytes.Buffer
	a, err := New(cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	api := "http://" + a.Addr()
	if status, body := get(t, api+"/readyz"); status != 200 {
		t.Fatalf("/readyz: %d %s", status, body)
	}
	if status, body := get(t, api+"/v1/programs"); status != 200 {
		t.Fatalf("/v1/programs with the admin token: %d %s", status, body)
	}
	if status, _ := get(t, api+"/metrics"); status != 404 {
		t.Fatalf("/metrics on the API's address with metrics.listen set: %d, want 404", status)
	}
	metricsAddr := a.listeners[1].Addr().String()
	if !strings.Contains(logged.String(), "serving metrics on "+metricsAddr) {
		t.Fatalf("no line for the metrics address %s:\n%s", metricsAddr, logged.String())
	}
	if status, body := get(t, "http://"+metricsAddr+"/metrics"); status != 200 ||
		!strings.Contains(body, `referrald_http_requests_total{code="2xx",method="GET",route="/v1/programs"} 1`) {
		t.Fatalf("/metrics on its own address: %d\n%s", status, body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Wait(ctx); err != nil {
		t.Fatalf("Wait after the context ends: %v", err)
	}
	a.Shutdown()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(api + "/healthz"); err == nil {
		t.Fatal("the API still answers after Shutdown")
	}
	again, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("the store was not let go: %v", err)
	}
	again.Close()
}

// The app reads the client's address from the header client_ip_header
// names, from a trusted proxy only: clients told apart by it get
// per-IP buckets of their own.
func TestAppClientIPHeader(t *testing.T) {
	for _, c := range []struct {
		header, other string
	}{{"x-forwarded-for", "Forwarded"}, {"forwarded", "X-Forwarded-For"}} {
		t.Run(c.header, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.TrustedProxies, cfg.ClientIPHeader = []string{"127.0.0.1"}, c.header
			cfg.RateLimits.PerIP = config.BucketConfig{Rate: 0.001, Burst: 1}
			a, err := New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.Start(); err != nil {
				t.Fatal(err)
			}
			status := func(client string) int {
				t.Helper()
				req, _ := http.NewRequest("GET", "http://"+a.Addr()+"/openapi.json", nil)
				v := client
				if c.header == "forwarded" {
					v = "for=" + client
				}
				req.Header.Set(c.header, v)
				// What a client adds of its own in the other header is
				// not read.
				req.Header.Set(c.other, "203.0.113.99")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res.StatusCode
			}
			for i, want := range []struct {
				client string
				status int
			}{{"203.0.113.1", 200}, {"203.0.113.2", 200}, {"203.0.113.1", 429}} {
				if got := status(want.client); got != want.status {
					t.Fatalf("request %d from %s: got %d, want %d", i, want.client, got, want.status)
				}
			}
		})
	}
}

// A second app on a held store, or on an address in use, fails to start
// and says why, leaving nothing behind.
func TestAppStartFailures(t *testing.T) {
	cfg := testConfig(t)
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "cannot open the store") {
		t.Fatalf("a second app on the same store: got %v", err)
	}
	other := testConfig(t)
	other.Listen = a.Addr()
	b, err := New(other, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Fatalf("a second app on the same address: got %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// closeStore waits for a store that closes, and gives up on one that is
// held past the stop deadline, saying so, so that SIGTERM still ends the
// process in time.
func TestCloseStoreWithinTheStopDeadline(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	closeErr := errors.New("closed with an error")
	if err := closeStore(func() error { return closeErr }, time.Now().Add(time.Hour), log); err != closeErr {
		t.Fatalf("a store that closes: got %v, want its error", err)
	}
	held := make(chan struct{})
	defer close(held)
	if err := closeStore(func() error { <-held; return nil }, time.Now(), log); err != nil {
		t.Fatalf("a store held past the deadline: got %v", err)
	}
	if !strings.Contains(logged.String(), "exiting anyway") {
		t.Fatalf("no warning for the store held past the deadline:\n%s", logged.String())
	}
	if err := closeStore(func() error { return closeErr }, time.Time{}, log); err != closeErr {
		t.Fatalf("no deadline: got %v, want the close's error", err)
	}
}

// The app serves the console under /console/ and the ambassador portal
// under /portal/ beside the API, sends a browser asking for / to the
// console, and leaves every API path as it was: exact, with
// problem+json for what is not a route.
func TestAppServesTheConsole(t *testing.T) {
	a, err := New(testConfig(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	base := "http://" + a.Addr()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		method, path string
		status       int
		location     string
		contentType  string
	}{
		{"GET", "/", http.StatusFound, "/console/", ""},
		{"HEAD", "/", http.StatusFound, "/console/", ""},
		{"POST", "/", http.StatusNotFound, "", "application/problem+json"},
		{"GET", "/console", http.StatusTemporaryRedirect, "/console/", ""},
		{"GET", "/console/", http.StatusSeeOther, "/console/login", ""},
		{"GET", "/console/login", http.StatusOK, "", "text/html; charset=utf-8"},
		{"GET", "/console/nowhere", http.StatusNotFound, "", "text/html; charset=utf-8"},
		{"GET", "/portal", http.StatusTemporaryRedirect, "/portal/", ""},
		{"GET", "/portal/", http.StatusSeeOther, "/portal/login", ""},
		{"GET", "/portal/login", http.StatusOK, "", "text/html; charset=utf-8"},
		{"GET", "/portal/signin?token=nope", http.StatusUnauthorized, "", "text/html; charset=utf-8"},
		{"GET", "/portals", http.StatusNotFound, "", "application/problem+json"},
		{"GET", "/v1/programs", http.StatusUnauthorized, "", "application/problem+json"},
		{"GET", "/v1/programs/", http.StatusNotFound, "", "application/problem+json"},
		{"GET", "//v1/programs", http.StatusNotFound, "", "application/problem+json"},
		{"GET", "/consoles", http.StatusNotFound, "", "application/problem+json"},
		{"GET", "/healthz", http.StatusOK, "", "application/json"},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		res.Body.Close()
		if res.StatusCode != c.status || res.Header.Get("Location") != c.location ||
			c.contentType != "" && res.Header.Get("Content-Type") != c.contentType {
			t.Errorf("%s %s: got %d to %q (%s), want %d to %q (%s)", c.method, c.path, res.StatusCode, res.Header.Get("Location"),
				res.Header.Get("Content-Type"), c.status, c.location, c.contentType)
		}
	}
}

// The log's format and level are the settings'.
func TestNewLogger(t *testing.T) {
	for _, c := range []struct {
		format, level string
		want          string // what one info and one warning write
	}{
		{"text", "info", "level=INFO msg=started\n" + "level=WARN msg=careful\n"},
		{"text", "warn", "level=WARN msg=careful\n"},
		{"json", "info", `"level":"INFO","msg":"started"}` + "\n" + `"level":"WARN","msg":"careful"}` + "\n"},
	} {
		var buf bytes.Buffer
		log := NewLogger(config.LogConfig{Format: c.format, Level: c.level}, &buf)
		log.Info("started")
		log.Warn("careful")
		// Without the times, which differ from run to run.
		var got strings.Builder
		for line := range strings.Lines(buf.String()) {
			_, rest, _ := strings.Cut(line, " ")
			if c.format == "json" {
				_, rest, _ = strings.Cut(line, `",`)
			}
			got.WriteString(rest)
		}
		if got.String() != c.want {
			t.Errorf("%s at %s: got %q, want %q", c.format, c.level, buf.String(), c.want)
		}
	}
}

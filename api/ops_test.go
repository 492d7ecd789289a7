package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// withServer replaces e's server by one built with cfg (plus the admin
// token, all services and e's clock).
func withServer(e *env, cfg api.Config) *env {
	cfg.AdminToken = adminToken
	cfg.Now = e.clock.Now
	if cfg.PublicBaseURL == "" {
		cfg.PublicBaseURL = publicBaseURL
	}
	e.srv = api.New(api.Services{Programs: e.st, Ambassadors: e.st, Impressions: e.st, Placements: e.st, Referrals: e.st, Keys: e.st, Earnings: e.st, Stats: e.st, Backup: e.st}, cfg)
	e.srv.SetReady(true)
	return e
}

func TestRateLimitPerKey(t *testing.T) {
	e := withServer(newEnv(t), api.Config{KeyRateLimit: api.Bucket{Rate: 1, Burst: 3}})
	get := func(token string) response {
		return e.call(request{Method: "GET", Path: "/v1/programs", Token: token})
	}
	for want := 2; want >= 0; want-- {
		res := get(e.readToken)
		if res.Status != 200 {
			t.Fatalf("got %d, want 200 while the bucket has tokens", res.Status)
		}
		h := res.Header
		if h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != strconv.Itoa(want) ||
			h.Get("RateLimit-Policy") != `"default";q=3;w=3` || h.Get("RateLimit") != `"default";r=`+strconv.Itoa(want)+`;t=`+strconv.Itoa(3-want) {
			t.Fatalf("remaining %d: got headers %v", want, h)
		}
		reset, _ := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
		if wantReset := e.clock.Now().Unix() + int64(3-want); reset < wantReset || reset > wantReset+1 {
			t.Fatalf("X-RateLimit-Reset: got %d, want about %d", reset, wantReset)
		}
	}
	res := get(e.readToken)
	wantProblem(t, res, 429, "rate_limited")
	if res.Header.Get("Retry-After") != "1" || res.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers: %v", res.Header)
	}
	// Another key has its own bucket.
	if res := get(e.writeToken); res.Status != 200 {
		t.Fatalf("other key: got %d, want 200", res.Status)
	}
	// A 403 is an authenticated answer too: it spends and reports a token.
	res = e.call(request{Method: "POST", Path: "/v1/programs", Token: e.writeToken, Body: map[string]any{}})
	if res.Status != 403 || res.Header.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("403: got %d with %v", res.Status, res.Header)
	}
	// Time refills the bucket.
	e.clock.Add(time.Second)
	if res := get(e.readToken); res.Status != 200 || res.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("after 1s: got %d %v, want one token back", res.Status, res.Header)
	}
	// Unauthenticated requests never touch a key's bucket.
	if res := e.call(request{Method: "GET", Path: "/v1/programs"}); res.Status != 401 || res.Header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("401: got %d with %v", res.Status, res.Header)
	}
}

// A QR image spends 10 tokens of the key's bucket: drawing one costs far
// more than a JSON answer.
func TestRateLimitCostOfImages(t *testing.T) {
	e := withServer(newEnv(t), api.Config{KeyRateLimit: api.Bucket{Rate: 0.001, Burst: 25}})
	p := e.poster(t)
	image := func(format string) response {
		return e.call(request{Method: "GET", Path: "/v1/placements/" + p.id + "/qr." + format, Token: e.readToken})
	}
	for _, c := range []struct {
		format    string
		status    int
		remaining string
	}{{"png", 200, "15"}, {"svg", 200, "5"}, {"png", 429, "5"}} {
		res := image(c.format)
		if res.Status != c.status || res.Header.Get("X-RateLimit-Remaining") != c.remaining {
			t.Fatalf("qr.%s: got %d with %s tokens left, want %d with %s", c.format, res.Status, res.Header.Get("X-RateLimit-Remaining"), c.status, c.remaining)
		}
	}
	// A JSON answer still costs one token.
	if res := e.call(request{Method: "GET", Path: "/v1/programs", Token: e.readToken}); res.Status != 200 || res.Header.Get("X-RateLimit-Remaining") != "4" {
		t.Fatalf("GET /v1/programs: got %d with %s tokens left, want 200 with 4", res.Status, res.Header.Get("X-RateLimit-Remaining"))
	}
	// A bucket smaller than an image's cost gives one for the whole bucket.
	e = withServer(e, api.Config{KeyRateLimit: api.Bucket{Rate: 0.001, Burst: 3}})
	if res := image("png"); res.Status != 200 || res.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("a bucket of 3: got %d with %s tokens left, want 200 with 0", res.Status, res.Header.Get("X-RateLimit-Remaining"))
	}
	wantProblem(t, image("png"), 429, "rate_limited")
}

func TestRateLimitPerIPOnPublicRoutes(t *testing.T) {
	e := withServer(newEnv(t), api.Config{IPRateLimit: api.Bucket{Rate: 1, Burst: 2}})
	call := func(ip string) response {
		return e.call(request{Method: "GET", Path: "/openapi.json", RemoteAddr: ip + ":5555"})
	}
	call("192.0.2.1")
	call("192.0.2.1")
	wantProblem(t, call("192.0.2.1"), 429, "rate_limited")
	if res := call("192.0.2.2"); res.Status != 200 {
		t.Fatalf("another IP: got %d, want 200", res.Status)
	}
	// Probes are never limited.
	for range 5 {
		if res := e.call(request{Method: "GET", Path: "/healthz"}); res.Status != 200 {
			t.Fatalf("healthz: got %d", res.Status)
		}
	}
}

// scrape returns the value of each sample of /metrics, keyed by its line
// up to the value.
func scrape(t *testing.T, e *env) map[string]float64 {
	t.Helper()
	res := e.call(request{Method: "GET", Path: "/metrics"})
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", res.Status, res.Header.Get("Content-Type"))
	}
	samples := map[string]float64{}
	for _, line := range strings.Split(string(res.Body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		samples[line[:i]] = v
	}
	return samples
}

func TestMetricsMove(t *testing.T) {
	e := withServer(newEnv(t), api.Config{ServeMetrics: true, KeyRateLimit: api.Bucket{Rate: 0.001, Burst: 100},
		Metrics: metrics.New(func() float64 { return 4096 })})
	before := scrape(t, e)
	_, _, imp := e.impression()
	body := validReferral(imp)
	body["idempotency_key"] = "m1"
	e.post("/v1/referrals", body)
	e.post("/v1/referrals", body) // a replay
	e.call(request{Method: "GET", Path: "/v1/referrals/ref_01jdq3f7k8m2n4p6r8t0v2x4z6", Token: e.readToken})
	for e.call(request{Method: "GET", Path: "/v1/programs", Token: e.writeToken}).Status != 429 {
	}
	after := scrape(t, e)

	moved := map[string]float64{
		`referrald_referrals_created_total`:                                                             1,
		`referrald_idempotent_replays_total{route="/v1/referrals"}`:                                     1,
		`referrald_http_requests_total{code="2xx",method="POST",route="/v1/referrals"}`:                 2,
		`referrald_http_requests_total{code="4xx",method="GET",route="/v1/referrals/:id"}`:              1,
		`referrald_http_request_duration_seconds_count{code="2xx",method="POST",route="/v1/referrals"}`: 2,
		`referrald_http_rate_limited_total{limit="key"}`:                                                1,
	}
	for series, want := range moved {
		if got := after[series] - before[series]; got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	if after[`referrald_store_file_size_bytes`] != 4096 {
		t.Errorf("file size gauge: got %v", after[`referrald_store_file_size_bytes`])
	}
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := after[series]; !ok {
			t.Errorf("%s missing: want the Go and process collectors", series)
		}
	}
	// No label value may hold an ID or an email.
	res := e.call(request{Method: "GET", Path: "/metrics"})
	if regexp.MustCompile(`(ref|imp|prg|amb)_[0-9a-z]{26}|@example`).Match(res.Body) {
		t.Fatalf("metrics hold an ID or email:\n%s", res.Body)
	}
}

func TestStoreCommitMetrics(t *testing.T) {
	m := metrics.New(func() float64 { return 0 })
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{OnCommit: m.StoreCommit, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.CreateProgram(context.Background(), model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	e := withServer(newEnv(t), api.Config{ServeMetrics: true, Metrics: m})
	got := scrape(t, e)
	if got["referrald_store_commit_duration_seconds_count"] < 1 || got["referrald_store_commit_writes_sum"] < 1 {
		t.Fatalf("commit series did not move: %v", got["referrald_store_commit_duration_seconds_count"])
	}
}

// The log holds one line per request with route pattern, status and
// request id, and never a token, the client's IP or a body.
func TestLogsHoldNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	e := withServer(newEnv(t), api.Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	_, _, imp := e.impression()
	body := validReferral(imp)
	body["email"] = "secret.person@example.com"
	res := e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken, Body: body,
		Header: map[string]string{"X-Request-Id": "req-42"}})
	if res.Status != 201 {
		t.Fatal(res.Status)
	}
	id := res.JSON(t)["id"].(string)
	e.call(request{Method: "GET", Path: "/v1/referrals?email=secret.person@example.com", Token: e.writeToken})
	e.call(request{Method: "GET", Path: "/v1/referrals/" + id, Token: "rfd_wrong-token-value"})
	log := buf.String()
	for _, secret := range []string{e.writeToken, adminToken, "rfd_wrong-token-value", "secret.person", "192.0.2.1", id} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds %q:\n%s", secret, log)
		}
	}
	var line struct {
		Route  string `json:"route"`
		Status int    `json:"status"`
	}
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if strings.Contains(l, `"req-42"`) {
			json.Unmarshal([]byte(l), &line)
		}
	}
	if line.Route != "/v1/referrals" || line.Status != 201 {
		t.Fatalf("no request line for req-42 with route and status:\n%s", log)
	}
}

func TestBackupEndpointRestores(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	var ids []string
	for i := range 20 {
		b := validReferral(imp)
		b["email"] = "p" + strconv.Itoa(i) + "@example.com"
		ids = append(ids, e.post("/v1/referrals", b)["id"].(string))
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/admin/backup", Token: e.writeToken}), 403, "forbidden")
	res := e.call(request{Method: "GET", Path: "/v1/admin/backup", Token: adminToken})
	if res.Status != 200 || res.Header.Get("Content-Type") != "application/octet-stream" ||
		res.Header.Get("Content-Length") != strconv.Itoa(len(res.Body)) {
		t.Fatalf("got %d %v (%d bytes)", res.Status, res.Header, len(res.Body))
	}
	path := filepath.Join(t.TempDir(), store.FileName)
	if err := os.WriteFile(path, res.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := store.Verify(path)
	if err != nil || sum.Referrals != 20 || sum.Impressions != 1 {
		t.Fatalf("verify: %+v %v", sum, err)
	}
	restored, err := store.Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	for _, id := range ids {
		if _, err := restored.FindReferralByID(context.Background(), id); err != nil {
			t.Fatalf("%s not in the restored store: %v", id, err)
		}
	}
}

// Poster scans are counted by whether the client is a bot, repeats
// included; a scan that records nothing (an unknown code, a poster taken
// down) is not.
func TestScanMetrics(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	before := scrape(t, e)
	for _, c := range []struct{ ua, addr string }{
		{iPhone, "198.51.100.7:4000"}, {iPhone, "198.51.100.7:4001"}, // the second a repeat
		{"WhatsApp/2.23.20.0 A", "198.51.100.9:4000"},
	} {
		if res := e.scan(p.code, c.ua, c.addr, nil); res.Status != 302 {
			t.Fatalf("scan by %s: got %d, want 302", c.ua, res.Status)
		}
	}
	e.scan("zzzzzzzz", iPhone, "198.51.100.7:4000", nil)
	e.call(request{Method: "PATCH", Path: "/v1/placements/" + p.id, Token: adminToken, Body: map[string]any{"active": false}})
	e.scan(p.code, iPhone, "198.51.100.8:4000", nil)
	after := scrape(t, e)
	for series, want := range map[string]float64{`referrald_scans_total{bot="false"}`: 2, `referrald_scans_total{bot="true"}`: 1} {
		if _, ok := before[series]; !ok {
			t.Errorf("%s is not served before the first scan: a rate over it would miss that scan", series)
		}
		if got := after[series] - before[series]; got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
}

// writeHealth is a store whose writes fail while err is set.
type writeHealth struct{ err error }

func (w *writeHealth) Writable() error { return w.err }

// referrald_ready says what /readyz answers: 0 while starting or
// shutting down and while the store cannot write, else 1.
func TestReadyMetric(t *testing.T) {
	e := newEnv(t)
	writes := &writeHealth{}
	e.srv = api.New(api.Services{Keys: e.st, Writes: writes},
		api.Config{AdminToken: adminToken, Metrics: metrics.New(func() float64 { return 0 }), ServeMetrics: true})
	check := func(when string, wantStatus int) {
		t.Helper()
		want := 0.0
		if wantStatus == 200 {
			want = 1
		}
		if got := e.call(request{Method: "GET", Path: "/readyz"}).Status; got != wantStatus {
			t.Fatalf("%s: /readyz got %d, want %d", when, got, wantStatus)
		}
		if got, ok := scrape(t, e)["referrald_ready"]; !ok || got != want {
			t.Fatalf("%s: referrald_ready got %v (served: %v), want %v", when, got, ok, want)
		}
	}
	check("before SetReady", 503)
	e.srv.SetReady(true)
	check("ready", 200)
	writes.err = model.Errorf(model.EUnavailable, "the store cannot accept writes right now")
	check("while the store cannot write", 503)
	writes.err = nil
	check("once it writes again", 200)
	e.srv.SetReady(false)
	check("shutting down", 503)
}

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/referrald/referrald/config"
)

func noEnv(string) string { return "" }

func TestBenchCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-clients", "4", "-duration", "300ms", "-get", "0.2", "-scan", "0.2", "-retry", "0.1", "-json"}, noEnv, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res struct {
		Durable  bool
		Requests int
		Ops      map[string]struct{ Count int } `json:"operations"`
		Errors   map[string]int                 `json:"errors_by_status"`
		Commits  uint64                         `json:"store_commits"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if !res.Durable || res.Requests == 0 || res.Ops["create"].Count == 0 || res.Ops["scan"].Count == 0 ||
		res.Ops["get"].Count == 0 || len(res.Errors) != 0 || res.Commits == 0 {
		t.Fatalf("got %+v", res)
	}
	if code := run([]string{"-get", "0.9", "-scan", "0.9"}, noEnv, &out, &errOut); code != exitUsage {
		t.Fatalf("shares over 1: exit %d, want 2", code)
	}
}

// The bench spreads its signups over -ambassadors in turn, so that each
// ambassador's range of the per-ambassador indexes takes its share.
func TestBenchSpreadsSignupsOverAmbassadors(t *testing.T) {
	_, base, token, stop, err := benchServer(config.Default(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// One signup more than an even share: the first ambassador takes it.
	const ambassadors, each = 3, 4
	fx, err := benchSetup(base, token, 2, ambassadors, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.fillPool(ambassadors*each+1, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := growTo(fx, 2, ambassadors*each+1); err != nil {
		t.Fatal(err)
	}
	conn := &benchConn{target: fx.target, token: token}
	defer conn.close()
	for i, amb := range fx.ambassadors {
		status, b, err := conn.do("GET", "/v1/referrals?limit=50&ambassador_id="+amb, nil)
		var page struct {
			Data []struct {
				AmbassadorID string `json:"ambassador_id"`
			}
		}
		if err != nil || status != 200 || json.Unmarshal(b, &page) != nil {
			t.Fatalf("list %s: %d %s %v", amb, status, b, err)
		}
		want := each
		if i == 0 {
			want++
		}
		if len(page.Data) != want || page.Data[0].AmbassadorID != amb {
			t.Fatalf("ambassador %d: %d referrals (%q), want %d of theirs", i, len(page.Data), page.Data, want)
		}
	}
	for i, code := range fx.placements {
		if status, b, err := conn.do("GET", "/s/"+code, nil); err != nil || status != 302 {
			t.Fatalf("scan of ambassador %d's placement: %d %s %v", i, status, b, err)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-ambassadors", "0"}, noEnv, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "-ambassadors from 1 to") {
		t.Fatalf("-ambassadors 0: exit %d, %q; want 2 and the range", code, errOut.String())
	}
}

func TestBenchGrow(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-clients", "4", "-duration", "50ms", "-grow", "3000", "-rounds", "6", "-ambassadors", "2", "-json"}, noEnv, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	type timed struct {
		Durable   bool
		PerSecond float64 `json:"requests_per_second"`
	}
	var rep struct {
		Fresh, Grown timed
		Rounds       []struct {
			Fresh, Grown timed
			Ratio        float64 `json:"throughput_ratio"`
		}
		Checkpoints []struct {
			Referrals int
			PerSecond float64            `json:"creates_per_second"`
			PerWrite  float64            `json:"pages_per_write"`
			Heap      uint64             `json:"heap_live_bytes"`
			PerRef    float64            `json:"file_bytes_per_referral"`
			Reads     map[string]float64 `json:"read_p50_ms"`
			Events    int                `json:"outbox_events"`
			Outbox    int64              `json:"outbox_bytes"`
			Share     float64            `json:"outbox_share"`
			Buckets   map[string]int64   `json:"bucket_bytes"`
		}
		Ratio     float64 `json:"throughput_ratio"`
		RatioLow  float64 `json:"throughput_ratio_95_low"`
		RatioHigh float64 `json:"throughput_ratio_95_high"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Checkpoints) != 1 || !rep.Fresh.Durable || !rep.Grown.Durable || len(rep.Rounds) != 6 {
		t.Fatalf("got %s", out.String())
	}
	// The ratio is the rounds' median: of six, the mean of the middle two;
	// and with six, the 95 % interval of the median is their whole range.
	var ratios []float64
	for _, r := range rep.Rounds {
		if !r.Fresh.Durable || !r.Grown.Durable || r.Ratio != r.Grown.PerSecond/r.Fresh.PerSecond {
			t.Fatalf("round: %+v", r)
		}
		ratios = append(ratios, r.Ratio)
	}
	slices.Sort(ratios)
	if want := (ratios[2] + ratios[3]) / 2; math.Abs(rep.Ratio-want) > 1e-9 {
		t.Fatalf("ratio %v, want the rounds' median %v", rep.Ratio, want)
	}
	if rep.RatioLow != ratios[0] || rep.RatioHigh != ratios[5] {
		t.Fatalf("95 %% interval %v to %v, want the rounds' range %v", rep.RatioLow, rep.RatioHigh, ratios)
	}
	cp := rep.Checkpoints[0]
	if cp.Referrals != 3000 || cp.PerSecond <= 0 || cp.PerWrite <= 0 || cp.Heap == 0 || cp.PerRef <= 0 || len(cp.Reads) != 8 || cp.Reads["list_page_10"] <= 0 {
		t.Fatalf("checkpoint: %+v", cp)
	}
	// Without a consumer the outbox keeps every event: one per referral
	// and one per impression at least.
	if cp.Events < 2*cp.Referrals || cp.Outbox != cp.Buckets["outbox"]+cp.Buckets["outbox_by_subject"] ||
		cp.Share <= 0 || cp.Share >= 1 || cp.Buckets["referrals"] <= 0 {
		t.Fatalf("checkpoint's outbox: %+v", cp)
	}
}

// The interval of the median is the order statistics a binomial table
// gives: none for five values, the range for six, the 10th and 21st of
// 30, the 40th and 61st of 100.
func TestMedianInterval(t *testing.T) {
	for _, c := range []struct{ n, lo, hi int }{{5, 0, 0}, {6, 1, 6}, {30, 10, 21}, {100, 40, 61}} {
		sorted := make([]float64, c.n)
		for i := range sorted {
			sorted[i] = float64(i + 1)
		}
		lo, hi, ok := medianInterval(sorted)
		if ok != (c.lo > 0) || int(lo) != c.lo || int(hi) != c.hi {
			t.Errorf("%d values: %v to %v (%v), want %d to %d", c.n, lo, hi, ok, c.lo, c.hi)
		}
	}
}

func TestGrowTargets(t *testing.T) {
	got := growTargets(12_345, 1_000_000)
	want := []int{20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// The bench's server is serve's: built by package app from the config,
// so it serves /readyz from the store's write health and records metrics,
// takes the settings of -config, and lifts only the rate limits.
func TestBenchServerIsServes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.yaml")
	err := os.WriteFile(path, []byte("rate_limits:\n  per_key: {rate: 0.001, burst: 1}\n  per_ip: {rate: 0.001, burst: 1}\n"+
		"limits:\n  max_body_bytes: 1024\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, base, token, stop, err := benchServer(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	fx, err := benchSetup(base, token, 2, 3, false)
	if err != nil {
		t.Fatalf("setup under a per-key limit of one request: %v", err)
	}
	conn := &benchConn{target: fx.target, token: token}
	defer conn.close()
	if status, b, err := conn.do("GET", "/readyz", nil); err != nil || status != 200 {
		t.Fatalf("/readyz: %d %s %v", status, b, err)
	}
	status, b, err := conn.do("GET", "/metrics", nil)
	if err != nil || status != 200 || !bytes.Contains(b, []byte("referrald_store_commit_writes_count")) ||
		!bytes.Contains(b, []byte(`referrald_http_requests_total{code="2xx",method="POST",route="/v1/placements"}`)) {
		t.Fatalf("/metrics on the API's address: %d %v\n%s", status, err, b)
	}
	// The file's own settings hold: a body over its 1024 bytes is refused.
	big, _ := json.Marshal(map[string]string{"name": strings.Repeat("x", 2000), "landing_url": "https://example.com"})
	if status, b, err := conn.do("POST", "/v1/programs", big); err != nil || status != 413 {
		t.Fatalf("a body over limits.max_body_bytes: %d %s %v, want 413", status, b, err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-url", base, "-token", token, "-config", path}, noEnv, &out, &errOut); code != exitUsage {
		t.Fatalf("-url with -config: exit %d, want 2: %s", code, errOut.String())
	}
}

// With a consumer and -max-lag, the store grows at the consumer's pace:
// the webhook receiver is sent the referrals, and each checkpoint says
// how far behind it was.
func TestBenchGrowWithAConsumer(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-clients", "4", "-duration", "50ms", "-grow", "1500", "-rounds", "0", "-ambassadors", "2",
		"-webhook", "-max-lag", "200", "-json"}, noEnv, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep struct {
		Checkpoints []struct {
			Referrals int
			Lag       *int64 `json:"consumer_lag_events"`
		}
		Deliveries int64 `json:"webhook_deliveries"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Checkpoints) != 1 {
		t.Fatalf("%v: %s", err, out.String())
	}
	// The lag is counted up to just past -max-lag.
	if cp := rep.Checkpoints[0]; cp.Referrals != 1500 || cp.Lag == nil || *cp.Lag > 201 || rep.Deliveries == 0 {
		t.Fatalf("checkpoint %+v, %d webhook deliveries: want the consumer's lag and the receiver sent messages", cp, rep.Deliveries)
	}
	for _, args := range [][]string{{"-max-lag", "10"}, {"-url", "http://127.0.0.1:1", "-token", "t", "-webhook"}} {
		if code := run(args, noEnv, &out, &errOut); code != exitUsage {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// -plugin configures the binary as serve would: under its checksum, with
// its arguments, in a configuration that validates.
func TestBenchPluginConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(path, []byte("not really a plugin"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	c := newBenchConsumer(path, "-config  rules.yaml", false)
	if err := c.configure(&cfg); err != nil {
		t.Fatal(err)
	}
	p := cfg.Hooks.Plugins
	sum := sha256.Sum256([]byte("not really a plugin"))
	if len(p) != 1 || p[0].Path != path || p[0].SHA256 != hex.EncodeToString(sum[:]) || !slices.Equal(p[0].Args, []string{"-config", "rules.yaml"}) {
		t.Fatalf("plugins: %+v", p)
	}
	cfg.AdminToken = "a-token-long-enough-for-validation-0123456789"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := newBenchConsumer(filepath.Join(t.TempDir(), "missing"), "", false).configure(&cfg); err == nil {
		t.Fatal("a missing plugin binary: no error")
	}
}

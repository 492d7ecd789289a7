package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/app"
	"github.com/referrald/referrald/config"
)

// metricNames returns the metric names a PromQL expression selects. It
// is a tokenizer, not a parser: it drops comments, strings, label
// matchers ({...}), ranges and subqueries ([...]), the label lists of
// by/without/on/ignoring/group_left/group_right, numbers and durations;
// of the identifiers left, aggregations and those followed by "(" are
// functions, and the rest, but for the binary operators' keywords, are
// metric names.
// (prometheus/promql/parser would do it too, but requiring it moves
// seven unrelated modules of go.mod to newer versions.)
func metricNames(expr string) ([]string, error) {
	var names []string
	s := []byte(expr)
	i := 0
	// skipPast moves i past the bracket closing the one at i, minding
	// strings.
	skipPast := func(open, close byte) error {
		depth := 0
		for i < len(s) {
			switch c := s[i]; {
			case c == '"' || c == '\'' || c == '`':
				if err := skipString(s, &i); err != nil {
					return err
				}
				continue
			case c == open:
				depth++
			case c == close:
				depth--
			}
			i++
			if depth == 0 {
				return nil
			}
		}
		return fmt.Errorf("unbalanced %c in %q", open, expr)
	}
	nextNonSpace := func(j int) byte {
		for ; j < len(s); j++ {
			if s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
				return s[j]
			}
		}
		return 0
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			if err := skipString(s, &i); err != nil {
				return nil, err
			}
		case c == '{':
			if err := skipPast('{', '}'); err != nil {
				return nil, err
			}
		case c == '[':
			if err := skipPast('[', ']'); err != nil {
				return nil, err
			}
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			for i < len(s) && (isIdentByte(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(s) && isIdentByte(s[i]) {
				i++
			}
			word := string(s[start:i])
			switch {
			case labelListKeywords[word]:
				// A label list follows, or, for group_left and
				// group_right, may follow.
				for i < len(s) && s[i] != '(' && nextNonSpace(i) == '(' {
					i++
				}
				if i < len(s) && s[i] == '(' {
					if err := skipPast('(', ')'); err != nil {
						return nil, err
					}
				}
			case operatorKeywords[word] || aggregators[word]:
				// An aggregation's by/without may come between it and
				// its "(".
			case nextNonSpace(i) == '(':
				// A function call; its arguments are scanned in turn.
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	return names, nil
}

var (
	labelListKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	operatorKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true}
	aggregators       = map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true}
)

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isIdentByte(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// skipString moves *i past the string literal that starts there.
func skipString(s []byte, i *int) error {
	quote := s[*i]
	for j := *i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			*i = j + 1
			return nil
		}
	}
	return fmt.Errorf("unterminated string in %q", s)
}

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up{job="referrald"} == 0`, []string{"up"}},
		{`histogram_quantile(0.99, sum by (job, le) (rate(referrald_x_bucket{job="a",route="/s/:code"}[5m])))`, []string{"referrald_x_bucket"}},
		{`sum without (instance) (a) / on (job) group_left (plugin) b unless c offset 5m`, []string{"a", "b", "c"}},
		{`a / on(job) group_left b and bool c`, []string{"a", "b", "c"}},
		{`delta(size[6h]) > 256 * 1024 * 1e3 # grows {fast}` + "\n" + `or vector(0)`, []string{"size"}},
		{`max_over_time(rate(x{a="}{[("}[5m])[1h:1m])`, []string{"x"}},
		{`sum(rate(x{l='it\'s'}[$__rate_interval])) * 60`, []string{"x"}},
		{`{__name__="x"}`, nil},
	} {
		got, err := metricNames(c.expr)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%q) = %q, %v; want %q", c.expr, got, err, c.want)
		}
	}
	for _, bad := range []string{`rate(x{a="b"[5m])`, `x{a="b}`, `sum(x[5m)`} {
		if got, err := metricNames(bad); err == nil {
			t.Errorf("metricNames(%q) = %q, want an error", bad, got)
		}
	}
}

// queriedMetrics are the metric names, with the rule or panel querying
// them, in the alert rules' expressions, the dashboard's queries and its
// variables' label_values(metric...) queries.
func queriedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(where, expr string) {
		names, err := metricNames(expr)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if len(names) == 0 {
			t.Errorf("%s queries no metric: %s", where, expr)
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
	}
	for _, r := range alertRules(t) {
		add("alert "+r.Alert, r.Expr)
	}
	d := readDashboard(t)
	for _, p := range d.allPanels() {
		for _, q := range p.Targets {
			add(fmt.Sprintf("panel %q query %s", p.Title, q.RefID), q.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((\w+)`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query %s: %v", v.Name, v.Query, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: query %q: want label_values(metric...)", v.Name, q.Query)
		}
		used[m[1]] = append(used[m[1]], "variable "+v.Name)
	}
	return used
}

// served lists the names of the samples in a Prometheus text exposition:
// a histogram's are its _bucket, _sum and _count, so a query of the bare
// family name, which selects nothing, is not taken as served.
func served(exposition []byte) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(string(exposition), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// Every metric the alert rules and the dashboard query is served by the
// real app at /metrics. The app runs with what makes each family appear:
// a hook plugin (the test plugin, vetting signups), a webhook endpoint
// with a receiver, email, a scan, a signup and its replay, and a 429;
// the check is against the samples served, so a family that is declared
// but never has a series would fail it. up is Prometheus' own.
func TestQueriedMetricsAreServed(t *testing.T) {
	t.Parallel()
	used := queriedMetrics(t)
	delete(used, "up")

	plugin := buildTestHook(t)
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, "control.json"), []byte(`{"before_referral_create": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	sum := sha256.Sum256(must(os.ReadFile(plugin)))
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	// The mail server's port is closed: the mailer only dials when it has
	// a message, and its series are there from the start.
	cfgText := fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %q
admin_token: deploy-test-admin-token-0123456789
rate_limits:
  per_ip: {rate: 0.001, burst: 3}
webhooks: {allow_private_networks: true, allow_http: true}
email:
  smtp: {host: 127.0.0.1, port: 9, from: "ambassadors@example.edu", tls: none}
hooks:
  plugins:
    - name: testhook
      path: %q
      args: [%q]
      sha256: %q
`, t.TempDir(), plugin, state, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, config.Env{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	c := client{t: t, base: "http://" + a.Addr(), token: cfg.AdminToken}

	waitFor(t, "the plugin to run", func() bool {
		status, body := c.do("GET", "/v1/admin/hooks", nil, nil)
		return status == 200 && bytes.Contains(body, []byte(`"running":true`))
	})
	c.create("/v1/webhook_endpoints", map[string]any{"url": receiver.URL, "events": []string{"*"}})
	program := c.create("/v1/programs", map[string]any{"name": "Spring", "landing_url": "https://example.com/join"})
	ambassador := c.create("/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example"})
	placement := c.create("/v1/placements", map[string]any{"program_id": program, "ambassador_id": ambassador, "label": "Library"})
	code := c.field("/v1/placements/"+placement, "code")
	status, _ := c.do("GET", "/s/"+code, nil, map[string]string{"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)"})
	if status != http.StatusFound {
		t.Fatalf("scan: got %d, want 302", status)
	}
	impressions := c.list("/v1/impressions")
	if len(impressions) != 1 {
		t.Fatalf("got %d impressions after one scan, want 1", len(impressions))
	}
	signup := map[string]any{"impression_id": impressions[0]["id"], "first_name": "John", "last_name": "Doe", "email": "john@example.com"}
	for range 2 { // the second a replay
		if status, body := c.do("POST", "/v1/referrals", signup, map[string]string{"Idempotency-Key": "signup-1"}); status != 201 {
			t.Fatalf("signup: %d %s", status, body)
		}
	}
	// The per-IP bucket of 3 has given one token to the scan.
	for i := 0; ; i++ {
		if status, _ := c.do("GET", "/openapi.json", nil, nil); status == http.StatusTooManyRequests {
			break
		} else if i == 3 {
			t.Fatalf("GET /openapi.json past the per-IP burst: got %d, want 429", status)
		}
	}

	// Deliveries to the plugin and the endpoint happen after commit.
	var missing []string
	waitFor(t, "every queried metric to be served", func() bool {
		status, body := c.do("GET", "/metrics", nil, nil)
		if status != 200 {
			t.Fatalf("GET /metrics: %d", status)
		}
		have := served(body)
		missing = missing[:0]
		for name, where := range used {
			if !have[name] {
				missing = append(missing, fmt.Sprintf("%s (queried by %s)", name, strings.Join(where, ", ")))
			}
		}
		return len(missing) == 0
	}, func() string { sort.Strings(missing); return "not served:\n" + strings.Join(missing, "\n") })
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// buildTestHook compiles the hook plugin the tests use.
func buildTestHook(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testhook")
	if out, err := exec.Command("go", "build", "-o", bin, "../testdata/plugins/testhook").CombinedOutput(); err != nil {
		t.Fatalf("go build testhook: %v\n%s", err, out)
	}
	return bin
}

// waitFor checks cond, which waits on other goroutines and processes,
// until it holds or 30 seconds pass; then it fails with what, and with
// why when given.
func waitFor(t *testing.T, what string, cond func() bool, why ...func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			msg := "timed out waiting for " + what
			for _, w := range why {
				msg += "; " + w()
			}
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client calls the app's API with the admin token.
type client struct {
	t     *testing.T
	base  string
	token string
}

var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (c client) do(method, path string, body any, header map[string]string) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(must(json.Marshal(body)))
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, b
}

// create POSTs body to path and returns the new record's id.
func (c client) create(path string, body any) string {
	c.t.Helper()
	status, b := c.do("POST", path, body, nil)
	var rec struct{ ID string }
	if status != 201 || json.Unmarshal(b, &rec) != nil || rec.ID == "" {
		c.t.Fatalf("POST %s: %d %s", path, status, b)
	}
	return rec.ID
}

func (c client) field(path, name string) string {
	c.t.Helper()
	status, b := c.do("GET", path, nil, nil)
	var rec map[string]any
	if status != 200 || json.Unmarshal(b, &rec) != nil {
		c.t.Fatalf("GET %s: %d %s", path, status, b)
	}
	v, _ := rec[name].(string)
	return v
}

func (c client) list(path string) []map[string]any {
	c.t.Helper()
	status, b := c.do("GET", path, nil, nil)
	var page struct{ Data []map[string]any }
	if status != 200 || json.Unmarshal(b, &page) != nil {
		c.t.Fatalf("GET %s: %d %s", path, status, b)
	}
	return page.Data
}

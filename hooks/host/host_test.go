package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/hooks/host"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

var built sync.Map // package path → binary

// buildPlugin compiles a plugin's main package once per test run.
func buildPlugin(t *testing.T, pkg string) string {
	t.Helper()
	if bin, ok := built.Load(pkg); ok {
		return bin.(string)
	}
	dir, err := os.MkdirTemp("", "referrald-plugin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built.Store(pkg, bin)
	return bin
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// syncBuffer is a log sink tests can read while the host writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually waits for cond, which watches another process, checking
// often; it fails the test at the deadline.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type rig struct {
	reg  *prometheus.Registry
	st   *store.Store
	host *host.Host
	log  *syncBuffer
	dir  string // the test plugin's state dir
	imp  *model.Impression
}

func newRig(t *testing.T, cfg host.Config) *rig {
	t.Helper()
	r := &rig{log: &syncBuffer{}, dir: t.TempDir(), reg: prometheus.NewRegistry()}
	var h *host.Host
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{SweepInterval: -1,
		OnCommit: func(int, time.Duration) {
			if h != nil {
				h.Wake()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
	if cfg.Path == "" {
		cfg.Path = buildPlugin(t, "./testdata/plugins/testhook")
	}
	if cfg.Args == nil {
		// The test plugin, or a wrapper around it, takes its state dir.
		cfg.Args = []string{r.dir}
	}
	if cfg.SHA256 == "" {
		cfg.SHA256 = sha256File(t, cfg.Path)
	}
	h, err = host.New([]host.Config{cfg}, st, slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})), r.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.PollInterval = 50 * time.Millisecond
	r.host = h
	t.Cleanup(func() {
		pid := r.pid()
		h.Stop()
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			// Stop returns once the plugin is killed; its zombie may
			// linger a moment until reaped, so look for a live process.
			if out, _ := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output(); len(out) > 0 && out[0] != 'Z' {
				t.Errorf("plugin process %d is still running after Stop", pid)
			}
		}
		st.Close()
	})
	ctx := context.Background()
	p, _, err := st.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	r.imp, _, err = st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) control(t *testing.T, json string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "control.json"), []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) pid() int {
	b, _ := os.ReadFile(filepath.Join(r.dir, "pid"))
	n, _ := strconv.Atoi(string(b))
	return n
}

func (r *rig) referral(t *testing.T, i int) {
	t.Helper()
	_, _, err := r.st.CreateReferral(context.Background(), model.ReferralCreate{ImpressionID: r.imp.ID, FirstName: "J",
		LastName: "D", Email: fmt.Sprintf("j%d@example.com", i)}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
}

// lines returns the plugin's log lines that start with prefix, by event id.
func (r *rig) lines(prefix string) map[string]int {
	b, _ := os.ReadFile(filepath.Join(r.dir, "log"))
	out := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, prefix+" "); ok {
			out[strings.Fields(rest)[0]]++
		}
	}
	return out
}

func (r *rig) allEvents(t *testing.T) []*model.Event {
	t.Helper()
	evs, err := r.st.FindEvents(context.Background(), "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (r *rig) caughtUp(t *testing.T, plugin string) func() bool {
	return func() bool {
		evs := r.allEvents(t)
		cur, _ := r.st.HookCursor(context.Background(), plugin)
		return len(evs) > 0 && cur == evs[len(evs)-1].ID
	}
}

func TestDeliveryAcrossPluginCrashesAppliesEachEventOnce(t *testing.T) {
	r := newRig(t, host.Config{Name: "testhook"})
	r.host.Start()
	const n = 60
	for i := range n {
		r.referral(t, i)
		if i == n/3 || i == 2*n/3 {
			// Kill a plugin that is up and serving; the supervisor must
			// notice and start a new one while referrals keep coming.
			p := r.host.Plugin("testhook")
			before := p.Restarts()
			eventually(t, 20*time.Second, "the plugin to be running", func() bool {
				_, running := p.Description()
				return running && r.pid() > 0
			})
			syscall.Kill(r.pid(), syscall.SIGKILL)
			os.Remove(filepath.Join(r.dir, "pid"))
			r.referral(t, 1000+i)
			eventually(t, 20*time.Second, "the plugin to be restarted", func() bool { return p.Restarts() > before })
		}
	}
	eventually(t, 60*time.Second, "every event to be delivered", r.caughtUp(t, "testhook"))

	applied, seen := r.lines("applied"), r.lines("seen")
	events := r.allEvents(t)
	for _, ev := range events {
		if applied[ev.ID] != 1 || seen[ev.ID] < 1 {
			t.Fatalf("event %s (%s): applied %d times, seen %d; want applied once, seen at least once",
				ev.ID, ev.Type, applied[ev.ID], seen[ev.ID])
		}
	}
	if got := r.host.Plugin("testhook").Restarts(); got < 2 {
		t.Fatalf("got %d restarts after two kills, want at least 2", got)
	}
	results, err := r.st.FindHookResults(context.Background(), "testhook", r.imp.AmbassadorID, 100)
	if err != nil || len(results) != n+2 {
		t.Fatalf("got %d commission results (%v), want one per referral (%d)", len(results), err, n)
	}
	if c := results[0].Commission; c.Amount != 100 || c.Currency != "USD" || c.AmbassadorID != r.imp.AmbassadorID {
		t.Fatalf("got commission %+v", c)
	}
	// Each reported commission became one commission record, however
	// often its event was delivered, saying which plugin computed it.
	coms, err := r.st.FindCommissions(context.Background(), model.CommissionFilter{
		ListOptions: model.ListOptions{Limit: 100}, AmbassadorID: r.imp.AmbassadorID})
	if err != nil || len(coms.Data) != n+2 {
		t.Fatalf("got %d commission records (%v), want %d", len(coms.Data), err, n+2)
	}
	c := coms.Data[0]
	if c.Kind != model.CommissionBounty || c.EarningID != nil || c.Basis.Source != "plugin" ||
		*c.Basis.Plugin != "testhook" || *c.Basis.PluginVersion != "0.0.1" || c.Basis.Note != "test bounty" {
		t.Fatalf("got commission record %+v basis %+v", c, c.Basis)
	}
	if err := r.st.VerifyCounters(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestHangingPluginIsCutOffAndDeadLettered(t *testing.T) {
	r := newRig(t, host.Config{Name: "testhook", EventTimeout: 300 * time.Millisecond, MaxAttempts: 2})
	r.control(t, `{"on_event": "hang"}`)
	// The failure counters are there at 0 before the first failure, so
	// that an increase() over them sees it.
	for _, name := range []string{"referrald_hook_dead_letters_total", "referrald_hook_plugin_restarts_total"} {
		if !hasSeries(t, r.reg, name, "testhook") || counterValue(t, r.reg, name) != 0 {
			t.Errorf("%s{plugin=\"testhook\"} is not served at 0 before any failure", name)
		}
	}
	r.host.Start()
	eventually(t, 20*time.Second, "the plugin to start", func() bool { return r.pid() > 0 })
	firstPid := r.pid()
	r.referral(t, 1)
	ctx := context.Background()
	var dead model.Page[*model.DeadLetter]
	defer func() {
		if t.Failed() {
			cur, _ := r.st.HookCursor(ctx, "testhook")
			for _, ev := range r.allEvents(t) {
				t.Log("event", ev.ID, ev.Type)
			}
			t.Log("cursor", cur)
		}
	}()
	// The ambassador's event, the impression's and the referral's.
	eventually(t, 30*time.Second, "the three events to be dead-lettered", func() bool {
		dead, _ = r.st.FindDeadLetters(ctx, "testhook", model.ListOptions{Limit: 10})
		return len(dead.Data) == 3
	})
	if dl := dead.Data[0]; dl.Attempts != 2 || dl.LastError == "" || dl.EventType != model.EventReferralCreated {
		t.Fatalf("got dead letter %+v", dl)
	}
	eventually(t, 20*time.Second, "a fresh plugin process", func() bool { p := r.pid(); return p > 0 && p != firstPid })
	if got := counterValue(t, r.reg, "referrald_hook_dead_letters_total"); got != 3 {
		t.Errorf("dead letters metric: got %v, want 3", got)
	}
	if got := gaugeValue(t, r.reg, "referrald_hook_dead_letters_waiting"); got != 3 {
		t.Errorf("dead letters waiting: got %v, want 3", got)
	}
	eventually(t, 20*time.Second, "the restart to be counted", func() bool {
		return counterValue(t, r.reg, "referrald_hook_plugin_restarts_total") >= 1
	})

	// The operator fixes the plugin and sends the dead letters again.
	r.control(t, `{"on_event": "ok"}`)
	if n, err := r.st.RetryDeadLetters(ctx, "testhook", nil); err != nil || n != 3 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	r.host.Wake()
	// The three retried, then the commission.created of the bounty the
	// plugin paid for the signup.
	eventually(t, 30*time.Second, "the retried events to be applied", func() bool { return len(r.lines("applied")) == 4 })
	if dead, _ = r.st.FindDeadLetters(ctx, "testhook", model.ListOptions{Limit: 10}); len(dead.Data) != 0 {
		t.Fatalf("got %d dead letters after a successful retry, want 0", len(dead.Data))
	}
	if got := gaugeValue(t, r.reg, "referrald_hook_dead_letters_waiting"); got != 0 {
		t.Errorf("dead letters waiting after a successful retry: got %v, want 0", got)
	}
}

// hasSeries reports whether reg serves the family name with a series of
// plugin.
func hasSeries(t *testing.T, reg *prometheus.Registry, name, plugin string) bool {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.GetName() == name && l.GetName() == "plugin" && l.GetValue() == plugin {
					return true
				}
			}
		}
	}
	return false
}

// counterValue sums the series of a counter family in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// A binary that is not the configured one is refused: the service runs
// without it, the log says so once, the refused metric and the admin view
// show it, and its events wait. Once the right binary is in place, it
// starts and catches up.
func TestChecksumMismatchIsRefused(t *testing.T) {
	bin := buildPlugin(t, "./testdata/plugins/testhook")
	good, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "testhook")
	if err := os.WriteFile(path, append(slices.Clone(good), 0), 0o700); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, host.Config{Name: "testhook", Path: path, Args: []string{dir}, SHA256: sha256File(t, bin), Policy: host.FailClosed})
	r.referral(t, 1)
	r.host.Start()
	eventually(t, 20*time.Second, "the plugin to be refused", func() bool { return r.host.Plugin("testhook").Refused() })
	if got := gaugeValue(t, r.reg, "referrald_hook_plugin_refused"); got != 1 {
		t.Errorf("referrald_hook_plugin_refused = %v, want 1", got)
	}
	if n := strings.Count(r.log.String(), "plugin refused"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once:\n%s", n, r.log.String())
	}
	if !strings.Contains(r.log.String(), "not the configured sha256") {
		t.Errorf("the log does not say why the plugin was refused:\n%s", r.log.String())
	}
	plugins, err := r.host.HookPlugins(context.Background())
	if err != nil || len(plugins) != 1 || !plugins[0].Refused || plugins[0].Running || plugins[0].Backlog == 0 {
		t.Fatalf("admin view: %+v %v; want refused, not running, with a backlog", plugins, err)
	}
	if cur, _ := r.st.HookCursor(context.Background(), "testhook"); cur != "" {
		t.Fatalf("a refused plugin's cursor moved to %s; its events must wait", cur)
	}
	// A fail_closed plugin that never ran still refuses signups rather
	// than letting them through unchecked.
	_, err = r.host.CheckReferral(context.Background(), model.ReferralCreate{ImpressionID: r.imp.ID}, r.imp)
	if model.ErrorCode(err) != model.EUnavailable {
		t.Fatalf("fail_closed plugin that never ran: got %v, want unavailable", err)
	}

	// The operator puts the right binary in place: the next try starts it.
	if err := os.WriteFile(path+".new", good, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the plugin to start and catch up", r.caughtUp(t, "testhook"))
	if r.host.Plugin("testhook").Refused() || gaugeValue(t, r.reg, "referrald_hook_plugin_refused") != 0 {
		t.Error("the plugin still shows as refused after it started")
	}
}

// gaugeValue sums the series of a gauge family in reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// A client hanging up during BeforeReferralCreate says nothing about the
// plugin, which must not be paused or restarted for it.
func TestCancelledSignupDoesNotRestartThePlugin(t *testing.T) {
	r := newRig(t, host.Config{Name: "testhook"})
	r.control(t, `{"before": "hang", "before_referral_create": true}`)
	r.host.Start()
	p := r.host.Plugin("testhook")
	eventually(t, 20*time.Second, "the plugin to run", func() bool { _, ok := p.Description(); return ok && r.pid() > 0 })
	first := r.pid()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := p.BeforeReferralCreate(ctx, hooks.ReferralRequest{})
		done <- err
	}()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled call must fail")
	}
	// The same process answers the next call at once.
	r.control(t, `{"before": "ok", "before_referral_create": true}`)
	if _, err := p.BeforeReferralCreate(context.Background(), hooks.ReferralRequest{}); err != nil {
		t.Fatalf("the call after a cancelled one: %v", err)
	}
	if _, paused := p.CheckPausedUntil(); paused {
		t.Error("a cancelled call paused the plugin's checks")
	}
	if n, pid := p.Restarts(), r.pid(); n != 0 || pid != first || syscall.Kill(first, 0) != nil {
		t.Fatalf("got %d restarts and pid %d (first %d), want the first process still serving", n, pid, first)
	}
}

// A signup check that hangs past its deadline gets the process killed
// and replaced, as a hung delivery does: a deadlocked plugin with
// fail_closed refuses signups only until a fresh process answers, not
// until someone restarts referrald.
func TestHungSignupCheckGetsThePluginReplaced(t *testing.T) {
	r := newRig(t, host.Config{Name: "testhook", Policy: host.FailClosed, BeforeCreateTimeout: 100 * time.Millisecond})
	r.control(t, `{"before": "wedge", "before_referral_create": true}`)
	r.host.Start()
	p := r.host.Plugin("testhook")
	eventually(t, 20*time.Second, "the plugin to start", func() bool { return r.pid() > 0 && p.WantsBeforeCreate() })
	first := r.pid()
	ctx := context.Background()
	signup := model.ReferralCreate{ImpressionID: r.imp.ID}
	if _, err := r.host.CheckReferral(ctx, signup, r.imp); model.ErrorCode(err) != model.EUnavailable {
		t.Fatalf("fail_closed with a wedged plugin: got %v, want unavailable", err)
	}
	// The wedged process hangs on every call from now on; only a new one
	// can answer.
	r.control(t, `{"before": "flag", "before_referral_create": true}`)
	eventually(t, 20*time.Second, "a fresh process to check signups", func() bool {
		v, err := r.host.CheckReferral(ctx, signup, r.imp)
		return err == nil && len(v.Flags) == 1
	})
	if n, pid := p.Restarts(), r.pid(); n < 1 || pid == first {
		t.Fatalf("got %d restarts and pid %d (first %d), want the wedged process replaced", n, pid, first)
	}
}

func TestConfigValidation(t *testing.T) {
	good := host.Config{Name: "crm", Path: "/bin/true", SHA256: strings.Repeat("0", 64)}
	cases := map[string]func(c *host.Config){
		"event typo":   func(c *host.Config) { c.Events = []string{"referral.creatd"} },
		"long timeout": func(c *host.Config) { c.EventTimeout = time.Hour },
		"long check":   func(c *host.Config) { c.BeforeCreateTimeout = time.Minute },
		"env not k=v":  func(c *host.Config) { c.Env = []string{"NOEQUALS"} },
		"name":         func(c *host.Config) { c.Name = "Bad Name" },
		"path":         func(c *host.Config) { c.Path = "" },
		"sha256":       func(c *host.Config) { c.SHA256 = "xyz" },
		"policy":       func(c *host.Config) { c.Policy = "maybe" },
		"attempts":     func(c *host.Config) { c.MaxAttempts = -1 },
		"start_from":   func(c *host.Config) { c.StartFrom = "yesterday" },
	}
	for name, mutate := range cases {
		c := good
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	c := good
	if err := c.Validate(); err != nil || c.Policy != host.FailOpen || c.BeforeCreateTimeout != 200*time.Millisecond || c.MaxAttempts != 10 ||
		c.StartFrom != host.StartNow {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}

// A plugin added to a store that already has events starts after them,
// unless configured to start from the beginning.
func TestNewPluginStartsFromNow(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	p, _, err := st.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	events, err := st.FindEvents(ctx, "", 100)
	if err != nil || len(events) == 0 {
		t.Fatalf("got %d events, %v", len(events), err)
	}
	sum := strings.Repeat("ab", 32)
	_, err = host.New([]host.Config{{Name: "added", Path: "/nonexistent", SHA256: sum},
		{Name: "history", Path: "/nonexistent", SHA256: sum, StartFrom: host.StartBeginning}}, st, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := st.HookCursor(ctx, "added"); cur != events[len(events)-1].ID {
		t.Errorf("start_from now: cursor %q, want the newest event %s", cur, events[len(events)-1].ID)
	}
	if cur, _ := st.HookCursor(ctx, "history"); cur != "" {
		t.Errorf("start_from beginning: cursor %q, want none", cur)
	}
}

// A plugin whose signup check hangs costs signups one timeout: the calls
// after it skip the plugin at once until the pause ends, when a call
// reaches the plugin again.
func TestHangingSignupCheckIsPaused(t *testing.T) {
	r := newRig(t, host.Config{Name: "testhook", BeforeCreateTimeout: 100 * time.Millisecond})
	r.control(t, `{"before": "hang", "before_referral_create": true}`)
	r.host.Start()
	p := r.host.Plugin("testhook")
	eventually(t, 20*time.Second, "the plugin to start", func() bool { return r.pid() > 0 && p.WantsBeforeCreate() })
	ctx := context.Background()
	req := hooks.ReferralRequest{ImpressionID: r.imp.ID}
	if _, err := p.BeforeReferralCreate(ctx, req); err == nil || errors.Is(err, host.ErrCheckPaused) {
		t.Fatalf("first call to a hung plugin: got %v, want its timeout", err)
	}
	for i := range 50 {
		if _, err := p.BeforeReferralCreate(ctx, req); !errors.Is(err, host.ErrCheckPaused) {
			t.Fatalf("call %d after the timeout: got %v, want ErrCheckPaused", i, err)
		}
	}
	// With the policy fail_open, the signup goes ahead unchecked.
	for range 20 {
		if v, err := r.host.CheckReferral(ctx, model.ReferralCreate{ImpressionID: r.imp.ID}, r.imp); err != nil || len(v.Flags) != 0 {
			t.Fatalf("fail_open during the pause: got %+v, %v", v, err)
		}
	}
	// The pause is logged once as a warning, not once per signup.
	if log := r.log.String(); strings.Count(log, "skipping the plugin's signup checks") != 1 ||
		strings.Contains(log, `level=WARN msg="BeforeReferralCreate failed`) {
		t.Fatalf("log during the pause:\n%s", log)
	}

	r.control(t, `{"before": "flag", "before_referral_create": true}`)
	eventually(t, 5*host.CheckPause, "the recovered plugin to be asked again", func() bool {
		d, err := p.BeforeReferralCreate(ctx, req)
		return err == nil && len(d.Flags) == 1
	})
}

// A stop does not wait out the event timeout (here the longest allowed)
// for a plugin that hangs in Describe as it starts.
func TestStopDoesNotWaitForAHungDescribe(t *testing.T) {
	r := newRig(t, host.Config{Name: "testhook", EventTimeout: host.MaxEventTimeout})
	r.control(t, `{"describe": "hang"}`)
	r.host.Start()
	eventually(t, 20*time.Second, "the plugin to hang in Describe", func() bool {
		b, _ := os.ReadFile(filepath.Join(r.dir, "log"))
		return strings.Contains(string(b), "describe hangs")
	})
	stopped := make(chan struct{})
	go func() { r.host.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return within 10 s")
	}
}

// An event the plugin refuses for good (sdk.Permanent) goes to the
// dead-letter list on its first attempt, so the events behind it do not
// wait out the retries; any other error is still retried max_attempts
// times. Either way delivery then goes on with the next event.
func TestPermanentErrorIsDeadLetteredAtOnce(t *testing.T) {
	for _, tc := range []struct {
		mode         string
		maxAttempts  int
		wantAttempts int
	}{
		{"permanent", 0, 1}, // the default max_attempts: 10
		{"fail", 3, 3},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			r := newRig(t, host.Config{Name: "testhook", MaxAttempts: tc.maxAttempts})
			r.control(t, `{"on_event": "`+tc.mode+`"}`)
			r.host.Start()
			r.referral(t, 1)
			ctx := context.Background()
			var dead model.Page[*model.DeadLetter]
			// The ambassador's event, the impression's and the referral's.
			eventually(t, 20*time.Second, "the three events to be dead-lettered", func() bool {
				dead, _ = r.st.FindDeadLetters(ctx, "testhook", model.ListOptions{Limit: 10})
				return len(dead.Data) == 3
			})
			failed := r.lines("failed")
			for _, dl := range dead.Data {
				if dl.Attempts != tc.wantAttempts || failed[dl.EventID] != tc.wantAttempts || !strings.Contains(dl.LastError, "told to fail") {
					t.Errorf("dead letter %+v, tried %d times; want %d attempts", dl, failed[dl.EventID], tc.wantAttempts)
				}
			}
			r.control(t, `{"on_event": "ok"}`)
			r.referral(t, 2)
			// The signup's event, then the commission.created of the
			// bounty the plugin pays for it.
			eventually(t, 20*time.Second, "the next events to be applied", func() bool { return len(r.lines("applied")) == 2 })
		})
	}
}

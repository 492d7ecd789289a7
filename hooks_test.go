package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var buildTestHook = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "referrald-testhook-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "testhook")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/plugins/testhook").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build testhook: %v\n%s", err, out)
	}
	return bin, nil
})

// hookServer starts the real binary with the test plugin configured.
func hookServer(t *testing.T, policy, control string) (*server, string) {
	t.Helper()
	bin, err := buildTestHook()
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	return hookServerWith(t, bin, state, policy, control, ""), state
}

// hookServerWith starts the real binary with the plugin at path (the test
// plugin, or a wrapper around it) configured to take state as its
// argument; extra is YAML added to the plugin's entry.
func hookServerWith(t *testing.T, path, state, policy, control, extra string) *server {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	os.WriteFile(filepath.Join(state, "control.json"), []byte(control), 0o600)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`rate_limits:
  per_key: {rate: 1000000, burst: 1000000}
hooks:
  plugins:
    - name: testhook
      path: %s
      args: [%q]
      sha256: %q
      policy: %s
%s`, path, state, hex.EncodeToString(sum[:]), policy, extra)), 0o600)
	srv := startServer(t, t.TempDir(), "REFERRALD_CONFIG="+cfg)
	waitFor(t, 30*time.Second, "the plugin to run", func() bool {
		_, _, body, err := call(context.Background(), "GET", srv.url+"/v1/admin/hooks", nil, nil)
		return err == nil && strings.Contains(string(body), `"running":true`)
	})
	return srv
}

// waitFor checks cond, which watches other processes, until it holds or
// the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func setControl(t *testing.T, state, control string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(state, "control.json"), []byte(control), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHooksEndToEnd(t *testing.T) {
	srv, state := hookServer(t, "fail_open", `{"before": "hang", "before_referral_create": true}`)
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})
	signup := func(email string, header map[string]string) (int, map[string]any, time.Duration) {
		began := time.Now()
		status, _, b, err := call(context.Background(), "POST", srv.url+"/v1/referrals", map[string]any{
			"impression_id": imp, "first_name": "J", "last_name": "D", "email": email, "metadata": map[string]any{"risk": "client"}}, header)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.Unmarshal(b, &body)
		return status, body, time.Since(began)
	}

	// A hanging plugin with fail_open: the referral is created once the
	// 200 ms deadline passes. The margin is generous for a loaded CI
	// machine; without the deadline the request would never finish.
	status, body, took := signup("hang@example.com", nil)
	if status != 201 || took > 200*time.Millisecond+3*time.Second {
		t.Fatalf("hanging plugin, fail_open: got %d %v after %s, want 201 within the timeout", status, body, took)
	}

	// That timeout paused the plugin's check for a while, and the admin
	// view says so; wait it out.
	if _, _, b, _ := call(context.Background(), "GET", srv.url+"/v1/admin/hooks", nil, nil); !strings.Contains(string(b), `"check_paused_until":"`) {
		t.Fatalf("admin view after a timed-out check: %s", b)
	}
	waitFor(t, 10*time.Second, "the check pause to end", func() bool {
		_, _, b, err := call(context.Background(), "GET", srv.url+"/v1/admin/hooks", nil, nil)
		return err == nil && strings.Contains(string(b), `"check_paused_until":null`)
	})

	setControl(t, state, `{"before": "reject", "before_referral_create": true}`)
	status, body, _ = signup("no@example.com", nil)
	if status != 400 || body["code"] != "rejected_by_hook" || !strings.Contains(fmt.Sprint(body["detail"]), "no@example.com are closed") {
		t.Fatalf("reject: got %d %v", status, body)
	}
	setControl(t, state, `{"before": "reject_field", "before_referral_create": true}`)
	status, body, _ = signup("field@example.com", nil)
	errs, _ := body["errors"].([]any)
	if status != 400 || body["code"] != "validation_failed" || len(errs) != 1 ||
		errs[0].(map[string]any)["field"] != "email" || errs[0].(map[string]any)["code"] != "rejected_by_hook" {
		t.Fatalf("reject on a field: got %d %v", status, body)
	}

	setControl(t, state, `{"before": "flag", "before_referral_create": true}`)
	status, body, _ = signup("flag@example.com", map[string]string{"Idempotency-Key": "flagged-1"})
	if status != 201 || fmt.Sprint(body["flags"]) != "[checked_by_testhook]" ||
		fmt.Sprint(body["metadata"]) != "map[risk:client source:plugin]" {
		t.Fatalf("flag: got %d %v; want the flag, and the plugin's metadata only where the client left room", status, body)
	}
	flagged := body["id"]
	// A replay answers from the first request and asks no plugin again.
	setControl(t, state, `{"before": "reject", "before_referral_create": true}`)
	status, body, _ = signup("flag@example.com", map[string]string{"Idempotency-Key": "flagged-1"})
	if status != 201 || body["id"] != flagged {
		t.Fatalf("replay: got %d %v, want the flagged referral again", status, body)
	}

	// Every referral.created event reaches the plugin, which pays a
	// bounty the core records against the ambassador.
	waitFor(t, 30*time.Second, "commissions for both referrals", func() bool {
		_, _, b, err := call(context.Background(), "GET", srv.url+"/v1/admin/hooks/results?ambassador_id="+amb, nil, nil)
		return err == nil && strings.Count(string(b), `"reason":"test bounty"`) == 2
	})

	// An empty list of dead letters to retry is refused rather than read
	// as "all".
	if status, _, b, _ := call(context.Background(), "POST", srv.url+"/v1/admin/hooks/dead-letters/retry",
		map[string]any{"plugin": "testhook", "event_ids": []string{}}, nil); status != 400 {
		t.Fatalf("retry with an empty list: got %d %s, want 400", status, b)
	}

	// The hook series move: deliveries, the signup check's latency, and
	// the backlog gauges per plugin.
	_, _, metrics, err := call(context.Background(), "GET", srv.url+"/metrics", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, series := range []string{
		`referrald_hook_deliveries_total{event_type="referral.created",plugin="testhook",result="ok"}`,
		`referrald_hook_before_referral_create_duration_seconds_count{plugin="testhook",result="ok"}`,
		`referrald_hook_before_referral_create_duration_seconds_count{plugin="testhook",result="error"} 1`,
		`referrald_hook_outbox_depth{plugin="testhook"}`,
		`referrald_hook_outbox_oldest_age_seconds{plugin="testhook"}`,
	} {
		if !strings.Contains(string(metrics), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}

	pidBytes, _ := os.ReadFile(filepath.Join(state, "pid"))
	pid, _ := strconv.Atoi(string(pidBytes))
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, srv.log())
	}
	if pid > 0 {
		if out, _ := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output(); len(out) > 0 && out[0] != 'Z' {
			t.Fatalf("plugin process %d outlived referrald (state %s)", pid, out)
		}
	}
}

// Under a steady load of signups the plugin crashes at every event, then
// hangs in both its signup check and its deliveries, then recovers. Every
// signup is answered 201 throughout (the policy is fail_open), and in the
// end the plugin has applied every event exactly once, the ones that
// exhausted their attempts while it was broken after an operator's retry:
// none is lost. How the API's latency holds up meanwhile is measured with
// referrald-bench (docs/benchmarks.md), not asserted here.
func TestPluginCrashAndHangUnderLoad(t *testing.T) {
	// The events it counts: not the commission.created of the bounties it
	// pays itself.
	const events = `"events": ["ambassador.created", "impression.created", "referral.created"]`
	srv, state := hookServer(t, "fail_open", `{"before_referral_create": true, `+events+`}`)
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})

	var acked atomic.Int64
	var failures sync.Map // status or error → count
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				status, _, b, err := call(context.Background(), "POST", srv.url+"/v1/referrals", map[string]any{
					"impression_id": imp, "first_name": "L", "last_name": "D", "email": fmt.Sprintf("load-%d-%d@example.com", c, i)}, nil)
				if err != nil || status != 201 {
					failures.Store(fmt.Sprintf("%d %s %v", status, b, err), true)
					continue
				}
				acked.Add(1)
			}
		}()
	}
	for _, phase := range []string{
		`{"on_event": "crash", "before_referral_create": true, ` + events + `}`,
		`{"on_event": "hang", "before": "hang", "before_referral_create": true, ` + events + `}`,
		`{"before_referral_create": true, ` + events + `}`,
	} {
		setControl(t, state, phase)
		target := acked.Load() + 150
		waitFor(t, 60*time.Second, "150 signups in phase "+phase, func() bool { return acked.Load() >= target })
	}
	close(stop)
	wg.Wait()
	failures.Range(func(k, _ any) bool {
		t.Errorf("a signup failed while the plugin was broken: %s", k)
		return true
	})

	// One ambassador.created event, one impression.created, and a
	// referral.created per signup.
	want := int(acked.Load()) + 2
	applied := func() int {
		b, _ := os.ReadFile(filepath.Join(state, "log"))
		return strings.Count(string(b), "applied ")
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d events to be applied or dead-lettered", want), func() bool {
		_, _, b, err := call(context.Background(), "GET", srv.url+"/metrics", nil, nil)
		return err == nil && applied()+deadLetters(string(b)) >= want
	})
	if status, _, b, err := call(context.Background(), "POST", srv.url+"/v1/admin/hooks/dead-letters/retry",
		map[string]any{"plugin": "testhook"}, nil); err != nil || status != 200 {
		t.Fatalf("retrying the dead letters: %d %s %v", status, b, err)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d events to be applied", want), func() bool { return applied() >= want })
	if got := applied(); got != want {
		t.Fatalf("the plugin applied %d events, want exactly %d", got, want)
	}
	// The plugin really was broken: it crashed and was restarted.
	_, _, metrics, _ := call(context.Background(), "GET", srv.url+"/metrics", nil, nil)
	if !strings.Contains(string(metrics), `referrald_hook_plugin_restarts_total{plugin="testhook"}`) ||
		strings.Contains(string(metrics), `referrald_hook_plugin_restarts_total{plugin="testhook"} 0`) {
		t.Errorf("no plugin restart recorded during the crash phase")
	}
	t.Logf("%d signups; server log: %d crashes, %d paused checks", acked.Load(),
		strings.Count(srv.log(), "plugin process ended"), strings.Count(srv.log(), "skipping the plugin's signup checks"))
}

// deadLetters reads how many events testhook dead-lettered from a /metrics
// page.
func deadLetters(metrics string) int {
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, `referrald_hook_dead_letters_total{plugin="testhook"} `); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}

// With fail_closed, a plugin deadlocked in its signup check refuses
// signups until referrald replaces it after the timeout, not until
// someone restarts referrald.
func TestHooksFailClosed(t *testing.T) {
	srv, state := hookServer(t, "fail_closed", `{"before": "wedge", "before_referral_create": true}`)
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})
	signup := func(i int) (int, []byte) {
		status, _, b, err := call(context.Background(), "POST", srv.url+"/v1/referrals", map[string]any{
			"impression_id": imp, "first_name": "J", "last_name": "D", "email": fmt.Sprintf("j%d@example.com", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return status, b
	}
	if status, b := signup(0); status != 503 || !strings.Contains(string(b), `"code":"unavailable"`) {
		t.Fatalf("fail_closed with a hanging plugin: got %d %s, want 503 unavailable", status, b)
	}
	setControl(t, state, `{"before_referral_create": true}`)
	i := 0
	waitFor(t, 30*time.Second, "signups to be accepted again", func() bool {
		i++
		status, _ := signup(i)
		return status == 201
	})
	if _, _, b, _ := call(context.Background(), "GET", srv.url+"/v1/admin/hooks", nil, nil); strings.Contains(string(b), `"restarts":0`) {
		t.Fatalf("admin view: %s; want the wedged plugin restarted", b)
	}
}

// A plugin started through a wrapper script that leaves a child behind
// (the child keeps the plugin's output pipes open) and then hangs in
// OnEvent: its process is replaced after the timeout, and SIGTERM still
// ends referrald within 10 s, the child with it.
func TestPluginThatLeavesAChildDoesNotHoldUpShutdown(t *testing.T) {
	bin, err := buildTestHook()
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	wrapper := filepath.Join(t.TempDir(), "testhook-wrapper")
	script := fmt.Sprintf("#!/bin/sh\nsleep 600 &\necho $! >> \"$1/children\"\nexec '%s' \"$1\"\n", bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	children := func() []int {
		b, _ := os.ReadFile(filepath.Join(state, "children"))
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	srv := hookServerWith(t, wrapper, state, "fail_open", `{"on_event": "hang"}`, "      event_timeout: 300ms\n")
	// Runs before startServer's cleanup, so that a referrald wedged by
	// this bug is killed and its children do not linger.
	t.Cleanup(func() {
		for _, pid := range children() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})

	// The hung plugin is replaced: a restart, and a plugin running again.
	waitFor(t, 30*time.Second, "the hung plugin to be replaced", func() bool {
		_, _, b, err := call(context.Background(), "GET", srv.url+"/v1/admin/hooks", nil, nil)
		return err == nil && strings.Contains(string(b), `"running":true`) && !strings.Contains(string(b), `"restarts":0`)
	})

	began := time.Now()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("referrald did not exit within 10 s of SIGTERM:\n%s", srv.log())
	}
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, srv.log())
	}
	kids := children()
	if len(kids) < 2 {
		t.Fatalf("the wrapper started %d plugin processes, want at least 2 (one replaced)", len(kids))
	}
	for _, pid := range kids {
		if out, _ := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output(); len(out) > 0 && out[0] != 'Z' {
			t.Errorf("child %d of a plugin process outlived referrald (state %s)", pid, out)
		}
	}
	t.Logf("referrald exited %s after SIGTERM", time.Since(began).Round(time.Millisecond))
}

package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/referrald/referrald/hooks/host"
	"github.com/referrald/referrald/model"
)

// orphanWrapper writes a script that starts the test plugin the way some
// plugins are packaged: a shell wrapper that backgrounds a child, which
// inherits the plugin's stdout and stderr and keeps them open, then execs
// the plugin. Each child's pid is appended to STATE_DIR/children, and the
// test kills them at cleanup whatever happened, so that a failure does
// not leave them behind.
func orphanWrapper(t *testing.T) string {
	t.Helper()
	bin := buildPlugin(t, "./testdata/plugins/testhook")
	script := filepath.Join(t.TempDir(), "testhook-wrapper")
	body := fmt.Sprintf("#!/bin/sh\nsleep 600 &\necho $! >> \"$1/children\"\nexec '%s' \"$1\"\n", bin)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script
}

// children reads the pids orphanWrapper's script recorded in dir.
func children(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "children"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid is a process that has not ended; a zombie
// (ended, not yet reaped by whoever inherited it) is not alive.
func alive(pid int) bool {
	out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	return err == nil && len(out) > 0 && out[0] != 'Z'
}

// A plugin that leaves a child process behind must not wedge its
// supervisor: a hung call still gets the process replaced, the child is
// killed with it (it is in the plugin's process group), the events that
// hang go to the dead-letter list, and Stop returns within the 10 s that
// shutdown promises.
func TestPluginThatLeavesAChildIsReplacedAndStopped(t *testing.T) {
	r := newRig(t, host.Config{Name: "testhook", Path: orphanWrapper(t), EventTimeout: 300 * time.Millisecond, MaxAttempts: 2})
	// Registered after newRig's cleanup, so it runs first: without it a
	// wedged Stop there would wait for the children to die.
	t.Cleanup(func() {
		for _, pid := range children(r.dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	defer func() {
		if t.Failed() {
			t.Log(r.log.String())
		}
	}()
	r.control(t, `{"on_event": "hang"}`)
	r.host.Start()
	p := r.host.Plugin("testhook")
	eventually(t, 20*time.Second, "the plugin to start", func() bool { _, ok := p.Description(); return ok && r.pid() > 0 })
	first := r.pid()
	r.referral(t, 1)

	eventually(t, 20*time.Second, "the hung plugin to be replaced", func() bool {
		pid := r.pid()
		return p.Restarts() >= 1 && pid > 0 && pid != first
	})
	if kids := children(r.dir); len(kids) < 2 || alive(kids[0]) {
		t.Fatalf("children %v: the replaced process's child (the first) is still running", kids)
	}
	ctx := context.Background()
	eventually(t, 30*time.Second, "both hanging events to be dead-lettered", func() bool {
		dead, _ := r.st.FindDeadLetters(ctx, "testhook", model.ListOptions{Limit: 10})
		return len(dead.Data) == 2
	})

	// Stop a running process, whose child holds its output open.
	eventually(t, 20*time.Second, "the plugin to run again", func() bool { _, ok := p.Description(); return ok })
	stopped := make(chan struct{})
	began := time.Now()
	go func() { r.host.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return within 10 s")
	}
	for _, pid := range children(r.dir) {
		if alive(pid) {
			t.Errorf("child %d of a plugin process is still running after Stop", pid)
		}
	}
	t.Logf("Stop took %s", time.Since(began).Round(time.Millisecond))
}

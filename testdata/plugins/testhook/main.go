// Command testhook is a hook plugin for referrald's tests, told what to do
// by a JSON control file the test rewrites at will:
//
//	{"on_event": "ok|fail|permanent|hang|crash", "before": "ok|reject|reject_field|flag|hang|wedge",
//	 "describe": "ok|hang", "events": ["*"], "before_referral_create": true}
//
// "permanent" fails with sdk.Permanent. "wedge" is a deadlock: that signup
// check and every later one of the same process hang, whatever the
// control file says by then; a new process starts unwedged.
//
// Usage: testhook STATE_DIR. It writes its pid to STATE_DIR/pid, and to
// STATE_DIR/log one line per call: "seen <event id> <attempt>" for every
// delivery and "applied <event id>" for the first of each id, deduplicating
// across its own restarts by reading the log back at start; "failed <event
// id> <attempt>" for a delivery it fails; and "describe hangs" when it
// starts to.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/hooks/sdk"
)

type control struct {
	OnEvent              string   `json:"on_event"`
	Before               string   `json:"before"`
	Describe             string   `json:"describe"`
	Events               []string `json:"events"`
	BeforeReferralCreate bool     `json:"before_referral_create"`
}

type testHook struct {
	dir     string
	mu      sync.Mutex
	applied map[string]bool
	wedged  atomic.Bool
}

func (h *testHook) control() control {
	c := control{OnEvent: "ok", Before: "ok", Events: []string{hooks.EventAll}}
	if b, err := os.ReadFile(filepath.Join(h.dir, "control.json")); err == nil {
		json.Unmarshal(b, &c)
	}
	return c
}

func (h *testHook) logLine(format string, args ...any) {
	f, err := os.OpenFile(filepath.Join(h.dir, "log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(f, format+"\n", args...)
	f.Sync()
	f.Close()
}

func (h *testHook) Describe(ctx context.Context) (hooks.Description, error) {
	c := h.control()
	if c.Describe == "hang" {
		h.logLine("describe hangs")
		<-ctx.Done()
		select {}
	}
	return hooks.Description{Name: "testhook", Version: "0.0.1", Events: c.Events, BeforeReferralCreate: c.BeforeReferralCreate}, nil
}

func (h *testHook) OnEvent(ctx context.Context, e hooks.Event) (hooks.EventResult, error) {
	switch h.control().OnEvent {
	case "crash":
		os.Exit(3)
	case "hang":
		<-ctx.Done()
		select {} // stay hung even after the caller gave up
	case "fail":
		h.logLine("failed %s %d", e.ID, e.Attempt)
		return hooks.EventResult{}, errors.New("told to fail")
	case "permanent":
		h.logLine("failed %s %d", e.ID, e.Attempt)
		return hooks.EventResult{}, sdk.Permanent(errors.New("told to fail for good"))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logLine("seen %s %d", e.ID, e.Attempt)
	if !h.applied[e.ID] {
		h.applied[e.ID] = true
		h.logLine("applied %s", e.ID)
	}
	var res hooks.EventResult
	if e.Type == hooks.EventReferralCreated {
		var r struct {
			AmbassadorID string `json:"ambassador_id"`
		}
		json.Unmarshal(e.Data, &r)
		res.Commission = &hooks.Commission{AmbassadorID: r.AmbassadorID, Amount: 100, Currency: "USD", Reason: "test bounty"}
	}
	return res, nil
}

func (h *testHook) BeforeReferralCreate(ctx context.Context, r hooks.ReferralRequest) (hooks.Decision, error) {
	before := h.control().Before
	if before == "wedge" {
		h.wedged.Store(true)
	}
	if h.wedged.Load() {
		before = "hang"
	}
	switch before {
	case "reject":
		return hooks.Decision{Reject: true, Reason: "signups from " + r.Email + " are closed"}, nil
	case "reject_field":
		return hooks.Decision{Reject: true, Field: "email", Reason: "this email domain is not allowed"}, nil
	case "flag":
		return hooks.Decision{Flags: []string{"checked_by_testhook"}, Metadata: map[string]string{"risk": "low", "source": "plugin"}}, nil
	case "hang":
		<-ctx.Done()
		select {}
	}
	return hooks.Decision{}, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: testhook STATE_DIR")
		os.Exit(2)
	}
	h := &testHook{dir: os.Args[1], applied: map[string]bool{}}
	if f, err := os.Open(filepath.Join(h.dir, "log")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "applied "); ok {
				h.applied[id] = true
			}
		}
		f.Close()
	}
	os.WriteFile(filepath.Join(h.dir, "pid"), []byte(fmt.Sprint(os.Getpid())), 0o600)
	sdk.Serve(h)
}

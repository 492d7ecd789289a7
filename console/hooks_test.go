package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/hooks/host"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// Without a hook host, the page says how to configure plugins, and a
// plugin's page and its retry are not found.
func TestHooksNotConfigured(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/hooks", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No hook plugins are configured", "hooks.plugins", `href="`+hooksDocs+`"`)
	res = e.get("/console/hooks/testhook", e.owner)
	wantStatus(t, res, http.StatusNotFound)
	wantBody(t, res, "No hook plugins are configured.")
	wantStatus(t, e.post("/console/hooks/testhook/retry", e.owner, formOf("all", "yes")), http.StatusNotFound)
	wantStatus(t, e.get("/console/hooks", e.manager), http.StatusForbidden)
	wantStatus(t, e.post("/console/hooks/testhook/retry", e.viewer, formOf("all", "yes")), http.StatusForbidden)
}

// hookEnv is a testEnv whose console has a real hook host, running the
// test plugin in a process of its own through go-plugin.
type hookEnv struct {
	*testEnv
	host *host.Host
	// dir is the test plugin's state dir: its control file and its log.
	dir string
	// commits hears of every commit of the store, so a test waits for
	// what the plugin's deliveries write instead of sleeping.
	commits chan struct{}
	// prg and amb are what scan records impressions of.
	prg *model.Program
	amb *model.Ambassador
}

// newHookEnv builds the test plugin, opens a store that wakes the host
// at each commit, as the app does, and starts the host on it with the
// plugin told to do control.
func newHookEnv(t *testing.T, control string) *hookEnv {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testhook")
	build := exec.Command("go", "build", "-o", bin, "./testdata/plugins/testhook")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build testhook: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)

	h := &hookEnv{dir: t.TempDir(), commits: make(chan struct{}, 1)}
	h.control(t, control)
	clk := &clock{t: time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)}
	var hh *host.Host
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{Now: clk.Now, IdempotencyWindow: time.Hour, SweepInterval: -1,
		OnCommit: func(int, time.Duration) {
			if hh != nil {
				hh.Wake()
			}
			select {
			case h.commits <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	hh, err = host.New([]host.Config{{Name: "testhook", Path: bin, Args: []string{h.dir}, SHA256: hex.EncodeToString(sum[:]), MaxAttempts: 1}},
		st, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.host = hh
	// Registered after the store's cleanup, so it runs before it: no
	// delivery reads a closed store.
	t.Cleanup(hh.Stop)
	svc := Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Referrals: st, Keys: st,
		Earnings: st, Stats: st, Backup: st, Writes: st, Users: st, Audit: st, Checker: hh, Hooks: hh}
	h.testEnv = &testEnv{t: t, st: st, srv: New(svc, Config{Now: clk.Now}), clock: clk}
	h.owner = h.newUser("owner@uni.example", model.RoleOwner)
	h.manager = h.newUser("manager@uni.example", model.RoleManager)
	h.viewer = h.newUser("viewer@uni.example", model.RoleViewer)
	hh.Start()
	return h
}

func (h *hookEnv) control(t *testing.T, json string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, "control.json"), []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for cond, which the plugin's deliveries make true, by
// checking it after each commit of the store, until the deadline.
func (h *hookEnv) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-h.commits:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// deadLetters are the plugin's dead letters' event IDs, newest first.
func (h *hookEnv) deadLetters(t *testing.T) []string {
	t.Helper()
	page, err := h.st.FindDeadLetters(context.Background(), "testhook", model.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range page.Data {
		ids = append(ids, d.EventID)
	}
	return ids
}

// scan records an impression, whose event the plugin is sent.
func (h *hookEnv) scan(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if h.amb == nil {
		h.prg = h.program("Spring")
		var err error
		h.amb, _, err = h.st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "Ada", LastName: "L", Email: "ada@uni.example"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := h.st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: h.prg.ID, AmbassadorID: h.amb.ID}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
}

// The hooks page shows the real plugin's state and the events it gave
// up on, with their error; an owner sends one again, or all of them,
// and the plugin takes them.
func TestHooksDeadLettersAndRetry(t *testing.T) {
	h := newHookEnv(t, `{"on_event": "permanent", "events": ["impression.created"]}`)
	h.scan(t)
	h.waitFor(t, "the event to be dead-lettered", func() bool { return len(h.deadLetters(t)) == 1 })
	id := h.deadLetters(t)[0]

	res := h.get("/console/hooks", h.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `href="/console/hooks/testhook"`, "Running", "0.0.1", "impression.created", id, "told to fail for good",
		`action="/console/hooks/testhook/retry"`, `name="event_id" value="`+id+`"`, `name="all" value="yes"`)
	res = h.get("/console/hooks/testhook", h.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "testhook", id, "told to fail for good", "Retry all dead letters", `href="/console/audit?subject=testhook"`)
	wantStatus(t, h.get("/console/hooks/nosuch", h.owner), http.StatusNotFound)

	// Forms that do not say what to retry are refused, and retry nothing.
	for _, form := range [][]string{nil, {"event_id", "nonsense"}, {"event_id", id, "all", "yes"}} {
		res := h.post("/console/hooks/testhook/retry", h.owner, formOf(form...))
		wantStatus(t, res, http.StatusBadRequest)
	}
	wantStatus(t, h.post("/console/hooks/testhook/retry", h.manager, formOf("event_id", id)), http.StatusForbidden)
	if got := h.deadLetters(t); len(got) != 1 {
		t.Fatalf("refused forms: %d dead letters, want 1", len(got))
	}

	// The plugin is fixed; the one dead letter is sent again.
	h.control(t, `{"on_event": "ok"}`)
	res = h.post("/console/hooks/testhook/retry", h.owner, formOf("event_id", strings.ToUpper(id)))
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, h.follow(res, h.owner), "1 event is queued for testhook again")
	h.waitFor(t, "the retried event to be taken", func() bool {
		log, _ := os.ReadFile(filepath.Join(h.dir, "log"))
		return len(h.deadLetters(t)) == 0 && strings.Contains(string(log), "applied "+id)
	})
	res = h.post("/console/hooks/testhook/retry", h.owner, formOf("event_id", id))
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, h.follow(res, h.owner), "no longer a dead letter")
	res = h.post("/console/hooks/testhook/retry", h.owner, formOf("all", "yes"))
	wantBody(t, h.follow(res, h.owner), "testhook has no dead letters to retry")

	// Two more fail; all of them are sent again at once.
	h.control(t, `{"on_event": "permanent"}`)
	h.scan(t)
	h.scan(t)
	h.waitFor(t, "two more dead letters", func() bool { return len(h.deadLetters(t)) == 2 })
	res = h.get("/console/hooks", h.owner)
	wantBody(t, res, h.deadLetters(t)[0], h.deadLetters(t)[1])
	h.control(t, `{"on_event": "ok"}`)
	res = h.post("/console/hooks/testhook/retry", h.owner, formOf("all", "yes"))
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, h.follow(res, h.owner), "2 events are queued for testhook again")
	h.waitFor(t, "the retried events to be taken", func() bool { return len(h.deadLetters(t)) == 0 })
	res = h.get("/console/hooks/testhook", h.owner)
	wantBody(t, res, "None: the plugin has taken every event it was sent.")

	// Each retry is in the audit log, by the owner, linked to the plugin.
	res = h.get("/console/audit?action=hook.retried", h.owner)
	wantStatus(t, res, http.StatusOK)
	if n := strings.Count(res.Body, `<a href="/console/hooks/testhook" class="id">testhook</a>`); n != 2 {
		t.Errorf("the audit log lists %d retries linked to the plugin, want 2:\n%s", n, res.Body)
	}
}

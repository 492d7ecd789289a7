package browsertest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The console's operations pages, as an owner uses them: API keys and
// their token shown once, console users, hook plugins and the audit log;
// and what a viewer the owner adds may not do.

var (
	opsOwner  = user{Email: "ops-owner@uni.example", Password: "a long and lovely passphrase", Role: "owner"}
	opsViewer = user{Email: "ops-viewer@uni.example", Password: "a viewer's own passphrase", Role: "viewer"}
)

// callAPI sends GET path with token as the bearer and returns the status.
func callAPI(t *testing.T, srv *server, path, token string) int {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// value is the value of the input sel.
func (b *browser) value(sel string) string {
	b.t.Helper()
	return run(b, "read "+sel, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.value ?? ""`, sel)))
}

// An owner makes an API key and copies its token from the one page that
// shows it; the token works against the API until the owner revokes the
// key. The owner adds a viewer, who sees no forms and whose browser is
// refused a change; the audit log names the owner for all of it.
func TestConsoleOperations(t *testing.T) {
	srv := startServer(t, withUser(opsOwner))
	b := newBrowser(t)
	b.signIn(srv, opsOwner)

	b.open(srv.URL + "/console/keys")
	if got := b.text(".empty-state"); !strings.Contains(got, "No API keys yet") {
		t.Errorf("no keys: %q", got)
	}
	b.submit("a[href='/console/keys/new']")
	if status := b.submit("main form button[type=submit]"); status != http.StatusUnprocessableEntity {
		t.Fatalf("an empty key form: got %d, want 422", status)
	}
	b.fill("#f-name", "Campus shop")
	b.click("#scope-read")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("make the key: got %d at %s", status, b.location())
	}
	if loc := b.location(); loc != srv.URL+"/console/keys/new" {
		t.Errorf("the token's page is at %s, want the form's own address", loc)
	}
	token := b.value("#token")
	if !strings.HasPrefix(token, "rfd_") {
		t.Fatalf("the token's page shows %q", token)
	}
	if got := b.text(".notice-warning"); !strings.Contains(got, "only time it is shown") {
		t.Errorf("the token's warning: %q", got)
	}
	if readonly := run(b, "read readonly", chromedp.Evaluate[bool](`document.getElementById("token").readOnly`)); !readonly {
		t.Error("the token's input is not read-only")
	}
	// The script shows the copy button, and the page says what it did.
	b.click("button[data-copy=token]")
	// The clipboard answers after the click: wait for the page to say so.
	run(b, "wait for the copy's answer", chromedp.Poll[bool](`document.querySelector("[data-copy-status]").textContent !== ""`))
	if got := b.text("[data-copy-status]"); got == "" {
		t.Error("the copy button says nothing")
	}
	b.screenshot("key-created")
	if status := callAPI(t, srv, "/v1/programs", token); status != http.StatusOK {
		t.Fatalf("GET /v1/programs with the new key: got %d, want 200", status)
	}

	b.open(srv.URL + "/console/keys")
	if got := b.text("main"); strings.Contains(got, token) || !strings.Contains(got, "Campus shop") {
		t.Errorf("the key list: %q", got)
	}
	b.screenshot("keys")
	b.submit("a[href^='/console/keys/key_']")
	b.submit("a[href$='/revoke']")
	b.screenshot("key-revoke")
	if got := b.text("h1"); got != "Revoke Campus shop?" {
		t.Errorf("the revoke page asks %q", got)
	}
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("revoke: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Campus shop is revoked") {
		t.Errorf("after revoking: flash %q", got)
	}
	if status := callAPI(t, srv, "/v1/programs", token); status != http.StatusUnauthorized {
		t.Fatalf("GET /v1/programs with the revoked key: got %d, want 401", status)
	}

	b.open(srv.URL + "/console/users")
	b.submit("a[href='/console/users/new']")
	b.fill("#f-email", opsViewer.Email)
	b.click("#role-viewer")
	b.fill("#f-password", opsViewer.Password)
	b.fill("#f-confirm", opsViewer.Password)
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("add the viewer: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, opsViewer.Email+" can sign in now, as viewer") {
		t.Errorf("after adding the viewer: flash %q", got)
	}
	b.screenshot("user")
	b.open(srv.URL + "/console/users")
	b.screenshot("users")

	b.open(srv.URL + "/console/hooks")
	if got := b.text(".empty-state"); !strings.Contains(got, "No hook plugins are configured") {
		t.Errorf("no plugins: %q", got)
	}
	b.screenshot("hooks-empty")

	b.open(srv.URL + "/console/audit")
	rows := b.text("table.audit tbody")
	for _, want := range []string{"user.created", "api_key.revoked", "api_key.created"} {
		if !strings.Contains(rows, want) {
			t.Errorf("the audit log has no %s:\n%s", want, rows)
		}
	}
	// The owner's three changes, newest first, then the owner's own
	// making with referrald users create.
	if n := b.count("table.audit tbody tr"); n != 4 {
		t.Errorf("the audit log has %d entries, want 4:\n%s", n, rows)
	}
	for i, action := range []string{"user.created", "api_key.revoked", "api_key.created"} {
		row := b.text(fmt.Sprintf("table.audit tbody tr:nth-child(%d)", i+1))
		if !strings.Contains(row, action) || !strings.Contains(row, opsOwner.Email) || !strings.Contains(row, "User") {
			t.Errorf("entry %d: %q, want %s by the owner", i+1, row, action)
		}
	}
	if row := b.text("table.audit tbody tr:nth-child(4)"); !strings.Contains(row, "Command line") {
		t.Errorf("the oldest entry: %q, want the owner made from the command line", row)
	}
	b.screenshot("audit")
	b.submit("table.audit tbody tr:first-child a[href^='/console/audit?actor=']")
	if got := b.value("#f-actor"); !strings.HasPrefix(got, "usr_") {
		t.Errorf("filtered by the actor: the filter shows %q", got)
	}

	// The viewer signs in on another browser: no forms that change
	// anything, no operations, and a change sent anyway is refused.
	v := newBrowser(t)
	v.signIn(srv, opsViewer)
	for _, path := range []string{"/console/", "/console/programs", "/console/account"} {
		v.open(srv.URL + path)
		if n := v.count("main form[method=post]:not([action^='/console/account/'])"); n != 0 {
			t.Errorf("a viewer sees %d forms that change things on %s", n, path)
		}
	}
	if n := v.count("#site-nav a[href='/console/audit'], #site-nav a[href='/console/keys']"); n != 0 {
		t.Errorf("a viewer's nav links to %d operations pages", n)
	}
	if status := v.open(srv.URL + "/console/audit"); status != http.StatusForbidden {
		t.Errorf("a viewer at the audit log: got %d, want 403", status)
	}
	v.open(srv.URL + "/console/programs")
	v.do("write a form a viewer is not given", chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.createElement("form");
		f.method = "post";
		f.action = "/console/programs/new";
		f.innerHTML = '<input name="name" value="Viewer program"><input name="landing_url" value="https://example.com/"><button id="sneak">Create</button>';
		document.querySelector("main").append(f);
	})()`))
	if status := v.submit("#sneak"); status != http.StatusForbidden {
		t.Errorf("a viewer's POST to a manager route: got %d, want 403", status)
	}
	if got := v.text("main"); !strings.Contains(got, "Your role, viewer, cannot do this") {
		t.Errorf("a viewer's POST to a manager route: %q", got)
	}
	if programs := string(srv.api(t, http.StatusOK, "GET", "/v1/programs", "")); strings.Contains(programs, "Viewer program") {
		t.Errorf("the viewer's POST made a program: %s", programs)
	}
}

// The hooks page shows the real test plugin, run by referrald through
// go-plugin, and an event it refused, with the error and a retry.
func TestConsoleHookPlugins(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "testhook")
	build := exec.Command("go", "build", "-o", bin, "./testdata/plugins/testhook")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build testhook: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	state := t.TempDir()
	control := func(json string) {
		if err := os.WriteFile(filepath.Join(state, "control.json"), []byte(json), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	control(`{"on_event": "permanent"}`)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `hooks:
  plugins:
    - name: testhook
      path: %s
      args: [%q]
      sha256: %q
      max_attempts: 3
`, bin, state, hex.EncodeToString(sum[:])), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, withUser(opsOwner), withEnv("REFERRALD_CONFIG="+cfg))

	// Two scans: the plugin refuses both for good. It is sent them in
	// order, so once the second is logged as given up on, the first is
	// on the dead-letter list.
	program := idOf(t, srv.api(t, 201, "POST", "/v1/programs", `{"name": "Spring", "landing_url": "https://example.com/"}`))
	amb := idOf(t, srv.api(t, 201, "POST", "/v1/ambassadors", `{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example"}`))
	for range 2 {
		srv.api(t, 201, "POST", "/v1/impressions", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q}`, program, amb))
	}
	m := srv.waitFor(t, regexp.MustCompile(`(?s)refused for good.*?event_id=(evt_\w+).*refused for good.*?event_id=(evt_\w+)`), stepTimeout)
	first := m[1]

	w := newBrowser(t)
	w.signIn(srv, opsOwner)
	w.open(srv.URL + "/console/hooks")
	card := w.text("section.plugin")
	for _, want := range []string{"testhook", "Running", "0.0.1", first, "told to fail for good"} {
		if !strings.Contains(card, want) {
			t.Errorf("the plugin's card does not say %q:\n%s", want, card)
		}
	}
	w.screenshot("hooks")

	control(`{"on_event": "ok"}`)
	w.submit("a[href='/console/hooks/testhook']")
	if status := w.submit(fmt.Sprintf("form:has(input[name=event_id][value=%q]) button", first)); status != http.StatusOK {
		t.Fatalf("retry: got %d at %s", status, w.location())
	}
	if got := w.text(".flash"); !strings.Contains(got, "1 event is queued for testhook again") {
		t.Errorf("after retry: flash %q", got)
	}
	w.screenshot("hook")
}

// idOf is the id of a created record, from the API's answer.
func idOf(t *testing.T, body []byte) string {
	t.Helper()
	m := regexp.MustCompile(`"id":\s*"([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no id in %s", body)
	}
	return string(m[1])
}

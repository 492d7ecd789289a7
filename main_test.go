package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

const testAdminToken = "crash-test-admin-token-0123"

// buildBinary compiles referrald into a temp dir once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "referrald-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "referrald")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// server is a running referrald process.
type server struct {
	cmd    *exec.Cmd
	url    string
	done   chan struct{}
	logMu  sync.Mutex
	logBuf bytes.Buffer
	// logged is signalled on every line, for waitLog.
	logged *sync.Cond
}

// startServer starts the real binary on dataDir and waits for its
// "listening on" line, which it prints once it accepts connections.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "REFERRALD_LISTEN=127.0.0.1:0", "REFERRALD_DATA_DIR="+dataDir,
		"REFERRALD_ADMIN_TOKEN="+testAdminToken)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	s.logged = sync.NewCond(&s.logMu)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.logBuf.WriteString(line + "\n")
			s.logged.Broadcast()
			s.logMu.Unlock()
			if _, rest, ok := strings.Cut(line, "listening on "); ok {
				addr <- strings.Fields(strings.Trim(rest, `"`))[0]
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		s.logMu.Lock()
		close(s.done)
		s.logged.Broadcast()
		s.logMu.Unlock()
	}()
	select {
	case a := <-addr:
		s.url = "http://" + strings.TrimSuffix(a, `"`)
	case <-s.done:
		t.Fatalf("referrald exited before listening:\n%s", s.log())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("referrald did not listen within 30s:\n%s", s.log())
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	return s
}

// waitLog blocks until the server has logged a line containing substr, and
// reports false if it exited first.
func (s *server) waitLog(substr string) bool {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for !strings.Contains(s.logBuf.String(), substr) {
		select {
		case <-s.done:
			return false
		default:
		}
		s.logged.Wait()
	}
	return true
}

func (s *server) log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logBuf.String()
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func call(ctx context.Context, method, url string, body any, header map[string]string) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b, err
}

func mustCreate(t *testing.T, url string, body any) string {
	t.Helper()
	status, _, b, err := call(context.Background(), "POST", url, body, nil)
	if err != nil || status != 201 {
		t.Fatalf("POST %s: %d %s %v", url, status, b, err)
	}
	var v struct{ ID string }
	json.Unmarshal(b, &v)
	return v.ID
}

type acked struct {
	id, key string
}

// TestCrashKeepsAcknowledgedReferrals SIGKILLs the real binary while
// clients are creating referrals, restarts it, and checks that every
// referral a client was told about (201) is there, that replaying its
// idempotency key returns it rather than a second one, and that its
// referral.created event exists. The kill lands after a random number of
// acknowledgements, so it strikes at a different point of the write path
// each cycle.
func TestCrashKeepsAcknowledgedReferrals(t *testing.T) {
	dataDir := t.TempDir()
	// The load outruns the default per-key limit; a 429 would only muddle
	// what is being checked.
	unlimited := []string{"REFERRALD_RATE_LIMITS_PER_KEY_RATE=1000000", "REFERRALD_RATE_LIMITS_PER_KEY_BURST=1000000"}
	srv := startServer(t, dataDir, unlimited...)
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "Crash", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})

	const cycles, clients = 20, 16
	var all []acked
	for cycle := range cycles {
		if cycle > 0 {
			srv = startServer(t, dataDir, unlimited...)
		}
		killAfter := 20 + rand.IntN(150)
		var mu sync.Mutex
		var got []acked
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(context.Background())
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					key := fmt.Sprintf("c%d-%d-%d", cycle, c, i)
					body := map[string]any{"impression_id": imp, "first_name": "J", "last_name": "D",
						"email": key + "@example.com", "idempotency_key": key}
					status, _, b, err := call(ctx, "POST", srv.url+"/v1/referrals", body, nil)
					if err != nil {
						return // the server is gone
					}
					if status != 201 {
						t.Errorf("create: got %d %s", status, b)
						return
					}
					var r struct{ ID string }
					json.Unmarshal(b, &r)
					mu.Lock()
					got = append(got, acked{r.ID, key})
					n := len(got)
					mu.Unlock()
					if n == killAfter {
						srv.cmd.Process.Signal(syscall.SIGKILL)
					}
				}
			}()
		}
		<-srv.done
		cancel()
		wg.Wait()
		if len(got) < killAfter {
			t.Fatalf("cycle %d: server died after %d acknowledgements, before the kill at %d:\n%s", cycle, len(got), killAfter, srv.log())
		}
		all = append(all, got...)
	}

	srv = startServer(t, dataDir, unlimited...)
	for _, a := range all {
		status, _, b, err := call(context.Background(), "GET", srv.url+"/v1/referrals/"+a.id, nil, nil)
		if err != nil || status != 200 {
			t.Fatalf("acknowledged referral %s: got %d %s %v", a.id, status, b, err)
		}
		body := map[string]any{"impression_id": imp, "first_name": "J", "last_name": "D",
			"email": a.key + "@example.com", "idempotency_key": a.key}
		status, h, b, err := call(context.Background(), "POST", srv.url+"/v1/referrals", body, nil)
		if err != nil || status != 201 || h.Get("Idempotent-Replayed") != "true" || !bytes.Contains(b, []byte(a.id)) {
			t.Fatalf("replay of %s: got %d %v %s %v, want the acknowledged referral", a.key, status, h, b, err)
		}
		// The email index lists it under its email alone.
		status, _, b, err = call(context.Background(), "GET", srv.url+"/v1/referrals?email="+a.key+"@example.com", nil, nil)
		var byEmail struct{ Data []struct{ ID string } }
		json.Unmarshal(b, &byEmail)
		if err != nil || status != 200 || len(byEmail.Data) != 1 || byEmail.Data[0].ID != a.id {
			t.Fatalf("referrals of %s@example.com: got %d %s %v, want %s alone", a.key, status, b, err, a.id)
		}
	}
	// No idempotency key made two referrals, not even a key whose request
	// was in flight at a kill: every key has its own email.
	seen := map[string]int{}
	for cursor := ""; ; {
		status, _, b, err := call(context.Background(), "GET", srv.url+"/v1/referrals?limit=100&cursor="+cursor, nil, nil)
		if err != nil || status != 200 {
			t.Fatalf("list: %d %v", status, err)
		}
		var page struct {
			Data       []struct{ Email string }
			HasMore    bool   `json:"has_more"`
			NextCursor string `json:"next_cursor"`
		}
		json.Unmarshal(b, &page)
		for _, r := range page.Data {
			if seen[r.Email]++; seen[r.Email] > 1 {
				t.Fatalf("idempotency key %s made two referrals", strings.TrimSuffix(r.Email, "@example.com"))
			}
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) < len(all) {
		t.Fatalf("%d referrals for %d acknowledged", len(seen), len(all))
	}

	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0:\n%s", code, srv.log())
	}

	st, err := store.Open(filepath.Join(dataDir, store.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("consistency check after %d crashes: %v", cycles, err)
	}
	events, err := st.FindEvents(context.Background(), "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]bool{}
	for _, ev := range events {
		if ev.Type == model.EventReferralCreated {
			var r struct{ ID string }
			json.Unmarshal(ev.Data, &r)
			created[r.ID] = true
		}
	}
	for _, a := range all {
		if !created[a.id] {
			t.Fatalf("no referral.created event for acknowledged referral %s", a.id)
		}
	}
	t.Logf("%d crashes, %d acknowledged referrals, all present with their events", cycles, len(all))
}

func TestCLIKeys(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		if k == "REFERRALD_DATA_DIR" {
			return dir
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"keys", "create", "--scope", "write", "--name", "crm"}, env, &out, &errOut); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut.String())
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, store.TokenPrefix) || strings.Count(token, "\n") != 0 {
		t.Fatalf("create printed %q, want one token line", token)
	}
	out.Reset()
	if code := run([]string{"keys", "list"}, env, &out, &errOut); code != 0 || !strings.Contains(out.String(), "crm") || strings.Contains(out.String(), token) {
		t.Fatalf("list: exit %d, %q: want the key named and its token never shown", code, out.String())
	}
	id := strings.Fields(strings.Split(out.String(), "\n")[1])[0]
	if code := run([]string{"keys", "revoke", id}, env, &out, &errOut); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	run([]string{"keys", "list"}, env, &out, &errOut)
	if strings.Contains(strings.Split(out.String(), "\n")[1], " - ") {
		t.Fatalf("list after revoke shows no revocation time: %q", out.String())
	}
	errOut.Reset()
	if code := run([]string{"keys", "create", "--scope", "root", "--name", "x"}, env, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "scope") {
		t.Fatalf("bad scope: exit %d %q, want exit 2 naming the scope", code, errOut.String())
	}
}

func TestBadSettingsExitTwo(t *testing.T) {
	cases := map[string]string{
		"REFERRALD_LISTEN":             "nonsense",
		"REFERRALD_IDEMPOTENCY_WINDOW": "soon",
		"REFERRALD_LOG_FORMAT":         "xml",
		"REFERRALD_ADMIN_TOKEN":        "has space",
	}
	for key, val := range cases {
		t.Run(key, func(t *testing.T) {
			env := func(k string) string {
				if k == key {
					return val
				}
				if k == "REFERRALD_DATA_DIR" {
					return t.TempDir()
				}
				return ""
			}
			var out, errOut bytes.Buffer
			code := run([]string{"serve"}, env, &out, &errOut)
			if code != exitUsage || strings.Count(errOut.String(), "\n") != 1 {
				t.Fatalf("got exit %d and %q, want exit 2 with one line", code, errOut.String())
			}
		})
	}
}

// A short admin token works, as tests and a first try use them, and the
// log warns that it can be guessed, without printing it.
func TestShortAdminTokenWorksWithAWarning(t *testing.T) {
	const token = "tok-9q7"
	srv := startServer(t, t.TempDir(), "REFERRALD_ADMIN_TOKEN="+token)
	status, _, b, err := call(context.Background(), "GET", srv.url+"/v1/programs", nil, map[string]string{"Authorization": "Bearer " + token})
	if err != nil || status != 200 {
		t.Fatalf("GET /v1/programs with the short admin token: %d %s %v", status, b, err)
	}
	if log := srv.log(); !strings.Contains(log, "admin token is short enough to be guessed") || strings.Contains(log, token) {
		t.Fatalf("want a warning about the short token, without the token:\n%s", log)
	}
}

// TestJournalSettingIsIgnoredWithAWarning: a config written for a
// referrald with journals still starts the server, and the log says the
// setting no longer does anything.
func TestJournalSettingIsIgnoredWithAWarning(t *testing.T) {
	srv := startServer(t, t.TempDir(), "REFERRALD_STORE_JOURNAL_ENTRIES=65536")
	if status, _, b, err := call(context.Background(), "GET", srv.url+"/v1/programs", nil, nil); err != nil || status != 200 {
		t.Fatalf("GET /v1/programs: %d %s %v", status, b, err)
	}
	if log := srv.log(); !strings.Contains(log, "no longer has any effect") || !strings.Contains(log, "setting=store.journal_entries") {
		t.Fatalf("want a warning that store.journal_entries does nothing:\n%s", log)
	}
}

// TestShutdownFinishesRequestsInFlight proves that a request whose handler
// is running when SIGTERM arrives still gets its 201, and that the process
// then exits 0. "Expect: 100-continue" makes the server say when the
// handler starts reading the body, so the test knows the request is in
// flight without sleeping.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	srv := startServer(t, t.TempDir())
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := fmt.Sprintf(`{"impression_id":%q,"first_name":"J","last_name":"D","email":"j@example.com"}`, imp)
	fmt.Fprintf(conn, "POST /v1/referrals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", testAdminToken, len(body))
	rd := bufio.NewReader(conn)
	if line, err := rd.ReadString('\n'); err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("got %q, %v; want 100 Continue once the handler reads the body", line, err)
	}
	rd.ReadString('\n') // the blank line after the interim response

	srv.cmd.Process.Signal(syscall.SIGTERM)
	if !srv.waitLog("shutting down") {
		t.Fatalf("no shutdown line:\n%s", srv.log())
	}
	io.WriteString(conn, body)
	res, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("reading the response of the request in flight: %v\n%s", err, srv.log())
	}
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("got %d, want 201 for the request in flight at SIGTERM", res.StatusCode)
	}
	<-srv.done
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, srv.log())
	}
}

// TestBackupOfALiveStore backs the store up with the CLI while the server
// is running and taking writes, then restores the copy into a new data dir
// and finds every record that was acknowledged before the backup began.
func TestBackupOfALiveStore(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})
	var ids []string
	for i := range 50 {
		ids = append(ids, mustCreate(t, srv.url+"/v1/referrals", map[string]any{"impression_id": imp,
			"first_name": "J", "last_name": "D", "email": fmt.Sprintf("j%d@example.com", i)}))
	}
	// Writes keep coming while the backup runs.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			call(ctx, "POST", srv.url+"/v1/referrals", map[string]any{"impression_id": imp,
				"first_name": "K", "last_name": "D", "email": fmt.Sprintf("k%d@example.com", i)}, nil)
		}
	}()
	backupFile := filepath.Join(t.TempDir(), "copy.db")
	env := func(k string) string {
		switch k {
		case "REFERRALD_DATA_DIR":
			return dataDir
		case "REFERRALD_TOKEN":
			return testAdminToken
		}
		return ""
	}
	var out, errOut bytes.Buffer
	code := run([]string{"backup", "-url", srv.url, backupFile}, env, &out, &errOut)
	cancel()
	wg.Wait()
	if code != 0 || !strings.Contains(errOut.String(), "checked") {
		t.Fatalf("backup: exit %d: %s", code, errOut.String())
	}
	// The other commands that read the store also go through the API
	// while the server holds the file.
	var csv bytes.Buffer
	errOut.Reset()
	if code := run([]string{"export", "referrals", "-url", srv.url, "-program_id", prg}, env, &csv, &errOut); code != 0 ||
		strings.Count(csv.String(), "\n") < len(ids)+1 {
		t.Fatalf("export through the API: exit %d, %d lines: %s", code, strings.Count(csv.String(), "\n"), errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"hooks", "dead-letters", "-url", srv.url, "--plugin", "crmsync"}, env, &out, &errOut); code != exitFailed ||
		!strings.Contains(errOut.String(), "404") || !strings.Contains(errOut.String(), "no hook plugins are configured") {
		t.Fatalf("hooks through the API of a server without plugins: exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	noToken := func(k string) string { return map[string]string{"REFERRALD_DATA_DIR": dataDir}[k] }
	if code := run([]string{"export", "referrals", "-url", srv.url}, noToken, &out, &errOut); code != exitFailed ||
		!strings.Contains(errOut.String(), "set REFERRALD_TOKEN") {
		t.Fatalf("export without a token while the server runs: exit %d: %s", code, errOut.String())
	}

	restored := t.TempDir()
	b, err := os.ReadFile(backupFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, store.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, restored)
	for _, id := range append(ids, prg, amb, imp) {
		kind := map[string]string{"ref": "referrals", "prg": "programs", "amb": "ambassadors", "imp": "impressions"}[id[:3]]
		if status, _, b, err := call(context.Background(), "GET", again.url+"/v1/"+kind+"/"+id, nil, nil); err != nil || status != 200 {
			t.Fatalf("%s in the restored store: got %d %s %v", id, status, b, err)
		}
	}
	// With the server stopped, the CLI reads the file directly.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	errOut.Reset()
	if code := run([]string{"backup", filepath.Join(t.TempDir(), "offline.db")}, env, &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), dataDir) {
		t.Fatalf("offline backup: exit %d: %s", code, errOut.String())
	}
}

func TestCLIExportFromTheStore(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, _, _ := st.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	a, _, _ := st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@x.example"}, model.Idempotency{})
	imp, _, _ := st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	for i := range 150 { // more than one page
		if _, _, err := st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
			Email: fmt.Sprintf("j%d@x.example", i)}, model.Idempotency{}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	env := func(k string) string {
		if k == "REFERRALD_DATA_DIR" {
			return dir
		}
		return ""
	}
	out := filepath.Join(t.TempDir(), "referrals.csv")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"export", "referrals", "-o", out, "-program_id", p.ID}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, _ := os.ReadFile(out)
	if lines := strings.Count(string(b), "\n"); lines != 151 || !strings.Contains(stderr.String(), "exported 150 referrals") {
		t.Fatalf("got %d lines and %q, want a header and 150 rows", lines, stderr.String())
	}
	if code := run([]string{"export", "payouts"}, env, &stdout, &stderr); code != exitUsage {
		t.Fatalf("unknown kind: exit %d, want 2", code)
	}
}

// A mistyped data dir must fail, not back up a new, empty store.
func TestBackupNeedsAnExistingStore(t *testing.T) {
	env := func(k string) string {
		if k == "REFERRALD_DATA_DIR" {
			return filepath.Join(t.TempDir(), "typo")
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"backup", filepath.Join(t.TempDir(), "b.db")}, env, &out, &errOut); code != exitFailed ||
		!strings.Contains(errOut.String(), "no store at") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

func TestBenchCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "-clients", "4", "-duration", "300ms", "-get", "0.2", "-scan", "0.2", "-retry", "0.1", "-json"}, noEnv, &out, &errOut)
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
	if code := run([]string{"bench", "-get", "0.9", "-scan", "0.9"}, noEnv, &out, &errOut); code != exitUsage {
		t.Fatalf("shares over 1: exit %d, want 2", code)
	}
}

// The bench spreads its signups over -ambassadors in turn, so that each
// ambassador's range of the per-ambassador indexes takes its share.
func TestBenchSpreadsSignupsOverAmbassadors(t *testing.T) {
	_, base, token, stop, err := benchServer(false)
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
	if code := run([]string{"bench", "-ambassadors", "0"}, noEnv, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "-ambassadors from 1 to") {
		t.Fatalf("-ambassadors 0: exit %d, %q; want 2 and the range", code, errOut.String())
	}
}

func TestBenchGrow(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"bench", "-clients", "4", "-duration", "50ms", "-grow", "3000", "-rounds", "6", "-ambassadors", "2", "-json"}, noEnv, &out, &errOut); code != 0 {
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

func TestCLIHooksRetryNamesAConfiguredPlugin(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "referrald.yaml")
	err := os.WriteFile(config, []byte("hooks:\n  plugins:\n    - name: crmsync\n      path: /nonexistent/crmsync\n"+
		"      sha256: "+strings.Repeat("ab", 32)+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		return map[string]string{"REFERRALD_DATA_DIR": dir, "REFERRALD_CONFIG": config}[k]
	}
	var out, errOut bytes.Buffer
	// Make the store, as a first run would.
	if code := run([]string{"keys", "create", "--scope", "admin", "--name", "ops"}, env, &out, &errOut); code != 0 {
		t.Fatalf("keys create: exit %d: %s", code, errOut.String())
	}
	for _, cmd := range []string{"retry", "dead-letters"} {
		errOut.Reset()
		if code := run([]string{"hooks", cmd, "--plugin", "crmsnyc"}, env, &out, &errOut); code != exitFailed ||
			!strings.Contains(errOut.String(), `no hook plugin named "crmsnyc"`) {
			t.Errorf("hooks %s with a misspelt plugin: exit %d, %q", cmd, code, errOut.String())
		}
	}
	errOut.Reset()
	if code := run([]string{"hooks", "retry", "--plugin", "crmsync"}, env, &out, &errOut); code != exitOK ||
		!strings.Contains(errOut.String(), "queued 0 dead letters of crmsync") {
		t.Errorf("hooks retry with the configured plugin: exit %d, %q", code, errOut.String())
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

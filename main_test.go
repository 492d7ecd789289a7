package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

const testAdminToken = "crash-test-admin-token-0123"

// testEnv is an environment of exactly vars, so that no test reads the
// machine's.
func testEnv(vars map[string]string) config.Env {
	return config.Env{
		Get: func(k string) string { return vars[k] },
		List: func() []string {
			var out []string
			for k, v := range vars {
				out = append(out, k+"="+v)
			}
			return out
		},
	}
}

// buildBinary compiles referrald into a temp dir once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) { return build() })

// buildSmallJournalBinary compiles a referrald whose journals freeze every
// 64 entries, so that a short run carries them many times over.
var buildSmallJournalBinary = sync.OnceValues(func() (string, error) {
	return build("-ldflags", "-X github.com/referrald/referrald/store.linkedJournalEntries=64")
})

func build(flags ...string) (string, error) {
	dir, err := os.MkdirTemp("", "referrald-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "referrald")
	args := append(append([]string{"build", "-o", bin}, flags...), ".")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// server is a running referrald process.
type server struct {
	cmd    *exec.Cmd
	url    string
	done   chan struct{}
	logMu  sync.Mutex
	logBuf bytes.Buffer
	// outBuf is what it printed on standard output (guarded by logMu).
	outBuf bytes.Buffer
	// logged is signalled on every line, for waitLog.
	logged *sync.Cond
}

// startServer starts the real binary on dataDir and waits for its
// "listening on" line, which it prints once it accepts connections.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	return startBuilt(t, buildBinary, dataDir, env...)
}

// startBuilt is startServer with the binary that build makes.
func startBuilt(t *testing.T, build func() (string, error), dataDir string, env ...string) *server {
	t.Helper()
	bin, err := build()
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
	s := &server{cmd: cmd, done: make(chan struct{})}
	s.logged = sync.NewCond(&s.logMu)
	cmd.Stdout = writerFunc(func(p []byte) (int, error) {
		s.logMu.Lock()
		defer s.logMu.Unlock()
		s.outBuf.Write(p)
		s.logged.Broadcast()
		return len(p), nil
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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

// stdout is what the server has printed on standard output so far.
func (s *server) stdout() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.outBuf.String()
}

// waitStdout blocks until the server has printed substr on standard
// output, and reports false if it exited first.
func (s *server) waitStdout(substr string) bool {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for !strings.Contains(s.outBuf.String(), substr) {
		select {
		case <-s.done:
			return strings.Contains(s.outBuf.String(), substr)
		default:
		}
		s.logged.Wait()
	}
	return true
}

// stop sends SIGTERM and waits for the server to exit.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

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

// carryingJournal reports whether the store file of a stopped server has
// a generation of the journal in bucket root that is frozen (an older one
// beside the open one) and not yet all carried into the bucket tree.
func carryingJournal(t *testing.T, dataDir, root, tree string) bool {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dataDir, store.FileName), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	uncarried := 0
	db.View(func(tx *bolt.Tx) error {
		gens, carried := tx.Bucket([]byte(root)), tx.Bucket([]byte(tree)).Cursor()
		if gens == nil || gens.Stats().BucketN < 3 { // root and two generations
			return nil
		}
		k, _ := gens.Cursor().First() // the older generation
		return gens.Bucket(k).ForEach(func(_, v []byte) error {
			if k, _ := carried.Seek(v[:32]); !bytes.Equal(k, v[:32]) {
				uncarried++
			}
			return nil
		})
	})
	return uncarried > 0
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
	// Small journals are frozen and carried many times over the run, so
	// kills land in the middle of carrying too.
	startServer := func(t *testing.T, dataDir string, env ...string) *server {
		return startBuilt(t, buildSmallJournalBinary, dataDir, env...)
	}
	srv := startServer(t, dataDir, unlimited...)
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "Crash", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})

	const cycles, clients = 20, 16
	var all []acked
	// Kills that left a journal generation being carried, by journal.
	journals := map[string]string{"idempotency_journal": "idempotency", "referrals_by_email_journal": "referrals_by_email"}
	midCarry := map[string]int{}
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
		for root, tree := range journals {
			if carryingJournal(t, dataDir, root, tree) {
				midCarry[root]++
			}
		}
	}
	for root := range journals {
		if midCarry[root] == 0 {
			t.Fatalf("no kill in %d landed while %s was being carried", cycles, root)
		}
	}
	t.Logf("of %d kills, these landed while a journal was being carried: %v", cycles, midCarry)

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
		// The email index, journaled too, lists it under its email alone.
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
	env := testEnv(map[string]string{"REFERRALD_DATA_DIR": dataDir, "REFERRALD_TOKEN": testAdminToken})
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
	noToken := testEnv(map[string]string{"REFERRALD_DATA_DIR": dataDir})
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

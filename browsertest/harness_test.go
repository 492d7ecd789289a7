package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/referrald/referrald/store"
)

// The harness: the referrald binary, a server process per test, and a
// Chromium per test. See doc.go for how a test uses them.

var (
	// binary is referrald, built once by TestMain.
	binary string
	// repoRoot is the repository's root, where bin/screenshots/ is.
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	root, err := findRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsertest:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "referrald-browsertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsertest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "referrald")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "browsertest: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findRoot walks up from the working directory to the go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// user is a console user a test signs in as.
type user struct {
	Email, Password string
	// Role is owner, manager or viewer.
	Role string
}

// server is a running `referrald serve`.
type server struct {
	// URL is where it listens: http://127.0.0.1:<port>.
	URL     string
	DataDir string
	// AdminToken is accepted by the API with scope admin, for a test to
	// set up data over HTTP.
	AdminToken string

	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer // stdout and stderr, as they came
	change *sync.Cond
	exited bool
}

type serverConfig struct {
	users   []user
	env     []string
	prepare []func(*store.Store)
}

// serverOption changes how startServer starts the server.
type serverOption func(*serverConfig)

// withUser makes the console user u, with `referrald users create`,
// before the server starts.
func withUser(u user) serverOption {
	return func(c *serverConfig) { c.users = append(c.users, u) }
}

// withStore runs prepare on the fresh store before the server starts,
// for what no API or command sets up yet.
func withStore(prepare func(*store.Store)) serverOption {
	return func(c *serverConfig) { c.prepare = append(c.prepare, prepare) }
}

// withEnv adds NAME=value settings to the server's environment.
func withEnv(kv ...string) serverOption {
	return func(c *serverConfig) { c.env = append(c.env, kv...) }
}

const adminToken = "browsertest-admin-token-0123456789"

// startServer runs referrald serve on a fresh store, and stops it when
// the test ends.
func startServer(t testing.TB, opts ...serverOption) *server {
	t.Helper()
	var cfg serverConfig
	for _, o := range opts {
		o(&cfg)
	}
	s := &server{DataDir: t.TempDir(), AdminToken: adminToken}
	s.change = sync.NewCond(&s.mu)
	env := append(os.Environ(), "REFERRALD_DATA_DIR="+s.DataDir, "REFERRALD_LISTEN=127.0.0.1:0")
	for _, u := range cfg.users {
		cmd := exec.Command(binary, "users", "create", "--email", u.Email, "--role", u.Role)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(u.Password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("referrald users create %s: %v\n%s", u.Email, err, out)
		}
	}
	for _, prepare := range cfg.prepare {
		st, err := store.Open(filepath.Join(s.DataDir, store.FileName), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		prepare(st)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = append(append(env, "REFERRALD_ADMIN_TOKEN="+adminToken), cfg.env...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		readers.Go(func() {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				s.mu.Lock()
				s.out.WriteString(sc.Text() + "\n")
				s.change.Broadcast()
				s.mu.Unlock()
			}
			io.Copy(io.Discard, r)
		})
	}
	go func() {
		readers.Wait()
		s.cmd.Wait()
		s.mu.Lock()
		s.exited = true
		s.change.Broadcast()
		s.mu.Unlock()
	}()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		if !s.waitExit(10 * time.Second) {
			s.cmd.Process.Kill()
			s.waitExit(10 * time.Second)
		}
		if t.Failed() {
			t.Logf("referrald's output:\n%s", s.Log())
		}
	})
	line := s.waitFor(t, regexp.MustCompile(`listening on ([0-9.:]+)`), 30*time.Second)
	s.URL = "http://" + line[1]
	return s
}

// Log is everything the server has written, stdout and stderr.
func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// waitFor waits until the server's output matches re and returns the
// match and its groups.
func (s *server) waitFor(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.change.Broadcast()
		s.mu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if m := re.FindStringSubmatch(s.out.String()); m != nil {
			return m
		}
		if s.exited {
			t.Fatalf("referrald exited before printing %s:\n%s", re, s.out.String())
		}
		if time.Since(start) >= timeout {
			t.Fatalf("referrald did not print %s within %v:\n%s", re, timeout, s.out.String())
		}
		s.change.Wait()
	}
}

func (s *server) waitExit(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.mu.Lock()
		for !s.exited {
			s.change.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		s.mu.Lock()
		s.change.Broadcast()
		s.mu.Unlock()
		return false
	}
}

// setupLink is the first-run link serve printed (with no console user).
func (s *server) setupLink(t testing.TB) string {
	t.Helper()
	return s.waitFor(t, regexp.MustCompile(`http://\S+/console/setup\?token=\S+`), 10*time.Second)[0]
}

// api calls the server's API with the admin token and returns the
// answer's body, failing the test unless its status is want.
func (s *server) api(t testing.TB, want int, method, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, res.StatusCode, b, want)
	}
	return b
}

// browser is one Chromium with a profile of its own, in one tab.
type browser struct {
	t   testing.TB
	ctx context.Context
}

// Viewports of the screenshots, and of the browser between them.
const (
	desktopWidth, desktopHeight = 1280, 800
	phoneWidth, phoneHeight     = 360, 740
)

// stepTimeout bounds each step a test takes in the browser.
const stepTimeout = 30 * time.Second

// newBrowser starts Chromium with a fresh profile (no cookies), at a
// desktop's width, and stops it when the test ends.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the browser tests need Chromium (make test-deps installs it): %v", err)
	}
	profile, err := os.MkdirTemp("", "referrald-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Tests run as root in CI and containers, where Chromium's sandbox
	// cannot start.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("force-color-profile", "srgb"),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		// Chromium's helpers can still write to the profile for a moment
		// after it exits.
		for range 50 {
			if err := os.RemoveAll(profile); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// The browser starts on the tab's own context: one derived with a
	// timeout would stop it when the timeout's context ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx}
	b.do("set the window's size", chromedp.EmulateViewport(desktopWidth, desktopHeight))
	return b
}

// do runs steps, failing the test with what if one fails.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (at %s)", what, err, b.location())
	}
}

// run runs one action that returns a value.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// open navigates to url and returns the HTTP status of the page it ends
// on.
func (b *browser) open(url string) int64 {
	b.t.Helper()
	return run(b, "open "+url, chromedp.NavigateResponse(url)).Status
}

// fill types value into the input sel (a CSS selector), replacing what
// it held; for a select, it picks the option with that value.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	tag := run(b, "find "+sel, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.tagName ?? ""`, sel)))
	switch tag {
	case "":
		b.t.Fatalf("fill %s: no such element on %s", sel, b.location())
	case "SELECT":
		b.do("choose "+value+" in "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
	default:
		// Cleared by script: chromedp v0.23.1's SetValue cannot set ""
		// (it sets "undefined").
		b.do("clear "+sel, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel)))
		if value != "" {
			b.do("fill "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
		}
	}
}

// click clicks sel, where no page load follows (a radio button).
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// submit clicks sel, a button or link, waits for the page it leads to
// and returns that page's HTTP status.
func (b *browser) submit(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("submit %s: %v (at %s)", sel, err, b.location())
	}
	return res.Status
}

// text is the visible text of sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return run(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// count is how many elements match sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return run(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// location is the URL of the page shown.
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return loc
}

// cookies are the browser's cookies for url.
func (b *browser) cookies(url string) []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.t.Fatalf("read cookies: %v", err)
	}
	return res.Cookies
}

// signIn signs u in through the sign-in form, and fails the test unless
// it lands on the overview.
func (b *browser) signIn(s *server, u user) {
	b.t.Helper()
	b.open(s.URL + "/console/login")
	b.fill("#f-email", u.Email)
	b.fill("#f-password", u.Password)
	if status := b.submit("form[action='/console/login'] button[type=submit]"); status != http.StatusOK {
		b.t.Fatalf("sign in as %s: got status %d at %s, want 200", u.Email, status, b.location())
	}
	if loc := b.location(); !strings.HasPrefix(loc, s.URL+"/console/") || strings.Contains(loc, "/login") {
		b.t.Fatalf("sign in as %s: landed on %s", u.Email, loc)
	}
}

// screenshot saves the page shown, whole, at a desktop's width and a
// phone's, as bin/screenshots/<name>-desktop.png and <name>-phone.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := filepath.Join(repoRoot, "bin", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for _, v := range []struct {
		suffix        string
		width, height int64
		opts          []chromedp.EmulateViewportOption
	}{
		{"desktop", desktopWidth, desktopHeight, nil},
		{"phone", phoneWidth, phoneHeight, []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulateTouch}},
	} {
		b.do("resize for "+name, chromedp.EmulateViewport(v.width, v.height, v.opts...),
			// Let the layout settle at the new width before the capture.
			chromedp.Evaluate[chromedp.Void](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`, chromedp.EvalAwaitPromise))
		png := run(b, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do("resize back", chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// Package deploy holds what runs referrald elsewhere than a developer's
// shell: the systemd unit, the container image (Containerfile and the
// scripts that stage and build it) and the Compose file. Its tests build
// the image's files with the same script make image runs, and check them.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runtimeUID is the image's USER, and owner of /data.
const runtimeUID = 65532

// testAdminToken is the admin token the tests start referrald with.
const testAdminToken = "image-test-admin-token-0123456789"

// stage runs deploy/stage-image.sh, the one build of the image's files,
// into a temp dir with version stamped, and returns the dir.
func stage(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("./stage-image.sh", dir)
	cmd.Env = append(os.Environ(), "VERSION="+version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stage-image.sh: %v\n%s", err, out)
	}
	return dir
}

// checkStatic fails unless the ELF file at path is statically linked: no
// program interpreter (ld.so) to find and no dynamic section to resolve.
func checkStatic(t *testing.T, name string, r io.ReaderAt) {
	t.Helper()
	f, err := elf.NewFile(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %s program header: it is dynamically linked", name, p.Type)
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Errorf("%s has a .dynamic or .interp section: it is dynamically linked", name)
	}
}

// jail runs the image's binaries on its files the way a container does:
// as root, chrooted into the staged root file system as the image's
// non-root user; otherwise as the current user on the staged files.
type jail struct {
	rootfs string
	chroot bool
}

// path is where the image's path p is for a process of the jail.
func (j jail) path(p string) string {
	if j.chroot {
		return p
	}
	return filepath.Join(j.rootfs, p)
}

// command is the image's program at path with args, with no environment
// but env and its working directory at the root of the image.
func (j jail) command(path string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(j.path(path), args...)
	cmd.Env = env
	cmd.Dir = j.path("/")
	if j.chroot {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: j.rootfs,
			Credential: &syscall.Credential{Uid: runtimeUID, Gid: runtimeUID, Groups: []uint32{}}}
	}
	return cmd
}

// newJail makes the staged rootfs a root file system like the image's:
// /data owned by the runtime user as the image's COPY --chown makes it,
// and the /dev/null every container runtime provides, which os/exec
// opens for a plugin's standard input.
func newJail(t *testing.T, staging string) jail {
	t.Helper()
	j := jail{rootfs: filepath.Join(staging, "rootfs"), chroot: os.Geteuid() == 0}
	data := filepath.Join(j.rootfs, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if !j.chroot {
		t.Log("not root: the binaries run as the current user on the staged files, without chroot")
		return j
	}
	if err := os.Chown(data, runtimeUID, runtimeUID); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(j.rootfs, "dev")
	if err := os.Mkdir(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	const devNull = 1<<8 | 3 // major 1, minor 3
	if err := syscall.Mknod(filepath.Join(dev, "null"), syscall.S_IFCHR|0o666, devNull); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dev, "null"), 0o666); err != nil {
		t.Fatal(err)
	}
	return j
}

// writeOwned writes a file in the jail's /data as the runtime user would.
func (j jail) writeOwned(t *testing.T, name, text string) {
	t.Helper()
	p := filepath.Join(j.rootfs, "data", name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if j.chroot {
		if err := os.Chown(p, runtimeUID, runtimeUID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStaticBinaryNeedsNothing builds the image's files with the script
// make image runs, checks that every binary is static, and runs referrald
// on them with nothing else: an empty environment but its own settings,
// chrooted into the image's root file system as the image's user (when
// the test runs as root, as CI does). There it completes the Create
// Referral example (program, ambassador, placement, a scan, the signup),
// the commission plugin it ships pays the signup's bounty, and the
// healthcheck command the image's HEALTHCHECK runs says it is ready.
func TestStaticBinaryNeedsNothing(t *testing.T) {
	t.Parallel()
	const version = "static-test"
	staging := stage(t, version)
	j := newJail(t, staging)
	for _, name := range []string{"/referrald", "/plugins/commission", "/plugins/crmsync"} {
		f, err := os.Open(filepath.Join(j.rootfs, name))
		if err != nil {
			t.Fatal(err)
		}
		checkStatic(t, name, f)
		f.Close()
	}
	if out, err := j.command("/referrald", nil, "version").CombinedOutput(); err != nil || string(out) != "referrald "+version+"\n" {
		t.Fatalf("referrald version: %q, %v; want the stamped version", out, err)
	}

	// The commission plugin pays a bounty for each signup; its config
	// and referrald's go in /data, the one place the user may write.
	plugin, err := os.ReadFile(filepath.Join(j.rootfs, "plugins", "commission"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(plugin)
	j.writeOwned(t, "commission.yaml", "default:\n  signup_bounty: {amount: 200, currency: USD}\n")
	j.writeOwned(t, "referrald.yaml", fmt.Sprintf(`hooks:
  plugins:
    - name: commission
      path: %s
      args: ["-config", %q]
      sha256: %q
`, j.path("/plugins/commission"), j.path("/data/commission.yaml"), hex.EncodeToString(sum[:])))

	env := []string{"REFERRALD_LISTEN=127.0.0.1:0", "REFERRALD_DATA_DIR=" + j.path("/data"),
		"REFERRALD_ADMIN_TOKEN=" + testAdminToken, "REFERRALD_CONFIG=" + j.path("/data/referrald.yaml")}
	srv := start(t, j.command("/referrald", env, "serve"))
	api := &apiClient{t: t, base: "http://" + srv.addr, log: srv.logText}

	api.waitFor("the commission plugin to run", func() bool {
		status, b := api.do("GET", "/v1/admin/hooks", nil)
		return status == 200 && strings.Contains(string(b), `"running":true`)
	})
	prg := api.create("/v1/programs", map[string]any{"name": "Spring 2027 campus launch", "landing_url": "https://example.com/join"}, "id")
	amb := api.create("/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example"}, "id")
	code := api.create("/v1/placements", map[string]any{"program_id": prg, "ambassador_id": amb, "label": "Library, 2nd floor"}, "code")
	imp := api.scan(code)
	api.create("/v1/referrals", map[string]any{"impression_id": imp, "first_name": "John", "last_name": "Doe",
		"email": "john.doe@example.com", "idempotency_key": "idemp_image_test"}, "id")
	api.waitFor("the plugin's signup bounty", func() bool {
		status, b := api.do("GET", "/v1/admin/hooks/results?plugin=commission&ambassador_id="+amb, nil)
		return status == 200 && strings.Contains(string(b), `"amount":200,"currency":"USD"`)
	})

	// The health check as the image runs it: the listen address from
	// the environment, nothing else.
	healthcheck := func() *exec.Cmd {
		return j.command("/referrald", []string{"REFERRALD_LISTEN=" + srv.addr}, "healthcheck")
	}
	if out, err := healthcheck().CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("healthcheck against the running server: %v, %q; want exit 0 and silence", err, out)
	}

	srv.stop(t)
	if st, err := os.Stat(filepath.Join(j.rootfs, "data", "referrald.db")); err != nil {
		t.Fatal(err)
	} else if owner := st.Sys().(*syscall.Stat_t).Uid; j.chroot && owner != runtimeUID {
		t.Fatalf("the store is owned by uid %d, want %d", owner, runtimeUID)
	}
	// With the server gone, the same check fails, as the engine must see.
	hc := healthcheck()
	if out, err := hc.CombinedOutput(); err == nil || hc.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "connection refused") {
		t.Fatalf("healthcheck with the server stopped: %v, %q; want exit 1 saying the connection was refused", err, out)
	}
}

// process is a running referrald whose log is read to its end.
type process struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer
}

func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// listeningOn finds the address in serve's "listening on" line.
var listeningOn = regexp.MustCompile(`listening on (\S+?)"? `)

// start starts cmd, a referrald serve, and waits for its "listening on"
// line; the process is killed at the end of the test if still running.
func start(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listeningOn.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		t.Fatalf("referrald exited before listening:\n%s", p.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("referrald did not listen within 30s:\n%s", p.logText())
	}
	return p
}

// stop sends SIGTERM, as a container engine's stop does, and expects
// exit 0.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("SIGTERM: exit %d, want 0:\n%s", code, p.logText())
	}
}

// apiClient calls referrald's API with the admin token and fails the
// test on any answer it does not expect.
type apiClient struct {
	t    *testing.T
	base string
	log  func() string // the server's, for a failure
}

var httpClient = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (c *apiClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := httpClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.StatusCode, b
}

// create POSTs body, expects 201 and returns the answer's field.
func (c *apiClient) create(path string, body any, field string) string {
	c.t.Helper()
	status, b := c.do("POST", path, body)
	var v map[string]any
	json.Unmarshal(b, &v)
	s, _ := v[field].(string)
	if status != http.StatusCreated || s == "" {
		c.t.Fatalf("POST %s: %d %s, want 201 with %s", path, status, b, field)
	}
	return s
}

// scan opens a poster's /s/{code} as a phone does and returns the
// impression its redirect carries.
func (c *apiClient) scan(code string) string {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/s/"+code, nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)")
	res, err := httpClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.Query().Get("imp"), "imp_") {
		c.t.Fatalf("scan of %s: %d to %q, want 302 with imp=", code, res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query().Get("imp")
}

// waitFor checks cond, which watches another process, until it holds;
// after 30 s the test fails.
func (c *apiClient) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s; referrald's log:\n%s", what, c.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

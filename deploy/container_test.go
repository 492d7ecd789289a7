package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
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
)

// podman runs podman and returns its standard output; stderr is in the
// error.
func podman(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("podman", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// mustPodman is podman that fails the test on an error.
func mustPodman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := podman(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// imageInspect is what the test reads of `podman image inspect`.
type imageInspect struct {
	ManifestType string
	Config       struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		Env          []string
		WorkingDir   string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		Labels       map[string]string
	}
	Healthcheck struct {
		Test                           []string
		Interval, Timeout, StartPeriod time.Duration
	}
}

// imageFile is one entry of the image's file system.
type imageFile struct {
	mode     fs.FileMode
	uid, gid int
	sum      string // SHA-256 of a regular file
}

// TestImageConfig runs make image, as an operator does, with podman (make
// test-deps installs it), then checks the image: its configuration, that
// its file system holds the staged files and nothing else, and that it
// runs as its non-root user on a named volume, answers /readyz on the
// published port, passes its own HEALTHCHECK, backs up with `referrald
// backup` inside the container and stops with exit 0 on SIGTERM.
func TestImageConfig(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman is not installed (make test-deps installs it): %v", err)
	}
	suffix := rand.Text()[:10]
	image := "localhost/referrald-test:" + strings.ToLower(suffix)
	staging := t.TempDir()
	const version = "image-test"
	build := exec.Command("make", "-C", "..", "image", "IMAGE="+image, "IMAGE_STAGING="+staging, "VERSION="+version)
	out, err := build.CombinedOutput()
	t.Cleanup(func() { podman(t, "rmi", "--force", image) })
	if err != nil || !strings.Contains(string(out), "built "+image+" with podman") {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	revision, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}

	var inspect []imageInspect
	if err := json.Unmarshal([]byte(mustPodman(t, "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	img := inspect[0]
	cfg := img.Config
	if img.ManifestType != "application/vnd.docker.distribution.manifest.v2+json" {
		t.Errorf("manifest type %q: want docker's, which keeps HEALTHCHECK", img.ManifestType)
	}
	if cfg.User != fmt.Sprintf("%d:%d", runtimeUID, runtimeUID) {
		t.Errorf("User %q, want the numeric non-root %d:%d", cfg.User, runtimeUID, runtimeUID)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/referrald"}) || !slices.Equal(cfg.Cmd, []string{"serve"}) {
		t.Errorf("Entrypoint %q, Cmd %q; want /referrald serve", cfg.Entrypoint, cfg.Cmd)
	}
	for _, want := range []string{"REFERRALD_LISTEN=0.0.0.0:8080", "REFERRALD_DATA_DIR=/data"} {
		if !slices.Contains(cfg.Env, want) {
			t.Errorf("Env %q lacks %s", cfg.Env, want)
		}
	}
	if _, ok := cfg.ExposedPorts["8080/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v, want 8080/tcp alone", cfg.ExposedPorts)
	}
	if _, ok := cfg.Volumes["/data"]; !ok || len(cfg.Volumes) != 1 || cfg.WorkingDir != "/data" {
		t.Errorf("Volumes %v, WorkingDir %q; want /data both", cfg.Volumes, cfg.WorkingDir)
	}
	hc := img.Healthcheck
	if !slices.Equal(hc.Test, []string{"CMD", "/referrald", "healthcheck"}) ||
		hc.Interval != 30*time.Second || hc.Timeout != 5*time.Second || hc.StartPeriod != 10*time.Second {
		t.Errorf("Healthcheck %+v, want /referrald healthcheck every 30s, timeout 5s, start period 10s", hc)
	}
	labels := map[string]string{
		"title": "referrald", "version": version, "revision": strings.TrimSpace(string(revision)),
		"source": "https://github.com/referrald/referrald", "licenses": "NOASSERTION",
	}
	for k, want := range labels {
		if got := cfg.Labels["org.opencontainers.image."+k]; got != want {
			t.Errorf("label org.opencontainers.image.%s is %q, want %q", k, got, want)
		}
	}
	if created, err := time.Parse(time.RFC3339, cfg.Labels["org.opencontainers.image.created"]); err != nil || time.Since(created) > time.Hour {
		t.Errorf("label org.opencontainers.image.created %q: want the build's time, RFC 3339", cfg.Labels["org.opencontainers.image.created"])
	}
	if cfg.Labels["org.opencontainers.image.description"] == "" {
		t.Error("no org.opencontainers.image.description label")
	}

	// The file system: a container created, never started, exported.
	files := imageFiles(t, image)
	staged := func(p string) string { return fileSum(t, filepath.Join(staging, "rootfs", p)) }
	want := map[string]imageFile{
		"data/":                             {fs.ModeDir | 0o700, runtimeUID, runtimeUID, ""},
		"etc/":                              {fs.ModeDir | 0o755, 0, 0, ""},
		"etc/ssl/":                          {fs.ModeDir | 0o755, 0, 0, ""},
		"etc/ssl/certs/":                    {fs.ModeDir | 0o755, 0, 0, ""},
		"etc/ssl/certs/ca-certificates.crt": {0o644, 0, 0, fileSum(t, "/etc/ssl/certs/ca-certificates.crt")},
		"plugins/":                          {fs.ModeDir | 0o755, 0, 0, ""},
		"plugins/commission":                {0o755, 0, 0, staged("plugins/commission")},
		"plugins/crmsync":                   {0o755, 0, 0, staged("plugins/crmsync")},
		"referrald":                         {0o755, 0, 0, staged("referrald")},
		"tmp/":                              {fs.ModeDir | fs.ModeSticky | 0o777, 0, 0, ""},
	}
	for name, f := range files {
		if w, ok := want[name]; !ok {
			t.Errorf("the image holds %s, which it should not", name)
		} else if f != w {
			t.Errorf("%s: mode %v, owner %d:%d, sha256 %.12s; want %v, %d:%d, %.12s", name, f.mode, f.uid, f.gid, f.sum, w.mode, w.uid, w.gid, w.sum)
		}
	}
	for name := range want {
		if _, ok := files[name]; !ok {
			t.Errorf("the image lacks %s", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	runImage(t, image, suffix)
}

// imageFiles lists the file system of image, from a container created
// from it and never started.
func imageFiles(t *testing.T, image string) map[string]imageFile {
	t.Helper()
	id := strings.TrimSpace(mustPodman(t, "create", image))
	defer podman(t, "rm", "--volumes", id)
	export := exec.Command("podman", "export", id)
	r, err := export.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := export.Start(); err != nil {
		t.Fatal(err)
	}
	files := map[string]imageFile{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("podman export: %v", err)
		}
		f := imageFile{mode: h.FileInfo().Mode(), uid: h.Uid, gid: h.Gid}
		if h.Typeflag == tar.TypeReg {
			s := sha256.New()
			io.Copy(s, tr)
			f.sum = hex.EncodeToString(s.Sum(nil))
		}
		files[strings.TrimPrefix(h.Name, "./")] = f
	}
	if err := export.Wait(); err != nil {
		t.Fatalf("podman export: %v", err)
	}
	return files
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// runtimeFlags are what this CI machine needs to start a container at
// all: a hybrid cgroup hierarchy that crun refuses (runc takes it), and no
// CAP_SYS_RESOURCE to raise the open-files and process limits to podman's
// defaults, so limits it can set are given instead: the test's own open
// files, and a few thousand processes, plenty for referrald and its
// plugins. An ordinary host needs neither; both are harmless there. The
// first are podman's own flags, the others run's.
func runtimeFlags(t *testing.T) (global, run []string) {
	t.Helper()
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}
	return []string{"--runtime", "runc"}, []string{
		fmt.Sprintf("--ulimit=nofile=%d:%d", nofile.Cur, nofile.Cur), "--ulimit=nproc=4096:4096"}
}

// runImage runs image as the documentation says, on a named volume with
// the admin token in the environment and the port published on loopback.
func runImage(t *testing.T, image, suffix string) {
	name, volume := "referrald-test-"+suffix, "referrald-test-data-"+suffix
	t.Cleanup(func() {
		podman(t, "rm", "--force", "--volumes", name)
		podman(t, "volume", "rm", "--force", volume)
	})
	global, limits := runtimeFlags(t)
	args := append(append(global, "run", "--rm", "--name", name, "-p", "127.0.0.1::8080", "-v", volume+":/data",
		"-e", "REFERRALD_ADMIN_TOKEN="+testAdminToken), limits...)
	run := exec.Command("podman", append(args, image)...)
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.Stdout = io.Discard
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		log       bytes.Buffer
		listening = make(chan struct{})
		done      = make(chan struct{})
	)
	logText := func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	go func() {
		defer close(done)
		sc, seen := bufio.NewScanner(stderr), false
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !seen && strings.Contains(sc.Text(), "listening on") {
				seen = true
				close(listening)
			}
		}
		io.Copy(io.Discard, stderr)
		run.Wait()
	}()
	t.Cleanup(func() {
		run.Process.Kill()
		<-done
	})
	select {
	case <-listening:
	case <-done:
		t.Fatalf("podman run exited before referrald listened:\n%s", logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("referrald did not listen within 60s in the container:\n%s", logText())
	}

	port := strings.TrimSpace(mustPodman(t, "port", name, "8080/tcp"))
	res, err := httpClient.Get("http://" + port + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz on the published port %s: %v", port, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz on the published port: %d", res.StatusCode)
	}
	if _, err := podman(t, "healthcheck", "run", name); err != nil {
		t.Fatalf("the image's HEALTHCHECK: %v", err)
	}
	// The documented backup: through the server's API, with the admin
	// token the container was given, into the volume.
	if _, err := podman(t, "exec", name, "/referrald", "backup", "/data/backup.db"); err != nil {
		t.Fatalf("referrald backup in the container: %v", err)
	}

	mustPodman(t, "stop", "--time", "15", name)
	<-done
	if code := run.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("podman stop: referrald exited %d, want 0:\n%s", code, logText())
	}
	// The volume took /data's owner from the image, so the runtime user
	// could make the store and the backup there.
	mount := strings.TrimSpace(mustPodman(t, "volume", "inspect", "--format", "{{.Mountpoint}}", volume))
	for _, name := range []string{"referrald.db", "backup.db"} {
		st, err := os.Stat(filepath.Join(mount, name))
		if err != nil {
			t.Fatalf("the volume: %v", err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != runtimeUID {
			t.Errorf("%s in the volume is owned by uid %d, want %d", name, uid, runtimeUID)
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// walkthroughScript is the README's walk-through as a script, and
// walkthroughMarker the line after which README.md shows all of it.
const (
	walkthroughScript  = "docs/walkthrough.sh"
	walkthroughMarker  = "# ---- README.md shows everything below this line ----\n"
	walkthroughSection = "## A walk through the workflow"
)

// TestWalkthrough runs docs/walkthrough.sh with bash against the real
// binary on a fresh store, so that every step the README shows runs as
// written: the script stops at the first answer whose HTTP status is not
// the one it expects.
func TestWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walk-through needs %s (make test installs it): %v", tool, err)
		}
	}
	script, err := filepath.Abs(walkthroughScript)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "referrald")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	const token = "walkthrough-admin-token-0123"
	srv := exec.Command(bin, "serve")
	srv.Env = append(os.Environ(), "REFERRALD_LISTEN=127.0.0.1:0",
		"REFERRALD_DATA_DIR="+filepath.Join(dir, "data"), "REFERRALD_ADMIN_TOKEN="+token)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// The log is read to its end, so the server never blocks writing it;
	// its "listening on" line gives the address.
	var (
		logMu   sync.Mutex
		logBuf  bytes.Buffer
		addr    = make(chan string, 1)
		exited  = make(chan struct{})
		logText = func() string { logMu.Lock(); defer logMu.Unlock(); return logBuf.String() }
	)
	go func() {
		defer close(exited)
		sc, listening := bufio.NewScanner(stderr), false
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			logBuf.WriteString(line + "\n")
			logMu.Unlock()
			if _, rest, ok := strings.Cut(line, "listening on "); ok && !listening {
				listening = true
				addr <- strings.Fields(strings.Trim(rest, `"`))[0]
			}
		}
		io.Copy(io.Discard, stderr)
		srv.Wait()
	}()
	t.Cleanup(func() {
		srv.Process.Kill()
		<-exited
	})
	var base string
	select {
	case a := <-addr:
		base = "http://" + strings.TrimSuffix(a, `"`)
	case <-exited:
		t.Fatalf("referrald exited before listening:\n%s", logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("referrald did not listen within 30s:\n%s", logText())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	work := t.TempDir()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "BASE="+base, "TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s failed: %v\n%s\nreferrald's log:\n%s", walkthroughScript, err, out, logText())
	}
	t.Logf("%s:\n%s", walkthroughScript, out)

	pdf, err := os.ReadFile(filepath.Join(work, "posters.pdf"))
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("posters.pdf: got %.16q, %v; want a PDF", pdf, err)
	}
	csv, err := os.ReadFile(filepath.Join(work, "referrals.csv"))
	if got := bytes.Count(csv, []byte("\n")); err != nil || got != 3 {
		t.Errorf("referrals.csv: got %d lines, %v; want a header and the walk-through's 2 referrals:\n%s", got, err, csv)
	}
}

// TestWalkthroughInReadme checks that the sh blocks of README.md's
// walk-through, one after the other, are exactly the script below its
// marker, so neither can change without the other.
func TestWalkthroughInReadme(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(walkthroughScript)
	if err != nil {
		t.Fatal(err)
	}
	_, want, ok := strings.Cut(string(script), walkthroughMarker)
	if !ok {
		t.Fatalf("%s has no line %q", walkthroughScript, walkthroughMarker)
	}
	_, section, ok := strings.Cut(string(readme), "\n"+walkthroughSection+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", walkthroughSection)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var blocks []string
	for rest := section; ; {
		_, after, ok := strings.Cut(rest, "```sh\n")
		if !ok {
			break
		}
		block, after, ok := strings.Cut(after, "```\n")
		if !ok {
			t.Fatal("README.md: an sh block of the walk-through is not closed")
		}
		blocks, rest = append(blocks, block), after
	}
	got := strings.Join(blocks, "\n")
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("README.md's walk-through differs from %s at its line %d (a blank line in the script separates two sh blocks in the README):\nREADME: %q\nscript: %q",
				walkthroughScript, i+1, gl, wl)
		}
	}
}

// mdLink matches the target of a Markdown link or image.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestMarkdownLinks checks that every relative link in the repository's
// Markdown files names a file or folder that exists inside the
// repository: a clone has nothing beside it.
func TestMarkdownLinks(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".md") {
			return nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range mdLink.FindAllStringSubmatch(string(text), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			abs := filepath.Join(filepath.Dir(path), filepath.FromSlash(target))
			if r, err := filepath.Rel(root, abs); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				t.Errorf("%s links %s, outside the repository", rel, m[1])
			} else if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links %s, which does not exist", rel, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPluginExampleConfigs runs each example plugin on the config file its
// README documents: a plugin that cannot load its file exits saying
// "<name>: <what is wrong>", while one that can goes on to wait for
// referrald's handshake, which it does not get here.
func TestPluginExampleConfigs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"commission", "crmsync"} {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(dir, name)
			if out, err := exec.Command("go", "build", "-o", bin, "./plugins/"+name).CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			example := filepath.Join("plugins", name, name+".example.yaml")
			out, _ := exec.Command(bin, "-config", example).CombinedOutput()
			if strings.HasPrefix(string(out), name+":") || !strings.Contains(string(out), "plugin") {
				t.Errorf("%s -config %s: got %q, want it to load the file and wait for referrald", name, example, out)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// Each mistake in the settings or the command line stops serve with one
// line naming it and exit code 2, before anything listens.
func TestBadSettingsExitTwo(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"listen", nil, map[string]string{"REFERRALD_LISTEN": "nonsense"}, `config: listen: "nonsense" is not host:port`},
		{"window", nil, map[string]string{"REFERRALD_IDEMPOTENCY_WINDOW": "soon"}, "config: REFERRALD_IDEMPOTENCY_WINDOW"},
		{"log format", nil, map[string]string{"REFERRALD_LOG_FORMAT": "xml"}, "config: log.format"},
		{"admin token", nil, map[string]string{"REFERRALD_ADMIN_TOKEN": "has space"}, "config: admin_token"},
		{"port out of range", nil, map[string]string{"REFERRALD_LISTEN": "127.0.0.1:80800"},
			`config: listen: "127.0.0.1:80800": the port must be a number from 1 to 65535`},
		{"metrics port out of range", nil, map[string]string{"REFERRALD_METRICS_LISTEN": "127.0.0.1:65536"}, "config: metrics.listen:"},
		{"misspelt variable", nil, map[string]string{"REFERRALD_LISTN": "127.0.0.1:0"},
			"config: REFERRALD_LISTN: unknown variable; did you mean REFERRALD_LISTEN?"},
		{"file without -config", []string{"referrald.yaml"}, nil, "serve takes no arguments; did you mean -config referrald.yaml?"},
		{"file after -config", []string{"-config", "config.example.yaml", "extra.yaml"}, nil, "serve takes no arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			vars := map[string]string{"REFERRALD_DATA_DIR": t.TempDir()}
			for k, v := range c.vars {
				vars[k] = v
			}
			var out, errOut bytes.Buffer
			code := run(append([]string{"serve"}, c.args...), testEnv(vars), &out, &errOut)
			if code != exitUsage || strings.Count(errOut.String(), "\n") != 1 || !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("got exit %d and %q, want exit 2 with one line containing %q", code, errOut.String(), c.want)
			}
			if entries, _ := os.ReadDir(vars["REFERRALD_DATA_DIR"]); len(entries) != 0 {
				t.Fatalf("the data dir holds %v; nothing should have started", entries)
			}
		})
	}
}

// Every bad config file stops serve the same way.
func TestBadConfigsStopServe(t *testing.T) {
	files, _ := filepath.Glob("config/testdata/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no bad configs in config/testdata")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var out, errOut bytes.Buffer
			env := testEnv(map[string]string{"REFERRALD_DATA_DIR": t.TempDir()})
			if code := run([]string{"serve", "-config", path}, env, &out, &errOut); code != exitUsage ||
				strings.Count(errOut.String(), "\n") != 1 || !strings.HasPrefix(errOut.String(), "referrald: config: ") {
				t.Fatalf("serve: exit %d, %q; want exit 2 and one line", code, errOut.String())
			}
		})
	}
}

// The variables the commands read besides the settings are no typos.
func TestCommandVariablesAreKnown(t *testing.T) {
	env := testEnv(map[string]string{"REFERRALD_CONFIG": "config.example.yaml", "REFERRALD_TOKEN": "t",
		"REFERRALD_HOOK_PLUGIN": "x", "REFERRALD_ADMIN_TOKEN": "a-long-enough-admin-token"})
	if _, err := config.Load("", env, cliVariables...); err != nil {
		t.Fatal(err)
	}
}

// The warning reaches serve's log once, and only when it applies.
func TestServeWarnsOfLoopbackPosters(t *testing.T) {
	srv := startServer(t, t.TempDir())
	if log := srv.log(); strings.Count(log, "posters and QR codes will carry http://127.0.0.1:0") != 1 ||
		!strings.Contains(log, "level=WARN msg=\"scan.public_base_url is not set") {
		t.Fatalf("want one WARN line about the posters' address:\n%s", log)
	}
	srv = startServer(t, t.TempDir(), "REFERRALD_SCAN_PUBLIC_BASE_URL=https://go.example.edu")
	if log := srv.log(); strings.Contains(log, "posters and QR codes") {
		t.Fatalf("warned with a public base URL set:\n%s", log)
	}
}

// `make run CONFIG=file` gives the file to serve and to the first run's
// key step, and plain `make run` gives none. make -n prints the commands
// without running them.
func TestMakeRunPassesConfig(t *testing.T) {
	makeRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-n", "run"}, args...)...)
		// make takes CONFIG from the environment too; the test's is not
		// the machine's.
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CONFIG=") })
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n run %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := makeRun("CONFIG=testdata/my.yaml")
	for _, want := range []string{"keys list -config testdata/my.yaml ", "keys create -config testdata/my.yaml -create-store ",
		"./bin/referrald serve -config testdata/my.yaml\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("make run CONFIG=testdata/my.yaml does not run %q:\n%s", want, out)
		}
	}
	if out := makeRun(); strings.Contains(out, "-config") || !strings.Contains(out, "./bin/referrald serve") {
		t.Fatalf("make run without CONFIG: want serve without -config:\n%s", out)
	}
}

var setupLink = regexp.MustCompile(`(\S+)/console/setup\?token=([A-Za-z0-9_-]{43})\n`)

// While no console user exists, serve prints a one-time setup link on
// standard output, never in the log, pointing at the public base URL or
// else the address it listens on; the token in it makes the first owner;
// once a user exists, no link is printed.
func TestServePrintsASetupLinkUntilAUserExists(t *testing.T) {
	dir := t.TempDir()
	link := func(srv *server) (base, token string) {
		t.Helper()
		if !srv.waitStdout("/console/setup?token=") || !srv.waitLog("setup link") {
			t.Fatalf("no setup link printed:\nstdout: %s\nlog: %s", srv.stdout(), srv.log())
		}
		srv.stop()
		m := setupLink.FindStringSubmatch(srv.stdout())
		if m == nil {
			t.Fatalf("stdout: %q", srv.stdout())
		}
		if log := srv.log(); strings.Contains(log, m[2]) || strings.Contains(log, url.QueryEscape(m[2])) {
			t.Fatalf("the setup token is in the log:\n%s", log)
		}
		return m[1], m[2]
	}
	srv := startServer(t, dir)
	if base, _ := link(srv); base != srv.url {
		t.Fatalf("the link is on %s, want the listen address %s", base, srv.url)
	}
	srv = startServer(t, dir, "REFERRALD_SCAN_PUBLIC_BASE_URL=https://go.example.edu/")
	base, token := link(srv)
	if base != "https://go.example.edu" {
		t.Fatalf("the link is on %s, want the public base URL", base)
	}

	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.RedeemSetupToken(context.Background(), token, model.UserCreate{Email: "ann@example.com", Password: cliPassword})
	st.Close()
	if err != nil || u.Role != model.RoleOwner {
		t.Fatalf("redeeming the printed token: %+v %v", u, err)
	}

	srv = startServer(t, dir)
	srv.stop() // the link, if any, is printed before serve waits for the signal
	if out := srv.stdout(); strings.Contains(out, "/console/setup") {
		t.Fatalf("a link was printed with a user in the store:\n%s", out)
	}
	if strings.Contains(srv.log(), "setup link") {
		t.Fatalf("the log speaks of a setup link with a user in the store:\n%s", srv.log())
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

const cliPassword = "a password of some length"

// users runs `referrald users ...` with stdin.
func users(env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = usersCommand(args, testEnv(env), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLIUsers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"REFERRALD_DATA_DIR": dir}

	// create makes the store: it is a set-up step.
	code, out, errOut := users(env, cliPassword+"\n", "create", "--email", "Ann@Example.com", "--role", "owner")
	if code != exitOK || !strings.HasPrefix(out, model.PrefixUser+"_") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(errOut, "created console user") || strings.Contains(out+errOut, cliPassword) {
		t.Fatalf("create: exit %d, %q, %q", code, out, errOut)
	}
	ann := strings.TrimSpace(out)
	// A password without a line ending, or with \r\n, is one line too.
	if code, _, errOut := users(env, cliPassword, "create", "--email", "bob@example.com", "--role", "manager"); code != exitOK {
		t.Fatalf("create from a file without a newline: exit %d, %s", code, errOut)
	}
	if code, _, errOut := users(env, cliPassword+"\r\n", "create", "--email", "vic@example.com", "--role", "viewer"); code != exitOK {
		t.Fatalf("create with CRLF: exit %d, %s", code, errOut)
	}

	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"no subcommand", "", nil, exitUsage, "usage: referrald users create"},
		{"unknown subcommand", "", []string{"delete"}, exitUsage, `unknown users command "delete"`},
		{"no email", cliPassword, []string{"create", "--role", "owner"}, exitUsage, "--email is required"},
		{"bad role", cliPassword, []string{"create", "--email", "x@example.com", "--role", "admin"}, exitUsage, "--role must be owner, manager or viewer"},
		{"password as an argument", "", []string{"create", "--email", "x@example.com", "--role", "owner", cliPassword}, exitUsage, "takes no arguments"},
		{"no password", "", []string{"create", "--email", "x@example.com", "--role", "owner"}, exitUsage, "no password on standard input"},
		{"short password", "short\n", []string{"create", "--email", "x@example.com", "--role", "owner"}, exitUsage, "password: must be at least 12 characters"},
		{"long password", strings.Repeat("x", 2000), []string{"create", "--email", "x@example.com", "--role", "owner"}, exitUsage, "longer than 1024 bytes"},
		{"bad email", cliPassword, []string{"create", "--email", "nope", "--role", "owner"}, exitUsage, "email: must be a valid email address"},
		{"taken email", cliPassword, []string{"create", "--email", "ANN@example.com", "--role", "viewer"}, exitFailed, "already exists"},
		{"disable nobody", "", []string{"disable", "--email", "nobody@example.com"}, exitFailed, "no console user has this email"},
		{"disable the last owner", "", []string{"disable", "--email", "ann@example.com"}, exitFailed, "last enabled owner"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := users(env, c.stdin, c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) || strings.Contains(errOut, cliPassword) {
				t.Fatalf("got exit %d, %q; want exit %d with %q", code, errOut, c.code, c.want)
			}
		})
	}

	code, out, _ = users(env, "", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 4 || !strings.Contains(lines[0], "LAST SIGN-IN") || !strings.HasPrefix(lines[3], ann) ||
		!strings.Contains(lines[3], "Ann@example.com") || !strings.Contains(lines[3], "owner") {
		t.Fatalf("list: exit %d:\n%s", code, out)
	}
	if code, _, errOut := users(env, "", "disable", "--email", "BOB@example.com"); code != exitOK || !strings.Contains(errOut, "disabled usr_") {
		t.Fatalf("disable: exit %d, %s", code, errOut)
	}
	if code, _, errOut := users(env, "", "disable", "--email", "bob@example.com"); code != exitOK || !strings.Contains(errOut, "already disabled") {
		t.Fatalf("disable again: exit %d, %s", code, errOut)
	}

	// What the command line did is in the audit log, as its own.
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Authenticate(ctx, "ann@example.com", cliPassword); err != nil {
		t.Fatalf("the user created cannot sign in: %v", err)
	}
	_, err = st.Authenticate(ctx, "bob@example.com", cliPassword)
	if model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("the disabled user signs in: %v", err)
	}
	page, err := st.FindAudit(ctx, model.AuditFilter{})
	if err != nil || len(page.Data) != 4 {
		t.Fatalf("audit: %+v %v; want three creates and a disable", page, err)
	}
	if e := page.Data[0]; e.Action != "user.updated" || e.Actor.Kind != model.ActorCLI || !strings.HasPrefix(e.Actor.Label, "referrald command") {
		t.Fatalf("newest entry %+v", e)
	}
}

// list and disable need a store; a running server holds it, and the
// error says what to do instead.
func TestCLIUsersNeedTheStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	env := map[string]string{"REFERRALD_DATA_DIR": dir}
	for _, args := range [][]string{{"list"}, {"disable", "--email", "ann@example.com"}} {
		code, _, errOut := users(env, "", args...)
		if code != exitFailed || !strings.Contains(errOut, "no store at "+filepath.Join(dir, store.FileName)) {
			t.Fatalf("%v: exit %d, %q", args, code, errOut)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data dir was made: %v", err)
	}

	live := t.TempDir()
	srv := startServer(t, live)
	code, _, errOut := users(map[string]string{"REFERRALD_DATA_DIR": live}, cliPassword, "create", "--email", "ann@example.com", "--role", "owner")
	if code != exitFailed || !strings.Contains(errOut, "locked") || !strings.Contains(errOut, "web console") || !strings.Contains(errOut, "stop the server") {
		t.Fatalf("create while the server runs: exit %d, %q", code, errOut)
	}
	srv.stop()
}

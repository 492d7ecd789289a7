package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/referrald/referrald/store"
)

func TestCLIKeys(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(map[string]string{"REFERRALD_DATA_DIR": dir})
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

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referrald/referrald/store"
)

func TestCLIKeys(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(map[string]string{"REFERRALD_DATA_DIR": dir})
	var out, errOut bytes.Buffer
	if code := run([]string{"keys", "create", "-create-store", "--scope", "write", "--name", "crm"}, env, &out, &errOut); code != 0 {
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
	// Once the store exists, -create-store changes nothing: the keys
	// made before are still there.
	out.Reset()
	if code := run([]string{"keys", "create", "-create-store", "--scope", "read", "--name", "bi"}, env, &out, &errOut); code != 0 {
		t.Fatalf("create -create-store on an existing store: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	if run([]string{"keys", "list"}, env, &out, &errOut); strings.Count(out.String(), "\n") != 3 {
		t.Fatalf("list: got %q, want a header and both keys", out.String())
	}
}

// keys create makes a store only when asked: without -create-store, a
// data dir with no store is an error that says how to make one.
func TestCLIKeysCreateNeedsCreateStoreForANewStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"REFERRALD_DATA_DIR": dir})
	var out, errOut bytes.Buffer
	code := run([]string{"keys", "create", "--scope", "admin", "--name", "ops"}, env, &out, &errOut)
	if code != exitFailed || strings.Count(errOut.String(), "\n") != 1 || !strings.Contains(errOut.String(), filepath.Join(dir, store.FileName)) ||
		!strings.Contains(errOut.String(), "REFERRALD_DATA_DIR") || !strings.Contains(errOut.String(), "-create-store") || out.Len() != 0 {
		t.Fatalf("got exit %d, %q, %q; want exit 1 and one line naming the path and -create-store", code, errOut.String(), out.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data dir was made: %v", err)
	}
	if code := run([]string{"keys", "create", "-create-store", "--scope", "admin", "--name", "ops"}, env, &out, &errOut); code != 0 {
		t.Fatalf("with -create-store: exit %d: %s", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil {
		t.Fatalf("with -create-store, no store: %v", err)
	}
	errOut.Reset()
	if code := run([]string{"keys", "list", "-create-store"}, env, &out, &errOut); code != exitUsage {
		t.Fatalf("keys list -create-store: exit %d, want 2 (create only): %s", code, errOut.String())
	}
}

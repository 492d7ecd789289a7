package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIHooksRetryNamesAConfiguredPlugin(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "referrald.yaml")
	err := os.WriteFile(config, []byte("hooks:\n  plugins:\n    - name: crmsync\n      path: /nonexistent/crmsync\n"+
		"      sha256: "+strings.Repeat("ab", 32)+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"REFERRALD_DATA_DIR": dir, "REFERRALD_CONFIG": config})
	var out, errOut bytes.Buffer
	// Make the store, as a first run would.
	if code := run([]string{"keys", "create", "-create-store", "--scope", "admin", "--name", "ops"}, env, &out, &errOut); code != 0 {
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

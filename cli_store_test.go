package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// A mistyped data dir must fail, not back up a new, empty store.
func TestBackupNeedsAnExistingStore(t *testing.T) {
	env := testEnv(map[string]string{"REFERRALD_DATA_DIR": filepath.Join(t.TempDir(), "typo")})
	var out, errOut bytes.Buffer
	if code := run([]string{"backup", filepath.Join(t.TempDir(), "b.db")}, env, &out, &errOut); code != exitFailed ||
		!strings.Contains(errOut.String(), "no store at") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

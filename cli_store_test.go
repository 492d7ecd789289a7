package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referrald/referrald/store"
)

// A mistyped data dir must fail, in one line that names the path and the
// setting, not make or read a new, empty store.
func TestCommandsRefuseAMissingStore(t *testing.T) {
	config := filepath.Join(t.TempDir(), "referrald.yaml")
	err := os.WriteFile(config, []byte("hooks:\n  plugins:\n    - name: crmsync\n      path: /nonexistent/crmsync\n"+
		"      sha256: "+strings.Repeat("ab", 32)+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"keys", "list"},
		{"keys", "revoke", "key_01J0000000000000000000000"},
		{"keys", "create", "--scope", "admin", "--name", "ops"},
		{"users", "list"},
		{"users", "disable", "--email", "ann@example.com"},
		{"backup", filepath.Join(t.TempDir(), "b.db")},
		{"export", "referrals"},
		{"hooks", "dead-letters", "--plugin", "crmsync"},
		{"hooks", "retry", "--plugin", "crmsync"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "typo")
			env := testEnv(map[string]string{"REFERRALD_DATA_DIR": dir, "REFERRALD_CONFIG": config})
			var out, errOut bytes.Buffer
			code := run(args, env, &out, &errOut)
			if code != exitFailed || strings.Count(errOut.String(), "\n") != 1 ||
				!strings.Contains(errOut.String(), "no store at "+filepath.Join(dir, store.FileName)) ||
				!strings.Contains(errOut.String(), "data_dir or REFERRALD_DATA_DIR") {
				t.Fatalf("got exit %d, %q; want exit 1 and one line naming the path and data_dir", code, errOut.String())
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the data dir was made: %v", err)
			}
		})
	}
}

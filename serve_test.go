package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// Every bad config file stops serve with one line and exit code 2,
// before anything listens.
func TestBadConfigsStopServe(t *testing.T) {
	files, _ := filepath.Glob("config/testdata/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no bad configs in config/testdata")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var out, errOut bytes.Buffer
			dir := t.TempDir()
			env := func(k string) string { return map[string]string{"REFERRALD_DATA_DIR": dir}[k] }
			if code := run([]string{"serve", "-config", path}, env, &out, &errOut); code != exitUsage ||
				strings.Count(errOut.String(), "\n") != 1 || !strings.HasPrefix(errOut.String(), "referrald: config: ") {
				t.Fatalf("serve: exit %d, %q; want exit 2 and one line", code, errOut.String())
			}
		})
	}
}

package model

import (
	"go/build"
	"strings"
	"testing"
)

// model is plain rules over plain values: it imports the standard library
// and the ULID library, nothing of referrald's and no other module.
func TestModelImportsOnlyTheStandardLibrary(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pkg.Imports {
		first, _, _ := strings.Cut(path, "/")
		if strings.Contains(first, ".") && path != "github.com/oklog/ulid/v2" {
			t.Errorf("model imports %s", path)
		}
	}
}

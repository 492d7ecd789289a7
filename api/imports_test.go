package api

import (
	"go/build"
	"testing"
)

// api speaks HTTP to the services model declares; the store behind them
// is wired in by app, so a second store can take its place.
func TestAPIDoesNotImportTheStore(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pkg.Imports {
		if path == "github.com/referrald/referrald/store" {
			t.Error("api imports store")
		}
	}
}

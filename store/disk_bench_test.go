//go:build linux

package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkScatteredSync measures what a commit's page writes cost on this
// disk depending on how far apart the pages lie: 64 pages written at
// random within the first span bytes of a 1 GiB file (or side by side),
// then fdatasync, then one meta page and fdatasync again, as bbolt does.
// A growing store spreads its rewritten index pages over more of the file,
// which is why a commit of the same size costs more at 1 M referrals than
// on a fresh store. Run it with
//
//	go test ./store -run '^$' -bench ScatteredSync -benchtime 200x
func BenchmarkScatteredSync(b *testing.B) {
	const fileSize, pageSize, pages = 1 << 30, 4096, 64
	f, err := os.Create(filepath.Join(b.TempDir(), "scatter"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < fileSize; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
	page := make([]byte, pageSize)
	for _, span := range []int64{0, 16 << 20, 128 << 20, 512 << 20, fileSize} {
		name := fmt.Sprintf("span=%dMiB", span>>20)
		if span == 0 {
			name = "contiguous"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				base := rand.Int64N(fileSize/pageSize - pages)
				for i := range int64(pages) {
					pg := base + i
					if span > 0 {
						pg = 1 + rand.Int64N(span/pageSize-1)
					}
					if _, err := f.WriteAt(page, pg*pageSize); err != nil {
						b.Fatal(err)
					}
				}
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
				if _, err := f.WriteAt(page, 0); err != nil {
					b.Fatal(err)
				}
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Package postertest reads printed posters back for tests: it rasterises
// a PDF with pdftoppm and finds every QR code on a page, as a phone
// pointed at it would.
package postertest

import (
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
)

// Rasterise turns each page of a PDF into a greyscale image with
// pdftoppm (poppler-utils), as a print shop's RIP would. With screenshot
// set it also writes the first page in colour to screenshot + ".png".
// Options go to pdftoppm.
func Rasterise(tb testing.TB, pdf []byte, dpi int, screenshot string, options ...string) []*image.Gray {
	tb.Helper()
	dir := tb.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		tb.Fatal(err)
	}
	run := func(args ...string) {
		args = append(append([]string{"-r", fmt.Sprint(dpi)}, options...), args...)
		if out, err := exec.Command("pdftoppm", args...).CombinedOutput(); err != nil {
			tb.Fatalf("pdftoppm: %v: %s", err, out)
		}
	}
	// PGM, not PNG: pdftoppm spends as long compressing a PNG as drawing it.
	run("-gray", in, filepath.Join(dir, "page"))
	if screenshot != "" {
		if err := os.MkdirAll(filepath.Dir(screenshot), 0o755); err != nil {
			tb.Fatal(err)
		}
		run("-png", "-f", "1", "-l", "1", "-singlefile", in, screenshot)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "page*.pgm"))
	sort.Strings(names) // pdftoppm pads page numbers to one width
	var pages []*image.Gray
	for _, name := range names {
		pages = append(pages, readPGM(tb, name))
	}
	return pages
}

// readPGM reads a binary PGM (P5, 8 bits) as pdftoppm writes it.
func readPGM(tb testing.TB, name string) *image.Gray {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	var magic string
	var w, h, maxval int
	n, err := fmt.Sscan(string(b[:min(len(b), 64)]), &magic, &w, &h, &maxval)
	if err != nil || n != 4 || magic != "P5" || maxval != 255 {
		tb.Fatalf("%s: not an 8-bit P5 PGM", name)
	}
	// The header ends with the one whitespace byte after maxval.
	header := len(fmt.Sprintf("P5\n%d %d\n255\n", w, h))
	if len(b) != header+w*h {
		tb.Fatalf("%s: %d bytes, want %d", name, len(b), header+w*h)
	}
	return &image.Gray{Pix: b[header:], Stride: w, Rect: image.Rect(0, 0, w, h)}
}

// Luminance hands the pixels of r in img to gozxing without copying them.
func Luminance(tb testing.TB, img *image.Gray, r image.Rectangle) *gozxing.BinaryBitmap {
	tb.Helper()
	r = r.Intersect(img.Rect)
	src, err := gozxing.NewPlanarYUVLuminanceSource(img.Pix, img.Stride, img.Rect.Dy(), r.Min.X, r.Min.Y, r.Dx(), r.Dy(), false)
	if err != nil {
		tb.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		tb.Fatal(err)
	}
	return bmp
}

// FindCodes finds and reads every QR code in img, as a phone pointed at
// the whole page would, and returns their texts sorted.
func FindCodes(tb testing.TB, img *image.Gray) []string {
	tb.Helper()
	bmp := Luminance(tb, img, img.Rect)
	results, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		tb.Fatalf("no QR code found: %v", err)
	}
	var texts []string
	for _, r := range results {
		texts = append(texts, r.GetText())
	}
	slices.Sort(texts)
	return texts
}

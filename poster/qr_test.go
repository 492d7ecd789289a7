package poster

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// decode reads a QR code out of a PNG, as a phone would.
func decode(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res.GetText()
}

func TestPNGDecodesBack(t *testing.T) {
	const url = "https://go.example.edu/s/k7m2p9x4qa"
	for _, o := range []Options{{}, {Size: 64, Margin: 4, Level: "L"}, {Size: 1000, Margin: 1, Level: "H"}} {
		if err := o.Check(); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := PNG(&buf, url, o); err != nil {
			t.Fatal(err)
		}
		if got := decode(t, buf.Bytes()); got != url {
			t.Fatalf("%+v: decoded %q, want %q", o, got, url)
		}
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	o := Options{Margin: 4}
	o.Check()
	var buf bytes.Buffer
	if err := SVG(&buf, "https://go.example.edu/s/k7m2p9x4qa", o); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if !strings.HasPrefix(doc.ViewBox, "0 0 ") || strings.Count(doc.Path.D, "M") < 50 {
		t.Fatalf("viewBox %q, %d runs", doc.ViewBox, strings.Count(doc.Path.D, "M"))
	}
}

func TestOptionsBounds(t *testing.T) {
	for _, o := range []Options{{Size: 10}, {Size: 5000}, {Margin: -1}, {Margin: 40}, {Level: "X"}} {
		if err := o.Check(); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
}

func TestPDFHasAPagePerPoster(t *testing.T) {
	job := Job{Layout: LayoutPoster, Design: Design{Headline: "Spring 2027 campus launch – Zoë's café", CallToAction: "Scan to join and get 10 % off"}}
	for i := range 3 {
		code := "k7m2p9x4q" + string(rune('a'+i))
		job.Sheets = append(job.Sheets, Sheet{Program: "Spring", Label: "Library, 2nd floor", Code: code, ScanURL: "https://go.example.edu/s/" + code})
	}
	for _, paper := range []string{"a4", "letter"} {
		job.Paper = paper
		var buf bytes.Buffer
		if err := PDF(&buf, job); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
			t.Fatalf("%s: not a PDF", paper)
		}
		if n := pageCount(buf.Bytes()); n != 3 {
			t.Fatalf("%s: %d pages, want 3", paper, n)
		}
	}
	job.Paper = "a3"
	if err := PDF(&bytes.Buffer{}, job); err == nil {
		t.Fatal("a3: want an error")
	}
}

// pageCount counts page objects (/Type /Page, not /Pages).
func pageCount(pdf []byte) int {
	n := 0
	for _, line := range strings.Split(string(pdf), "\n") {
		if strings.Contains(line, "/Type /Page") && !strings.Contains(line, "/Type /Pages") {
			n++
		}
	}
	return n
}

// The PNG is exactly the image image/png would encode: each module scale
// pixels square, dark on white, in a quiet zone of margin modules.
func TestPNGIsTheCodeAsImagePNGWouldDrawIt(t *testing.T) {
	const url = "https://go.example.edu/s/k7m2p9x4qa"
	for _, o := range []Options{{Size: 64, Margin: 0, Level: "L"}, {Size: 512, Margin: 4, Level: "M"}, {Size: 1001, Margin: 3, Level: "Q"},
		{Size: 2048, Margin: 16, Level: "H"}} {
		var buf bytes.Buffer
		if err := PNG(&buf, url, o); err != nil {
			t.Fatal(err)
		}
		got, err := png.Decode(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		code, _ := encode(url, o)
		modules := code.Size + 2*o.Margin
		scale := max(1, o.Size/modules)
		want := image.NewPaletted(image.Rect(0, 0, modules*scale, modules*scale), color.Palette{color.White, color.Black})
		for y := range modules * scale {
			for x := range modules * scale {
				if code.Black(x/scale-o.Margin, y/scale-o.Margin) {
					want.SetColorIndex(x, y, 1)
				}
			}
		}
		if got.Bounds() != want.Bounds() {
			t.Fatalf("%+v: got bounds %v, want %v", o, got.Bounds(), want.Bounds())
		}
		for y := range modules * scale {
			for x := range modules * scale {
				g, _, _, _ := got.At(x, y).RGBA()
				w, _, _, _ := want.At(x, y).RGBA()
				if g != w {
					t.Fatalf("%+v: pixel (%d, %d) is %#x, want %#x", o, x, y, g, w)
				}
			}
		}
	}
}

// BenchmarkPNG is the largest, densest QR image the API draws.
func BenchmarkPNG(b *testing.B) {
	o := Options{Size: MaxSize, Margin: DefaultMargin, Level: "H"}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := PNG(&buf, "https://go.example.edu/s/k7m2p9x4qa", o); err != nil {
			b.Fatal(err)
		}
	}
}

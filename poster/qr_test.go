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
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
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

// The encoder scores all eight masks and keeps the best, so codes of
// different texts get different masks; rsc.io/qr, used before, always
// took mask 0.
func TestEncoderChoosesAMaskPerCode(t *testing.T) {
	masks := map[int]int{}
	for _, s := range testSheets(40, "") {
		code, err := encode(s.ScanURL, Options{Level: "M"})
		if err != nil {
			t.Fatal(err)
		}
		if code.Mask < 0 || code.Mask > 7 {
			t.Fatalf("%s: mask %d", s.ScanURL, code.Mask)
		}
		masks[code.Mask]++
	}
	if len(masks) < 4 {
		t.Errorf("40 codes used masks %v; want most of the eight", masks)
	}
}

// A logo in the code leaves it readable, whatever the length of the URL
// and the shape of the logo: the code is encoded at level H and the logo
// covers at most a fifth of it.
func TestLogoInQRCodesRead(t *testing.T) {
	for _, shape := range [][2]int{{240, 240}, {600, 100}, {100, 600}} {
		job := Job{Design: Design{Logo: testLogo(t, shape[0], shape[1]), LogoInQR: true}, Sheets: testSheets(1, "")}
		j, err := prepare(job)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 10, 30, 60, 120} { // scan URLs of 35 to 155 characters
			url := "https://go.example.edu/s/" + strings.Repeat("x", n) + "k7m2p9x4qa"
			q, err := j.qr(url, true)
			if err != nil {
				t.Fatal(err)
			}
			if q.Logo == nil || q.PadW < 3 || q.PadH < 3 {
				t.Errorf("%v logo, %d characters: no room made for the logo (%d × %d)", shape, len(url), q.PadW, q.PadH)
				continue
			}
			if share := float64(q.PadW*q.PadH) / float64(q.Sym.Size*q.Sym.Size); share > maxLogoShare {
				t.Errorf("%v logo, %d characters: the logo covers %.0f %% of the code", shape, len(url), share*100)
			}
			// Drawn at 4 pixels a module, as a phone sees a poster.
			op := *q
			op.Side = float64(op.modules())
			p := &page{W: op.Side, H: op.Side, ops: []any{op}}
			img := rasterize(p, j.ts, 4*op.modules())
			bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
			results, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, nil)
			if err != nil || len(results) != 1 || results[0].GetText() != url {
				t.Errorf("%v logo, %d characters: read %v, %v", shape, len(url), results, err)
				continue
			}
			res := results[0]
			if level := res.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; level != "H" {
				t.Errorf("%v logo, %d characters: level %v, want H", shape, len(url), level)
			}
		}
	}
}

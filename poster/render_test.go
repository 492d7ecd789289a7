package poster

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"

	"github.com/referrald/referrald/poster/postertest"
	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

var updatePictures = flag.Bool("update-pictures", false, "write docs/images/posters/<layout>.png, each layout's first page")

// rasterDPI is the resolution pages are rasterised at: a 25 mm sticker
// code is then about 5 pixels a module, which a camera also sees.
const rasterDPI = 150

// testLogos are the logos of testLogo, made once.
var testLogos sync.Map

// testLogo is a logo w × h pixels, a disc and some "letters" in two
// colours on a transparent ground, as NormalizeLogo keeps it.
func testLogo(tb testing.TB, w, h int) []byte {
	tb.Helper()
	if logo, ok := testLogos.Load([2]int{w, h}); ok {
		return logo.([]byte)
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			switch {
			case (x-h/2)*(x-h/2)+(y-h/2)*(y-h/2) < h*h/5:
				img.Set(x, y, color.NRGBA{0xe4, 0x57, 0x2e, 0xff}) // a disc
			case x > h && y > h/4 && y < 3*h/4 && (x/(h/6))%2 == 0:
				img.Set(x, y, color.NRGBA{0x17, 0x2a, 0x3a, 0xff}) // "letters"
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	logo, err := NormalizeLogo(buf.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	testLogos.Store([2]int{w, h}, logo)
	return logo
}

// testSheets are n placements with codes and scan URLs of their own.
func testSheets(n int, label string) []Sheet {
	const alphabet = "23456789abcdefghjkmnpqrstuvwxyz"
	r := rand.New(rand.NewPCG(7, 11))
	sheets := make([]Sheet, n)
	for i := range sheets {
		code := make([]byte, 10)
		for k := range code {
			code[k] = alphabet[r.IntN(len(alphabet))]
		}
		sheets[i] = Sheet{Program: "Campus Eats", Ambassador: "Ada", Label: label, Code: string(code),
			ScanURL: ScanURL("https://go.example.edu", string(code))}
	}
	return sheets
}

// variants are the designs every layout is tried in.
var variants = []string{"plain", "logo", "logo-in-qr"}

func testJob(tb testing.TB, layout Layout, paper, variant string) Job {
	j := Job{Layout: layout, Paper: paper}
	switch variant {
	case "plain":
		j.Sheets = testSheets(layout.PerPage(), "")
	case "logo":
		// A light accent: text in it would not read, so it is set in ink.
		j.Design = Design{Accent: "#ffd21f", Logo: testLogo(tb, 360, 120), Headline: "Fresh boxes, delivered to campus",
			Incentive: "Get 20 % off your first box", ShowName: true}
		j.Sheets = testSheets(layout.PerPage()+1, "Library, 2nd floor") // a second, partial page
	case "logo-in-qr":
		j.Design = Design{Accent: "#0f766e", Logo: testLogo(tb, 240, 240), LogoInQR: true,
			Headline: "Study snacks that don't cost a fortune: Campus Eats' spring boxes", Incentive: "Your first box is on us",
			CallToAction: "Scan, sign up, save", ShowName: true}
		j.Sheets = testSheets(layout.PerPage(), "Student union, notice board by the café")
	}
	return j
}

// rasterise turns each page of a PDF into a greyscale image with
// pdftoppm; with screenshot set it also writes the first page in colour
// to bin/screenshots/posters/. Options go to pdftoppm.
func rasterise(tb testing.TB, pdf []byte, dpi int, screenshot string, options ...string) []*image.Gray {
	tb.Helper()
	if screenshot != "" {
		screenshot = filepath.Join("..", "bin", "screenshots", "posters", screenshot)
	}
	return postertest.Rasterise(tb, pdf, dpi, screenshot, options...)
}

func findCodes(tb testing.TB, img *image.Gray) []string { return postertest.FindCodes(tb, img) }

// readCodeAt reads the one QR code in the box of q (in millimetres),
// from img drawn at scale pixels a millimetre, or returns "". It uses
// the same finder as findCodes: gozxing's single-code reader misses the
// finder patterns of a few valid codes that zbar and phones read.
func readCodeAt(tb testing.TB, img *image.Gray, q qrOp, scale float64) string {
	tb.Helper()
	const slack = 2.0 // mm
	r := image.Rect(int((q.X-slack)*scale), int((q.Y-slack)*scale), int((q.X+q.Side+slack)*scale), int((q.Y+q.Side+slack)*scale))
	results, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(postertest.Luminance(tb, img, r), nil)
	if err != nil || len(results) != 1 {
		return ""
	}
	return results[0].GetText()
}

// wantCodes is what the codes on a laid-out page should read: each
// placement's scan URL, once for each time the page draws it.
func wantCodes(p *page) []string {
	want := slices.Clone(p.codes)
	slices.Sort(want)
	return want
}

func layOut(tb testing.TB, job Job) []*page {
	tb.Helper()
	j, err := prepare(job)
	if err != nil {
		tb.Fatal(err)
	}
	pages, err := j.pages()
	if err != nil {
		tb.Fatal(err)
	}
	return pages
}

// Every layout, with and without a logo and with the logo in its codes,
// prints: each page rasterised finds exactly the QR codes its placements
// need, and each reads back as its placement's scan URL, where the layout
// put it. The full matrix runs on A4; Letter runs each layout once.
func TestEveryLayoutPrintsCodesThatScan(t *testing.T) {
	type tc struct {
		layout         Layout
		paper, variant string
	}
	var cases []tc
	for _, l := range Layouts {
		for _, v := range variants {
			cases = append(cases, tc{l, "a4", v})
		}
	}
	// Letter is shorter and wider: the poster and the tightest sheet.
	cases = append(cases, tc{LayoutPoster, "letter", "logo-in-qr"}, tc{LayoutStickers12, "letter", "logo-in-qr"})
	for _, c := range cases {
		name := fmt.Sprintf("%s-%s-%s", c.layout, c.variant, c.paper)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := testJob(t, c.layout, c.paper, c.variant)
			var buf bytes.Buffer
			if err := PDF(&buf, job); err != nil {
				t.Fatal(err)
			}
			pages := layOut(t, job)
			images := rasterise(t, buf.Bytes(), rasterDPI, name)
			wantPages := (len(job.Sheets) + c.layout.PerPage() - 1) / c.layout.PerPage()
			if len(images) != wantPages || len(pages) != wantPages {
				t.Fatalf("got %d pages (%d laid out), want %d", len(images), len(pages), wantPages)
			}
			scale := rasterDPI / 25.4
			for i, img := range images {
				want := wantCodes(pages[i])
				perSheet := 1
				if c.layout == LayoutTearoff {
					perSheet = len(want) // the poster's code and one a tab
				}
				sheets := job.Sheets[i*c.layout.PerPage() : min(len(job.Sheets), (i+1)*c.layout.PerPage())]
				var urls []string
				for _, s := range sheets {
					for range perSheet {
						urls = append(urls, s.ScanURL)
					}
				}
				slices.Sort(urls)
				if !slices.Equal(want, urls) {
					t.Fatalf("page %d lays out codes for %v, want %v", i+1, want, urls)
				}
				if got := findCodes(t, img); !slices.Equal(got, want) {
					t.Errorf("page %d: found codes %v, want %v", i+1, got, want)
				}
				k := 0
				for _, op := range pages[i].ops {
					if q, ok := op.(qrOp); ok {
						if got := readCodeAt(t, img, q, scale); got != pages[i].codes[k] {
							t.Errorf("page %d: the code at (%.0f, %.0f) mm reads %q, want %q", i+1, q.X, q.Y, got, pages[i].codes[k])
						}
						k++
					}
				}
			}
		})
	}
}

// The preview is the PDF's first page: its QR codes read, and it differs
// from the page pdftoppm draws at the same size by no more than the two
// renderers' anti-aliasing of edges.
func TestPreviewLooksLikeThePDF(t *testing.T) {
	for _, l := range Layouts {
		t.Run(string(l), func(t *testing.T) {
			t.Parallel()
			job := testJob(t, l, "a4", "logo-in-qr")
			const width = 1000 // 121 dpi on A4
			var preview, pdf bytes.Buffer
			if err := PreviewPNG(&preview, job, width); err != nil {
				t.Fatal(err)
			}
			if err := PDF(&pdf, job); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&preview)
			if err != nil {
				t.Fatal(err)
			}
			gray := image.NewGray(img.Bounds())
			draw.Draw(gray, gray.Bounds(), img, image.Point{}, draw.Src)
			if got, want := findCodes(t, gray), wantCodes(layOut(t, job)[0]); !slices.Equal(got, want) {
				t.Errorf("found codes %v, want %v", got, want)
			}
			printed := rasterise(t, pdf.Bytes(), rasterDPI, "", "-scale-to-x", fmt.Sprint(gray.Rect.Dx()), "-scale-to-y", fmt.Sprint(gray.Rect.Dy()))[0]
			if printed.Rect != gray.Rect || printed.Stride != gray.Stride {
				t.Fatalf("preview is %v, the printed page %v", gray.Rect, printed.Rect)
			}
			// Compare the two in blocks of about 3 mm: the renderers'
			// anti-aliasing differs a block by up to about 22 of 255, text
			// moved by 0.7 mm by 30 and more, a mark left out by more still.
			const block = 16
			var worst float64
			var at image.Point
			for y := 0; y+block <= gray.Rect.Dy(); y += block {
				for x := 0; x+block <= gray.Rect.Dx(); x += block {
					var a, b int
					for dy := range block {
						i := gray.PixOffset(x, y+dy)
						for _, v := range gray.Pix[i : i+block] {
							a += int(v)
						}
						for _, v := range printed.Pix[i : i+block] {
							b += int(v)
						}
					}
					if d := math.Abs(float64(a-b)) / (block * block); d > worst {
						worst, at = d, image.Pt(x, y)
					}
				}
			}
			t.Logf("largest difference of a block: %.1f of 255 at %v", worst, at)
			if worst > 28 {
				t.Errorf("the preview differs from the printed page by %.0f of 255 around %v px", worst, at)
			}
		})
	}
}

// wordmark is a logo such as a program has: a badge and its name.
func wordmark(tb testing.TB) []byte {
	tb.Helper()
	if logo, ok := testLogos.Load("wordmark"); ok {
		return logo.([]byte)
	}
	const w, h = 1240, 240
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	orange, navy := color.NRGBA{0xe4, 0x57, 0x2e, 0xff}, color.NRGBA{0x17, 0x2a, 0x3a, 0xff}
	for y := range h {
		for x := range h {
			if (x-h/2)*(x-h/2)+(y-h/2)*(y-h/2) < (h/2-8)*(h/2-8) {
				img.Set(x, y, orange)
			}
		}
	}
	say := func(s string, f face, size float64, x, y int, c color.NRGBA) {
		ff, err := opentype.NewFace(f.font(), &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
		if err != nil {
			tb.Fatal(err)
		}
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: ff, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	say("CE", bold, 110, 38, 160, color.NRGBA{0xff, 0xff, 0xff, 0xff})
	say("Campus Eats", bold, 120, 270, 165, navy)
	logo, err := NormalizeLogo(encodePNG(tb, img))
	if err != nil {
		tb.Fatal(err)
	}
	testLogos.Store("wordmark", logo)
	return logo
}

// pictureJob is the job the documentation shows each layout with.
func pictureJob(tb testing.TB, l Layout) Job {
	j := Job{Layout: l, Paper: "a4", Design: Design{Logo: wordmark(tb), Headline: "Fresh meals for busy students",
		Incentive: "Get 20 % off your first box", ShowName: true}}
	for _, s := range testSheets(l.PerPage(), "Library, 2nd floor") {
		s.Program, s.Ambassador = "Campus Eats", "Ada"
		j.Sheets = append(j.Sheets, s)
	}
	return j
}

// docs/posters.md shows each layout's first page, as printed:
// go test ./poster -run TestLayoutPictures -update-pictures draws them
// again, about 600 pixels wide, into docs/images/posters/.
func TestLayoutPictures(t *testing.T) {
	dir := filepath.Join("..", "docs", "images", "posters")
	for _, l := range Layouts {
		name := filepath.Join(dir, string(l)+".png")
		if *updatePictures {
			var buf bytes.Buffer
			if err := PDF(&buf, pictureJob(t, l)); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(t.TempDir(), "in.pdf")
			if err := os.WriteFile(in, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("pdftoppm", "-png", "-f", "1", "-l", "1", "-singlefile", "-scale-to", "848", in,
				strings.TrimSuffix(name, ".png")).CombinedOutput()
			if err != nil {
				t.Fatalf("pdftoppm: %v: %s", err, out)
			}
		}
		img := readPNG(t, name)
		if w := img.Bounds().Dx(); w < 500 || w > 700 {
			t.Errorf("%s is %d pixels wide, want about 600", name, w)
		}
	}
}

// A 50-page print run of posters with a logo.
func BenchmarkPDF50Posters(b *testing.B) {
	job := pictureJob(b, LayoutPoster)
	job.Sheets = testSheets(50, "Library, 2nd floor")
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := PDF(&buf, job); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/50, "bytes/page")
}

// A preview as the console shows it.
func BenchmarkPreviewPNG(b *testing.B) {
	job := pictureJob(b, LayoutStickers12)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := PreviewPNG(&buf, job, 800); err != nil {
			b.Fatal(err)
		}
	}
}

func readPNG(tb testing.TB, name string) image.Image {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return img
}

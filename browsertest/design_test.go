package browsertest

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A program's poster design, as a manager sets it: from the program's
// page to the design page, a mistake shown next to its input, then a
// colour, a headline and a logo saved, and the preview of another
// layout.

var designManager = user{Email: "designer@uni.example", Password: "a designer's long passphrase", Role: "manager"}

// previewWidth waits for the preview image to be decoded and answers its
// natural width: 0 when it did not load.
func (b *browser) previewWidth() int {
	b.t.Helper()
	return run(b, "load the preview", chromedp.Evaluate[int](`(() => {
		const img = document.getElementById("design-preview");
		return img.decode().then(() => img.naturalWidth, () => 0);
	})()`, chromedp.EvalAwaitPromise))
}

func TestConsolePosterDesign(t *testing.T) {
	srv := startServer(t, withUser(designManager))
	var prg struct{ ID string }
	json.Unmarshal(srv.api(t, http.StatusCreated, "POST", "/v1/programs", `{"name": "Spring boxes", "landing_url": "https://example.com/join"}`), &prg)
	logo := filepath.Join(t.TempDir(), "logo.png")
	img := image.NewRGBA(image.Rect(0, 0, 160, 48))
	for x := range 160 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(40 + x), 30, 90, 255})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	if err := os.WriteFile(logo, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	b.signIn(srv, designManager)
	b.open(srv.URL + "/console/programs/" + prg.ID)
	if status := b.submit("a[href='/console/programs/" + prg.ID + "/design']"); status != http.StatusOK {
		t.Fatalf("the design page: got %d at %s", status, b.location())
	}
	if w := b.previewWidth(); w == 0 {
		t.Fatal("the preview did not load")
	}

	b.fill("#f-headline", "王的海报")
	if status := b.submit("form[enctype] button[type=submit]"); status != http.StatusUnprocessableEntity {
		t.Fatalf("a Han headline: got %d, want 422", status)
	}
	if got := b.text("#f-headline-error"); !strings.Contains(got, "cannot print") {
		t.Errorf("a Han headline: error %q", got)
	}
	b.screenshot("design-errors")

	b.fill("#f-accent_color", "#AA3300")
	if got := run(b, "read the picker", chromedp.Evaluate[string](`document.getElementById("f-accent_color_picker").value`)); got != "#aa3300" {
		t.Errorf("the colour picker follows the text: got %q", got)
	}
	b.fill("#f-headline", "Boxes for students")
	b.fill("#f-incentive", "Get 20 % off your first box")
	b.click("#f-show_ambassador_name")
	b.upload("#f-logo", logo)
	if status := b.submit("form[enctype] button[type=submit]"); status != http.StatusOK {
		t.Fatalf("save the design: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Poster design saved") {
		t.Errorf("after saving: flash %q", got)
	}
	var design struct {
		AccentColor        string `json:"accent_color"`
		Headline           string `json:"headline"`
		ShowAmbassadorName bool   `json:"show_ambassador_name"`
		Logo               *struct{ Width, Height int }
	}
	json.Unmarshal(srv.api(t, http.StatusOK, "GET", "/v1/programs/"+prg.ID+"/poster_design", ""), &design)
	if design.AccentColor != "#aa3300" || design.Headline != "Boxes for students" || !design.ShowAmbassadorName ||
		design.Logo == nil || design.Logo.Width != 160 || design.Logo.Height != 48 {
		t.Fatalf("the saved design: %+v", design)
	}
	if n := b.count("img.design-logo"); n != 1 {
		t.Errorf("the page shows %d logos, want the one uploaded", n)
	}

	b.fill("#preview-layout", "flyer4")
	b.do("choose flyer4", chromedp.Evaluate[chromedp.Void](`document.getElementById("preview-layout").dispatchEvent(new Event("change"))`))
	if src := run(b, "read the preview's address", chromedp.Evaluate[string](`document.getElementById("design-preview").src`)); !strings.HasSuffix(src, "layout=flyer4") {
		t.Errorf("choosing flyer4: preview %s", src)
	}
	if w := b.previewWidth(); w == 0 {
		t.Fatal("the flyer4 preview did not load")
	}
	b.do("scroll to the top", chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)"))
	b.screenshot("design")
}

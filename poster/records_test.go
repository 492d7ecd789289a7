package poster

import (
	"bytes"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// A program's records, as the API, console and portal hold them, make a
// job the renderer prints: the default design when the program has none,
// the design's texts and logo when it has one.
func TestPrintMakesAPrintableJob(t *testing.T) {
	label := "Library, 2nd floor"
	prg := &model.Program{ID: "prg_1", Name: "Campus Eats"}
	placements := []*model.Placement{
		{AmbassadorID: "amb_1", Code: "k7m2p9x4qa", Label: &label},
		{AmbassadorID: "amb_2", Code: "h3nd8fwq2t"},
	}
	ambassadors := map[string]*model.Ambassador{"amb_1": {FirstName: "Ольга"}}
	designed := model.DefaultPosterDesign(prg.ID)
	designed.Headline, designed.Incentive, designed.ShowAmbassadorName = "Fresh meals", "20 % off", true
	designed.Logo, designed.LogoInQR = &model.Logo{Width: 240, Height: 240}, true
	for name, c := range map[string]struct {
		print Print
		want  []string
	}{
		"no design": {Print{Program: prg, Ambassadors: ambassadors, Placements: placements, ScanBase: "https://go.example.edu",
			Layout: LayoutFlyer4}, []string{"Campus Eats", DefaultCallToAction, "go.example.edu/s/k7m2p9x4qa", label}},
		"a design": {Print{Program: prg, Design: designed, Logo: testLogo(t, 240, 240), Ambassadors: ambassadors,
			Placements: placements, ScanBase: "https://go.example.edu/", Paper: "letter"}, []string{"Fresh meals", "20 % off", "Ask Ольга about it", "h3nd8fwq2t"}},
	} {
		job := c.print.Job()
		var buf bytes.Buffer
		if err := PDF(&buf, job); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := strings.Join(pdfText(t, buf.Bytes()), " ")
		for _, want := range c.want {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the PDF does not say %q: %q", name, want, text)
			}
		}
		if got := job.Sheets[1].ScanURL; got != "https://go.example.edu/s/h3nd8fwq2t" {
			t.Errorf("%s: scan URL %q", name, got)
		}
	}
}

package poster

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
)

// What a preview prints in place of an ambassador's records.
const (
	PreviewFirstName = "Ada"
	PreviewLabel     = "Library, 2nd floor"
	// PreviewCodePrefix starts each sample code: PREVIEW1, PREVIEW2, ...
	PreviewCodePrefix = "PREVIEW"
)

// Preview is a page of sample posters of program in layout, as they
// would print with design and logo: what the console and the API show
// before anyone prints. Its placements are made up and stored nowhere.
func Preview(program *model.Program, design *model.PosterDesign, logo []byte, scanBase string, layout Layout, paper string) Print {
	amb := &model.Ambassador{ID: "amb_preview", FirstName: PreviewFirstName}
	label := PreviewLabel
	p := Print{Program: program, Design: design, Logo: logo, Ambassadors: map[string]*model.Ambassador{amb.ID: amb},
		ScanBase: scanBase, Layout: layout, Paper: paper}
	for i := range max(layout.PerPage(), 1) {
		p.Placements = append(p.Placements, &model.Placement{ProgramID: program.ID, AmbassadorID: amb.ID,
			Code: fmt.Sprintf("%s%d", PreviewCodePrefix, i+1), Label: &label})
	}
	return p
}

// previewSalt makes preview tags this process's own, so that a renderer
// changed by an upgrade is never hidden behind a tag an older one gave.
var previewSalt = rand.Text()

// PreviewTag is the entity tag of the preview of p drawn width pixels
// wide: a hash of everything the picture depends on (the design and its
// logo's description, the program's name, layout, paper, scan base), so
// it is known before the logo is read or anything drawn.
func (p Print) PreviewTag(width int) string {
	design, _ := json.Marshal(p.Design) // a struct of strings, bools and times
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n%d\n%s\n", previewSalt, p.Program.ID, p.Program.Name, p.Layout, p.Paper, width, p.ScanBase)
	h.Write(design)
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// PreviewDefaultWidth is a preview's width, in pixels, when its asker
// names none.
const PreviewDefaultWidth = 600

// LayoutNames lists the layouts for a message: "poster, flyer4, ...".
func LayoutNames() string {
	names := make([]string, len(Layouts))
	for i, l := range Layouts {
		names[i] = string(l)
	}
	return strings.Join(names, ", ")
}

// NotModified reports whether r says its client has the image tagged
// etag already (If-None-Match).
func NotModified(r *http.Request, etag string) bool {
	return noneMatch(strings.Join(r.Header.Values("If-None-Match"), ","), etag)
}

// ServePNG answers r with the PNG draw writes, tagged etag: a 304 without
// drawing it when the client has it already. cacheControl goes with
// either answer.
func ServePNG(w http.ResponseWriter, r *http.Request, etag, cacheControl string, draw func(io.Writer) error) error {
	if NotModified(r, etag) {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", cacheControl)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	var buf bytes.Buffer
	if err := draw(&buf); err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheControl)
	h.Set("Content-Type", "image/png")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
	return nil
}

// LogoSize is the width and height of a logo NormalizeLogo made.
func LogoSize(normalized []byte) (width, height int, err error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(normalized))
	return cfg.Width, cfg.Height, err
}

// LogoProblem is what is wrong with a logo NormalizeLogo refused, said to
// follow the word "logo" ("must be a PNG or JPEG image"); "" when err is
// not one of its refusals but a failure of its own.
func LogoProblem(err error) string {
	for _, refusal := range []error{ErrLogoNotImage, ErrLogoTooBig, ErrLogoTooManyPixels} {
		if errors.Is(err, refusal) {
			return strings.TrimPrefix(refusal.Error(), "logo ")
		}
	}
	return ""
}

// LogoTag is the entity tag of a logo: a hash of its bytes.
func LogoTag(logo []byte) string {
	sum := sha256.Sum256(logo)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

package join

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/referrald/referrald/model"
)

// files are the page's templates and its stylesheet, in the binary.
//
//go:embed templates join.css
var files embed.FS

// cssPath is where the stylesheet is served. It is one file at one
// segment under /join/, since /join/static/{name} would overlap
// /join/{code}/logo.png.
const cssPath = "/join/join.css"

// asset is the stylesheet, with the hash that versions its URL.
type asset struct {
	data []byte
	hash string
}

func loadCSS() (asset, error) {
	b, err := files.ReadFile("join.css")
	if err != nil {
		return asset{}, err
	}
	sum := sha256.Sum256(b)
	return asset{data: b, hash: hex.EncodeToString(sum[:6])}, nil
}

// parsePages parses each page of templates/ (every .html file but
// layout.html) with the layout.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		file := path.Base(name)
		if file == "layout.html" {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(files, name); err != nil {
			return nil, err
		}
		pages[strings.TrimSuffix(file, ".html")] = t
	}
	return pages, nil
}

// funcs are the functions every template can call.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"css": func() string { return cssPath + "?v=" + s.css.hash },
	}
}

// page is what the layout is given: the page's title, the program's look
// (nil on a page that has no program), the thank-you page's refresh, and
// the handler's own view as Data.
type page struct {
	Title string
	Brand *brand
	// HeadlineIsTitle makes the program's headline the page's h1 (the
	// form); other pages have their own.
	HeadlineIsTitle bool
	// Refresh is a meta refresh's content, "5;url=https://...".
	Refresh string
	// Nonce is the response's style nonce, set by render.
	Nonce string
	Data  any
}

// brand is a program's look on the page, from its poster design.
type brand struct {
	ProgramName string
	Headline    string
	Incentive   string
	// Accent is "#rrggbb"; OnAccent, black or white, is the one of the
	// two that reads best on it, so that any accent a program picks keeps
	// its text at 4.5:1 or better.
	Accent, OnAccent template.CSS
	// LogoURL is empty without a logo; LogoWidth and LogoHeight are its
	// pixels, so the page does not jump when it loads.
	LogoURL               string
	LogoWidth, LogoHeight int
}

// brandOf is t's program's look.
func brandOf(t *target) *brand {
	d := t.design
	b := &brand{ProgramName: t.program.Name, Headline: d.HeadlineFor(t.program), Incentive: d.Incentive}
	accent := d.AccentColor
	if !validHex(accent) {
		accent = model.DefaultAccentColor
	}
	b.Accent, b.OnAccent = template.CSS(accent), template.CSS(readableOn(accent))
	if d.Logo != nil {
		b.LogoURL = "/join/" + t.code + "/logo.png?v=" + logoVersion(d.Logo)
		b.LogoWidth, b.LogoHeight = d.Logo.Width, d.Logo.Height
	}
	return b
}

// logoVersion changes whenever the logo does, so its URL can be cached.
func logoVersion(l *model.Logo) string {
	return strconv.FormatInt(l.UpdatedAt.UnixMilli(), 36)
}

// validHex reports whether s is "#rrggbb" in lower case, as the model
// keeps accent colours; anything else never reaches a style.
func validHex(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// readableOn returns "#000000" or "#ffffff", whichever contrasts more
// with the colour hex (WCAG 2's relative luminance): at least 4.58:1 for
// any colour.
func readableOn(hex string) string {
	l := luminance(hex)
	if (l+0.05)/0.05 >= 1.05/(l+0.05) {
		return "#000000"
	}
	return "#ffffff"
}

// luminance is the relative luminance of "#rrggbb", 0 (black) to 1.
func luminance(hex string) float64 {
	var rgb [3]float64
	for i := range rgb {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			rgb[i] = c / 12.92
		} else {
			rgb[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
}

// render writes the page name with p, inside the layout, with status.
// Pages are never cached: the form carries a one-time token, and the
// thank-you page a name.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("join: no template %s", name)
	}
	if i := infoOf(r); i != nil {
		p.Nonce = i.nonce
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", &p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// serveCSS serves GET /join/join.css: with the version its URL carries it
// is cached for good, since a new stylesheet gets a new URL.
func (s *Server) serveCSS(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	if r.URL.Query().Get("v") == s.css.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+s.css.hash+`"`)
	http.ServeContent(w, r, "join.css", time.Time{}, bytes.NewReader(s.css.data))
	return nil
}

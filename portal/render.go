package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/referrald/referrald/model"
)

// files are the portal's templates and its stylesheet, in the binary.
//
//go:embed templates static
var files embed.FS

// asset is one file of static/, with the hash that versions its URL.
type asset struct {
	data []byte
	hash string
}

// loadAssets reads every file of static/.
func loadAssets() (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "static/")] = asset{data: b, hash: hex.EncodeToString(sum[:6])}
		return nil
	})
	return out, err
}

// parsePages parses each page of templates/ (every .html file but
// layout.html and partials.html) with the layout and the partials.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials.html")
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
		if file == "layout.html" || file == "partials.html" {
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
		"asset": func(name string) string {
			a, ok := s.assets[name]
			if !ok {
				panic("portal: no static file " + name)
			}
			return "/portal/static/" + name + "?v=" + a.hash
		},
		"count":    formatCount,
		"money":    formatMoney,
		"date":     formatDate,
		"datetime": formatDateTime,
		// posterName names a poster by its label, or its code.
		"posterName": posterName,
		// slug makes a status word a class name: "clawed back" → "clawed-back".
		"slug": func(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "-") },
	}
}

// page is what the layout is given: who is signed in, where they are,
// the flash message, and the handler's own view as Data.
type page struct {
	Ambassador *model.Ambassador
	// Section is the nav entry the page belongs to.
	Section string
	Nav     []navItem
	Flash   string
	// Status is the HTTP status, for pages that show it (errors).
	Status int
	Data   any
}

// render writes the page name with data as its Data, inside the layout,
// with status. Pages are never cached: they show private data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("portal: no template %s", name)
	}
	p := &page{Data: data, Status: status, Section: sectionOf(r)}
	if si := signedInOf(r); si != nil {
		p.Ambassador, p.Nav = si.amb, navItems
	}
	p.Flash = s.takeFlash(w, r)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// serveStatic serves GET /portal/static/{name}: with the version its URL
// carries it is cached for good, since a new file gets a new URL.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	a, ok := s.assets[name]
	if !ok {
		return model.Errorf(model.ENotFound, "no such file")
	}
	h := w.Header()
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+a.hash+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
	return nil
}

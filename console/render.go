package console

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

// files are the console's templates and static assets, in the binary.
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
// layout.html and the partials) with the layout and the partials, so a
// page is a file that defines "title" and "content" and nothing needs to
// list it. The partials are partials.html and any partials_*.html, so an
// area can keep the pieces it offers other pages in a file of its own.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials*.html")
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
		if file == "layout.html" || strings.HasPrefix(file, "partials") {
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
				panic("console: no static file " + name)
			}
			return "/console/static/" + name + "?v=" + a.hash
		},
		"count":      formatCount,
		"money":      formatMoney,
		"rate":       formatRate,
		"date":       formatDate,
		"datetime":   formatDateTime,
		"percentBP":  formatPercentBP,
		"commission": describeCommission,
		"dict":       dict,
	}
}

// page is what the layout is given: who is signed in, where they are,
// the flash message, and the handler's own view as Data.
type page struct {
	User    *model.User
	Session *model.Session
	// Section is the nav entry the page belongs to.
	Section string
	Nav     []navItem
	// NavGroups are the labelled groups below Nav, with only the entries
	// the user sees; a group with none is left out.
	NavGroups []navGroup
	Flash     *flash
	// Status is the HTTP status, for pages that show it (errors).
	Status int
	Data   any
}

// Can reports whether the signed-in user has role (viewer, manager or
// owner): templates show a form or a button only when it says so.
func (p *page) Can(role string) bool {
	return p.User != nil && p.User.Role.Allows(model.Role(role))
}

// render writes the page name with data as its Data, inside the layout,
// with status. Pages are never cached: they show private data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("console: no template %s", name)
	}
	p := &page{Data: data, Status: status, Section: sectionOf(r)}
	if si := signedInOf(r); si != nil {
		p.User, p.Session = si.user, si.session
		for _, item := range navItems {
			if si.user.Role.Allows(item.Role) {
				p.Nav = append(p.Nav, item)
			}
		}
		for _, g := range navGroups {
			seen := navGroup{ID: g.ID, Label: g.Label}
			for _, item := range g.Items {
				if si.user.Role.Allows(item.Role) {
					seen.Items = append(seen.Items, item)
				}
			}
			if len(seen.Items) > 0 {
				p.NavGroups = append(p.NavGroups, seen)
			}
		}
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

// serveStatic serves GET /console/static/{name}: with the version its URL
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

// dict makes a map of its arguments, name and value in turn, for a
// partial that takes several: {{template "empty" dict "Title" "…"}}.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: %d arguments, want pairs", len(kv))
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: argument %d is not a name", i)
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

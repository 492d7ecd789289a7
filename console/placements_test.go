package console

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// placementCount is how many placements the store has for f.
func (e *testEnv) placementCount(f model.PlacementFilter) int {
	e.t.Helper()
	f.Limit = model.MaxListLimit
	n := 0
	for {
		page, err := e.st.FindPlacements(context.Background(), f)
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(page.Data)
		if !page.HasMore {
			return n
		}
		f.Cursor = *page.NextCursor
	}
}

// A manager creates a poster for an ambassador in a program; its page
// shows the QR code, the downloads, and its scans and signups.
func TestPlacementCreateAndPage(t *testing.T) {
	e := newTestEnv(t, Config{PublicBaseURL: "https://go.example.edu/"})
	prg := e.program("Spring")
	archived := e.program("Fall")
	status := model.ProgramArchived
	if _, err := e.st.UpdateProgram(context.Background(), archived.ID, model.ProgramUpdate{Status: &status}); err != nil {
		t.Fatal(err)
	}
	a := e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	newPath := "/console/ambassadors/" + a.ID + "/placements/new"

	res := e.get(newPath, e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "New poster for Ada Lovelace", `value="`+prg.ID+`"`, `name="label"`, `name="location.address"`)
	noBody(t, res, archived.ID)
	wantStatus(t, e.get(newPath, e.viewer), http.StatusForbidden)

	res = e.post(newPath, e.manager, formOf("program_id", prg.ID, "label", "Library", "location.latitude", "north", "location.longitude", "200"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-location-latitude-error"`, "Latitude must be a number of degrees", `id="f-location-longitude-error"`, "from -180 to 180",
		`value="Library"`)
	res = e.post(newPath, e.manager, formOf("program_id", archived.ID))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "archived")
	res = e.post(newPath, e.manager, formOf("program_id", "prg_01m8yqk4a5mstqtdtptfpvmbxh"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-program_id-error"`, "does not exist")
	if n := e.placementCount(model.PlacementFilter{}); n != 0 {
		t.Fatalf("refused forms made %d placements", n)
	}

	key := newFormKey()
	form := formOf("program_id", prg.ID, "label", "Library, 2nd floor", "location.address", "1 Library Way",
		"location.latitude", "51.5072", "location.longitude", "-0.1276", "idempotency_key", key)
	res = e.post(newPath, e.manager, form)
	wantStatus(t, res, http.StatusSeeOther)
	if again := e.post(newPath, e.manager, form); again.location() != res.location() {
		t.Errorf("a second send went to %s, want %s", again.location(), res.location())
	}
	page := e.follow(res, e.manager)
	wantStatus(t, page, http.StatusOK)
	plcID := strings.TrimPrefix(res.location(), "/console/placements/")
	plc, err := e.st.FindPlacementByID(context.Background(), plcID)
	if err != nil {
		t.Fatal(err)
	}
	wantBody(t, page, "Poster created", plc.Code, "https://go.example.edu/s/"+plc.Code, "Library, 2nd floor", "1 Library Way", "51.5072",
		`src="/console/placements/`+plc.ID+`/qr.svg"`, `/console/placements/`+plc.ID+`/poster.pdf?paper=a4`,
		`/console/placements/`+plc.ID+`/poster.pdf?paper=letter`, `/console/placements/`+plc.ID+`/qr.png?download=1`,
		`action="/console/placements/`+plc.ID+`/deactivate"`)
	if n := e.placementCount(model.PlacementFilter{}); n != 1 {
		t.Errorf("got %d placements, want 1", n)
	}

	// A scan and a signup count on its page.
	imp, _, err := e.st.CreateImpression(context.Background(), model.ImpressionCreate{PlacementID: plc.ID, UserAgent: "Mozilla/5.0 (iPhone)"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.CreateReferral(context.Background(), model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
		Email: "j@example.com"}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	page = e.get("/console/placements/"+plc.ID, e.viewer)
	wantStatus(t, page, http.StatusOK)
	if strings.Count(page.Body, `<p class="stat-value">1</p>`) != 2 {
		t.Errorf("the page does not count one scan and one signup:\n%s", page.Body)
	}
	noBody(t, page, "/deactivate")
}

// The QR images are the API's: the same cache, tags and 304s; the PDF
// is a poster to print; unknown placements are 404s.
func TestPlacementDownloads(t *testing.T) {
	e := newTestEnv(t, Config{PublicBaseURL: "https://go.example.edu"})
	prg := e.program("Spring")
	a := e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	plc, _, err := e.st.CreatePlacement(context.Background(), model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	base := "/console/placements/" + plc.ID

	res := e.get(base+"/qr.png", e.viewer)
	wantStatus(t, res, http.StatusOK)
	if res.Header.Get("Content-Type") != "image/png" || res.Header.Get("ETag") == "" || res.Header.Get("Content-Disposition") != "" {
		t.Errorf("qr.png headers: %v", res.Header)
	}
	if _, err := png.Decode(strings.NewReader(res.Body)); err != nil {
		t.Errorf("qr.png is not a PNG: %v", err)
	}
	req := httptest.NewRequest("GET", base+"/qr.png", nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	wantStatus(t, e.do(req, e.viewer.Cookie), http.StatusNotModified)

	res = e.get(base+"/qr.svg?download=1", e.viewer)
	wantStatus(t, res, http.StatusOK)
	if res.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(res.Header.Get("Content-Disposition"), "qr-"+plc.Code+".svg") ||
		!strings.Contains(res.Body, "<svg") {
		t.Errorf("qr.svg: %v", res.Header)
	}

	for _, paper := range []string{"", "?paper=a4", "?paper=letter"} {
		res = e.get(base+"/poster.pdf"+paper, e.viewer)
		wantStatus(t, res, http.StatusOK)
		if !strings.HasPrefix(res.Body, "%PDF") || res.Header.Get("Content-Type") != "application/pdf" ||
			!strings.Contains(res.Header.Get("Content-Disposition"), "poster-"+plc.Code+".pdf") {
			t.Errorf("poster.pdf%s: %v, starts %q", paper, res.Header, res.Body[:min(8, len(res.Body))])
		}
	}
	if n := e.placementCount(model.PlacementFilter{}); n != 1 {
		t.Errorf("downloading made placements: %d, want 1", n)
	}
	wantStatus(t, e.get(base+"/poster.pdf?paper=a3", e.viewer), http.StatusBadRequest)

	for _, path := range []string{"/console/placements/plc_01m8yqk4a5mstqtdtptfpvmbxh", "/console/placements/nonsense",
		"/console/placements/nonsense/qr.png", "/console/placements/plc_01m8yqk4a5mstqtdtptfpvmbxh/qr.svg",
		"/console/placements/nonsense/poster.pdf"} {
		wantStatus(t, e.get(path, e.viewer), http.StatusNotFound)
	}
	wantStatus(t, e.post("/console/placements/nonsense/deactivate", e.manager, nil), http.StatusNotFound)
	if bytes.Contains([]byte(e.get(base, e.viewer).Body), []byte("Deactivate poster")) {
		t.Error("a viewer is offered to deactivate")
	}
}

// Deactivating stops a poster counting and says so; a viewer cannot.
func TestPlacementDeactivate(t *testing.T) {
	e := newTestEnv(t)
	prg := e.program("Spring")
	a := e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	plc, _, err := e.st.CreatePlacement(context.Background(), model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	path := "/console/placements/" + plc.ID
	wantStatus(t, e.post(path+"/deactivate", e.viewer, nil), http.StatusForbidden)
	page := e.follow(e.post(path+"/deactivate", e.manager, nil), e.manager)
	wantBody(t, page, "The poster is deactivated", "Deactivated", `action="`+path+`/activate"`)
	if got, _ := e.st.FindPlacementByID(context.Background(), plc.ID); got.Active {
		t.Error("the placement is still active")
	}
	page = e.follow(e.post(path+"/activate", e.manager, nil), e.manager)
	wantBody(t, page, "active again", `action="`+path+`/deactivate"`)
}

// The list shows every poster, or a program's, or an ambassador's, with
// their counts, a page at a time.
func TestPlacementList(t *testing.T) {
	e := newTestEnv(t)
	spring, fall := e.program("Spring"), e.program("Fall")
	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	bo := e.ambassador("Bo", "Other", "bo@uni.example", "")
	ctx := context.Background()
	mk := func(p *model.Program, a *model.Ambassador, label string) *model.Placement {
		plc, _, err := e.st.CreatePlacement(ctx, model.PlacementCreate{ProgramID: p.ID, AmbassadorID: a.ID, Label: label}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		return plc
	}
	mk(spring, ada, "Spring Ada")
	mk(fall, ada, "Fall Ada")
	mk(spring, bo, "Spring Bo")

	res := e.get("/console/placements", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Spring Ada", "Fall Ada", "Spring Bo", "Ada Lovelace", "Bo Other", `aria-current="page">Posters`)
	noBody(t, res, "/console/placements/print")
	wantBody(t, e.get("/console/placements", e.manager), "/console/placements/print")

	res = e.get("/console/placements?program_id="+spring.ID, e.viewer)
	wantBody(t, res, "Spring Ada", "Spring Bo")
	noBody(t, res, "Fall Ada")
	res = e.get("/console/placements?ambassador_id="+ada.ID+"&program_id="+spring.ID, e.viewer)
	wantBody(t, res, "Spring Ada", "Ada Lovelace’s posters")
	noBody(t, res, "Fall Ada", "Spring Bo")
	wantStatus(t, e.get("/console/placements?cursor=nonsense", e.viewer), http.StatusOK)
	wantStatus(t, e.get("/console/placements?program_id=nonsense", e.viewer), http.StatusNotFound)
	wantStatus(t, e.get("/console/placements?ambassador_id=amb_01m8yqk4a5mstqtdtptfpvmbxh", e.viewer), http.StatusNotFound)
}

package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// An ambassador prints their poster with the program's design, as a
// poster or with tear-off strips, never a sheet of many; a name the
// design shows and cannot print is explained, not printed as boxes.
func TestPosterPrintsWithTheDesign(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	a := e.ada
	show, headline := true, "Boxes for students"
	if _, err := e.st.UpdatePosterDesign(ctx, a.program.ID, model.PosterDesignUpdate{ShowAmbassadorName: &show, Headline: &headline}); err != nil {
		t.Fatal(err)
	}
	c := e.signIn(a.amb)
	page := "/portal/posters/" + a.placement.ID
	wantBody(t, c.get(page), "/poster.pdf?paper=a4&amp;layout=tearoff", "/poster.pdf?paper=letter&amp;layout=tearoff")
	for _, q := range []string{"?layout=tearoff", "?layout=poster&paper=letter", ""} {
		res := c.get(page + "/poster.pdf" + q)
		wantStatus(t, res, http.StatusOK)
		if res.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(res.Body, "%PDF") {
			t.Errorf("poster.pdf%s: %v", q, res.Header)
		}
	}
	for _, q := range []string{"?layout=flyer4", "?layout=stickers12", "?layout=nonsense"} {
		wantStatus(t, c.get(page+"/poster.pdf"+q), http.StatusBadRequest)
	}

	name := "王"
	if _, err := e.st.UpdateAmbassador(ctx, a.amb.ID, model.AmbassadorUpdate{FirstName: &name}); err != nil {
		t.Fatal(err)
	}
	res := c.get(page)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Your posters show your first name", "Change it on your profile page")
	noBody(t, res, "/poster.pdf")
	res = c.get(page + "/poster.pdf")
	wantStatus(t, res, http.StatusConflict)
	wantBody(t, res, "cannot print")
}

package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// Without email, a manager makes a sign-in link to copy: shown once, not
// cached, and it signs the ambassador in; a viewer sees no button and
// cannot make one.
func TestPortalLinkToCopy(t *testing.T) {
	e := newTestEnv(t, Config{PublicBaseURL: "https://go.uni.example"})
	a := e.ambassador("Ada", "Lovelace", "ada@uni.example", "")

	wantBody(t, e.get("/console/ambassadors/"+a.ID, e.manager), "Make a sign-in link to copy", `action="/console/ambassadors/`+a.ID+`/portal-link"`)
	noBody(t, e.get("/console/ambassadors/"+a.ID, e.viewer), "/portal-link")
	wantStatus(t, e.post("/console/ambassadors/"+a.ID+"/portal-link", e.viewer, formOf("how", "copy")), http.StatusForbidden)

	res := e.post("/console/ambassadors/"+a.ID+"/portal-link", e.manager, formOf("how", "copy"))
	wantStatus(t, res, http.StatusOK)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Error("the page with the link may be cached")
	}
	m := regexp.MustCompile(`value="(https://go\.uni\.example/portal/signin\?token=[^"]+)"`).FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatalf("no sign-in link on the page:\n%s", res.Body)
	}
	u, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.RedeemPortalLink(context.Background(), u.Query().Get("token")); err != nil {
		t.Fatalf("the link does not sign in: %v", err)
	}
	wantStatus(t, e.post("/console/ambassadors/amb_01m8yqk4a5mstqtdtptfpvmbxh/portal-link", e.manager, formOf("how", "copy")), http.StatusNotFound)

	// A paused ambassador cannot sign in: no button, and the form is
	// refused.
	paused := model.AmbassadorPaused
	if _, err := e.st.UpdateAmbassador(context.Background(), a.ID, model.AmbassadorUpdate{Status: &paused}); err != nil {
		t.Fatal(err)
	}
	res = e.get("/console/ambassadors/"+a.ID, e.manager)
	wantBody(t, res, "Paused ambassadors cannot sign in")
	noBody(t, res, "/portal-link")
	wantStatus(t, e.post("/console/ambassadors/"+a.ID+"/portal-link", e.manager, formOf("how", "copy")), http.StatusConflict)
}

// With email, the button asks for the link to be emailed: an event the
// mailer answers, no link on the page; copying is still offered.
func TestPortalLinkByEmail(t *testing.T) {
	e := newTestEnv(t, Config{EmailEnabled: true})
	a := e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	wantBody(t, e.get("/console/ambassadors/"+a.ID, e.manager), "Email a sign-in link", "Show a link to copy instead")

	res := e.post("/console/ambassadors/"+a.ID+"/portal-link", e.manager, formOf("how", "email"))
	page := e.follow(res, e.manager)
	wantBody(t, page, "A sign-in link is on its way to ada@uni.example")
	noBody(t, page, "token=")
	events, err := e.st.FindEvents(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var asked []model.PortalLinkRequestedData
	for _, ev := range events {
		if ev.Type == model.EventPortalLinkRequested {
			var d model.PortalLinkRequestedData
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			asked = append(asked, d)
		}
	}
	if len(asked) != 1 || asked[0] != (model.PortalLinkRequestedData{AmbassadorID: a.ID, Via: model.LinkViaConsole}) {
		t.Fatalf("link requests %+v", asked)
	}
	wantStatus(t, e.post("/console/ambassadors/"+a.ID+"/portal-link", e.manager, formOf("how", "copy")), http.StatusOK)
}

package console

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// as is ctx with u as the audited actor, as the console's requests are.
func as(u *testUser) context.Context {
	return model.WithActor(context.Background(), model.Actor{Kind: model.ActorUser, ID: u.ID, Label: u.Email, Audited: true})
}

// auditSubjects are the subjects of the entries on an audit log page,
// top to bottom.
func auditSubjects(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`class="id">([^<]+)<`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// The audit log lists changes newest first, with who made them and a
// link to what they changed; managers and owners read it, viewers not.
func TestAuditList(t *testing.T) {
	e := newTestEnv(t)
	res := e.get("/console/audit", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Nothing changed yet")
	wantStatus(t, e.get("/console/audit", e.viewer), http.StatusForbidden)

	p1, _, err := e.st.CreateProgram(as(e.owner), model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com/a"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	hold := 14
	if _, err := e.st.UpdateProgram(as(e.manager), p1.ID, model.ProgramUpdate{HoldDays: &hold}); err != nil {
		t.Fatal(err)
	}
	res = e.post("/console/keys/new", e.owner, formOf("name", "Shop", "scope", "write", "form_key", newFormKey()))
	wantStatus(t, res, http.StatusOK)

	res = e.get("/console/audit", e.manager)
	wantStatus(t, res, http.StatusOK)
	subjects := auditSubjects(res.Body)
	if len(subjects) != 3 || subjects[1] != p1.ID || subjects[2] != p1.ID || !strings.HasPrefix(subjects[0], "key_") {
		t.Fatalf("entries: got subjects %v, want the key's, then the program's twice", subjects)
	}
	wantBody(t, res, "api_key.created", "program.updated", "program.created", "changed hold_days 30 → 14",
		`<a href="/console/audit?actor=`+e.owner.ID+`"`, "owner@uni.example", "manager@uni.example", ">User<",
		`<a href="/console/programs/`+p1.ID+`" class="id">`, `href="/console/audit?subject=`+p1.ID+`"`)
	// A key's page is the owner's: a manager gets no link to it.
	noBody(t, res, `href="/console/keys/`+subjects[0]+`"`)
	wantBody(t, e.get("/console/audit", e.owner), `href="/console/keys/`+subjects[0]+`"`)
}

// The filters narrow the log by who, what record and what was done; a
// filter that cannot be read says why, and matches nothing.
func TestAuditFilters(t *testing.T) {
	e := newTestEnv(t)
	p1, _, err := e.st.CreateProgram(as(e.owner), model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com/a"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := e.st.CreateProgram(as(e.manager), model.ProgramCreate{Name: "Fall", LandingURL: "https://example.com/b"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	hold := 7
	if _, err := e.st.UpdateProgram(as(e.manager), p1.ID, model.ProgramUpdate{HoldDays: &hold}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{p1.ID, p2.ID, p1.ID}},
		{"actor=" + url.QueryEscape("Manager@UNI.example"), []string{p1.ID, p2.ID}},
		{"actor=" + e.owner.ID, []string{p1.ID}},
		{"actor=" + strings.ToUpper(e.owner.ID), []string{p1.ID}},
		{"subject=" + p1.ID, []string{p1.ID, p1.ID}},
		{"subject=" + strings.ToUpper(p2.ID), []string{p2.ID}},
		{"action=program.created", []string{p2.ID, p1.ID}},
		{"action=program.created&actor=" + e.manager.ID, []string{p2.ID}},
		{"subject=" + p2.ID + "&action=program.updated", nil},
	} {
		t.Run(c.query, func(t *testing.T) {
			res := e.get("/console/audit?"+c.query, e.manager)
			wantStatus(t, res, http.StatusOK)
			if got := auditSubjects(res.Body); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got subjects %v, want %v", got, c.want)
			}
			if c.query != "" && c.want == nil {
				wantBody(t, res, "No entries match", `href="/console/audit">Show all`)
			}
		})
	}
	for _, c := range []struct{ query, want string }{
		{"actor=nobody@uni.example", "Who is no console user’s email"},
		{"actor=prg_" + p1.ID[4:], "Who must be a user’s email"},
		{"actor=" + strings.Repeat("a", 300), "Who must be at most 254 characters"},
		{"subject=" + strings.Repeat("a", 200), "Record must be at most 128 characters"},
		{"action=Program+Updated", "What must be a kind of record and what happened to it"},
	} {
		t.Run(c.query[:min(len(c.query), 30)], func(t *testing.T) {
			res := e.get("/console/audit?"+c.query, e.manager)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if body := html.UnescapeString(res.Body); !strings.Contains(body, c.want) {
				t.Errorf("the page does not say %q:\n%s", c.want, res.Body)
			}
			if got := auditSubjects(res.Body); len(got) != 0 {
				t.Errorf("a filter with a problem lists %v", got)
			}
		})
	}
}

// The log pages by cursor, with the filters kept; a cursor from
// elsewhere starts from the newest.
func TestAuditPaging(t *testing.T) {
	e := newTestEnv(t)
	var ids []string
	for i := range 60 {
		p, _, err := e.st.CreateProgram(as(e.manager), model.ProgramCreate{Name: fmt.Sprint("P", i), LandingURL: "https://example.com/"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{p.ID}, ids...) // newest first
	}
	res := e.get("/console/audit?action=program.created", e.manager)
	wantStatus(t, res, http.StatusOK)
	first := auditSubjects(res.Body)
	next := regexp.MustCompile(`<nav class="pager" aria-label="More"><a class="button" href="([^"]+)"`).FindStringSubmatch(res.Body)
	if len(first) != 50 || next == nil {
		t.Fatalf("first page: %d entries, next link %v; want 50 and a link", len(first), next)
	}
	link := html.UnescapeString(next[1])
	if !strings.Contains(link, "action=program.created") || !strings.Contains(link, "cursor=aud_") {
		t.Errorf("next link %q does not keep the filter", link)
	}
	res = e.get(link, e.manager)
	wantStatus(t, res, http.StatusOK)
	second := auditSubjects(res.Body)
	if got := append(first, second...); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("both pages: got %d entries in order %v, want %v", len(got), got, ids)
	}
	noBody(t, res, `aria-label="More"`)

	res = e.get("/console/audit?cursor=nonsense", e.manager)
	wantStatus(t, res, http.StatusOK)
	if got := auditSubjects(res.Body); len(got) != 50 || got[0] != ids[0] {
		t.Errorf("a cursor from elsewhere: %d entries from %v, want the newest 50", len(got), got)
	}
}

// A record's page links to its history with the audit-link partial,
// for those who may read the log.
func TestAuditLinkPartial(t *testing.T) {
	e := newTestEnv(t)
	p := e.program("Spring")
	history := `href="/console/audit?subject=` + p.ID + `"`
	wantBody(t, e.get("/console/programs/"+p.ID, e.manager), history)
	noBody(t, e.get("/console/programs/"+p.ID, e.viewer), history)

	s := New(Services{}, Config{})
	for role, want := range map[model.Role]bool{model.RoleViewer: false, model.RoleManager: true, model.RoleOwner: true} {
		var b strings.Builder
		p := &page{User: &model.User{Role: role}}
		if err := s.pages["key"].ExecuteTemplate(&b, "audit-link", map[string]any{"Page": p, "Subject": "prg_01m8yqk4a5mstqtdtptfpvmbxh"}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), `href="/console/audit?subject=prg_01m8yqk4a5mstqtdtptfpvmbxh"`); got != want {
			t.Errorf("as %s: links %v, want %v: %q", role, got, want, b.String())
		}
	}
}

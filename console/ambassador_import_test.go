package console

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// postFile sends file as the import form's file, with the form's key,
// as a browser sends the form.
func (e *testEnv) postFile(u *testUser, name string, file []byte, key string) response {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("idempotency_key", key)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		e.t.Fatal(err)
	}
	fw.Write(file)
	mw.Close()
	req := httptest.NewRequest("POST", "/console/ambassadors/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return e.do(req, cookieOf(u))
}

// reportRows are the lines of an import's report: "row|column|message".
func reportRows(t *testing.T, body string) []string {
	t.Helper()
	start := strings.Index(body, `<tbody>`)
	if !strings.Contains(body, "What to fix") || start < 0 {
		t.Fatalf("no report on the page:\n%s", body)
	}
	table := body[start : strings.Index(body[start:], `</tbody>`)+start]
	var out []string
	for _, tr := range strings.Split(table, "<tr>")[1:] {
		var cells []string
		for _, td := range strings.Split(tr, "<td")[1:] {
			cell := td[strings.IndexByte(td, '>')+1 : strings.Index(td, "</td>")]
			for _, tag := range []string{"<code>", "</code>", `<span class="muted">`, "</span>"} {
				cell = strings.ReplaceAll(cell, tag, "")
			}
			cells = append(cells, strings.TrimSpace(cell))
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

// One bad row imports nothing: the page lists every problem of every
// row, with its row as the spreadsheet numbers it, and the store is as
// it was. The fixed file then imports every row, once however often it
// is sent.
func TestImportIsAllOrNothingWithAReport(t *testing.T) {
	e := newTestEnv(t)
	old := e.ambassador("Old", "Timer", "old@uni.example", "")
	res := e.get("/console/ambassadors/import", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `enctype="multipart/form-data"`, `type="file"`, `name="idempotency_key"`, "template.csv")
	key := newFormKey()

	bad := "\ufeffFirst Name,last_name,Email,school\r\n" +
		"Ada,Lovelace,ada@uni.example,Trinity College\r\n" +
		"Grace,Hopper,not-an-email,Yale\r\n" +
		"\r\n" +
		"Alan,,ADA@uni.example,\r\n" +
		"Old,Again,old@UNI.example,\r\n" +
		"Too,Many,cells@uni.example,x,y\r\n" +
		"\"Quoted, Name\",Smith,quoted@uni.example,\"King's, College\"\r\n"
	res = e.postFile(e.manager, "ambassadors.csv", []byte(bad), key)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Nothing was imported: the file has 5 problems", "ambassadors.csv")
	got := reportRows(t, res.Body)
	want := []string{
		"3|email|Must be a valid email address.",
		"5|last_name|Is required.",
		"5|email|Is on an earlier row of this import too.",
		"6|email|Is already the email of ambassador " + old.ID + ".",
		"7|–|The row has 5 cells where the header has 4 columns.",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := e.ambassadorCount(); n != 1 {
		t.Fatalf("after a refused import there are %d ambassadors, want 1", n)
	}

	// Without the bad cells the file's problems are the store's: the
	// taken email and the one twice in the file.
	taken := "first_name,last_name,email,school\nAda,Lovelace,ada@uni.example,\nOld,Again,old@uni.example,\nAda,Twice,Ada@uni.example,\n"
	res = e.postFile(e.manager, "ambassadors.csv", []byte(taken), key)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if got := reportRows(t, res.Body); len(got) != 2 || !strings.HasPrefix(got[0], "3|email|Is already") || !strings.HasPrefix(got[1], "4|email|Is on an earlier row") {
		t.Errorf("report %q, want the taken email on row 3 and the repeat on row 4", got)
	}
	if n := e.ambassadorCount(); n != 1 {
		t.Fatalf("after a refused import there are %d ambassadors, want 1", n)
	}

	good := "\ufeffFirst Name,last_name,Email,school\r\n" +
		"Ada,Lovelace,ada@uni.example,Trinity College\r\n" +
		"Grace,Hopper,grace@navy.example,Yale\r\n" +
		",,,\r\n" +
		"\"Quoted, Name\",Smith,quoted@uni.example,\"King's, College\"\r\n"
	res = e.postFile(e.manager, "ambassadors.csv", []byte(good), key)
	wantStatus(t, res, http.StatusSeeOther)
	list := e.follow(res, e.manager)
	wantBody(t, list, "Imported 3 ambassadors.", "Ada Lovelace", "Grace Hopper", "Quoted, Name Smith", "King&#39;s, College")
	again := e.postFile(e.manager, "ambassadors.csv", []byte(good), key)
	wantStatus(t, again, http.StatusSeeOther)
	if n := e.ambassadorCount(); n != 4 {
		t.Errorf("after importing the file twice with one key there are %d ambassadors, want 4", n)
	}
	res = e.postFile(e.manager, "other.csv", []byte("first_name,last_name,email\nNew,One,new@uni.example\n"), key)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "is not the file this form sent before")

	entries, err := e.st.FindAudit(context.Background(), model.AuditFilter{ActorID: e.manager.ID})
	if err != nil || len(entries.Data) != 3 || entries.Data[0].Action != "ambassador.created" {
		t.Errorf("audit %d entries, %v: want 3 creates by the manager", len(entries.Data), err)
	}
}

// A file that is not right as a whole says why, next to the file input,
// and imports nothing.
func TestImportFileProblems(t *testing.T) {
	e := newTestEnv(t)
	header := "first_name,last_name,email,school\n"
	var many strings.Builder
	many.WriteString(header)
	for i := range model.MaxImportAmbassadors + 1 {
		fmt.Fprintf(&many, "A,B,a%d@uni.example,\n", i)
	}
	tests := []struct {
		name, file string
		want       []string
	}{
		{"empty", "", []string{"CSV file is empty"}},
		{"no header", "Ada,Lovelace,ada@uni.example\n", []string{"not one of first_name, last_name, email, school", "has no first_name column"}},
		{"unknown column", "first_name,last_name,email,phone\nA,B,a@uni.example,1\n", []string{"a column &#34;phone&#34;"}},
		{"a column twice", "first_name,last_name,email,email\nA,B,a@uni.example,b@uni.example\n", []string{"names this column twice"}},
		{"header only", header, []string{"no ambassadors"}},
		{"not UTF-8", header + "Zo\xeb,B,z@uni.example,\n", []string{"not UTF-8"}},
		{"a broken quote", header + "A,B,a@uni.example,\n\"Ada,B,c@uni.example,\n", []string{"A quote"}},
		{"too many rows", many.String(), []string{"more than 5,000 rows"}},
		{"too large", header + strings.Repeat("x", maxImportBytes), []string{"CSV file is larger than 1 MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.postFile(e.manager, "ambassadors.csv", []byte(tt.file), newFormKey())
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, tt.want...)
			wantBody(t, res, `enctype="multipart/form-data"`)
		})
	}
	// A form without a file, or not a multipart one at all.
	res := e.postFile(e.manager, "", nil, newFormKey())
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "CSV file is required")
	res = e.post("/console/ambassadors/import", e.manager, formOf("file", "first_name"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "CSV file is required")
	if n := e.ambassadorCount(); n != 0 {
		t.Errorf("got %d ambassadors, want none", n)
	}
}

// A viewer can neither see the import nor send it.
func TestImportIsAManagers(t *testing.T) {
	e := newTestEnv(t)
	wantStatus(t, e.get("/console/ambassadors/import", e.viewer), http.StatusForbidden)
	wantStatus(t, e.postFile(e.viewer, "a.csv", []byte("first_name,last_name,email\nA,B,a@uni.example\n"), newFormKey()), http.StatusForbidden)
	if n := e.ambassadorCount(); n != 0 {
		t.Errorf("a viewer imported %d ambassadors", n)
	}
	res := e.get("/console/ambassadors/import/template.csv", e.manager)
	wantStatus(t, res, http.StatusOK)
	if !strings.HasPrefix(res.Body, "first_name,last_name,email,school\r\n") || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("template: %q, %v", res.Body, res.Header)
	}
}

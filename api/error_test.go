package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// maxFieldErrors is how many field errors a problem lists, as
// docs/api.md says.
const maxFieldErrors = 50

// A request with thousands of mistakes is answered with a bounded list of
// them and a count of the rest, not a document many times its own size.
func TestFieldErrorsAreCapped(t *testing.T) {
	e := newEnv(t)
	type problem struct {
		Detail        string
		Errors        []model.FieldError
		ErrorsOmitted *int `json:"errors_omitted"`
	}
	read := func(res response) problem {
		t.Helper()
		wantProblem(t, res, 400, "validation_failed")
		var p problem
		if err := json.Unmarshal(res.Body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	var q strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&q, "&p%04d=1", i)
	}
	res := e.call(request{Method: "GET", Path: "/v1/referrals?limit=20" + q.String(), Token: e.readToken})
	p := read(res)
	if len(p.Errors) != maxFieldErrors || p.ErrorsOmitted == nil || *p.ErrorsOmitted != 5000-maxFieldErrors {
		t.Fatalf("got %d field errors and errors_omitted %v, want %d and %d", len(p.Errors), p.ErrorsOmitted, maxFieldErrors, 5000-maxFieldErrors)
	}
	if p.Errors[0].Field != "p0000" || p.Errors[maxFieldErrors-1].Field != fmt.Sprintf("p%04d", maxFieldErrors-1) {
		t.Errorf("got fields %s … %s, want the first %d in field order", p.Errors[0].Field, p.Errors[len(p.Errors)-1].Field, maxFieldErrors)
	}
	if want := "5000 fields are invalid; the first 50 are listed, 4950 more are not"; p.Detail != want {
		t.Errorf("got detail %q, want %q", p.Detail, want)
	}
	if len(res.Body) > q.Len()/4 {
		t.Errorf("a %d-byte query got a %d-byte answer", q.Len(), len(res.Body))
	}

	// Unknown body fields are counted the same way.
	body := map[string]any{"name": "P", "landing_url": "https://example.com"}
	for i := range 120 {
		body[fmt.Sprintf("f%03d", i)] = i
	}
	p = read(e.call(request{Method: "POST", Path: "/v1/programs", Token: adminToken, Body: body}))
	if len(p.Errors) != maxFieldErrors || p.ErrorsOmitted == nil || *p.ErrorsOmitted != 120-maxFieldErrors {
		t.Fatalf("body: got %d field errors and errors_omitted %v, want %d and %d", len(p.Errors), p.ErrorsOmitted, maxFieldErrors, 120-maxFieldErrors)
	}

	// Up to the cap, every error is listed and nothing is said of more.
	q.Reset()
	for i := range maxFieldErrors {
		fmt.Fprintf(&q, "&p%04d=1", i)
	}
	p = read(e.call(request{Method: "GET", Path: "/v1/referrals?" + q.String()[1:], Token: e.readToken}))
	if len(p.Errors) != maxFieldErrors || p.ErrorsOmitted != nil || p.Detail != "50 fields are invalid" {
		t.Fatalf("at the cap: got %d field errors, errors_omitted %v, detail %q", len(p.Errors), p.ErrorsOmitted, p.Detail)
	}
}

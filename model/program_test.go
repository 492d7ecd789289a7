package model

import "testing"

// A program may leave its landing page out, for the hosted signup page,
// and an update may clear it; one that is given must still be an http or
// https URL.
func TestProgramLandingURLIsOptional(t *testing.T) {
	for _, c := range []struct {
		url, wantCode string
	}{
		{"", ""},
		{"   ", ""},
		{"https://example.com/join", ""},
		{"ftp://example.com/join", FInvalidURL},
		{"/join", FInvalidURL},
	} {
		in := ProgramCreate{Name: "Spring", LandingURL: c.url}
		if got := fieldCode(in.Validate(), "landing_url"); got != c.wantCode {
			t.Errorf("create with landing_url %q: got %q, want %q", c.url, got, c.wantCode)
		}
		url := c.url
		u := ProgramUpdate{LandingURL: &url}
		if got := fieldCode(u.Validate(), "landing_url"); got != c.wantCode {
			t.Errorf("update with landing_url %q: got %q, want %q", c.url, got, c.wantCode)
		}
	}

	p := NewProgram(ProgramCreate{Name: "Spring"}, "prg_01jdq3f7k8m2n4p6r8t0v2x4z6", Time{})
	if !p.HostedSignup() {
		t.Errorf("a program without a landing page does not use the hosted signup page")
	}
	landing := "https://example.com/join"
	(&ProgramUpdate{LandingURL: &landing}).Apply(p)
	if p.HostedSignup() || p.LandingURL != landing {
		t.Errorf("after setting a landing page: %q, hosted %v", p.LandingURL, p.HostedSignup())
	}
	clear := ""
	(&ProgramUpdate{LandingURL: &clear}).Apply(p)
	if !p.HostedSignup() {
		t.Errorf("after clearing the landing page: %q", p.LandingURL)
	}
}

// fieldCode is the code of fe's error for field, or "".
func fieldCode(fe FieldErrors, field string) string {
	for _, f := range fe {
		if f.Field == field {
			return f.Code
		}
	}
	return ""
}

package model

import "testing"

// A signup on the hosted page is a referral like any other, with the
// consent it was given in its metadata; without the box ticked it is
// refused.
func TestPageSignup(t *testing.T) {
	s := PageSignup{ImpressionID: "imp_01jdq3f7k8m2n4p6r8t0v2x4z6", FirstName: " Jo ", LastName: "Doe", Email: "Jo@Mail.Example",
		Consent: true, ConsentText: `I agree to "emails" & <offers>.`}
	in, fe := s.Referral()
	if len(fe) != 0 {
		t.Fatalf("a valid signup: %v", fe)
	}
	if in.FirstName != "Jo" || in.Email != "Jo@mail.example" || in.ImpressionID != s.ImpressionID {
		t.Errorf("the referral: %+v, want it normalized as any other", in)
	}
	if want := `{"consent":"I agree to \"emails\" & <offers>.","source":"signup_page"}`; string(in.Metadata) != want {
		t.Errorf("metadata %s, want %s", in.Metadata, want)
	}
	s.Consent, s.Email, s.FirstName, s.LastName = false, "nope", "", "Do\xffe"
	_, fe = s.Referral()
	for field, code := range map[string]string{"consent": FRequired, "email": FInvalidEmail, "first_name": FRequired, "last_name": FInvalidValue} {
		if got := fieldCode(fe, field); got != code {
			t.Errorf("%s: got %q, want %q (all: %v)", field, got, code, fe)
		}
	}
}

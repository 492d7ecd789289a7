package model

import (
	"strings"
	"testing"
)

func TestPosterDesignUpdateValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    PosterDesignUpdate
		field string // "" when valid
	}{
		{"colour", PosterDesignUpdate{AccentColor: ptr(" #1A56DB ")}, ""},
		{"colour name", PosterDesignUpdate{AccentColor: ptr("blue")}, "accent_color"},
		{"short colour", PosterDesignUpdate{AccentColor: ptr("#fff")}, "accent_color"},
		{"Polish, Vietnamese, Russian, Greek", PosterDesignUpdate{Headline: ptr("Łukasz, Nguyễn, Ольга, Ἀθῆναι")}, ""},
		{"Han", PosterDesignUpdate{Headline: ptr("王的海报")}, "headline"},
		{"Hebrew", PosterDesignUpdate{Incentive: ptr("שלום")}, "incentive"},
		{"Arabic", PosterDesignUpdate{CallToAction: ptr("مرحبا")}, "call_to_action"},
		{"control", PosterDesignUpdate{Incentive: ptr("a\tb")}, "incentive"},
		{"long headline", PosterDesignUpdate{Headline: ptr(strings.Repeat("x", MaxHeadlineLen+1))}, "headline"},
		{"empty consent", PosterDesignUpdate{SignupConsent: ptr(" ")}, "signup_consent"},
		{"redirect", PosterDesignUpdate{SignupRedirectURL: ptr("https://shop.example/welcome")}, ""},
		{"bad redirect", PosterDesignUpdate{SignupRedirectURL: ptr("javascript:alert(1)")}, "signup_redirect_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := tc.in.Validate()
			if tc.field == "" && len(fe) > 0 {
				t.Fatalf("refused: %v", fe)
			}
			if tc.field != "" && !fe.Has(tc.field) {
				t.Fatalf("accepted, want an error on %s: %v", tc.field, fe)
			}
		})
	}
}

// Text typed as a letter and combining marks is accepted and kept as
// typed (the renderer composes it to print); an empty call to action goes
// back to the default.
func TestPosterDesignUpdateNormalizes(t *testing.T) {
	u := PosterDesignUpdate{Headline: ptr("Nguye\u0302\u0303n"), CallToAction: ptr(""), AccentColor: ptr("#ABCDEF")}
	if fe := u.Validate(); len(fe) > 0 {
		t.Fatal(fe)
	}
	d := DefaultPosterDesign("prg_x")
	u.Apply(d)
	if d.Headline != "Nguye\u0302\u0303n" || d.CallToAction != DefaultCallToAction || d.AccentColor != "#abcdef" {
		t.Fatalf("got %+v", d)
	}
}

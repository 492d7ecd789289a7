package model

import (
	"bytes"
	"encoding/json"
)

// SignupPageSource is the metadata "source" of a referral made on the
// hosted signup page.
const SignupPageSource = "signup_page"

// PageSignup is what a person sends on the hosted signup page, the page a
// scan of a program without a landing page opens.
type PageSignup struct {
	ImpressionID string
	FirstName    string
	LastName     string
	Email        string
	// Consent says the consent box was ticked; ConsentText is what the
	// box said, the program's design's signup_consent.
	Consent     bool
	ConsentText string
}

// Referral returns the referral the signup makes, by the rules of any
// other (ReferralCreate's Validate, normalized), with the consent given
// recorded in its metadata as {"consent": <text>, "source":
// "signup_page"}, and the signup's problems: the referral's, text that is
// not UTF-8, and consent required when the box was not ticked.
func (s PageSignup) Referral() (ReferralCreate, FieldErrors) {
	in := ReferralCreate{ImpressionID: s.ImpressionID, FirstName: s.FirstName, LastName: s.LastName, Email: s.Email}
	var meta bytes.Buffer
	enc := json.NewEncoder(&meta)
	// Kept byte for byte as shown, as the API keeps what it is sent.
	enc.SetEscapeHTML(false)
	enc.Encode(struct {
		Consent string `json:"consent"`
		Source  string `json:"source"`
	}{s.ConsentText, SignupPageSource})
	in.Metadata = Metadata(bytes.TrimSpace(meta.Bytes()))
	fe := in.Validate()
	// A form, unlike the API's JSON, reaches here as raw bytes: text that
	// is not UTF-8 (no browser sends it) would be stored as it came.
	for _, f := range [...]struct{ field, v string }{{"first_name", in.FirstName}, {"last_name", in.LastName}, {"email", in.Email}} {
		if !fe.Has(f.field) && !ijsonString(f.v) {
			fe.Add(f.field, FInvalidValue, "must be UTF-8 text")
		}
	}
	if !s.Consent {
		fe.Add("consent", FRequired, "is required")
	}
	return in, fe
}

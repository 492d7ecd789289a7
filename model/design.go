package model

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"
)

// PosterDesign is how a program's posters, and the signup page its scans
// land on when it has no site of its own, look and read. A program that
// never set one has the defaults, so its posters still print well.
type PosterDesign struct {
	ProgramID string `json:"program_id"`
	// AccentColor is "#rrggbb", used for bands and accents.
	AccentColor string `json:"accent_color"`
	// Headline is the poster's largest line; empty prints the program's
	// name.
	Headline string `json:"headline"`
	// Incentive is the offer, such as "Get 20 % off your first box".
	Incentive    string `json:"incentive"`
	CallToAction string `json:"call_to_action"`
	// ShowAmbassadorName prints "Ask Ada about it" with the ambassador's
	// first name.
	ShowAmbassadorName bool `json:"show_ambassador_name"`
	// Logo is the uploaded logo's description; nil without one.
	Logo *Logo `json:"logo"`
	// LogoInQR puts the logo in the middle of each QR code too.
	LogoInQR bool `json:"logo_in_qr"`
	// SignupConsent is the text of the signup page's consent checkbox.
	SignupConsent string `json:"signup_consent"`
	// SignupRedirectURL is where the signup page's thank-you page leads
	// on; empty stays on the thank-you page.
	SignupRedirectURL string `json:"signup_redirect_url"`
	UpdatedAt         *Time  `json:"updated_at"`
}

// Logo describes an uploaded logo, kept as a PNG of its pixels only.
type Logo struct {
	Width     int  `json:"width"`
	Height    int  `json:"height"`
	Bytes     int  `json:"bytes"`
	UpdatedAt Time `json:"updated_at"`
}

// Defaults and bounds of a design.
const (
	DefaultAccentColor   = "#1a56db"
	DefaultCallToAction  = "Scan to join"
	DefaultSignupConsent = "I agree to be contacted about this offer."
	MaxHeadlineLen       = 80
	MaxIncentiveLen      = 120
	MaxCallToActionLen   = 60
	MaxSignupConsentLen  = 500
)

// DefaultPosterDesign is the design of a program that has not set one.
func DefaultPosterDesign(programID string) *PosterDesign {
	return &PosterDesign{ProgramID: programID, AccentColor: DefaultAccentColor, CallToAction: DefaultCallToAction,
		SignupConsent: DefaultSignupConsent}
}

// HeadlineFor is what the poster's largest line says for program p.
func (d *PosterDesign) HeadlineFor(p *Program) string {
	if d.Headline != "" {
		return d.Headline
	}
	return p.Name
}

// PosterDesignUpdate changes the fields it sets.
type PosterDesignUpdate struct {
	AccentColor        *string
	Headline           *string
	Incentive          *string
	CallToAction       *string
	ShowAmbassadorName *bool
	LogoInQR           *bool
	SignupConsent      *string
	SignupRedirectURL  *string
}

var hexColor = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// Validate normalizes u in place and returns its problems.
func (u *PosterDesignUpdate) Validate() FieldErrors {
	var fe FieldErrors
	if u.AccentColor != nil {
		*u.AccentColor = strings.ToLower(strings.TrimSpace(*u.AccentColor))
		if !hexColor.MatchString(*u.AccentColor) {
			fe.Add("accent_color", FInvalidValue, `must be a colour written #rrggbb, such as "#1a56db"`)
		}
	}
	CheckPrintable(&fe, "headline", u.Headline, MaxHeadlineLen)
	CheckPrintable(&fe, "incentive", u.Incentive, MaxIncentiveLen)
	CheckPrintable(&fe, "call_to_action", u.CallToAction, MaxCallToActionLen)
	if u.CallToAction != nil && *u.CallToAction == "" && !fe.Has("call_to_action") {
		*u.CallToAction = DefaultCallToAction
	}
	if u.SignupConsent != nil {
		CheckText(&fe, "signup_consent", u.SignupConsent, MaxSignupConsentLen, true)
	}
	if u.SignupRedirectURL != nil {
		checkURL(&fe, "signup_redirect_url", u.SignupRedirectURL, false)
	}
	return fe
}

// Apply changes d as u says.
func (u *PosterDesignUpdate) Apply(d *PosterDesign) {
	set(&d.AccentColor, u.AccentColor)
	set(&d.Headline, u.Headline)
	set(&d.Incentive, u.Incentive)
	set(&d.CallToAction, u.CallToAction)
	set(&d.ShowAmbassadorName, u.ShowAmbassadorName)
	set(&d.LogoInQR, u.LogoInQR)
	set(&d.SignupConsent, u.SignupConsent)
	set(&d.SignupRedirectURL, u.SignupRedirectURL)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// CheckPrintable checks text that is printed on posters, when set: the
// rules of CheckText (trimmed, at most max characters, no control
// characters), and in a script the posters' fonts can print.
func CheckPrintable(fe *FieldErrors, field string, s *string, max int) {
	if s == nil {
		return
	}
	CheckText(fe, field, s, max, false)
	if fe.Has(field) {
		return
	}
	if err := CheckPosterText(*s); err != nil {
		fe.Add(field, FInvalidValue, "%s", err.Error())
	}
}

// Printable reports why text from elsewhere, such as an ambassador's
// name, cannot go on a poster; nil when it can.
func Printable(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	return CheckPosterText(s)
}

// PosterDesignService keeps programs' poster designs and logos.
type PosterDesignService interface {
	// FindPosterDesign returns the program's design, the defaults when
	// it has set none. Errors: not_found.
	FindPosterDesign(ctx context.Context, programID string) (*PosterDesign, error)
	// UpdatePosterDesign errors: not_found, unavailable.
	UpdatePosterDesign(ctx context.Context, programID string, u PosterDesignUpdate) (*PosterDesign, error)
	// SetPosterLogo keeps png, a logo already reduced to its pixels, as
	// the program's. Errors: not_found, unavailable.
	SetPosterLogo(ctx context.Context, programID string, png []byte, width, height int) (*PosterDesign, error)
	// DeletePosterLogo errors: not_found, unavailable.
	DeletePosterLogo(ctx context.Context, programID string) (*PosterDesign, error)
	// FindPosterLogo returns the program's logo PNG. Errors: not_found
	// (no such program, or no logo).
	FindPosterLogo(ctx context.Context, programID string) ([]byte, error)
}

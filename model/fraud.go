package model

import (
	_ "embed"
	"strings"
	"time"
)

// Fraud flags recorded on referrals.
const (
	FlagSelfReferral     = "self_referral"
	FlagImpressionReused = "impression_reused"
	FlagDuplicateEmail   = "duplicate_email"
	FlagDisposableEmail  = "disposable_email"
	FlagFastSignup       = "fast_signup"
)

// Fraud thresholds.
const (
	// MaxReferralsPerImpression is how many signups one scan may bring
	// before further ones are flagged: a poster scanned once and shared
	// around is suspicious.
	MaxReferralsPerImpression = 3
	// FastSignupWindow is how soon after the scan a signup looks scripted.
	FastSignupWindow = 10 * time.Second
)

// Fraud policies of a program.
const (
	// FraudFlag records the flags and leaves the referral pending.
	FraudFlag = "flag"
	// FraudReject also records the referral as rejected.
	FraudReject = "reject"
)

//go:embed disposable_domains.txt
var disposableList string

var disposableDomains = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(disposableList, "\n") {
		if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
			m[line] = true
		}
	}
	return m
}()

// SignupFacts are what the store knows about a signup when it is written.
type SignupFacts struct {
	Email string
	// AmbassadorEmail is the email of the impression's ambassador.
	AmbassadorEmail string
	// ReferralsFromImpression counts earlier referrals from the same scan.
	ReferralsFromImpression int
	// EmailReferredInProgram says the email was already referred in the
	// program.
	EmailReferredInProgram bool
	// SinceScan is the time from a poster scan (an impression with a
	// placement) to the signup; negative when the impression was not a
	// scan, since an integration that records the impression itself at
	// signup time is not a bot.
	SinceScan time.Duration
}

// FraudFlags returns the fraud signals the facts raise, in a fixed order.
func FraudFlags(f SignupFacts) []string {
	var flags []string
	if EmailKey(f.Email) == EmailKey(f.AmbassadorEmail) {
		flags = append(flags, FlagSelfReferral)
	}
	if f.ReferralsFromImpression >= MaxReferralsPerImpression {
		flags = append(flags, FlagImpressionReused)
	}
	if f.EmailReferredInProgram {
		flags = append(flags, FlagDuplicateEmail)
	}
	if _, domain, ok := strings.Cut(EmailKey(f.Email), "@"); ok && disposableDomains[domain] {
		flags = append(flags, FlagDisposableEmail)
	}
	if f.SinceScan >= 0 && f.SinceScan < FastSignupWindow {
		flags = append(flags, FlagFastSignup)
	}
	return flags
}

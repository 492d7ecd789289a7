// Package stripe reads what Stripe sends to a webhook endpoint: it checks
// the Stripe-Signature header of a delivery and parses the two events
// referrald acts on, checkout.session.completed and charge.refunded, into
// plain values. It serves no HTTP and calls nothing: api/stripe.go does
// that with what this package returns.
//
// No Stripe SDK is used: a signed HMAC and two JSON shapes are all there
// is to read, and the SDK is a large dependency that changes with every
// Stripe API version.
package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how old a delivery's signed timestamp may be, as
// Stripe's own libraries have it: an older one is refused, so a captured
// delivery cannot be replayed later.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify. Each says what was wrong with the header, never what
// was expected.
var (
	ErrNoHeader    = errors.New("no Stripe-Signature header")
	ErrMalformed   = errors.New("the Stripe-Signature header is malformed")
	ErrNoSignature = errors.New("the Stripe-Signature header has no v1 signature")
	ErrTooOld      = errors.New("the Stripe-Signature timestamp is older than the tolerance")
	ErrNoMatch     = errors.New("no v1 signature in the Stripe-Signature header matches the endpoint's secret")
	ErrNoSecret    = errors.New("no endpoint secret to check the signature with")
)

// maxSignatures bounds the v1 values read from one header: Stripe sends
// one or two, and each costs an HMAC comparison per secret.
const maxSignatures = 16

// Verify checks that header, a delivery's Stripe-Signature header
// ("t=<unix seconds>,v1=<hex HMAC>,..."), signs body with one of secrets
// and was made no longer than tolerance before now. The signature is
// HMAC-SHA256 over "<t>.<body>", keyed with the endpoint's secret
// (whsec_..., used as it is), hex-encoded. Stripe sends one v1 per secret
// it signs with (two while an endpoint's secret is being rolled); any one
// that matches any secret is enough. Other schemes (v0, test signatures)
// are ignored, so that they cannot downgrade the check. A timestamp ahead
// of now is accepted, as Stripe's libraries accept it: only the age is
// bounded. Signatures are compared in constant time.
func Verify(header string, body []byte, secrets [][]byte, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return ErrNoHeader
	}
	var (
		ts    int64
		hasTS bool
		sigs  [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || hasTS || n <= 0 {
				return ErrMalformed
			}
			ts, hasTS = n, true
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				continue // not one of ours; another may be
			}
			if len(sigs) == maxSignatures {
				return ErrMalformed
			}
			sigs = append(sigs, sig)
		}
	}
	switch {
	case !hasTS:
		return ErrMalformed
	case len(sigs) == 0:
		return ErrNoSignature
	case !slices.ContainsFunc(secrets, func(s []byte) bool { return len(s) > 0 }):
		return ErrNoSecret
	}
	// In whole seconds, as t is, and as Stripe's libraries count.
	if now.Unix()-ts > int64(tolerance/time.Second) {
		return ErrTooOld
	}
	prefix := strconv.FormatInt(ts, 10) + "."
	matched := false
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(prefix))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			// Every pair is compared, so the time taken says nothing of
			// which one matched.
			if hmac.Equal(want, sig) {
				matched = true
			}
		}
	}
	if !matched {
		return ErrNoMatch
	}
	return nil
}

// Sign returns a Stripe-Signature header for body at t under secret, as
// Stripe makes one: for tests, and for anyone checking an endpoint by
// hand.
func Sign(body, secret []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

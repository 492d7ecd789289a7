package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/webhooks"
)

// verify checks a message as the Standard Webhooks specification tells a
// receiver to, written from its text and independent of the package: the
// signed content is "{webhook-id}.{webhook-timestamp}.{body}"; the key is
// the secret after "whsec_", base64-decoded; webhook-signature holds
// space-delimited "v1,{base64 HMAC-SHA256}" signatures, any of which may
// match; a timestamp more than 5 minutes from now is refused.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing headers")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s too far from now", ts)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// The specification's published test vector.
const (
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorHeader(sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTS))
	h.Set("webhook-signature", sig)
	return h
}

func TestSignVector(t *testing.T) {
	at := time.Unix(vectorTS, 0)
	if got := webhooks.Sign([]string{vectorSecret}, vectorID, at, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("got %q, want %q", got, vectorSig)
	}
	// The independent verifier agrees with the specification too.
	if err := verify(vectorSecret, vectorHeader(vectorSig), []byte(vectorBody), at); err != nil {
		t.Fatalf("verify the vector: %v", err)
	}
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another secret of 32 bytes, ok!!"))
	tests := []struct {
		name   string
		secret string
		body   string
		now    time.Time
	}{
		{"tampered body", vectorSecret, `{"test": 2432232315}`, at},
		{"old timestamp", vectorSecret, vectorBody, at.Add(5*time.Minute + time.Second)},
		{"future timestamp", vectorSecret, vectorBody, at.Add(-5*time.Minute - time.Second)},
		{"wrong secret", other, vectorBody, at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verify(tt.secret, vectorHeader(vectorSig), []byte(tt.body), tt.now); err == nil {
				t.Fatal("verified, want refused")
			}
		})
	}

	// Two secrets (a rotation): two signatures, each verifying alone.
	both := webhooks.Sign([]string{other, vectorSecret}, vectorID, at, []byte(vectorBody))
	sigs := strings.Fields(both)
	if len(sigs) != 2 || sigs[1] != vectorSig {
		t.Fatalf("got %q, want two signatures, the second %q", both, vectorSig)
	}
	for _, s := range []string{other, vectorSecret} {
		if err := verify(s, vectorHeader(both), []byte(vectorBody), at); err != nil {
			t.Fatalf("verify with %s: %v", s[:10], err)
		}
	}
	if got := webhooks.Sign([]string{"whsec_notbase64!"}, vectorID, at, nil); got != "" {
		t.Fatalf("an invalid secret signed: %q", got)
	}
}

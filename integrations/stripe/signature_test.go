package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sig is a v1 signature made as Stripe documents it
// (https://docs.stripe.com/webhooks#verify-manually), written out here
// rather than with Sign, so that Sign is tested too.
func sig(secret, body string, t int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t, 10) + "." + body))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestVerify(t *testing.T) {
	const secret, other = "whsec_test_secret", "whsec_other_secret"
	body := `{"id":"evt_1","type":"charge.refunded"}`
	now := time.Unix(1_800_000_000, 0)
	ts := now.Unix() - 30
	t30 := strconv.FormatInt(ts, 10)
	secrets := [][]byte{[]byte(secret)}
	for _, c := range []struct {
		name    string
		header  string
		body    string
		secrets [][]byte
		want    error
	}{
		{"valid", "t=" + t30 + ",v1=" + sig(secret, body, ts), body, secrets, nil},
		{"made by Sign", Sign([]byte(body), []byte(secret), time.Unix(ts, 0)), body, secrets, nil},
		{"with a v0 and spaces", "t=" + t30 + ", v1=" + sig(secret, body, ts) + ", v0=" + sig("x", body, ts), body, secrets, nil},
		{"two v1, the second matches", "t=" + t30 + ",v1=" + sig(other, body, ts) + ",v1=" + sig(secret, body, ts), body, secrets, nil},
		{"two v1, the first matches", "t=" + t30 + ",v1=" + sig(secret, body, ts) + ",v1=" + sig(other, body, ts), body, secrets, nil},
		{"the second of two secrets", "t=" + t30 + ",v1=" + sig(other, body, ts), body, [][]byte{[]byte(secret), []byte(other)}, nil},
		{"exactly the tolerance old", "t=" + strconv.FormatInt(now.Unix()-300, 10) + ",v1=" + sig(secret, body, now.Unix()-300), body, secrets, nil},
		{"ahead of the clock", "t=" + strconv.FormatInt(now.Unix()+600, 10) + ",v1=" + sig(secret, body, now.Unix()+600), body, secrets, nil},
		{"tampered body", "t=" + t30 + ",v1=" + sig(secret, body, ts), strings.Replace(body, "evt_1", "evt_2", 1), secrets, ErrNoMatch},
		{"wrong secret", "t=" + t30 + ",v1=" + sig(other, body, ts), body, secrets, ErrNoMatch},
		{"timestamp changed", "t=" + strconv.FormatInt(ts+1, 10) + ",v1=" + sig(secret, body, ts), body, secrets, ErrNoMatch},
		{"older than 5 minutes", "t=" + strconv.FormatInt(now.Unix()-301, 10) + ",v1=" + sig(secret, body, now.Unix()-301), body, secrets, ErrTooOld},
		{"missing header", "", body, secrets, ErrNoHeader},
		{"no v1", "t=" + t30 + ",v0=" + sig(secret, body, ts), body, secrets, ErrNoSignature},
		{"v1 not hex", "t=" + t30 + ",v1=zz" + sig(secret, body, ts)[2:], body, secrets, ErrNoSignature},
		{"v1 too short", "t=" + t30 + ",v1=" + sig(secret, body, ts)[:40], body, secrets, ErrNoSignature},
		{"no timestamp", "v1=" + sig(secret, body, ts), body, secrets, ErrMalformed},
		{"two timestamps", "t=" + t30 + ",t=" + t30 + ",v1=" + sig(secret, body, ts), body, secrets, ErrMalformed},
		{"timestamp not a number", "t=yesterday,v1=" + sig(secret, body, ts), body, secrets, ErrMalformed},
		{"not key=value", "garbage", body, secrets, ErrMalformed},
		{"a bare signature", sig(secret, body, ts), body, secrets, ErrMalformed},
		{"too many v1", "t=" + t30 + strings.Repeat(",v1="+sig(other, body, ts), 17), body, secrets, ErrMalformed},
		{"no secret", "t=" + t30 + ",v1=" + sig(secret, body, ts), body, nil, ErrNoSecret},
		{"an empty secret", "t=" + t30 + ",v1=" + sig("", body, ts), body, [][]byte{{}}, ErrNoSecret},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.header, []byte(c.body), c.secrets, now, DefaultTolerance)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// Age is counted in whole seconds, as t is: a timestamp exactly the
// tolerance old passes however far into its second the clock is.
func TestVerifyToleranceInSeconds(t *testing.T) {
	body, secret := []byte(`{}`), []byte("whsec_x")
	signed := time.Unix(1_800_000_000, 0)
	now := signed.Add(DefaultTolerance + 999*time.Millisecond)
	if err := Verify(Sign(body, secret, signed), body, [][]byte{secret}, now, DefaultTolerance); err != nil {
		t.Fatalf("got %v, want it to pass", err)
	}
	if err := Verify(Sign(body, secret, signed), body, [][]byte{secret}, now.Add(time.Millisecond), DefaultTolerance); !errors.Is(err, ErrTooOld) {
		t.Fatalf("a second later: got %v, want ErrTooOld", err)
	}
}

// The secret, the signatures and the body never appear in an error, which
// the API may log or show.
func TestVerifyErrorsSayNothingSecret(t *testing.T) {
	const secret = "whsec_do_not_leak"
	body := []byte(`{"id":"evt_secret_body"}`)
	now := time.Unix(1_800_000_000, 0)
	good := Sign(body, []byte(secret), now)
	for _, h := range []string{good, good + "0", "t=1,v1=" + strings.Repeat("ab", 32), "nonsense"} {
		err := Verify(h, []byte(`{"other":1}`), [][]byte{[]byte(secret)}, now, DefaultTolerance)
		if err == nil {
			continue
		}
		for _, s := range []string{secret, "evt_secret_body", h[min(len(h), 13):]} {
			if s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("error %q holds %q", err, s)
			}
		}
	}
}

func FuzzVerify(f *testing.F) {
	secret, body := []byte("whsec_fuzz"), []byte(`{"id":"evt_1"}`)
	now := time.Unix(1_800_000_000, 0)
	good := Sign(body, secret, now)
	f.Add(good)
	f.Add("t=1800000000,v1=00,v1=" + good[len("t=1800000000,v1="):])
	f.Add("t=,v1=")
	f.Fuzz(func(t *testing.T, header string) {
		if Verify(header, body, [][]byte{secret}, now, DefaultTolerance) != nil {
			return
		}
		// Whatever passes carries a real signature of body, at its t, in
		// either case of hex.
		for part := range strings.SplitSeq(header, ",") {
			if ts, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				n, _ := strconv.ParseInt(ts, 10, 64)
				_, want, _ := strings.Cut(Sign(body, secret, time.Unix(n, 0)), ",v1=")
				if strings.Contains(strings.ToLower(header), want) {
					return
				}
			}
		}
		t.Fatalf("header %q passed without a signature of the body", header)
	})
}

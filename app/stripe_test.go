package app

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/integrations/stripe"
)

// The Stripe endpoint's secret, given as its environment variable,
// reaches the API: a signed event is received, an unsigned one refused.
func TestStripeSecretFromEnvironment(t *testing.T) {
	const secret = "whsec_app_test_secret"
	env := map[string]string{"REFERRALD_INTEGRATIONS_STRIPE_WEBHOOK_SECRET": secret,
		"REFERRALD_LISTEN": "127.0.0.1:0", "REFERRALD_DATA_DIR": t.TempDir()}
	cfg, err := config.Load("", config.Env{Get: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		a.Shutdown()
		a.Close()
	}()
	url := "http://" + a.Addr() + "/v1/integrations/stripe/events"
	body := []byte(`{"id":"evt_app","object":"event","type":"customer.created","data":{"object":{"id":"cus_1","object":"customer"}}}`)
	post := func(signature string) (int, string) {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Stripe-Signature", signature)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if status, got := post(stripe.Sign(body, []byte(secret), time.Now())); status != 200 || !strings.Contains(got, `"result":"ignored"`) {
		t.Fatalf("signed: got %d %s, want 200 ignored", status, got)
	}
	if status, got := post(stripe.Sign(body, []byte("whsec_wrong"), time.Now())); status != 400 {
		t.Fatalf("badly signed: got %d %s, want 400", status, got)
	}
}

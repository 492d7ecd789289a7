package stripe

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func readEvent(t *testing.T, name string) *Event {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCheckoutSession(t *testing.T) {
	e := readEvent(t, "checkout_session_completed.json")
	if e.ID != "evt_1QeGvYJj3mLqvT1x0o4ZkQ2d" || e.Type != TypeCheckoutSessionCompleted || e.Livemode {
		t.Fatalf("got event %+v", e)
	}
	s, err := e.CheckoutSession()
	if err != nil {
		t.Fatal(err)
	}
	want := CheckoutSession{ID: "cs_test_a1b2c3d4e5", ClientReferenceID: "ref_01jdq3f7k8m2n4p6r8t0v2x4z6",
		PaymentStatus: "paid", AmountTotal: 4900, Currency: "usd", PaymentIntent: "pi_3QeGvXJj3mLqvT1x1abcdEFG"}
	if s.ID != want.ID || s.ClientReferenceID != want.ClientReferenceID || s.PaymentStatus != want.PaymentStatus ||
		s.AmountTotal != want.AmountTotal || s.Currency != want.Currency || s.PaymentIntent != want.PaymentIntent || s.Metadata["campus"] != "north" {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	if _, err := e.Charge(); !errors.Is(err, ErrMalformedEvent) {
		t.Errorf("a session read as a charge: got %v, want ErrMalformedEvent", err)
	}
}

func TestCheckoutSessionNulls(t *testing.T) {
	e, err := ParseEvent([]byte(`{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","object":"checkout.session",
		"client_reference_id":null,"amount_total":null,"currency":null,"payment_intent":null,"metadata":null,"payment_status":"unpaid"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.CheckoutSession()
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientReferenceID != "" || s.AmountTotal != 0 || s.Currency != "" || s.PaymentIntent != "" || s.PaymentStatus != "unpaid" {
		t.Fatalf("got %+v", s)
	}
}

func TestReferralID(t *testing.T) {
	for _, c := range []struct {
		name, clientRef, key, want string
		metadata                   map[string]string
	}{
		{"client reference", "ref_a", "", "ref_a", nil},
		{"client reference wins", "ref_a", "referral", "ref_a", map[string]string{"referral": "ref_b"}},
		{"metadata when no client reference", "", "referral", "ref_b", map[string]string{"referral": "ref_b"}},
		{"metadata only when a key is set", "", "", "", map[string]string{"referral": "ref_b"}},
		{"neither", "", "referral", "", nil},
		{"spaces trimmed", " ref_a ", "", "ref_a", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &CheckoutSession{ClientReferenceID: c.clientRef, Metadata: c.metadata}
			if got := s.ReferralID(c.key); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestCharge(t *testing.T) {
	e := readEvent(t, "charge_refunded.json")
	c, err := e.Charge()
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "ch_3QeGvXJj3mLqvT1x1xyzABC" || c.PaymentIntent != "pi_3QeGvXJj3mLqvT1x1abcdEFG" || c.Amount != 4900 ||
		c.AmountRefunded != 1500 || c.Currency != "usd" {
		t.Fatalf("got %+v", c)
	}
	// An expanded payment intent reads as its ID.
	e, err = ParseEvent([]byte(`{"id":"evt_2","type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge",
		"payment_intent":{"id":"pi_x","object":"payment_intent"},"amount":100,"amount_refunded":100,"currency":"eur"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c, err = e.Charge(); err != nil || c.PaymentIntent != "pi_x" {
		t.Fatalf("got %+v, %v; want payment intent pi_x", c, err)
	}
}

func TestParseEventRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":        `{"id":`,
		"an array":        `[]`,
		"no id":           `{"type":"charge.refunded","data":{"object":{}}}`,
		"no type":         `{"id":"evt_1","data":{"object":{}}}`,
		"no object":       `{"id":"evt_1","type":"charge.refunded","data":{}}`,
		"a null object":   `{"id":"evt_1","type":"charge.refunded","data":{"object":null}}`,
		"id not a string": `{"id":1,"type":"charge.refunded","data":{"object":{}}}`,
	} {
		if _, err := ParseEvent([]byte(body)); !errors.Is(err, ErrMalformedEvent) {
			t.Errorf("%s: got %v, want ErrMalformedEvent", name, err)
		}
	}
	e, err := ParseEvent([]byte(`{"id":"evt_1","type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge","amount":"100"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Charge(); !errors.Is(err, ErrMalformedEvent) {
		t.Errorf("an amount that is a string: got %v, want ErrMalformedEvent", err)
	}
}

func TestAmount(t *testing.T) {
	for _, c := range []struct {
		amount   int64
		currency string
		want     int64
		wantCur  string
		fails    bool
	}{
		{4900, "usd", 4900, "USD", false},
		{1999, "eur", 1999, "EUR", false},
		{5000, "jpy", 5000, "JPY", false}, // ¥5,000: both count whole yen
		{1000, "krw", 1000, "KRW", false},
		{5120, "kwd", 5120, "KWD", false},   // 5.120 KWD: both count fils
		{150000, "isk", 1500, "ISK", false}, // Stripe's hundredths of a króna
		{150050, "isk", 0, "ISK", true},
		{3000, "mga", 300000, "MGA", false}, // Stripe counts whole ariary
		{1200, "huf", 1200, "HUF", false},
	} {
		got, cur, err := Amount(c.amount, c.currency)
		if c.fails {
			if err == nil {
				t.Errorf("Amount(%d, %s) = %d, want an error", c.amount, c.currency, got)
			}
			continue
		}
		if err != nil || got != c.want || cur != c.wantCur {
			t.Errorf("Amount(%d, %s) = %d %s, %v; want %d %s", c.amount, c.currency, got, cur, err, c.want, c.wantCur)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, name := range []string{"checkout_session_completed.json", "charge_refunded.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"evt_1","type":"x","data":{"object":{"payment_intent":{"id":1}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvent(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("error %v is not ErrMalformedEvent", err)
			}
			return
		}
		if e.ID == "" || e.Type == "" {
			t.Fatalf("parsed an event without id or type: %+v", e)
		}
		if s, err := e.CheckoutSession(); err == nil && (s.ID == "" || strings.TrimSpace(s.ReferralID("k")) != s.ReferralID("k")) {
			t.Fatalf("session %+v", s)
		}
		if c, err := e.Charge(); err == nil && c.ID == "" {
			t.Fatalf("charge %+v", c)
		}
	})
}

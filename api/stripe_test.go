package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/integrations/stripe"
	"github.com/referrald/referrald/model"
)

const stripeSecret = "whsec_test_0123456789abcdefghijklmnop"

// stripeEnv is a server on a fresh store with the Stripe endpoint on, a
// program paying 10% commission, and a referral to buy with. Its log is
// kept, to be read for what it must not say.
type stripeEnv struct {
	*env
	referralID   string
	ambassadorID string
	programID    string
	log          *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newStripeEnv(t *testing.T, cfg api.Config) *stripeEnv {
	t.Helper()
	base := newEnv(t)
	buf := &syncBuffer{}
	cfg.Now = base.clock.Now
	cfg.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.StripeWebhookSecrets == nil {
		cfg.StripeWebhookSecrets = [][]byte{[]byte(stripeSecret)}
	}
	e := &stripeEnv{env: fullEnv(base, cfg), log: buf}
	p := e.post("/v1/programs", map[string]any{"name": "Spring 2027", "landing_url": "https://example.com/join",
		"commission": map[string]any{"type": "percent", "basis_points": 1000}})
	a := e.post("/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example"})
	i := e.post("/v1/impressions", map[string]any{"program_id": p["id"], "ambassador_id": a["id"]})
	r := e.post("/v1/referrals", map[string]any{"impression_id": i["id"], "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com"})
	e.referralID, e.ambassadorID, e.programID = r["id"].(string), a["id"].(string), p["id"].(string)
	return e
}

// checkoutEvent is a checkout.session.completed event as Stripe sends it
// (https://docs.stripe.com/api/checkout/sessions/object), trimmed of
// fields referrald does not read but keeping some that it must ignore.
func checkoutEvent(eventID, sessionID, clientRef string, amount int64, currency, paymentStatus, paymentIntent string, metadata map[string]string) []byte {
	var ref, pi any
	if clientRef != "" {
		ref = clientRef
	}
	if paymentIntent != "" {
		pi = paymentIntent
	}
	if metadata == nil {
		metadata = map[string]string{}
	}
	b, _ := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "api_version": "2024-06-20", "created": 1735689600, "livemode": false,
		"pending_webhooks": 1, "request": map[string]any{"id": nil, "idempotency_key": nil},
		"type": "checkout.session.completed",
		"data": map[string]any{"object": map[string]any{
			"id": sessionID, "object": "checkout.session", "amount_subtotal": amount, "amount_total": amount,
			"client_reference_id": ref, "currency": currency, "customer": "cus_R1a2b3c4",
			"customer_details": map[string]any{"email": "buyer-secret@example.com", "name": "Buyer"},
			"livemode":         false, "metadata": metadata, "mode": "payment", "payment_intent": pi,
			"payment_status": paymentStatus, "status": "complete", "success_url": "https://shop.example.com/thanks",
		}},
	})
	return b
}

// refundEvent is a charge.refunded event: amountRefunded is the charge's
// running total of refunds.
func refundEvent(eventID, paymentIntent string, amount, amountRefunded int64, currency string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "api_version": "2024-06-20", "created": 1735693200, "livemode": false,
		"type": "charge.refunded",
		"data": map[string]any{
			"object": map[string]any{
				"id": "ch_" + paymentIntent[3:], "object": "charge", "amount": amount, "amount_captured": amount,
				"amount_refunded": amountRefunded, "captured": true, "currency": currency, "paid": true,
				"payment_intent": paymentIntent, "refunded": amountRefunded == amount, "status": "succeeded",
			},
			"previous_attributes": map[string]any{"amount_refunded": 0},
		},
	})
	return b
}

// deliver posts body as Stripe does, signed now with the secret.
func (e *stripeEnv) deliver(body []byte) response {
	e.t.Helper()
	return e.deliverSigned(body, stripe.Sign(body, []byte(stripeSecret), e.clock.Now()))
}

func (e *stripeEnv) deliverSigned(body []byte, signature string) response {
	e.t.Helper()
	return e.call(request{Method: "POST", Path: "/v1/integrations/stripe/events", Body: body,
		Header: map[string]string{"Stripe-Signature": signature, "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}})
}

type stripeAck struct {
	Received       bool   `json:"received"`
	Result         string `json:"result"`
	EarningID      string `json:"earning_id"`
	RefundedAmount *int64 `json:"refunded_amount"`
	Reason         string `json:"reason"`
}

func wantAck(t *testing.T, res response, result string) stripeAck {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", res.Status, res.Body)
	}
	var a stripeAck
	if err := json.Unmarshal(res.Body, &a); err != nil {
		t.Fatal(err)
	}
	if !a.Received || a.Result != result {
		t.Fatalf("got %s, want received with result %s", res.Body, result)
	}
	return a
}

// state is everything a Stripe event could change: the store's earnings
// and the ambassador's commissions, with their amounts.
func (e *stripeEnv) state() string {
	e.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	earnings, err := e.st.FindEarnings(ctx, model.EarningFilter{ListOptions: model.ListOptions{Limit: model.MaxListLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, x := range earnings.Data {
		fmt.Fprintf(&b, "%s %d %s refunded %d %s\n", x.ID, x.Amount, x.Currency, x.RefundedAmount, x.Status)
	}
	commissions, err := e.st.FindCommissions(ctx, model.CommissionFilter{AmbassadorID: e.ambassadorID, ListOptions: model.ListOptions{Limit: model.MaxListLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range commissions.Data {
		fmt.Fprintf(&b, "%s %s %d %s\n", c.ID, c.Kind, c.Amount, c.Currency)
	}
	return b.String()
}

// commissionTotal sums the ambassador's commissions in cur.
func (e *stripeEnv) commissionTotal(cur string) int64 {
	e.t.Helper()
	bal, err := e.st.AmbassadorBalance(context.Background(), e.ambassadorID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, b := range bal {
		if b.Currency == cur {
			return b.Pending + b.Approved + b.Paid
		}
	}
	return 0
}

// The signature is all that authenticates Stripe: a delivery it does not
// sign, signs badly or signed too long ago is a 400 and changes nothing;
// one signature of several matching is enough.
func TestStripeSignature(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	body := checkoutEvent("evt_sig", "cs_sig", e.referralID, 4900, "usd", "paid", "pi_sig", nil)
	now := e.clock.Now()
	good := stripe.Sign(body, []byte(stripeSecret), now)
	_, goodV1, _ := strings.Cut(good, ",v1=")
	ts := fmt.Sprint(now.Unix())
	before := e.state()
	for _, c := range []struct {
		name, header string
		body         []byte
	}{
		{"tampered body", good, bytes.Replace(body, []byte(`"amount_total":4900`), []byte(`"amount_total":490000`), 1)},
		{"wrong secret", stripe.Sign(body, []byte("whsec_someone_else"), now), body},
		{"older than 5 minutes", stripe.Sign(body, []byte(stripeSecret), now.Add(-5*time.Minute-time.Second)), body},
		{"missing header", "", body},
		{"header without v1", "t=" + ts + ",v0=" + goodV1, body},
		{"malformed header", "v1=" + goodV1, body},
		{"not a header at all", "Bearer " + goodV1, body},
		{"an unsigned body that would record", good, checkoutEvent("evt_forged", "cs_forged", e.referralID, 999999, "usd", "paid", "pi_forged", nil)},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := e.deliverSigned(c.body, c.header)
			fields := wantProblem(t, res, http.StatusBadRequest, model.EValidation)
			if fields["Stripe-Signature"] != model.FInvalidValue {
				t.Errorf("got field errors %v, want Stripe-Signature invalid_value", fields)
			}
			if after := e.state(); after != before {
				t.Fatalf("a refused delivery changed\n%s\ninto\n%s", before, after)
			}
		})
	}
	// Exactly 5 minutes old still passes; so does a header with two v1,
	// one of a secret referrald does not have, as while Stripe rolls it.
	other := stripe.Sign(body, []byte("whsec_new_rolled_secret"), now)
	_, otherV1, _ := strings.Cut(other, ",v1=")
	res := e.deliverSigned(body, "t="+ts+",v1="+otherV1+",v1="+goodV1)
	wantAck(t, res, "recorded")
	if e.state() == before {
		t.Fatal("a well-signed delivery changed nothing")
	}

	// Either of two configured secrets signs.
	two := newStripeEnv(t, api.Config{StripeWebhookSecrets: [][]byte{[]byte("whsec_old"), []byte(stripeSecret)}})
	body = checkoutEvent("evt_two", "cs_two", two.referralID, 100, "usd", "paid", "pi_two", nil)
	wantAck(t, two.deliverSigned(body, stripe.Sign(body, []byte("whsec_old"), two.clock.Now().Add(-5*time.Minute))), "recorded")
}

// A paid Checkout Session naming a referral records one earning, with
// its commission; delivered again, now or after its idempotency key has
// expired, it records nothing more.
func TestStripeCheckoutCompleted(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	body := checkoutEvent("evt_1QeGvYJj3mLqvT1x", "cs_test_a1b2c3", e.referralID, 4900, "usd", "paid", "pi_3QeGvX", nil)
	ack := wantAck(t, e.deliver(body), "recorded")
	got, err := e.st.FindEarningByID(context.Background(), ack.EarningID)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	json.Unmarshal(got.Metadata, &meta)
	if got.ReferralID != e.referralID || got.Amount != 4900 || got.Currency != "USD" || got.ExternalID == nil || *got.ExternalID != "cs_test_a1b2c3" ||
		meta["stripe_event_id"] != "evt_1QeGvYJj3mLqvT1x" || meta["stripe_payment_intent"] != "pi_3QeGvX" || meta["stripe_livemode"] != false {
		t.Fatalf("got earning %+v with metadata %v", got, meta)
	}
	if c := e.commissionTotal("USD"); c != 490 {
		t.Errorf("got commissions %d USD, want 490 (10%%)", c)
	}
	if ref, _ := e.st.FindReferralByID(context.Background(), e.referralID); ref.Status != model.ReferralConverted {
		t.Errorf("got referral status %s, want converted", ref.Status)
	}
	recorded := e.state()

	// Stripe retries: the same event, signed anew.
	res := e.deliver(body)
	if again := wantAck(t, res, "replayed"); again.EarningID != ack.EarningID {
		t.Errorf("replay: got earning %s, want %s", again.EarningID, ack.EarningID)
	}
	if res.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: got Idempotent-Replayed %q, want true", res.Header.Get("Idempotent-Replayed"))
	}
	// Three days later, long past the idempotency window, the session
	// is still recorded once.
	e.clock.Add(72 * time.Hour)
	if again := wantAck(t, e.deliver(body), "replayed"); again.EarningID != ack.EarningID {
		t.Errorf("late replay: got earning %s, want %s", again.EarningID, ack.EarningID)
	}
	if after := e.state(); after != recorded {
		t.Fatalf("redelivery changed\n%s\ninto\n%s", recorded, after)
	}
	// A session without a payment intent (a subscription's) is found
	// again by its ID.
	sub := checkoutEvent("evt_sub", "cs_sub", e.referralID, 1000, "usd", "paid", "", nil)
	first := wantAck(t, e.deliver(sub), "recorded")
	e.clock.Add(72 * time.Hour)
	if again := wantAck(t, e.deliver(sub), "replayed"); again.EarningID != first.EarningID {
		t.Errorf("late replay without payment intent: got earning %s, want %s", again.EarningID, first.EarningID)
	}
}

// Sessions that pay for nothing referrald knows of are acknowledged (so
// Stripe does not retry them for days) and record nothing.
func TestStripeCheckoutIgnored(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	before := e.state()
	for _, c := range []struct {
		name   string
		body   []byte
		reason string
	}{
		{"unpaid (a delayed payment method)", checkoutEvent("evt_u", "cs_u", e.referralID, 4900, "usd", "unpaid", "pi_u", nil), "unpaid"},
		{"no payment required", checkoutEvent("evt_n", "cs_n", e.referralID, 0, "usd", "no_payment_required", "", nil), "no_payment_required"},
		{"unknown referral", checkoutEvent("evt_x", "cs_x", "ref_01jdq3f7k8m2n4p6r8t0v2x4z6", 4900, "usd", "paid", "pi_x", nil), "does not exist"},
		{"not a referral ID", checkoutEvent("evt_y", "cs_y", "order-42", 4900, "usd", "paid", "pi_y", nil), "referral_id"},
		{"no referral", checkoutEvent("evt_z", "cs_z", "", 4900, "usd", "paid", "pi_z", map[string]string{"referral_id": e.referralID}), "names no referral"},
		{"another event type", []byte(`{"id":"evt_o","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_o","object":"payment_intent","amount":4900}}}`), "payment_intent.succeeded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ack := wantAck(t, e.deliver(c.body), "ignored")
			if !strings.Contains(ack.Reason, c.reason) {
				t.Errorf("got reason %q, want it to mention %q", ack.Reason, c.reason)
			}
			if after := e.state(); after != before {
				t.Fatalf("changed\n%s\ninto\n%s", before, after)
			}
		})
	}
	if !strings.Contains(e.log.String(), `"level":"WARN","msg":"stripe event","request_id"`) {
		t.Errorf("an unknown referral is not logged at warn:\n%s", e.log.String())
	}
}

// A purchase the program's commission rule cannot price yet is a 409,
// which Stripe retries; once the rule is fixed, the retry records it.
func TestStripeConflictIsRetried(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	res := e.call(request{Method: "PATCH", Path: "/v1/programs/" + e.programID, Token: adminToken, Body: map[string]any{
		"commission": map[string]any{"type": "percent", "basis_points": 1000, "caps": map[string]any{"EUR": 500}}}})
	if res.Status != http.StatusOK {
		t.Fatalf("PATCH program: %d %s", res.Status, res.Body)
	}
	before := e.state()
	body := checkoutEvent("evt_caps", "cs_caps", e.referralID, 4900, "usd", "paid", "pi_caps", nil)
	wantProblem(t, e.deliver(body), http.StatusConflict, model.EConflict)
	if after := e.state(); after != before {
		t.Fatalf("a conflict changed\n%s\ninto\n%s", before, after)
	}
	res = e.call(request{Method: "PATCH", Path: "/v1/programs/" + e.programID, Token: adminToken, Body: map[string]any{
		"commission": map[string]any{"type": "percent", "basis_points": 1000, "caps": map[string]any{"EUR": 500, "USD": 300}}}})
	if res.Status != http.StatusOK {
		t.Fatalf("PATCH program: %d %s", res.Status, res.Body)
	}
	wantAck(t, e.deliver(body), "recorded")
	if c := e.commissionTotal("USD"); c != 300 {
		t.Errorf("got commission %d, want the cap of 300", c)
	}
}

// With referral_metadata_key set, the session's metadata names the
// referral when client_reference_id does not.
func TestStripeReferralFromMetadata(t *testing.T) {
	e := newStripeEnv(t, api.Config{StripeReferralMetadataKey: "referral_id"})
	body := checkoutEvent("evt_m", "cs_m", "", 2500, "eur", "paid", "pi_m", map[string]string{"referral_id": e.referralID})
	ack := wantAck(t, e.deliver(body), "recorded")
	got, err := e.st.FindEarningByID(context.Background(), ack.EarningID)
	if err != nil || got.ReferralID != e.referralID || got.Amount != 2500 || got.Currency != "EUR" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// Stripe's amounts are in the currency's ISO minor unit, which for JPY
// is the yen itself: ¥5,000 is 5000, both in Stripe and in referrald.
// ISK, which Stripe counts in hundredths, is converted.
func TestStripeZeroDecimalCurrencies(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	for _, c := range []struct {
		currency string
		stripe   int64
		want     int64
	}{
		{"jpy", 5000, 5000},
		{"krw", 12000, 12000},
		{"isk", 150000, 1500},
	} {
		body := checkoutEvent("evt_"+c.currency, "cs_"+c.currency, e.referralID, c.stripe, c.currency, "paid", "pi_"+c.currency, nil)
		ack := wantAck(t, e.deliver(body), "recorded")
		got, err := e.st.FindEarningByID(context.Background(), ack.EarningID)
		cur := strings.ToUpper(c.currency)
		if err != nil || got.Amount != c.want || got.Currency != cur {
			t.Fatalf("%d %s: got %+v, %v; want %d %s", c.stripe, c.currency, got, err, c.want, cur)
		}
		if model.FormatMoney(got.Amount, got.Currency) == "" {
			t.Fatal("unformattable")
		}
		// 10% of the earning, in its own unit.
		if got, want := e.commissionTotal(cur), c.want/10; got != want {
			t.Errorf("%s: got commission %d, want %d", cur, got, want)
		}
	}
	// Refunds convert the same way: ¥2,000 of ¥5,000.
	wantAck(t, e.deliver(refundEvent("evt_jpy_r", "pi_jpy", 5000, 2000, "jpy")), "refunded")
	if got := e.commissionTotal("JPY"); got != 300 {
		t.Errorf("after refunding ¥2,000 of ¥5,000: got commission ¥%d, want ¥300", got)
	}
}

// A partial refund then the rest, reported as running totals, refund
// 1500 then 3400 and claw the commission back in step; every redelivery,
// and the older total arriving last, changes nothing.
func TestStripeChargeRefunded(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	const pi = "pi_3QeGvXJj3mLqvT1x"
	ack := wantAck(t, e.deliver(checkoutEvent("evt_buy", "cs_buy", e.referralID, 4900, "usd", "paid", pi, nil)), "recorded")
	ern := ack.EarningID
	earning := func() *model.Earning {
		t.Helper()
		got, err := e.st.FindEarningByID(context.Background(), ern)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	partial := refundEvent("evt_refund_1", pi, 4900, 1500, "usd")
	a := wantAck(t, e.deliver(partial), "refunded")
	if a.EarningID != ern || a.RefundedAmount == nil || *a.RefundedAmount != 1500 {
		t.Fatalf("partial refund: got %+v", a)
	}
	if got := earning(); got.RefundedAmount != 1500 || got.Status != model.EarningPartiallyRefunded {
		t.Fatalf("after the partial refund: got %+v", got)
	}
	if c := e.commissionTotal("USD"); c != 490-150 {
		t.Errorf("after the partial refund: got commissions %d, want 340", c)
	}
	afterPartial := e.state()
	res := e.deliver(partial)
	wantAck(t, res, "replayed")
	if after := e.state(); after != afterPartial {
		t.Fatalf("redelivered partial refund changed\n%s\ninto\n%s", afterPartial, after)
	}

	full := refundEvent("evt_refund_2", pi, 4900, 4900, "usd")
	a = wantAck(t, e.deliver(full), "refunded")
	if a.RefundedAmount == nil || *a.RefundedAmount != 4900 {
		t.Fatalf("full refund: got %+v", a)
	}
	if got := earning(); got.RefundedAmount != 4900 || got.Status != model.EarningRefunded {
		t.Fatalf("after the full refund: got %+v", got)
	}
	if c := e.commissionTotal("USD"); c != 0 {
		t.Errorf("after the full refund: got commissions %d, want 0", c)
	}
	refunded := e.state()
	for name, body := range map[string][]byte{"the full refund": full, "the partial refund": partial} {
		wantAck(t, e.deliver(body), "replayed")
		if after := e.state(); after != refunded {
			t.Fatalf("%s delivered again changed\n%s\ninto\n%s", name, refunded, after)
		}
	}
	// A refund of a payment referrald did not record is none of its
	// business.
	wantAck(t, e.deliver(refundEvent("evt_other", "pi_unreferred", 1000, 1000, "usd")), "ignored")
	if after := e.state(); after != refunded {
		t.Fatalf("a refund of another payment changed\n%s\ninto\n%s", refunded, after)
	}
}

// Stripe may deliver one event twice at once, and two refunds of one
// charge at once: the purchase is recorded once and the refunds count
// what they share once.
func TestStripeConcurrentDeliveries(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	buy := checkoutEvent("evt_c", "cs_c", e.referralID, 10000, "usd", "paid", "pi_c", nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			res := e.deliver(buy)
			if res.Status != http.StatusOK {
				t.Errorf("got %d %s", res.Status, res.Body)
			}
		})
	}
	wg.Wait()
	page, err := e.st.FindEarnings(context.Background(), model.EarningFilter{ReferralID: e.referralID})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("got %d earnings, %v; want 1", len(page.Data), err)
	}
	for i, total := range []int64{1000, 2500, 4000, 2500, 1000, 4000} {
		wg.Go(func() {
			res := e.deliver(refundEvent(fmt.Sprintf("evt_r%d", i), "pi_c", 10000, total, "usd"))
			if res.Status != http.StatusOK {
				t.Errorf("got %d %s", res.Status, res.Body)
			}
		})
	}
	wg.Wait()
	if got, err := e.st.FindEarningByID(context.Background(), page.Data[0].ID); err != nil || got.RefundedAmount != 4000 {
		t.Fatalf("got refunded %d, %v; want 4000", got.RefundedAmount, err)
	}
	if c := e.commissionTotal("USD"); c != 600 {
		t.Errorf("got commissions %d, want 600", c)
	}
}

// Without a secret the integration is off: 404, signed or not.
func TestStripeOff(t *testing.T) {
	e := newEnv(t)
	body := checkoutEvent("evt_off", "cs_off", "ref_01jdq3f7k8m2n4p6r8t0v2x4z6", 4900, "usd", "paid", "pi_off", nil)
	res := e.call(request{Method: "POST", Path: "/v1/integrations/stripe/events", Body: body,
		Header: map[string]string{"Stripe-Signature": stripe.Sign(body, []byte(stripeSecret), e.clock.Now())}})
	wantProblem(t, res, http.StatusNotFound, model.ENotFound)
}

// A body past 256 KiB is refused before its signature is read; one
// between the API's 64 KiB and that passes.
func TestStripeBodyLimit(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	big := map[string]string{"notes": strings.Repeat("x", 100<<10)}
	body := checkoutEvent("evt_big", "cs_big", e.referralID, 100, "usd", "paid", "pi_big", big)
	// Stripe caps metadata values far lower; this stands for any large
	// part of a session.
	wantAck(t, e.deliver(body), "recorded")
	huge := checkoutEvent("evt_huge", "cs_huge", e.referralID, 100, "usd", "paid", "pi_huge", map[string]string{"notes": strings.Repeat("x", 300<<10)})
	wantProblem(t, e.deliver(huge), http.StatusRequestEntityTooLarge, model.EBodyTooLarge)
}

// Neither the secret, nor a signature, nor anything of the body beyond
// the event's ID and type reaches the log.
func TestStripeLogsNothingSecret(t *testing.T) {
	e := newStripeEnv(t, api.Config{})
	body := checkoutEvent("evt_log", "cs_log", e.referralID, 4900, "usd", "paid", "pi_log", nil)
	sig := stripe.Sign(body, []byte(stripeSecret), e.clock.Now())
	ack := wantAck(t, e.deliverSigned(body, sig), "recorded")
	e.deliverSigned(body, sig+"0")
	e.deliverSigned([]byte(`{"id":"evt_forged"}`), sig)
	log := e.log.String()
	_, v1, _ := strings.Cut(sig, ",v1=")
	for _, secret := range []string{stripeSecret, v1, "buyer-secret@example.com", "cus_R1a2b3c4", "shop.example.com"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds %q:\n%s", secret, log)
		}
	}
	for _, want := range []string{`"event_type":"checkout.session.completed"`, `"event_id":"evt_log"`, `"earning_id":"` + ack.EarningID + `"`, `"result":"recorded"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %s:\n%s", want, log)
		}
	}
}

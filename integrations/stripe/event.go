package stripe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/referrald/referrald/model"
)

// Event types referrald acts on; any other is acknowledged and ignored.
const (
	TypeCheckoutSessionCompleted = "checkout.session.completed"
	TypeChargeRefunded           = "charge.refunded"
)

// Event is a Stripe event (https://docs.stripe.com/api/events/object) as
// far as referrald reads it: its object stays raw until the type says
// what it is.
type Event struct {
	// ID is evt_...: the same on every delivery of the event, so it names
	// the event for idempotency.
	ID       string `json:"id"`
	Type     string `json:"type"`
	Livemode bool   `json:"livemode"`
	Data     struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// ErrMalformedEvent is returned for a body that is not an event, or an
// event whose object is not of its type's shape.
var ErrMalformedEvent = errors.New("malformed Stripe event")

// ParseEvent reads a delivery's body. It needs an ID, a type and an
// object; everything else Stripe sends is ignored, so that new fields of
// a newer Stripe API version never break it.
func ParseEvent(body []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if e.ID == "" || e.Type == "" || len(e.Data.Object) == 0 || bytes.Equal(e.Data.Object, []byte("null")) {
		return nil, fmt.Errorf("%w: it needs an id, a type and data.object", ErrMalformedEvent)
	}
	return &e, nil
}

// CheckoutSession is what referrald reads of a Checkout Session
// (https://docs.stripe.com/api/checkout/sessions/object).
type CheckoutSession struct {
	// ID is cs_...
	ID string
	// ClientReferenceID is what the page that made the session passed as
	// client_reference_id: for referrald, the referral's ID.
	ClientReferenceID string
	Metadata          map[string]string
	// PaymentStatus is paid, unpaid (a delayed payment method has not
	// cleared yet) or no_payment_required.
	PaymentStatus string
	// AmountTotal is in Stripe's unit of Currency; see Amount.
	AmountTotal int64
	// Currency is Stripe's lower-case ISO code.
	Currency string
	// PaymentIntent is pi_..., empty for a session that made none (a
	// subscription's first payment is made by its invoice).
	PaymentIntent string
}

// CheckoutSession reads the object of a checkout.session.* event.
func (e *Event) CheckoutSession() (*CheckoutSession, error) {
	var v struct {
		ID                string            `json:"id"`
		Object            string            `json:"object"`
		ClientReferenceID *string           `json:"client_reference_id"`
		Metadata          map[string]string `json:"metadata"`
		PaymentStatus     string            `json:"payment_status"`
		AmountTotal       *int64            `json:"amount_total"`
		Currency          *string           `json:"currency"`
		PaymentIntent     expandable        `json:"payment_intent"`
	}
	if err := json.Unmarshal(e.Data.Object, &v); err != nil {
		return nil, fmt.Errorf("%w: checkout session: %v", ErrMalformedEvent, err)
	}
	if v.Object != "checkout.session" || v.ID == "" {
		return nil, fmt.Errorf("%w: data.object is not a checkout session", ErrMalformedEvent)
	}
	s := &CheckoutSession{ID: v.ID, Metadata: v.Metadata, PaymentStatus: v.PaymentStatus, PaymentIntent: string(v.PaymentIntent)}
	if v.ClientReferenceID != nil {
		s.ClientReferenceID = *v.ClientReferenceID
	}
	if v.AmountTotal != nil {
		s.AmountTotal = *v.AmountTotal
	}
	if v.Currency != nil {
		s.Currency = *v.Currency
	}
	return s, nil
}

// ReferralID is the referral the session names: its client_reference_id,
// or, when that is empty and metadataKey is set, its metadata[metadataKey].
// Empty when it names none.
func (s *CheckoutSession) ReferralID(metadataKey string) string {
	if id := strings.TrimSpace(s.ClientReferenceID); id != "" || metadataKey == "" {
		return id
	}
	return strings.TrimSpace(s.Metadata[metadataKey])
}

// Charge is what referrald reads of a Charge
// (https://docs.stripe.com/api/charges/object).
type Charge struct {
	// ID is ch_... (py_... for some payment methods).
	ID string
	// PaymentIntent is pi_..., the one the checkout session made.
	PaymentIntent string
	// Amount and AmountRefunded are in Stripe's unit of Currency;
	// AmountRefunded is everything refunded so far, not this refund.
	Amount         int64
	AmountRefunded int64
	Currency       string
}

// Charge reads the object of a charge.* event.
func (e *Event) Charge() (*Charge, error) {
	var v struct {
		ID             string     `json:"id"`
		Object         string     `json:"object"`
		PaymentIntent  expandable `json:"payment_intent"`
		Amount         int64      `json:"amount"`
		AmountRefunded int64      `json:"amount_refunded"`
		Currency       string     `json:"currency"`
	}
	if err := json.Unmarshal(e.Data.Object, &v); err != nil {
		return nil, fmt.Errorf("%w: charge: %v", ErrMalformedEvent, err)
	}
	if v.Object != "charge" || v.ID == "" {
		return nil, fmt.Errorf("%w: data.object is not a charge", ErrMalformedEvent)
	}
	return &Charge{ID: v.ID, PaymentIntent: string(v.PaymentIntent), Amount: v.Amount,
		AmountRefunded: v.AmountRefunded, Currency: v.Currency}, nil
}

// expandable is a reference to another Stripe object: its ID, or the
// object itself when the request that made the event expanded it, or null.
type expandable string

func (x *expandable) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*x = ""
		return nil
	case len(b) > 0 && b[0] == '{':
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		*x = expandable(obj.ID)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*x = expandable(s)
	return nil
}

// stripeDigits are the decimals of Stripe's amounts in the currencies
// where they differ from 2 (https://docs.stripe.com/currencies): its
// zero-decimal and three-decimal currencies. ISK is missing on purpose:
// ISO gives it no decimals, but Stripe kept it two-decimal (100 is 1 ISK).
var stripeDigits = func() map[string]int {
	m := map[string]int{}
	for _, c := range strings.Fields("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF") {
		m[c] = 0
	}
	for _, c := range strings.Fields("BHD JOD KWD OMR TND") {
		m[c] = 3
	}
	return m
}()

// Amount turns a Stripe amount and currency into referrald's: the ISO
// code in upper case, and the amount in that currency's ISO minor unit
// (model.CurrencyDigits). The two units are the same for nearly every
// currency, JPY included (both count whole yen); they differ for ISK,
// where Stripe counts hundredths that must be 00, and MGA, which Stripe
// counts whole but ISO in fifths written as two decimals. An amount that
// ISO's unit cannot hold exactly is an error, never rounded.
func Amount(amount int64, currency string) (int64, string, error) {
	cur := strings.ToUpper(currency)
	from, ok := stripeDigits[cur]
	if !ok {
		from = 2
	}
	to := model.CurrencyDigits(cur)
	for ; from > to; from-- {
		if amount%10 != 0 {
			return 0, cur, fmt.Errorf("%d in Stripe's unit of %s is not a whole number of %s's minor unit", amount, cur, cur)
		}
		amount /= 10
	}
	for ; from < to; from++ {
		if amount > model.MaxAmount {
			return 0, cur, fmt.Errorf("%d %s is too large", amount, cur)
		}
		amount *= 10
	}
	return amount, cur, nil
}

package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/integrations/stripe"
	"github.com/referrald/referrald/model"
)

// The Stripe integration (docs/integrations.md): Stripe posts events to
// POST /v1/integrations/stripe/events, signed with the endpoint's secret.
// A paid Checkout Session that names a referral records an earning; a
// refund of its payment refunds the earning. Everything else Stripe sends
// is acknowledged and left alone.
//
// The answer is 200 whenever Stripe sending the event again would change
// nothing (an unknown referral, an unpaid session, a replay), so that
// Stripe does not retry it for days; 400 for a delivery that is not
// Stripe's; 409 for a conflict an operator can fix (a program's
// commission caps without the purchase's currency), which Stripe retries
// for up to three days; 5xx when the store cannot take it.

// maxStripeEventBytes bounds a Stripe event's body. Events are usually a
// few KiB and rarely near the API's 64 KiB default; a Checkout Session
// with much metadata and custom fields can pass it, and a refused event
// is retried for days and then lost, so the endpoint takes 256 KiB
// whatever limits.max_body_bytes says.
const maxStripeEventBytes = 256 << 10

// stripePrincipal scopes the idempotency keys of Stripe's events, apart
// from every API key's (key_...) and the admin token's.
const stripePrincipal = "stripe"

// stripeRoute fingerprints the idempotency keys of Stripe's events.
const stripeRoute = "POST /v1/integrations/stripe/events"

// stripeReference is the earning reference of a Stripe payment intent.
func stripeReference(paymentIntent string) string {
	return "stripe:payment_intent:" + paymentIntent
}

// Results in a stripeAck.
const (
	stripeRecorded = "recorded" // an earning was recorded
	stripeRefunded = "refunded" // an earning was refunded
	stripeReplayed = "replayed" // the event was handled before; nothing changed
	stripeIgnored  = "ignored"  // nothing to record; Reason says why
)

// stripeAck is the answer to an event Stripe need not send again.
type stripeAck struct {
	Received  bool   `json:"received"`
	Result    string `json:"result"`
	EarningID string `json:"earning_id,omitempty"`
	// RefundedAmount is the earning's refunded amount after a refund.
	RefundedAmount *int64 `json:"refunded_amount,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

// handleStripeEvent serves POST /v1/integrations/stripe/events.
func (s *Server) handleStripeEvent(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if len(s.stripeSecrets) == 0 {
		return model.Errorf(model.ENotFound, "the Stripe integration is off: integrations.stripe.webhook_secret is not set")
	}
	body, err := readStripeBody(w, r)
	if err != nil {
		return err
	}
	if err := stripe.Verify(r.Header.Get("Stripe-Signature"), body, s.stripeSecrets, s.now(), stripe.DefaultTolerance); err != nil {
		// The error names what is wrong with the header, never the
		// secret, the signature or the body.
		s.log.WarnContext(r.Context(), "stripe event refused", "request_id", requestIDOf(r), "reason", err.Error())
		var fe model.FieldErrors
		fe.Add("Stripe-Signature", model.FInvalidValue, "%s", err.Error())
		return fe.Err()
	}
	ev, err := stripe.ParseEvent(body)
	if err != nil {
		return s.stripeMalformed(r, nil, err)
	}
	switch ev.Type {
	case stripe.TypeCheckoutSessionCompleted:
		return s.stripeCheckoutCompleted(w, r, ev)
	case stripe.TypeChargeRefunded:
		return s.stripeChargeRefunded(w, r, ev)
	}
	return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, Reason: "referrald does not act on " + ev.Type + " events"}, false)
}

// readStripeBody reads the body whole: the signature covers its bytes as
// sent, so it is checked before anything is decoded.
func readStripeBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := model.Errorf(model.EBodyTooLarge, "a Stripe event must be at most %d bytes", maxStripeEventBytes)
	if r.ContentLength > maxStripeEventBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxStripeEventBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, model.Errorf(model.EInvalidJSON, "the body could not be read")
	}
	return body, nil
}

// stripeCheckoutCompleted records the earning of a paid Checkout Session
// that names a referral.
func (s *Server) stripeCheckoutCompleted(w http.ResponseWriter, r *http.Request, ev *stripe.Event) error {
	ctx := r.Context()
	sess, err := ev.CheckoutSession()
	if err != nil {
		return s.stripeMalformed(r, ev, err)
	}
	if sess.PaymentStatus != "paid" {
		// unpaid: a delayed payment method (a bank debit, say) that has
		// not cleared; no_payment_required: nothing was bought.
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, Reason: "the session's payment_status is " + sess.PaymentStatus + ", not paid"}, false)
	}
	referralID := sess.ReferralID(s.stripeMetadataKey)
	if referralID == "" {
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, Reason: "the session names no referral (client_reference_id is empty)"}, true)
	}
	amount, currency, err := stripe.Amount(sess.AmountTotal, sess.Currency)
	if err != nil {
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, Reason: err.Error()}, true)
	}
	meta := map[string]any{"stripe_event_id": ev.ID, "stripe_livemode": ev.Livemode}
	in := model.EarningCreate{ReferralID: referralID, Amount: amount, Currency: currency, ExternalID: sess.ID}
	if sess.PaymentIntent != "" {
		meta["stripe_payment_intent"] = sess.PaymentIntent
		in.Reference = stripeReference(sess.PaymentIntent)
	}
	in.Metadata, _ = json.Marshal(meta) // strings and a bool
	if fe := in.Validate(); len(fe) > 0 {
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, Reason: "not recorded: " + describe(fe.Err())}, true)
	}
	idem := model.Idempotency{Scope: stripePrincipal, Key: ev.ID, Fingerprint: fingerprint(stripeRoute+" "+ev.Type, []any{in, in.Reference})}
	e, replayed, err := s.svc.Earnings.CreateEarning(ctx, in, idem)
	switch model.ErrorCode(err) {
	case "":
		result := stripeRecorded
		if replayed {
			result = stripeReplayed
			s.markReplayed(w, r, true)
		}
		return s.stripeAnswer(w, r, ev, stripeAck{Result: result, EarningID: e.ID}, false)
	case model.EValidation, model.EIdempotencyKeyReused:
		// An unknown referral, above all: Stripe sending it again would
		// not make it known.
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, Reason: "not recorded: " + describe(err)}, true)
	case model.EConflict:
		// Recorded before, when its idempotency key has expired since;
		// else a conflict to fix, answered as one so that Stripe retries.
		if prev := s.stripeEarningOf(r, in); prev != nil {
			return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeReplayed, EarningID: prev.ID}, false)
		}
		s.log.WarnContext(ctx, "stripe event not recorded", "request_id", requestIDOf(r), "event_type", ev.Type, "event_id", ev.ID, "reason", describe(err))
		return err
	}
	return err
}

// stripeEarningOf finds the earning a Checkout Session recorded before:
// by its payment intent, else among its referral's earnings by the
// session's ID.
func (s *Server) stripeEarningOf(r *http.Request, in model.EarningCreate) *model.Earning {
	if in.Reference != "" {
		if e, err := s.svc.Earnings.FindEarningByReference(r.Context(), in.Reference); err == nil && e.ExternalID != nil && *e.ExternalID == in.ExternalID {
			return e
		}
		return nil
	}
	f := model.EarningFilter{ReferralID: in.ReferralID, ListOptions: model.ListOptions{Limit: model.MaxListLimit}}
	page, err := s.svc.Earnings.FindEarnings(r.Context(), f)
	if err != nil {
		return nil
	}
	for _, e := range page.Data {
		if e.ExternalID != nil && *e.ExternalID == in.ExternalID {
			return e
		}
	}
	return nil
}

// stripeChargeRefunded refunds the earning of a refunded charge's payment
// up to the charge's amount_refunded, the running total of its refunds:
// a partial refund and then the rest each count once, in whatever order
// their events come.
func (s *Server) stripeChargeRefunded(w http.ResponseWriter, r *http.Request, ev *stripe.Event) error {
	ctx := r.Context()
	ch, err := ev.Charge()
	if err != nil {
		return s.stripeMalformed(r, ev, err)
	}
	if ch.PaymentIntent == "" {
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, Reason: "the charge has no payment intent"}, false)
	}
	e, err := s.svc.Earnings.FindEarningByReference(ctx, stripeReference(ch.PaymentIntent))
	if model.ErrorCode(err) == model.ENotFound {
		// Most charges paid for no referral.
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, Reason: "no earning was recorded for this charge's payment"}, false)
	} else if err != nil {
		return err
	}
	upTo, currency, err := stripe.Amount(ch.AmountRefunded, ch.Currency)
	switch {
	case err != nil:
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, EarningID: e.ID, Reason: err.Error()}, true)
	case currency != e.Currency:
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, EarningID: e.ID,
			Reason: "the charge is in " + currency + ", the earning in " + e.Currency}, true)
	case upTo <= e.RefundedAmount:
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeReplayed, EarningID: e.ID, RefundedAmount: &e.RefundedAmount}, false)
	}
	in := model.EarningRefund{UpTo: upTo, Reason: "Stripe " + ev.Type + " " + ev.ID}
	idem := model.Idempotency{Scope: stripePrincipal, Key: ev.ID, Fingerprint: fingerprint(stripeRoute+" "+ev.Type, []any{e.ID, in, in.UpTo})}
	after, replayed, err := s.svc.Earnings.RefundEarning(ctx, e.ID, in, idem)
	switch model.ErrorCode(err) {
	case "":
		result := stripeRefunded
		if replayed {
			result = stripeReplayed
			s.markReplayed(w, r, true)
		}
		return s.stripeAnswer(w, r, ev, stripeAck{Result: result, EarningID: after.ID, RefundedAmount: &after.RefundedAmount}, false)
	case model.EConflict:
		// Another delivery refunded it meanwhile: nothing left to do.
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeReplayed, EarningID: e.ID}, false)
	case model.EValidation, model.ENotFound, model.EIdempotencyKeyReused:
		// More refunded than the earning (a purchase recorded for less
		// than was charged, say): Stripe sending it again would not help.
		return s.stripeAnswer(w, r, ev, stripeAck{Result: stripeIgnored, EarningID: e.ID, Reason: "not refunded: " + describe(err)}, true)
	}
	return err
}

// stripeMalformed answers a signed event that cannot be read: 400, so it
// shows as failed in Stripe's dashboard, to be sent again once fixed.
func (s *Server) stripeMalformed(r *http.Request, ev *stripe.Event, err error) error {
	attrs := []any{"request_id", requestIDOf(r), "reason", err.Error()}
	if ev != nil {
		attrs = append(attrs, "event_type", ev.Type, "event_id", ev.ID)
	}
	s.log.WarnContext(r.Context(), "stripe event unreadable", attrs...)
	return model.Errorf(model.EInvalidJSON, "the body is not a Stripe event referrald can read: %v", err)
}

// stripeAnswer logs what was done with an event and answers it with 200;
// warn logs it at warn level, for what an operator should look at.
func (s *Server) stripeAnswer(w http.ResponseWriter, r *http.Request, ev *stripe.Event, ack stripeAck, warn bool) error {
	ack.Received = true
	level := slog.LevelInfo
	if warn {
		level = slog.LevelWarn
	}
	attrs := []any{"request_id", requestIDOf(r), "event_type", ev.Type, "event_id", ev.ID, "result", ack.Result}
	if ack.EarningID != "" {
		attrs = append(attrs, "earning_id", ack.EarningID)
	}
	if ack.Reason != "" {
		attrs = append(attrs, "reason", ack.Reason)
	}
	s.log.Log(r.Context(), level, "stripe event", attrs...)
	writeJSON(w, http.StatusOK, ack)
	return nil
}

// describe is an error's safe message with its first field error.
func describe(err error) string {
	var me *model.Error
	if !errors.As(err, &me) {
		return "internal error"
	}
	if len(me.Fields) > 0 {
		return me.Fields[0].Field + " " + me.Fields[0].Message
	}
	return me.Message
}

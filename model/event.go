package model

import "encoding/json"

// The events the outbox records, one list: each change a hook plugin (or
// any other consumer) can follow, with its payload. A created event
// carries the record as created (a Referral, an Impression, an Earning);
// the others carry the types below.
const (
	EventReferralCreated       = "referral.created"
	EventReferralStatusChanged = "referral.status_changed"
	EventImpressionCreated     = "impression.created"
	EventEarningCreated        = "earning.created"
	EventEarningRefunded       = "earning.refunded"
	// EventReferralErased tells consumers to delete their copies of a
	// person's data (a CRM contact, say).
	EventReferralErased = "referral.erased"
	// EventAmbassadorCreated carries the Ambassador as created.
	EventAmbassadorCreated = "ambassador.created"
	// EventCommissionCreated carries the Commission as made: by the
	// program's rule, by a plugin, or a clawback by a refund.
	EventCommissionCreated = "commission.created"
	// EventCommissionApproved carries the Commission as approved: by a
	// manager, or by the end of its hold period.
	EventCommissionApproved = "commission.approved"
	// EventCommissionPaid carries the Commission a payout paid.
	EventCommissionPaid = "commission.paid"
	// EventPayoutCreated carries the Payout.
	EventPayoutCreated = "payout.created"

	// EventPortalLinkRequested asks the mailer to email an ambassador a
	// sign-in link (PortalLinkRequestedData). It is internal: no plugin
	// is sent it.
	EventPortalLinkRequested = "portal.link_requested"
)

// EventTypes lists every event type consumers outside referrald are sent,
// in the order they were added.
var EventTypes = []string{EventReferralCreated, EventReferralStatusChanged, EventImpressionCreated,
	EventEarningCreated, EventEarningRefunded, EventReferralErased,
	EventAmbassadorCreated, EventCommissionApproved, EventPayoutCreated, EventCommissionCreated, EventCommissionPaid}

// InternalEvent reports whether events of type typ are for referrald's
// own consumers (the mailer) only.
func InternalEvent(typ string) bool { return typ == EventPortalLinkRequested }

// Event is a change recorded for hooks, written in the same transaction as
// the change itself.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt Time            `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// ReferralStatusChangedData is the payload of a referral.status_changed
// event.
type ReferralStatusChangedData struct {
	Referral       *Referral      `json:"referral"`
	PreviousStatus ReferralStatus `json:"previous_status"`
}

// ReferralErasedData is the payload of a referral.erased event.
type ReferralErasedData struct {
	ID       string `json:"id"`
	ErasedAt Time   `json:"erased_at"`
}

// EarningRefundedData is the payload of an earning.refunded event.
type EarningRefundedData struct {
	Earning *Earning `json:"earning"`
	Amount  int64    `json:"amount"`
}

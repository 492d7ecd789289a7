package hooks

import (
	"encoding/json"
	"time"
)

// Event payloads, version 1 of the contract: Event.Data is the JSON of
// the type its Event.Type names. Decode it with encoding/json into these
// types rather than declaring your own; within a contract version fields
// are only ever added, so a plugin built against an older copy still
// decodes newer payloads.
//
//	referral.created          Referral
//	referral.status_changed   ReferralStatusChanged
//	referral.erased           ReferralErased
//	impression.created        Impression
//	earning.created           Earning
//	earning.refunded          EarningRefunded
//	ambassador.created        Ambassador
//	commission.approved       CommissionRecord
//	payout.created            Payout
//	commission.created        CommissionRecord
//	commission.paid           CommissionRecord
const PayloadVersion = 1

// Referral is a person who signed up after a scan. Once erased (ErasedAt
// set), names, email, picture and metadata are empty: a late delivery
// must not bring them back into another system.
type Referral struct {
	ID                string          `json:"id"`
	ImpressionID      string          `json:"impression_id"`
	FirstName         string          `json:"first_name"`
	LastName          string          `json:"last_name"`
	Email             string          `json:"email"`
	ProfilePictureURL *string         `json:"profile_picture_url"`
	Metadata          json.RawMessage `json:"metadata"`
	// Status is pending, converted or rejected.
	Status       string     `json:"status"`
	ProgramID    string     `json:"program_id"`
	AmbassadorID string     `json:"ambassador_id"`
	PlacementID  *string    `json:"placement_id"`
	Flags        []string   `json:"flags"`
	ErasedAt     *time.Time `json:"erased_at"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// ReferralStatusChanged reports a referral leaving pending.
type ReferralStatusChanged struct {
	Referral       Referral `json:"referral"`
	PreviousStatus string   `json:"previous_status"`
}

// ReferralErased asks a plugin to delete its copies of the person's data.
type ReferralErased struct {
	ID       string    `json:"id"`
	ErasedAt time.Time `json:"erased_at"`
}

// Impression is a scan of a poster (or one recorded through the API).
type Impression struct {
	ID           string          `json:"id"`
	ProgramID    string          `json:"program_id"`
	AmbassadorID string          `json:"ambassador_id"`
	PlacementID  *string         `json:"placement_id"`
	UserAgent    *string         `json:"user_agent"`
	Referrer     *string         `json:"referrer"`
	Flags        []string        `json:"flags"`
	Metadata     json.RawMessage `json:"metadata"`
	CreatedAt    time.Time       `json:"created_at"`
}

// Earning is a purchase by a referred person; Amount is in the currency's
// minor unit.
type Earning struct {
	ID           string          `json:"id"`
	ReferralID   string          `json:"referral_id"`
	ProgramID    string          `json:"program_id"`
	AmbassadorID string          `json:"ambassador_id"`
	Amount       int64           `json:"amount"`
	Currency     string          `json:"currency"`
	ExternalID   *string         `json:"external_id"`
	Metadata     json.RawMessage `json:"metadata"`
	// Status is recorded, partially_refunded or refunded.
	Status         string    `json:"status"`
	RefundedAmount int64     `json:"refunded_amount"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// EarningRefunded reports a refund of Amount, with the earning after it.
type EarningRefunded struct {
	Earning Earning `json:"earning"`
	Amount  int64   `json:"amount"`
}

// Ambassador is a student who puts up posters. School is null when not
// given; Status is active or paused.
type Ambassador struct {
	ID        string          `json:"id"`
	FirstName string          `json:"first_name"`
	LastName  string          `json:"last_name"`
	Email     string          `json:"email"`
	School    *string         `json:"school"`
	Status    string          `json:"status"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// CommissionRecord is a commission as referrald records it: what an
// ambassador is owed for a referral or an earning.
// Amount is in the currency's minor unit; a clawback's is negative.
type CommissionRecord struct {
	ID           string  `json:"id"`
	AmbassadorID string  `json:"ambassador_id"`
	ProgramID    string  `json:"program_id"`
	ReferralID   string  `json:"referral_id"`
	EarningID    *string `json:"earning_id"`
	// Kind is commission or clawback.
	Kind     string `json:"kind"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// Status is pending, approved or paid.
	Status       string          `json:"status"`
	ApprovableAt time.Time       `json:"approvable_at"`
	OnHold       bool            `json:"on_hold"`
	PayoutID     *string         `json:"payout_id"`
	Basis        json.RawMessage `json:"basis"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// Payout records money paid to an ambassador outside referrald, which
// marked Commissions of their approved commissions paid.
type Payout struct {
	ID                string    `json:"id"`
	AmbassadorID      string    `json:"ambassador_id"`
	Amount            int64     `json:"amount"`
	Currency          string    `json:"currency"`
	Commissions       int       `json:"commissions"`
	ExternalReference string    `json:"external_reference"`
	CreatedAt         time.Time `json:"created_at"`
}

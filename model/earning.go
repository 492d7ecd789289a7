package model

import (
	"context"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// Prefixes of the money records.
const (
	PrefixCommission = "com"
	PrefixPayout     = "pay"
)

// EarningStatus says how much of an earning still stands.
type EarningStatus string

// Earning statuses.
const (
	EarningRecorded          EarningStatus = "recorded"
	EarningPartiallyRefunded EarningStatus = "partially_refunded"
	EarningRefunded          EarningStatus = "refunded"
)

// Valid reports whether s is a known status.
func (s EarningStatus) Valid() bool {
	return s == EarningRecorded || s == EarningPartiallyRefunded || s == EarningRefunded
}

// Earning is a purchase by a referred person: it converts the referral and
// earns the ambassador a commission.
type Earning struct {
	ID             string        `json:"id"`
	ReferralID     string        `json:"referral_id"`
	ProgramID      string        `json:"program_id"`
	AmbassadorID   string        `json:"ambassador_id"`
	Amount         int64         `json:"amount"`
	Currency       string        `json:"currency"`
	ExternalID     *string       `json:"external_id"`
	Metadata       Metadata      `json:"metadata"`
	Status         EarningStatus `json:"status"`
	RefundedAmount int64         `json:"refunded_amount"`
	CreatedAt      Time          `json:"created_at"`
	UpdatedAt      Time          `json:"updated_at"`
}

// MaxAmount bounds money amounts (a trillion minor units), so sums and
// commission arithmetic never overflow.
const MaxAmount = 1_000_000_000_000

// EarningCreate is the body of POST /v1/earnings.
type EarningCreate struct {
	ReferralID string `json:"referral_id"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	// ExternalID is unique per referral, compared as given once trimmed:
	// it is the shop's order id, and some shops tell ORDER-1 from order-1.
	ExternalID string   `json:"external_id,omitempty"`
	Metadata   Metadata `json:"metadata,omitempty"`
	// Reference, when set, is a key by which an integration finds the
	// earning again (FindEarningByReference), unique among earnings, such
	// as "stripe:payment_intent:pi_..." for the refunds Stripe reports by
	// payment. The API never takes it from a client.
	Reference string `json:"-"`
}

// Validate normalizes c in place and returns its problems.
func (c *EarningCreate) Validate() FieldErrors {
	var fe FieldErrors
	checkID(&fe, "referral_id", PrefixReferral, &c.ReferralID, true)
	switch {
	case c.Amount <= 0:
		fe.Add("amount", FInvalidValue, "must be a positive integer in the currency's minor unit")
	case c.Amount > MaxAmount:
		fe.Add("amount", FInvalidValue, "must be at most %d", int64(MaxAmount))
	}
	checkCurrency(&fe, "currency", c.Currency)
	CheckText(&fe, "external_id", &c.ExternalID, MaxLabelLen, false)
	checkMetadata(&fe, "metadata", c.Metadata)
	return fe
}

// EarningRefund is the body of POST /v1/earnings/{id}/refund.
type EarningRefund struct {
	// Amount to refund; 0 means all that is left.
	Amount int64 `json:"amount,omitempty"`
	// Reason says why, for the audit log, which is where refunds are
	// told apart: the earning keeps only their sum.
	Reason string `json:"reason,omitempty"`
	// UpTo, when set, replaces Amount: refund what brings the earning's
	// refunded amount up to UpTo, reckoned in the refund's transaction.
	// A payment processor reports refunds as a running total; two of its
	// reports handled at once must not both count what they share. When
	// the earning has already had UpTo refunded, RefundEarning answers
	// conflict. The API never takes it from a client.
	UpTo int64 `json:"-"`
}

// Validate normalizes r in place and returns its problems.
func (r *EarningRefund) Validate() FieldErrors {
	var fe FieldErrors
	if r.Amount < 0 {
		fe.Add("amount", FInvalidValue, "must be a positive integer; leave it out to refund all that is left")
	}
	CheckText(&fe, "reason", &r.Reason, MaxLabelLen, false)
	return fe
}

// EarningFilter narrows a list of earnings; set filters combine.
type EarningFilter struct {
	ListOptions
	ProgramID    string
	AmbassadorID string
	ReferralID   string
	Status       EarningStatus
	// From and To bound created_at: From ≤ created_at < To; zero is open.
	From, To Time
}

// CommissionStatus is where a commission stands on its way to being paid.
type CommissionStatus string

// Commission statuses: pending → approved (when the program's hold ends,
// or by hand) → paid (by a payout).
const (
	CommissionPending  CommissionStatus = "pending"
	CommissionApproved CommissionStatus = "approved"
	CommissionPaid     CommissionStatus = "paid"
)

// Commission kinds.
const (
	CommissionEarning  = "earning"
	CommissionClawback = "clawback"
	// CommissionBounty is paid for a signup by a commission plugin.
	CommissionBounty = "bounty"
)

// Commission is money owed to an ambassador. A refund never changes one:
// it adds a clawback with a negative amount.
type Commission struct {
	ID           string `json:"id"`
	AmbassadorID string `json:"ambassador_id"`
	ProgramID    string `json:"program_id"`
	ReferralID   string `json:"referral_id"`
	// EarningID is null for a signup bounty, which no earning paid.
	EarningID *string          `json:"earning_id"`
	Kind      string           `json:"kind"`
	Amount    int64            `json:"amount"`
	Currency  string           `json:"currency"`
	Status    CommissionStatus `json:"status"`
	// ApprovableAt is when a pending commission becomes approved on its
	// own, unless it is on hold.
	ApprovableAt Time `json:"approvable_at"`
	// OnHold is set on a pending commission a manager held: it stays
	// pending past ApprovableAt until it is released or approved by hand.
	OnHold    bool            `json:"on_hold"`
	PayoutID  *string         `json:"payout_id"`
	Basis     CommissionBasis `json:"basis"`
	CreatedAt Time            `json:"created_at"`
	UpdatedAt Time            `json:"updated_at"`
}

// CommissionBasis records how a commission was computed, so a manager can
// explain every cent.
type CommissionBasis struct {
	// Source is "rule" (the program's commission rule) or "plugin" (a
	// commission hook plugin).
	Source string `json:"source"`
	// Plugin and PluginVersion name the plugin that computed it.
	Plugin        *string `json:"plugin"`
	PluginVersion *string `json:"plugin_version"`
	// Rule is the program's rule when it was applied.
	Rule *CommissionRule `json:"rule"`
	// EarningAmount is the amount the rule was applied to (for a clawback,
	// the amount refunded).
	EarningAmount int64 `json:"earning_amount"`
	// Rounding is how fractions of the minor unit were rounded.
	Rounding string `json:"rounding"`
	Note     string `json:"note"`
}

// Rounding names the rounding of commission arithmetic.
const RoundingHalfEven = "half_even"

// PercentOf returns amount × basisPoints / 10000, rounded half to even on
// the minor unit.
func PercentOf(amount, basisPoints int64) int64 { return MulDiv(amount, basisPoints, 10000) }

// MulDiv returns a × b / d rounded half to even (d > 0). The product is
// taken in 128 bits: a clawback's share of a commission multiplies two
// amounts, each up to MaxAmount, which int64 cannot hold. A quotient that
// does not fit in an int64 saturates at ±MaxInt64 (never within
// MaxAmount).
func MulDiv(a, b, d int64) int64 {
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(absU(a), absU(b))
	ud := uint64(d)
	if hi >= ud {
		if neg {
			return -math.MaxInt64
		}
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, ud)
	if q >= math.MaxInt64 {
		q = math.MaxInt64
	} else if r > ud-r || r == ud-r && q%2 == 1 {
		q++
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-v) // -MinInt64 wraps to itself, which is its magnitude
	}
	return uint64(v)
}

// Compute applies the rule to an earning amount in currency: a flat rule
// pays its amount in its own currency; a percent rule pays a share of the
// earning in the earning's currency, at most the cap Caps has for it.
// Errors: conflict (the rule has caps but none in currency, or a cap
// without a currency): paying without the cap someone meant could pay a
// hundred times too much, so the earning waits until the rule says.
func (c CommissionRule) Compute(amount int64, currency string) (int64, string, error) {
	if c.Type == CommissionFlat {
		return c.Amount, c.Currency, nil
	}
	v := PercentOf(amount, c.BasisPoints)
	limit, capped := c.Caps[currency]
	switch {
	case c.LegacyCap != 0:
		return 0, "", Errorf(EConflict, "the program's commission cap of %d was set before caps were per currency, "+
			"so its currency is unknown; set the program's commission again with caps per currency, one of them in %s", c.LegacyCap, currency)
	case !capped && len(c.Caps) > 0:
		return 0, "", Errorf(EConflict, "the program's commission has caps in %s but none in %s; add one to its commission caps to record earnings in %s",
			strings.Join(slices.Sorted(maps.Keys(c.Caps)), ", "), currency, currency)
	case capped && v > limit:
		v = limit
	}
	return v, currency, nil
}

// CommissionFilter narrows a list of commissions.
type CommissionFilter struct {
	ListOptions
	AmbassadorID string
	EarningID    string
	// PayoutID picks the commissions a payout paid.
	PayoutID string
	Status   CommissionStatus
}

// CommissionQueueFilter picks a page of the commissions awaiting approval.
type CommissionQueueFilter struct {
	ListOptions
	// OnHold lists the commissions on hold, held longest first; without
	// it, the pending ones that are not held, whose hold period ends
	// soonest first.
	OnHold bool
}

// Balance is what an ambassador has earned in one currency, by status.
type Balance struct {
	Currency string `json:"currency"`
	Pending  int64  `json:"pending"`
	Approved int64  `json:"approved"`
	Paid     int64  `json:"paid"`
}

// Payout records money paid to an ambassador outside referrald: it marks
// their approved commissions in one currency paid.
type Payout struct {
	ID                string `json:"id"`
	AmbassadorID      string `json:"ambassador_id"`
	Amount            int64  `json:"amount"`
	Currency          string `json:"currency"`
	Commissions       int    `json:"commissions"`
	ExternalReference string `json:"external_reference"`
	CreatedAt         Time   `json:"created_at"`
}

// PayoutFilter narrows a list of payouts; set filters combine.
type PayoutFilter struct {
	ListOptions
	AmbassadorID string
	Currency     string
	// From and To bound created_at: From ≤ created_at < To; zero is open.
	From, To Time
}

// MaxPayoutCommissions is how many of the commissions it paid a payout
// carries when read by ID: a payout pays every approved commission of its
// ambassador in its currency, which can be thousands. The rest are listed,
// page by page, by FindCommissions with a PayoutID.
const MaxPayoutCommissions = 100

// PayoutDetail is a payout with the commissions it paid.
type PayoutDetail struct {
	Payout
	// PaidCommissions are the commissions the payout paid, newest first:
	// all of them when Payout.Commissions is at most MaxPayoutCommissions,
	// else the newest MaxPayoutCommissions. It is not called commissions
	// because the payout's commissions field is already their count.
	PaidCommissions []*Commission `json:"paid_commissions"`
}

// PayoutCreate is the body of POST /v1/payouts.
type PayoutCreate struct {
	AmbassadorID      string `json:"ambassador_id"`
	Currency          string `json:"currency"`
	ExternalReference string `json:"external_reference"`
}

// Validate normalizes c in place and returns its problems.
func (c *PayoutCreate) Validate() FieldErrors {
	var fe FieldErrors
	checkID(&fe, "ambassador_id", PrefixAmbassador, &c.AmbassadorID, true)
	checkCurrency(&fe, "currency", c.Currency)
	CheckText(&fe, "external_reference", &c.ExternalReference, MaxLabelLen, true)
	return fe
}

// EarningService records earnings and the commissions they earn.
type EarningService interface {
	// CreateEarning records an earning, its commission (from the program's
	// rule), the referral's conversion and the earning.created event in
	// one transaction. Errors: validation_failed (not_found for an unknown
	// referral), conflict (a rejected or erased referral, external_id
	// already used for this referral, or Reference already used),
	// idempotency_key_reused, unavailable.
	CreateEarning(ctx context.Context, in EarningCreate, idem Idempotency) (*Earning, bool, error)
	// FindEarningByID errors: not_found.
	FindEarningByID(ctx context.Context, id string) (*Earning, error)
	// FindEarningByReference returns the earning created with this
	// EarningCreate.Reference. Errors: not_found.
	FindEarningByReference(ctx context.Context, reference string) (*Earning, error)
	FindEarnings(ctx context.Context, f EarningFilter) (Page[*Earning], error)
	// RefundEarning refunds part or all of what is left of an earning and
	// claws the matching share of its commission back. Errors: not_found,
	// validation_failed (more than is left), conflict (nothing left, or
	// already refunded up to r.UpTo).
	RefundEarning(ctx context.Context, id string, r EarningRefund, idem Idempotency) (*Earning, bool, error)

	FindCommissionByID(ctx context.Context, id string) (*Commission, error)
	// FindCommissions lists commissions newest first; with a PayoutID,
	// those that payout paid (none for an unknown payout).
	FindCommissions(ctx context.Context, f CommissionFilter) (Page[*Commission], error)
	// FindCommissionQueue lists the pending commissions in the order a
	// manager reviews them (see CommissionQueueFilter), settled at the
	// time of reading. Errors: validation_failed (a cursor this list did
	// not return).
	FindCommissionQueue(ctx context.Context, f CommissionQueueFilter) (Page[*Commission], error)
	// ApproveCommission approves a pending commission before its hold
	// ends, or one on hold, with its pending clawbacks. Errors:
	// not_found, conflict (already paid).
	ApproveCommission(ctx context.Context, id string) (*Commission, error)
	// HoldCommission puts a pending commission and its pending clawbacks
	// on hold, so that they are not approved when their hold period ends.
	// Errors: not_found, conflict (approved, paid, or a clawback).
	HoldCommission(ctx context.Context, id string) (*Commission, error)
	// ReleaseCommission takes a commission and its clawbacks off hold;
	// one whose hold period has ended is approved by that. Errors:
	// not_found, conflict (a clawback).
	ReleaseCommission(ctx context.Context, id string) (*Commission, error)
	// AmbassadorBalance sums an ambassador's commissions by currency and
	// status. Errors: not_found.
	AmbassadorBalance(ctx context.Context, ambassadorID string) ([]Balance, error)
	// CreatePayout marks the ambassador's approved commissions in one
	// currency paid. Errors: validation_failed, conflict (nothing
	// approved to pay), idempotency_key_reused.
	CreatePayout(ctx context.Context, in PayoutCreate, idem Idempotency) (*Payout, bool, error)
	// FindPayoutByID returns a payout with the commissions it paid, at
	// most MaxPayoutCommissions of them. Errors: not_found (also for a
	// malformed ID).
	FindPayoutByID(ctx context.Context, id string) (*PayoutDetail, error)
	// FindPayouts lists payouts newest first. Errors: validation_failed
	// (a cursor this list did not return).
	FindPayouts(ctx context.Context, f PayoutFilter) (Page[*Payout], error)
}

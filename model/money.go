package model

import (
	"fmt"
	"maps"
	"time"
)

// The rules of money: what an earning makes, what a refund takes back,
// when a commission may be approved and what a payout pays. They are
// plain functions over the records, so the store only writes what they
// return. newID makes a fresh ID with a prefix.

// NewEarning is what a valid earning of ref in program prg makes at now:
// the earning (called id) and the commission of the program's rule, nil
// without one. Errors: conflict (a rejected or erased referral cannot
// earn).
func NewEarning(in EarningCreate, ref *Referral, prg *Program, id string, newID func(prefix string) string, now time.Time) (*Earning, *Commission, error) {
	switch {
	case ref.Status == ReferralRejected:
		return nil, nil, Errorf(EConflict, "referral %s is rejected and cannot earn", ref.ID)
	case ref.ErasedAt != nil:
		// The tombstone stays for the counts; a purchase on it would pay a
		// commission for a person who is no longer on record.
		return nil, nil, Errorf(EConflict, "referral %s is erased and cannot earn", ref.ID)
	}
	t := NewTime(now)
	e := &Earning{ID: id, ReferralID: ref.ID, ProgramID: ref.ProgramID, AmbassadorID: ref.AmbassadorID,
		Amount: in.Amount, Currency: in.Currency, Metadata: in.Metadata, Status: EarningRecorded, CreatedAt: t, UpdatedAt: t}
	if in.ExternalID != "" {
		e.ExternalID = &in.ExternalID
	}
	c, err := CommissionFor(prg, e, newID(PrefixCommission), now)
	if err != nil {
		return nil, nil, err
	}
	return e, c, nil
}

// CommissionFor is the commission program prg's rule pays for earning e,
// held for the program's hold days; nil when the program has no rule.
// Errors: conflict (the rule has no cap for the earning's currency; see
// CommissionRule.Compute).
func CommissionFor(prg *Program, e *Earning, id string, now time.Time) (*Commission, error) {
	rule := prg.Commission
	if rule == nil {
		return nil, nil
	}
	amount, currency, err := rule.Compute(e.Amount, e.Currency)
	if err != nil {
		return nil, err
	}
	ruleCopy := *rule
	ruleCopy.Caps = maps.Clone(rule.Caps)
	earningID := e.ID
	return newCommission(prg, id, CommissionPending, now, Commission{AmbassadorID: e.AmbassadorID, ProgramID: e.ProgramID,
		ReferralID: e.ReferralID, EarningID: &earningID, Kind: CommissionEarning, Amount: amount, Currency: currency,
		Basis: CommissionBasis{Source: "rule", Rule: &ruleCopy, EarningAmount: e.Amount, Rounding: RoundingHalfEven,
			Note: describeRule(rule, e.Amount, e.Currency, amount, currency)}}), nil
}

// PluginCommission is the commission a hook plugin computed for an event
// about referral ref: a signup bounty, or, when e is set, a commission of
// that earning. It is held like the program's own. Errors: the plugin
// named an ambassador, currency or amount that cannot be paid (the caller
// records the result and logs why, instead of the commission).
func PluginCommission(prg *Program, ref *Referral, e *Earning, hc HookCommission, plugin, version, id string, now time.Time) (*Commission, error) {
	if !ValidCurrency(hc.Currency) || hc.Amount > MaxAmount || hc.Amount < -MaxAmount {
		return nil, fmt.Errorf("the plugin's commission has an invalid currency %q or amount %d", hc.Currency, hc.Amount)
	}
	c := Commission{AmbassadorID: hc.AmbassadorID, ProgramID: ref.ProgramID, ReferralID: ref.ID, Kind: CommissionBounty,
		Amount: hc.Amount, Currency: hc.Currency,
		Basis: CommissionBasis{Source: "plugin", Plugin: &plugin, PluginVersion: &version, Rounding: RoundingHalfEven, Note: hc.Reason}}
	if e != nil {
		earningID := e.ID
		c.EarningID, c.Kind, c.Basis.EarningAmount = &earningID, CommissionEarning, e.Amount
	}
	return newCommission(prg, id, CommissionPending, now, c), nil
}

// newCommission completes c as a new commission of program prg, with its
// ID, status, hold and times.
func newCommission(prg *Program, id string, status CommissionStatus, now time.Time, c Commission) *Commission {
	t := NewTime(now)
	c.ID, c.Status, c.CreatedAt, c.UpdatedAt = id, status, t, t
	c.ApprovableAt = NewTime(now.AddDate(0, 0, prg.HoldDays))
	return &c
}

// describeRule says in words how a rule made amount, for the basis note.
func describeRule(r *CommissionRule, earning int64, earningCur string, amount int64, cur string) string {
	if r.Type == CommissionFlat {
		return fmt.Sprintf("flat %d %s per earning", r.Amount, r.Currency)
	}
	note := fmt.Sprintf("%d basis points of %d %s = %d %s, rounded half to even", r.BasisPoints, earning, earningCur, amount, cur)
	if limit, ok := r.Caps[cur]; ok && amount == limit {
		note += fmt.Sprintf(", capped at %d %s", limit, cur)
	}
	return note
}

// Refund refunds amount of e at now (0: all that is left) and returns the
// amount refunded. Errors: conflict (nothing left), validation_failed
// (more than is left).
func (e *Earning) Refund(amount int64, now time.Time) (int64, error) {
	left := e.Amount - e.RefundedAmount
	if amount == 0 {
		amount = left
	}
	switch {
	case left == 0:
		return 0, Errorf(EConflict, "earning %s is already refunded in full", e.ID)
	case amount < 0 || amount > left:
		var fe FieldErrors
		fe.Add("amount", FInvalidValue, "must be from 1 to %d, what is left of the earning", left)
		return 0, fe.Err()
	}
	e.RefundedAmount += amount
	e.Status = EarningPartiallyRefunded
	if e.RefundedAmount == e.Amount {
		e.Status = EarningRefunded
	}
	e.UpdatedAt = NewTime(now)
	return amount, nil
}

// Clawbacks are the commissions a refund of amount adds to earning e (as
// the refund left it), given every commission of e so far: for each of
// its earning commissions, the share of everything refunded less what
// earlier refunds clawed back. Rounding each refund on its own could take
// back more than the commission over several refunds; refunded in full,
// the share is the whole commission. A clawback of a commission already
// approved or paid is approved at once, so it counts against the next
// payout.
func Clawbacks(e *Earning, amount int64, commissions []*Commission, newID func(prefix string) string, now time.Time) []*Commission {
	var out []*Commission
	t := NewTime(now)
	for _, orig := range commissions {
		if orig.Kind != CommissionEarning {
			continue
		}
		clawed := int64(0)
		for _, c := range commissions {
			if c.Kind == CommissionClawback && c.Basis.Note == clawbackOf(orig.ID) {
				clawed += c.Amount
			}
		}
		claw := -MulDiv(orig.Amount, e.RefundedAmount, e.Amount) - clawed
		if claw == 0 {
			continue
		}
		c := &Commission{ID: newID(PrefixCommission), AmbassadorID: orig.AmbassadorID, ProgramID: orig.ProgramID,
			ReferralID: orig.ReferralID, EarningID: orig.EarningID, Kind: CommissionClawback, Amount: claw,
			Currency: orig.Currency, Status: CommissionPending, ApprovableAt: orig.ApprovableAt,
			Basis: CommissionBasis{Source: orig.Basis.Source, Rule: orig.Basis.Rule, EarningAmount: amount,
				Rounding: RoundingHalfEven, Note: clawbackOf(orig.ID)},
			CreatedAt: t, UpdatedAt: t}
		if orig.Settle(now).Status != CommissionPending {
			c.Status, c.ApprovableAt = CommissionApproved, t
		} else {
			// A clawback of a commission on hold waits with it: approved on
			// its own, it would count against a payout that does not pay
			// what it reverses.
			c.OnHold = orig.OnHold
		}
		out = append(out, c)
	}
	return out
}

// clawbackOf is the basis note that ties a clawback to what it reverses.
func clawbackOf(commissionID string) string { return "clawback of " + commissionID }

// Settle shows a pending commission whose hold has ended at now as
// approved: the hold ending is a matter of time, not of a write. One put
// on hold by hand stays pending until it is released. It returns c.
func (c *Commission) Settle(now time.Time) *Commission {
	if c.Status == CommissionPending && !c.OnHold && !now.Before(c.ApprovableAt.Time) {
		c.Status = CommissionApproved
	}
	return c
}

// Approve approves c by hand before its hold ends, taking it off hold if
// it was held, and reports whether that changed it: approving is the
// manager's decision, which a hold only waits for. Errors: conflict
// (already paid).
func (c *Commission) Approve(now time.Time) (bool, error) {
	switch c.Settle(now).Status {
	case CommissionPaid:
		return false, Errorf(EConflict, "commission %s is already paid", c.ID)
	case CommissionApproved:
		return false, nil
	}
	c.Status, c.OnHold, c.UpdatedAt = CommissionApproved, false, NewTime(now)
	return true, nil
}

// Hold puts a pending commission on hold at now, so that it stays
// pending when its hold period ends, until it is released or approved by
// hand; it reports whether that changed it (holding a held one does
// not). Only a pending commission can be held: an approved one may
// already be counted in a payout someone is preparing, and a clawback
// follows the commission it reverses. Errors: conflict (approved, paid,
// or a clawback).
func (c *Commission) Hold(now time.Time) (bool, error) {
	switch {
	case c.Kind == CommissionClawback:
		return false, Errorf(EConflict, "commission %s is a clawback, which is held and released with the commission it reverses", c.ID)
	case c.Settle(now).Status != CommissionPending:
		return false, Errorf(EConflict, "commission %s is already %s and can no longer be held", c.ID, c.Status)
	case c.OnHold:
		return false, nil
	}
	c.OnHold, c.UpdatedAt = true, NewTime(now)
	return true, nil
}

// Release takes c off hold at now and reports whether that changed it
// (releasing one that is not held does not). A commission whose hold
// period has already ended is approved by that, at once. Errors:
// conflict (a clawback, which is released with its commission).
func (c *Commission) Release(now time.Time) (bool, error) {
	if c.Kind == CommissionClawback {
		return false, Errorf(EConflict, "commission %s is a clawback, which is held and released with the commission it reverses", c.ID)
	}
	if !c.OnHold {
		return false, nil
	}
	c.OnHold, c.UpdatedAt = false, NewTime(now)
	c.Settle(now)
	return true, nil
}

// ReversesPending reports whether c is a pending clawback of orig, which
// is approved, held and released along with it: a payout pays approved
// commissions, and without its clawbacks it would pay what a refund has
// already taken back.
func (c *Commission) ReversesPending(orig *Commission, now time.Time) bool {
	return c.Kind == CommissionClawback && c.Basis.Note == clawbackOf(orig.ID) && c.Settle(now).Status == CommissionPending
}

// NewPayout pays due, an ambassador's commissions (settled at now), in
// in.Currency: those approved in that currency are marked paid by the
// payout (called id) and returned. Errors: conflict (nothing approved to
// pay, or clawbacks exceed it).
func NewPayout(in PayoutCreate, due []*Commission, id string, now time.Time) (*Payout, []*Commission, error) {
	var paid []*Commission
	var sum int64
	for _, c := range due {
		if c.Status == CommissionApproved && c.Currency == in.Currency {
			paid = append(paid, c)
			sum += c.Amount
		}
	}
	if sum <= 0 {
		return nil, nil, Errorf(EConflict, "ambassador %s has no approved commissions in %s to pay (approved total %d)",
			in.AmbassadorID, in.Currency, sum)
	}
	t := NewTime(now)
	p := &Payout{ID: id, AmbassadorID: in.AmbassadorID, Amount: sum, Currency: in.Currency, Commissions: len(paid),
		ExternalReference: in.ExternalReference, CreatedAt: t}
	for _, c := range paid {
		c.Status, c.PayoutID, c.UpdatedAt = CommissionPaid, &p.ID, t
	}
	return p, paid, nil
}

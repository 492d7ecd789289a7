package store

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.EarningService = (*Store)(nil)

var (
	earningStatusBytes    = map[model.EarningStatus]byte{model.EarningRecorded: 1, model.EarningPartiallyRefunded: 2, model.EarningRefunded: 3}
	commissionStatusBytes = map[model.CommissionStatus]byte{model.CommissionPending: 1, model.CommissionApproved: 2, model.CommissionPaid: 3}
)

func statusOf[S comparable](m map[S]byte, b byte) S {
	for s, v := range m {
		if v == b {
			return s
		}
	}
	var zero S
	return zero
}

func encodeEarning(e *model.Earning) []byte {
	enc := newEncoder()
	enc.idKey(model.PrefixReferral, e.ReferralID)
	enc.idKey(model.PrefixProgram, e.ProgramID)
	enc.idKey(model.PrefixAmbassador, e.AmbassadorID)
	enc.varint(e.Amount)
	enc.str(e.Currency)
	enc.optStr(e.ExternalID)
	enc.bytes(e.Metadata)
	enc.byte(earningStatusBytes[e.Status])
	enc.varint(e.RefundedAmount)
	enc.time(e.CreatedAt)
	enc.time(e.UpdatedAt)
	return enc.b
}

func decodeEarning(key, val []byte) (*model.Earning, error) {
	d := newDecoder(val)
	e := &model.Earning{ID: model.FormatID(model.PrefixEarning, [16]byte(key))}
	e.ReferralID = d.id(model.PrefixReferral)
	e.ProgramID = d.id(model.PrefixProgram)
	e.AmbassadorID = d.id(model.PrefixAmbassador)
	e.Amount = d.varint()
	e.Currency = d.str()
	e.ExternalID = d.optStr()
	e.Metadata = d.bytes()
	e.Status = statusOf(earningStatusBytes, d.byte())
	e.RefundedAmount = d.varint()
	e.CreatedAt = d.time()
	e.UpdatedAt = d.time()
	return e, d.err
}

func earningIndexes(e *model.Earning) (fixed []indexEntry, byStatus indexEntry) {
	ref, prg, amb := keyOf(model.PrefixReferral, e.ReferralID), keyOf(model.PrefixProgram, e.ProgramID), keyOf(model.PrefixAmbassador, e.AmbassadorID)
	return []indexEntry{{bucketEarningsByReferral, ref[:]}, {bucketEarningsByProgram, prg[:]}, {bucketEarningsByAmbassador, amb[:]}},
		indexEntry{bucketEarningsByStatus, []byte{earningStatusBytes[e.Status]}}
}

func encodeCommission(c *model.Commission) []byte {
	e := newEncoder()
	e.idKey(model.PrefixAmbassador, c.AmbassadorID)
	e.idKey(model.PrefixProgram, c.ProgramID)
	e.idKey(model.PrefixReferral, c.ReferralID)
	e.optID(model.PrefixEarning, c.EarningID)
	e.str(c.Kind)
	e.varint(c.Amount)
	e.str(c.Currency)
	e.byte(commissionStatusBytes[c.Status])
	e.time(c.ApprovableAt)
	e.optID(model.PrefixPayout, c.PayoutID)
	e.str(c.Basis.Source)
	if r := c.Basis.Rule; r != nil {
		e.byte(1)
		e.str(r.Type)
		e.varint(r.Amount)
		e.str(r.Currency)
		e.varint(r.BasisPoints)
		e.varint(r.LegacyCap)
	} else {
		e.byte(0)
	}
	e.varint(c.Basis.EarningAmount)
	e.str(c.Basis.Rounding)
	e.str(c.Basis.Note)
	e.time(c.CreatedAt)
	e.time(c.UpdatedAt)
	e.optStr(c.Basis.Plugin)
	e.optStr(c.Basis.PluginVersion)
	// The rule's caps per currency came last; records from before read as
	// none, and show the rule's cap as it was, without a currency.
	var caps map[string]int64
	if c.Basis.Rule != nil {
		caps = c.Basis.Rule.Caps
	}
	e.amounts(caps)
	// Holding came later still; records from before read as not held.
	if c.OnHold {
		e.byte(1)
	} else {
		e.byte(0)
	}
	return e.b
}

func decodeCommission(key, val []byte) (*model.Commission, error) {
	d := newDecoder(val)
	c := &model.Commission{ID: model.FormatID(model.PrefixCommission, [16]byte(key))}
	c.AmbassadorID = d.id(model.PrefixAmbassador)
	c.ProgramID = d.id(model.PrefixProgram)
	c.ReferralID = d.id(model.PrefixReferral)
	c.EarningID = d.optID(model.PrefixEarning)
	c.Kind = d.str()
	c.Amount = d.varint()
	c.Currency = d.str()
	c.Status = statusOf(commissionStatusBytes, d.byte())
	c.ApprovableAt = d.time()
	c.PayoutID = d.optID(model.PrefixPayout)
	c.Basis.Source = d.str()
	if d.byte() == 1 {
		c.Basis.Rule = &model.CommissionRule{Type: d.str(), Amount: d.varint(), Currency: d.str(), BasisPoints: d.varint(), LegacyCap: d.varint()}
	}
	c.Basis.EarningAmount = d.varint()
	c.Basis.Rounding = d.str()
	c.Basis.Note = d.str()
	c.CreatedAt = d.time()
	c.UpdatedAt = d.time()
	c.Basis.Plugin = d.optStr()
	c.Basis.PluginVersion = d.optStr()
	if caps := d.amounts(); c.Basis.Rule != nil {
		c.Basis.Rule.Caps = caps
	}
	c.OnHold = d.byte() == 1
	return c, d.err
}

// putNewCommission writes a commission just made, with its
// commission.created event.
func (s *Store) putNewCommission(tx *bolt.Tx, now time.Time, c *model.Commission) error {
	if err := putCommission(tx, c); err != nil {
		return err
	}
	return s.appendEvent(tx, now, model.EventCommissionCreated, keyOf(model.PrefixCommission, c.ID), c)
}

func putCommission(tx *bolt.Tx, c *model.Commission) error {
	key := keyOf(model.PrefixCommission, c.ID)
	if err := tx.Bucket(bucketCommissions).Put(key[:], encodeCommission(c)); err != nil {
		return err
	}
	amb := keyOf(model.PrefixAmbassador, c.AmbassadorID)
	idx := []indexEntry{{bucketCommissionsByAmbassador, amb[:]}}
	if c.EarningID != nil {
		ern := keyOf(model.PrefixEarning, *c.EarningID)
		idx = append(idx, indexEntry{bucketCommissionsByEarning, ern[:]})
	}
	if err := putIndexes(tx, key, idx...); err != nil {
		return err
	}
	return putAwaiting(tx, c)
}

// commissionsOf returns every commission of an earning, oldest first.
func commissionsOf(tx *bolt.Tx, earningID string) ([]*model.Commission, error) {
	ern := keyOf(model.PrefixEarning, earningID)
	var out []*model.Commission
	c := tx.Bucket(bucketCommissionsByEarning).Cursor()
	for k, _ := c.Seek(ern[:]); k != nil && bytes.HasPrefix(k, ern[:]); k, _ = c.Next() {
		key := k[16:]
		cm, err := decodeCommission(key, tx.Bucket(bucketCommissions).Get(key))
		if err != nil {
			return nil, err
		}
		out = append(out, cm)
	}
	return out, nil
}

// CreateEarning implements model.EarningService.
func (s *Store) CreateEarning(ctx context.Context, in model.EarningCreate, idem model.Idempotency) (*model.Earning, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		tx, now := w.tx, w.now
		ref, err := getRecord(tx, bucketReferrals, model.PrefixReferral, in.ReferralID, decodeReferral)
		if model.ErrorCode(err) == model.ENotFound {
			return nil, nil, model.FieldNotFound("referral_id", model.PrefixReferral, in.ReferralID)
		} else if err != nil {
			return nil, nil, err
		}
		refKey := keyOf(model.PrefixReferral, ref.ID)
		var extKey []byte
		if in.ExternalID != "" {
			extKey = cat(refKey[:], hashKey(in.ExternalID))
			if prev := tx.Bucket(bucketEarningsByExternalID).Get(extKey); prev != nil {
				return nil, nil, model.Errorf(model.EConflict, "external_id %q is already recorded for referral %s as %s",
					in.ExternalID, ref.ID, model.FormatID(model.PrefixEarning, [16]byte(prev)))
			}
		}
		var refIdx []byte
		if in.Reference != "" {
			refIdx = hashKey(in.Reference)
			if prev := tx.Bucket(bucketEarningsByReference).Get(refIdx); prev != nil {
				return nil, nil, model.Errorf(model.EConflict, "this reference is already recorded as %s",
					model.FormatID(model.PrefixEarning, [16]byte(prev)))
			}
		}
		prg, err := getRecord(tx, bucketPrograms, model.PrefixProgram, ref.ProgramID, decodeProgram)
		if err != nil {
			return nil, nil, err
		}
		key := w.newKey()
		e, commission, err := model.NewEarning(in, ref, prg, model.FormatID(model.PrefixEarning, key), w.newID, now)
		if err != nil {
			return nil, nil, err
		}
		val := encodeEarning(e)
		return snapshot(key, val), func() error {
			if err := tx.Bucket(bucketEarnings).Put(key[:], val); err != nil {
				return err
			}
			fixed, byStatus := earningIndexes(e)
			if err := putIndexes(tx, key, append(fixed, byStatus)...); err != nil {
				return err
			}
			if extKey != nil {
				if err := tx.Bucket(bucketEarningsByExternalID).Put(extKey, key[:]); err != nil {
					return err
				}
			}
			if refIdx != nil {
				if err := tx.Bucket(bucketEarningsByReference).Put(refIdx, key[:]); err != nil {
					return err
				}
			}
			if commission != nil {
				if err := s.putNewCommission(tx, now, commission); err != nil {
					return err
				}
			}
			if err := w.counts.bump(subject{e.ProgramID, e.AmbassadorID, ref.PlacementID}, dayOf(now), func(c *model.Counts) {
				m := c.MoneyFor(e.Currency)
				m.Earnings++
				m.Amount += e.Amount
				if commission != nil {
					c.MoneyFor(commission.Currency).Commissions += commission.Amount
				}
			}); err != nil {
				return err
			}
			if converted, ok := ref.Converted(); ok {
				if err := s.putReferralChange(w, ref, converted); err != nil {
					return err
				}
			}
			if err := s.appendEvent(tx, now, model.EventEarningCreated, key, e); err != nil {
				return err
			}
			return w.auditf("earning.created", e.ID, "%d %s for referral %s", e.Amount, e.Currency, e.ReferralID)
		}, nil
	})
	return fromSnapshot(snap, replayed, err, decodeEarning)
}

// FindEarningByID implements model.EarningService.
func (s *Store) FindEarningByID(ctx context.Context, id string) (e *model.Earning, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		e, err = getRecord(tx, bucketEarnings, model.PrefixEarning, id, decodeEarning)
		return err
	})
	return e, err
}

// FindEarningByReference implements model.EarningService.
func (s *Store) FindEarningByReference(ctx context.Context, reference string) (e *model.Earning, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		key := tx.Bucket(bucketEarningsByReference).Get(hashKey(reference))
		if len(key) != 16 {
			return model.Errorf(model.ENotFound, "no earning has this reference")
		}
		e, err = decodeEarning(key, tx.Bucket(bucketEarnings).Get(key))
		return err
	})
	return e, err
}

// FindEarnings implements model.EarningService. A time range starts the
// walk at its end, since keys sort by creation time.
func (s *Store) FindEarnings(ctx context.Context, f model.EarningFilter) (p model.Page[*model.Earning], err error) {
	bucket, prefix := bucketEarnings, []byte(nil)
	switch {
	case f.ReferralID != "":
		bucket, prefix = bucketEarningsByReferral, idPrefix(model.PrefixReferral, f.ReferralID)
	case f.AmbassadorID != "":
		bucket, prefix = bucketEarningsByAmbassador, idPrefix(model.PrefixAmbassador, f.AmbassadorID)
	case f.ProgramID != "":
		bucket, prefix = bucketEarningsByProgram, idPrefix(model.PrefixProgram, f.ProgramID)
	case f.Status != "":
		bucket, prefix = bucketEarningsByStatus, []byte{earningStatusBytes[f.Status]}
	}
	if f.Cursor == "" && !f.To.IsZero() {
		f.Cursor = model.FormatID(model.PrefixEarning, model.TimeKey(f.To.Time))
	}
	load := func(tx *bolt.Tx, key []byte) (*model.Earning, bool, error) {
		e, err := decodeEarning(key, tx.Bucket(bucketEarnings).Get(key))
		if err != nil {
			return nil, false, err
		}
		ok := (f.ReferralID == "" || e.ReferralID == f.ReferralID) && (f.AmbassadorID == "" || e.AmbassadorID == f.AmbassadorID) &&
			(f.ProgramID == "" || e.ProgramID == f.ProgramID) && (f.Status == "" || e.Status == f.Status) &&
			(f.From.IsZero() || !e.CreatedAt.Before(f.From.Time)) && (f.To.IsZero() || e.CreatedAt.Before(f.To.Time))
		return e, ok, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucket, prefix, model.PrefixEarning, f.ListOptions, load)
		return err
	})
	return p, err
}

// RefundEarning implements model.EarningService. Each commission of the
// earning gets a clawback: the refunded share of it, or, when the earning
// is refunded in full, exactly what is left of it, so partial refunds never
// leave a cent behind through rounding.
func (s *Store) RefundEarning(ctx context.Context, id string, r model.EarningRefund, idem model.Idempotency) (*model.Earning, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		tx, now := w.tx, w.now
		e, err := getRecord(tx, bucketEarnings, model.PrefixEarning, id, decodeEarning)
		if err != nil {
			return nil, nil, err
		}
		commissions, err := commissionsOf(tx, e.ID)
		if err != nil {
			return nil, nil, err
		}
		ref, err := getRecord(tx, bucketReferrals, model.PrefixReferral, e.ReferralID, decodeReferral)
		if err != nil {
			return nil, nil, err
		}
		before := *e
		if r.UpTo > 0 {
			if r.Amount = r.UpTo - e.RefundedAmount; r.Amount <= 0 {
				return nil, nil, model.Errorf(model.EConflict, "earning %s has already had %d refunded, at least %d", e.ID, e.RefundedAmount, r.UpTo)
			}
		}
		amount, err := e.Refund(r.Amount, now)
		if err != nil {
			return nil, nil, err
		}
		clawbacks := model.Clawbacks(e, amount, commissions, w.newID, now)
		key := keyOf(model.PrefixEarning, e.ID)
		val := encodeEarning(e)
		return snapshot(key, val), func() error {
			if err := tx.Bucket(bucketEarnings).Put(key[:], val); err != nil {
				return err
			}
			_, oldStatus := earningIndexes(&before)
			_, newStatus := earningIndexes(e)
			if err := deleteIndexes(tx, key, oldStatus); err != nil {
				return err
			}
			if err := putIndexes(tx, key, newStatus); err != nil {
				return err
			}
			for _, c := range clawbacks {
				if err := s.putNewCommission(tx, now, c); err != nil {
					return err
				}
			}
			// On the earning's day: refunds and clawbacks belong to its cohort.
			if err := w.counts.bump(subject{e.ProgramID, e.AmbassadorID, ref.PlacementID}, dayOf(model.IDTime(key)), func(c *model.Counts) {
				c.MoneyFor(e.Currency).Refunded += amount
				for _, cb := range clawbacks {
					c.MoneyFor(cb.Currency).Commissions += cb.Amount
				}
			}); err != nil {
				return err
			}
			if err := s.appendEvent(tx, now, model.EventEarningRefunded, key, model.EarningRefundedData{Earning: e, Amount: amount}); err != nil {
				return err
			}
			if r.Reason != "" {
				return w.auditf("earning.refunded", e.ID, "refunded %d %s, %d clawbacks: %s", amount, e.Currency, len(clawbacks), r.Reason)
			}
			return w.auditf("earning.refunded", e.ID, "refunded %d %s, %d clawbacks", amount, e.Currency, len(clawbacks))
		}, nil
	})
	return fromSnapshot(snap, replayed, err, decodeEarning)
}

// FindCommissionByID implements model.EarningService.
func (s *Store) FindCommissionByID(ctx context.Context, id string) (c *model.Commission, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		c, err = getRecord(tx, bucketCommissions, model.PrefixCommission, id, decodeCommission)
		return err
	})
	if c != nil {
		c.Settle(s.now())
	}
	return c, err
}

// FindCommissions implements model.EarningService. The commissions of a
// payout are read from its ambassador's, below the payout's time (see
// paidBy), as there is no index by payout.
func (s *Store) FindCommissions(ctx context.Context, f model.CommissionFilter) (p model.Page[*model.Commission], err error) {
	now := s.now()
	load := func(tx *bolt.Tx, key []byte) (*model.Commission, bool, error) {
		c, err := decodeCommission(key, tx.Bucket(bucketCommissions).Get(key))
		if err != nil {
			return nil, false, err
		}
		c.Settle(now)
		ok := (f.EarningID == "" || c.EarningID != nil && *c.EarningID == f.EarningID) && (f.AmbassadorID == "" || c.AmbassadorID == f.AmbassadorID) &&
			(f.PayoutID == "" || c.PayoutID != nil && *c.PayoutID == f.PayoutID) && (f.Status == "" || c.Status == f.Status)
		return c, ok, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		bucket, prefix := bucketCommissions, []byte(nil)
		switch {
		case f.EarningID != "":
			bucket, prefix = bucketCommissionsByEarning, idPrefix(model.PrefixEarning, f.EarningID)
		case f.PayoutID != "":
			pay, err := getRecord(tx, bucketPayouts, model.PrefixPayout, f.PayoutID, decodePayout)
			if model.ErrorCode(err) == model.ENotFound {
				p.Data = []*model.Commission{}
				return nil // an unknown payout paid nothing
			} else if err != nil {
				return err
			}
			bucket, prefix = bucketCommissionsByAmbassador, idPrefix(model.PrefixAmbassador, pay.AmbassadorID)
			f.PayoutID = pay.ID // as stored, in lower case
			if f.Cursor == "" {
				f.Cursor = model.FormatID(model.PrefixCommission, paidByCursor(pay.ID))
			}
		case f.AmbassadorID != "":
			bucket, prefix = bucketCommissionsByAmbassador, idPrefix(model.PrefixAmbassador, f.AmbassadorID)
		}
		p, err = listPage(tx, bucket, prefix, model.PrefixCommission, f.ListOptions, load)
		return err
	})
	return p, err
}

// ApproveCommission implements model.EarningService.
func (s *Store) ApproveCommission(ctx context.Context, id string) (c *model.Commission, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		c, err = getRecord(w.tx, bucketCommissions, model.PrefixCommission, id, decodeCommission)
		if err != nil {
			return nil, err
		}
		if changed, err := c.Approve(w.now); err != nil || !changed {
			return nil, err
		}
		clawbacks, err := pendingClawbacks(w.tx, c, w.now)
		if err != nil {
			return nil, err
		}
		return func() error {
			for _, cm := range append(clawbacks, c) {
				if err := rewriteCommission(w.tx, cm); err != nil {
					return err
				}
				if err := s.approvedEvent(w.tx, w.now, cm); err != nil {
					return err
				}
			}
			return w.auditf("commission.approved", c.ID, "%d %s to ambassador %s, with %d clawbacks", c.Amount, c.Currency, c.AmbassadorID, len(clawbacks))
		}, nil
	})
	return c, err
}

// pendingClawbacks approves the pending clawbacks of c along with it and
// returns them to be written: a payout pays approved commissions, and
// without them it would pay what a refund has already taken back.
func pendingClawbacks(tx *bolt.Tx, c *model.Commission, now time.Time) ([]*model.Commission, error) {
	if c.EarningID == nil || c.Kind == model.CommissionClawback {
		return nil, nil
	}
	all, err := commissionsOf(tx, *c.EarningID)
	if err != nil {
		return nil, err
	}
	var approve []*model.Commission
	for _, cb := range all {
		if cb.ReversesPending(c, now) {
			cb.Status, cb.OnHold, cb.UpdatedAt = model.CommissionApproved, false, model.NewTime(now)
			approve = append(approve, cb)
		}
	}
	return approve, nil
}

// ambassadorCommissions calls fn with each of an ambassador's commissions,
// settled at now.
func ambassadorCommissions(tx *bolt.Tx, ambassadorID string, now time.Time, fn func(*model.Commission) error) error {
	amb := keyOf(model.PrefixAmbassador, ambassadorID)
	c := tx.Bucket(bucketCommissionsByAmbassador).Cursor()
	for k, _ := c.Seek(amb[:]); k != nil && bytes.HasPrefix(k, amb[:]); k, _ = c.Next() {
		key := k[16:]
		cm, err := decodeCommission(key, tx.Bucket(bucketCommissions).Get(key))
		if err != nil {
			return err
		}
		if err := fn(cm.Settle(now)); err != nil {
			return err
		}
	}
	return nil
}

// AmbassadorBalance implements model.EarningService.
func (s *Store) AmbassadorBalance(ctx context.Context, ambassadorID string) (out []model.Balance, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if !exists(tx, bucketAmbassadors, model.PrefixAmbassador, ambassadorID) {
			return model.NotFound(model.PrefixAmbassador, ambassadorID)
		}
		byCurrency := map[string]*model.Balance{}
		var order []string
		defer func() {
			for _, cur := range order {
				out = append(out, *byCurrency[cur])
			}
		}()
		return ambassadorCommissions(tx, ambassadorID, s.now(), func(c *model.Commission) error {
			b := byCurrency[c.Currency]
			if b == nil {
				b = &model.Balance{Currency: c.Currency}
				byCurrency[c.Currency] = b
				order = append(order, c.Currency)
			}
			switch c.Status {
			case model.CommissionPending:
				b.Pending += c.Amount
			case model.CommissionApproved:
				b.Approved += c.Amount
			case model.CommissionPaid:
				b.Paid += c.Amount
			}
			return nil
		})
	})
	if out == nil {
		out = []model.Balance{}
	}
	return out, err
}

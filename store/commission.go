package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// The commissions awaiting approval, in the order a manager reviews them,
// and holding them. Approval by the end of a hold period is a matter of
// time, read with Commission.Settle, not a write, so no status index can
// say which commissions are still pending. commissions_awaiting_approval
// orders the ones stored pending instead:
//
//	0x01 ‖ commission key                       on hold, held longest first
//	0x02 ‖ approvable_at (ms, 8) ‖ commission key  not held, by the end of their hold period
//
// A walk of the second range from now on finds exactly those still
// pending, soonest approved first; the entries before now belong to
// commissions the time has approved, which stay until a payout pays them
// (rewriteCommission) and are never read.

const (
	awaitingHeld    byte = 1
	awaitingWaiting byte = 2
)

// awaitingKeys are the two entries c could have, held and waiting.
func awaitingKeys(c *model.Commission) (held, waiting []byte) {
	key := keyOf(model.PrefixCommission, c.ID)
	return cat([]byte{awaitingHeld}, key[:]), waitingKey(c.ApprovableAt.Time, key[:])
}

func waitingKey(approvable time.Time, key []byte) []byte {
	return cat([]byte{awaitingWaiting}, binary.BigEndian.AppendUint64(nil, uint64(approvable.UnixMilli())), key)
}

// putAwaiting adds c's entry when it is stored pending.
func putAwaiting(tx *bolt.Tx, c *model.Commission) error {
	if c.Status != model.CommissionPending {
		return nil
	}
	held, waiting := awaitingKeys(c)
	if c.OnHold {
		return tx.Bucket(bucketCommissionsAwaiting).Put(held, empty)
	}
	return tx.Bucket(bucketCommissionsAwaiting).Put(waiting, empty)
}

// rewriteCommission writes c, changed, and moves its entry in
// commissions_awaiting_approval: its approvable_at never changes, so
// both entries it could have had are known without the record as it was.
func rewriteCommission(tx *bolt.Tx, c *model.Commission) error {
	key := keyOf(model.PrefixCommission, c.ID)
	if err := tx.Bucket(bucketCommissions).Put(key[:], encodeCommission(c)); err != nil {
		return err
	}
	held, waiting := awaitingKeys(c)
	b := tx.Bucket(bucketCommissionsAwaiting)
	if err := b.Delete(held); err != nil {
		return err
	}
	if err := b.Delete(waiting); err != nil {
		return err
	}
	return putAwaiting(tx, c)
}

// HoldCommission implements model.EarningService.
func (s *Store) HoldCommission(ctx context.Context, id string) (*model.Commission, error) {
	return s.changeCommission(ctx, id, "commission.held", (*model.Commission).Hold, func(cb *model.Commission, now time.Time) {
		cb.OnHold = true
	})
}

// ReleaseCommission implements model.EarningService.
func (s *Store) ReleaseCommission(ctx context.Context, id string) (*model.Commission, error) {
	return s.changeCommission(ctx, id, "commission.released", (*model.Commission).Release, func(cb *model.Commission, now time.Time) {
		cb.OnHold = false
		cb.Settle(now)
	})
}

// changeCommission changes the commission id with change and, when that
// changed it, its pending clawbacks with along, and writes them all.
func (s *Store) changeCommission(ctx context.Context, id, action string, change func(*model.Commission, time.Time) (bool, error),
	along func(cb *model.Commission, now time.Time)) (c *model.Commission, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		c, err = getRecord(w.tx, bucketCommissions, model.PrefixCommission, id, decodeCommission)
		if err != nil {
			return nil, err
		}
		if changed, err := change(c, w.now); err != nil || !changed {
			return nil, err
		}
		var clawbacks []*model.Commission
		if c.EarningID != nil {
			all, err := commissionsOf(w.tx, *c.EarningID)
			if err != nil {
				return nil, err
			}
			for _, cb := range all {
				if cb.ReversesPending(c, w.now) {
					along(cb, w.now)
					cb.UpdatedAt = model.NewTime(w.now)
					clawbacks = append(clawbacks, cb)
				}
			}
		}
		approvedBefore, err := approvalsEmittedTo(w.tx)
		if err != nil {
			return nil, err
		}
		return func() error {
			for _, cm := range append(clawbacks, c) {
				if err := rewriteCommission(w.tx, cm); err != nil {
					return err
				}
				// A release after the hold period ended approves the
				// commission now; the sweep would not see it again
				// once it has passed its approvable_at.
				key := keyOf(model.PrefixCommission, cm.ID)
				if cm.Status == model.CommissionApproved && bytes.Compare(waitingKey(cm.ApprovableAt.Time, key[:]), approvedBefore) <= 0 {
					if err := s.approvedEvent(w.tx, w.now, cm); err != nil {
						return err
					}
				}
			}
			return w.auditf(action, c.ID, "%d %s to ambassador %s, with %d clawbacks", c.Amount, c.Currency, c.AmbassadorID, len(clawbacks))
		}, nil
	})
	return c, err
}

// FindCommissionQueue implements model.EarningService. A page costs the
// commissions it shows: every entry of the range walked from now on is
// one still pending.
func (s *Store) FindCommissionQueue(ctx context.Context, f model.CommissionQueueFilter) (p model.Page[*model.Commission], err error) {
	now := s.now()
	limit := f.Limit
	if limit <= 0 || limit > model.MaxListLimit {
		limit = min(max(limit, model.DefaultListLimit), model.MaxListLimit)
	}
	p.Data = make([]*model.Commission, 0, limit)
	prefix := []byte{awaitingWaiting}
	// The first approvable_at still pending: Settle approves at now.
	start := waitingKey(time.UnixMilli(now.UnixMilli()+1), nil)
	if f.OnHold {
		prefix = []byte{awaitingHeld}
		start = prefix
	}
	err = s.view(func(tx *bolt.Tx) error {
		var after []byte
		if f.Cursor != "" {
			last, err := getRecord(tx, bucketCommissions, model.PrefixCommission, f.Cursor, decodeCommission)
			if err != nil {
				var fe model.FieldErrors
				fe.Add("cursor", model.FInvalidValue, "is not a cursor this list returned")
				return fe.Err()
			}
			// The cursor's place, wherever its commission has gone since.
			held, waiting := awaitingKeys(last)
			after = waiting
			if f.OnHold {
				after = held
			}
			if bytes.Compare(after, start) > 0 {
				start = after
			}
		}
		commissions := tx.Bucket(bucketCommissions)
		c := tx.Bucket(bucketCommissionsAwaiting).Cursor()
		for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if after != nil && bytes.Equal(k, after) {
				continue
			}
			key := k[len(k)-16:]
			cm, err := decodeCommission(key, commissions.Get(key))
			if err != nil {
				return err
			}
			if cm.Settle(now).Status != model.CommissionPending {
				continue
			}
			if len(p.Data) == limit {
				p.HasMore = true
				next := p.Data[len(p.Data)-1].ID
				p.NextCursor = &next
				return nil
			}
			p.Data = append(p.Data, cm)
		}
		return nil
	})
	return p, err
}

// Approval events. A manager's approval writes its commission.approved
// event with the change; an approval by the end of a hold period is not a
// write, so the sweep writes its event afterwards, walking the waiting
// range of commissions_awaiting_approval up to now. keyApprovalsEmitted
// remembers the last waiting entry walked, so each is walked once.

// approvedEvent writes the commission.approved event of c, approved at
// now.
func (s *Store) approvedEvent(tx *bolt.Tx, now time.Time, c *model.Commission) error {
	return s.appendEvent(tx, now, model.EventCommissionApproved, keyOf(model.PrefixCommission, c.ID), c)
}

// approvalsEmittedTo is the last waiting entry whose approval event the
// sweep has written: every commission the time approved at or before it
// has had its event.
func approvalsEmittedTo(tx *bolt.Tx) ([]byte, error) {
	v := tx.Bucket(bucketMeta).Get(keyApprovalsEmitted)
	if len(v) != 1+8+16 || v[0] != awaitingWaiting {
		return nil, errCorrupt
	}
	return v, nil
}

// startApprovalEvents starts the sweep's walk at now, on a store that has
// none: commissions the time approved before this referrald wrote
// approval events get none.
func startApprovalEvents(tx *bolt.Tx, now time.Time) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyApprovalsEmitted) != nil {
		return nil
	}
	return meta.Put(keyApprovalsEmitted, waitingKey(now, make([]byte, 16)))
}

// EmitTimedApprovals writes the commission.approved event of every
// commission whose hold period has ended by now since the last call, in
// batches, and returns how many it wrote.
func (s *Store) EmitTimedApprovals(ctx context.Context, now time.Time) (int, error) {
	end := waitingKey(now, bytes.Repeat([]byte{0xff}, 16))
	total := 0
	_, err := s.inBatches(ctx, sweepBatch, func(w *wtx) (walked int, err error) {
		last, err := approvalsEmittedTo(w.tx)
		if err != nil {
			return 0, err
		}
		c := w.tx.Bucket(bucketCommissionsAwaiting).Cursor()
		k, _ := c.Seek(last)
		if bytes.Equal(k, last) {
			k, _ = c.Next()
		}
		for ; k != nil && walked < sweepBatch && bytes.Compare(k, end) <= 0; k, _ = c.Next() {
			last, walked = bytes.Clone(k), walked+1
			key := k[len(k)-16:]
			cm, err := decodeCommission(key, w.tx.Bucket(bucketCommissions).Get(key))
			if err != nil {
				return walked, err
			}
			if cm.Settle(now).Status != model.CommissionApproved {
				continue
			}
			if err := s.approvedEvent(w.tx, w.now, cm); err != nil {
				return walked, err
			}
			total++
		}
		return walked, w.tx.Bucket(bucketMeta).Put(keyApprovalsEmitted, last)
	})
	return total, err
}

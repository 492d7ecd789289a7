package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

func encodePayout(p *model.Payout) []byte {
	e := newEncoder()
	e.idKey(model.PrefixAmbassador, p.AmbassadorID)
	e.varint(p.Amount)
	e.str(p.Currency)
	e.uvarint(uint64(p.Commissions))
	e.str(p.ExternalReference)
	e.time(p.CreatedAt)
	return e.b
}

func decodePayout(key, val []byte) (*model.Payout, error) {
	d := newDecoder(val)
	p := &model.Payout{ID: model.FormatID(model.PrefixPayout, [16]byte(key))}
	p.AmbassadorID = d.id(model.PrefixAmbassador)
	p.Amount = d.varint()
	p.Currency = d.str()
	p.Commissions = int(d.uvarint())
	p.ExternalReference = d.str()
	p.CreatedAt = d.time()
	return p, d.err
}

// CreatePayout implements model.EarningService: every approved commission
// of the ambassador in the currency (clawbacks included) is marked paid in
// one transaction, and the payout records their sum.
func (s *Store) CreatePayout(ctx context.Context, in model.PayoutCreate, idem model.Idempotency) (*model.Payout, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		tx := w.tx
		if !exists(tx, bucketAmbassadors, model.PrefixAmbassador, in.AmbassadorID) {
			return nil, nil, model.FieldNotFound("ambassador_id", model.PrefixAmbassador, in.AmbassadorID)
		}
		var all []*model.Commission
		err := ambassadorCommissions(tx, in.AmbassadorID, w.now, func(c *model.Commission) error {
			all = append(all, c)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		key := w.newKey()
		p, paid, err := model.NewPayout(in, all, model.FormatID(model.PrefixPayout, key), w.now)
		if err != nil {
			return nil, nil, err
		}
		val := encodePayout(p)
		return snapshot(key, val), func() error {
			if err := tx.Bucket(bucketPayouts).Put(key[:], val); err != nil {
				return err
			}
			for _, c := range paid {
				// Also drops the entry of a commission the time approved.
				if err := rewriteCommission(tx, c); err != nil {
					return err
				}
				if err := s.appendEvent(tx, w.now, model.EventCommissionPaid, keyOf(model.PrefixCommission, c.ID), c); err != nil {
					return err
				}
			}
			if err := s.appendEvent(tx, w.now, model.EventPayoutCreated, key, p); err != nil {
				return err
			}
			return w.auditf("payout.created", p.ID, "%d %s to ambassador %s for %d commissions", p.Amount, p.Currency, p.AmbassadorID, p.Commissions)
		}, nil
	})
	return fromSnapshot(snap, replayed, err, decodePayout)
}

// FindPayouts implements model.EarningService. Payouts are few (one per
// ambassador and currency each pay run), so the list walks the payouts
// bucket itself rather than an index: keys sort by creation time, so a
// time range starts the walk at its end and stops it at its start, and a
// filter that matches little is bounded per page like every sparse filter.
func (s *Store) FindPayouts(ctx context.Context, f model.PayoutFilter) (p model.Page[*model.Payout], err error) {
	if f.Cursor == "" && !f.To.IsZero() {
		f.Cursor = model.FormatID(model.PrefixPayout, model.TimeKey(f.To.Time))
	}
	load := func(tx *bolt.Tx, key []byte) (*model.Payout, bool, error) {
		if !f.From.IsZero() && model.IDTime([16]byte(key)).Before(f.From.Time) {
			return nil, false, errPastRange
		}
		pay, err := decodePayout(key, tx.Bucket(bucketPayouts).Get(key))
		if err != nil {
			return nil, false, err
		}
		ok := (f.AmbassadorID == "" || pay.AmbassadorID == f.AmbassadorID) && (f.Currency == "" || pay.Currency == f.Currency) &&
			(f.From.IsZero() || !pay.CreatedAt.Before(f.From.Time)) && (f.To.IsZero() || pay.CreatedAt.Before(f.To.Time))
		return pay, ok, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucketPayouts, nil, model.PrefixPayout, f.ListOptions, load)
		return err
	})
	return p, err
}

// FindPayoutByID implements model.EarningService.
func (s *Store) FindPayoutByID(ctx context.Context, id string) (d *model.PayoutDetail, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		pay, err := getRecord(tx, bucketPayouts, model.PrefixPayout, id, decodePayout)
		if err != nil {
			return err
		}
		d = &model.PayoutDetail{Payout: *pay, PaidCommissions: []*model.Commission{}}
		want := min(pay.Commissions, model.MaxPayoutCommissions)
		if want <= 0 {
			return nil
		}
		// The walk stops at the last one the payout counted, or the cap.
		return paidBy(tx, pay, func(c *model.Commission) bool {
			d.PaidCommissions = append(d.PaidCommissions, c)
			return len(d.PaidCommissions) < want
		})
	})
	return d, err
}

// paidBy calls fn with each commission the payout paid, newest first,
// until fn returns false. There is no index by payout: a payout pays
// commissions of its ambassador that exist when it is made, so the walk
// goes down the ambassador's commissions from the end of the payout's
// millisecond (keys are made in commit order, so none it paid sorts after
// it) and passes over those that were still pending or paid by another
// payout. A paid commission's status never changes, so none is settled.
func paidBy(tx *bolt.Tx, pay *model.Payout, fn func(*model.Commission) bool) error {
	amb := keyOf(model.PrefixAmbassador, pay.AmbassadorID)
	from := paidByCursor(pay.ID)
	commissions := tx.Bucket(bucketCommissions)
	for it := newDescIter(tx.Bucket(bucketCommissionsByAmbassador).Cursor(), amb[:], from[:]); it.key() != nil; it.next() {
		key := it.key()
		c, err := decodeCommission(key, commissions.Get(key))
		if err != nil {
			return err
		}
		if c.PayoutID != nil && *c.PayoutID == pay.ID && !fn(c) {
			return nil
		}
	}
	return nil
}

// paidByCursor is the commission key a walk for the commissions a payout
// paid starts below: the first of the millisecond after the payout's.
func paidByCursor(payoutID string) [16]byte {
	return model.TimeKey(model.IDTime(keyOf(model.PrefixPayout, payoutID)).Add(time.Millisecond))
}

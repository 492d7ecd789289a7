package store

import (
	"context"

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
				ck := keyOf(model.PrefixCommission, c.ID)
				if err := tx.Bucket(bucketCommissions).Put(ck[:], encodeCommission(c)); err != nil {
					return err
				}
			}
			return nil
		}, nil
	})
	return fromSnapshot(snap, replayed, err, decodePayout)
}

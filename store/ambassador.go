package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.AmbassadorService = (*Store)(nil)

const (
	ambassadorActive byte = 1
	ambassadorPaused byte = 2
)

func ambassadorStatusByte(s model.AmbassadorStatus) byte {
	if s == model.AmbassadorPaused {
		return ambassadorPaused
	}
	return ambassadorActive
}

func encodeAmbassador(a *model.Ambassador) []byte {
	e := newEncoder()
	e.str(a.FirstName)
	e.str(a.LastName)
	e.str(a.Email)
	e.optStr(a.School)
	e.byte(ambassadorStatusByte(a.Status))
	e.bytes(a.Metadata)
	e.time(a.CreatedAt)
	e.time(a.UpdatedAt)
	return e.b
}

func decodeAmbassador(key, val []byte) (*model.Ambassador, error) {
	d := newDecoder(val)
	a := &model.Ambassador{ID: model.FormatID(model.PrefixAmbassador, [16]byte(key))}
	a.FirstName = d.str()
	a.LastName = d.str()
	a.Email = d.str()
	a.School = d.optStr()
	a.Status = model.AmbassadorActive
	if d.byte() == ambassadorPaused {
		a.Status = model.AmbassadorPaused
	}
	a.Metadata = d.bytes()
	a.CreatedAt = d.time()
	a.UpdatedAt = d.time()
	return a, d.err
}

// ambassadorName reads only the name of an encoded ambassador: first and
// last name, which come first, joined by a space. A record that is not
// there (none is ever deleted) has no name.
func ambassadorName(val []byte) (string, error) {
	if val == nil {
		return "", nil
	}
	d := newDecoder(val)
	first, last := d.str(), d.str()
	return first + " " + last, d.err
}

func ambassadorIndexes(a *model.Ambassador) []indexEntry {
	return []indexEntry{{bucketAmbassadorsByStatus, []byte{ambassadorStatusByte(a.Status)}}}
}

// claimEmail checks that key may own email among ambassadors, returning a
// conflict if another ambassador has it.
func claimEmail(tx *bolt.Tx, key [16]byte, email string) error {
	b := tx.Bucket(bucketAmbassadorsByEmail)
	h := hashKey(model.EmailKey(email))
	if owner := b.Get(h); owner != nil && string(owner) != string(key[:]) {
		return model.Errorf(model.EConflict, "an ambassador with this email already exists: %s",
			model.FormatID(model.PrefixAmbassador, [16]byte(owner)))
	}
	return nil
}

// CreateAmbassador implements model.AmbassadorService.
func (s *Store) CreateAmbassador(ctx context.Context, in model.AmbassadorCreate, idem model.Idempotency) (*model.Ambassador, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		key := w.newKey()
		if err := claimEmail(w.tx, key, in.Email); err != nil {
			return nil, nil, err
		}
		a := model.NewAmbassador(in, model.FormatID(model.PrefixAmbassador, key), model.NewTime(w.now))
		val := encodeAmbassador(a)
		return snapshot(key, val), func() error {
			if err := w.tx.Bucket(bucketAmbassadors).Put(key[:], val); err != nil {
				return err
			}
			if err := w.tx.Bucket(bucketAmbassadorsByEmail).Put(hashKey(model.EmailKey(a.Email)), key[:]); err != nil {
				return err
			}
			if err := putIndexes(w.tx, key, ambassadorIndexes(a)...); err != nil {
				return err
			}
			return w.auditf("ambassador.created", a.ID, "status %s", a.Status)
		}, nil
	})
	return fromSnapshot(snap, replayed, err, decodeAmbassador)
}

// FindAmbassadorByID implements model.AmbassadorService.
func (s *Store) FindAmbassadorByID(ctx context.Context, id string) (a *model.Ambassador, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		a, err = getRecord(tx, bucketAmbassadors, model.PrefixAmbassador, id, decodeAmbassador)
		return err
	})
	return a, err
}

// FindAmbassadors implements model.AmbassadorService.
func (s *Store) FindAmbassadors(ctx context.Context, f model.AmbassadorFilter) (p model.Page[*model.Ambassador], err error) {
	bucket, prefix := bucketAmbassadors, []byte(nil)
	if f.Status != "" {
		bucket, prefix = bucketAmbassadorsByStatus, []byte{ambassadorStatusByte(f.Status)}
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucket, prefix, model.PrefixAmbassador, f.ListOptions, loadAmbassador)
		return err
	})
	return p, err
}

func loadAmbassador(tx *bolt.Tx, key []byte) (*model.Ambassador, bool, error) {
	a, err := decodeAmbassador(key, tx.Bucket(bucketAmbassadors).Get(key))
	return a, true, err
}

// UpdateAmbassador implements model.AmbassadorService.
func (s *Store) UpdateAmbassador(ctx context.Context, id string, u model.AmbassadorUpdate) (a *model.Ambassador, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		tx := w.tx
		a, err = getRecord(tx, bucketAmbassadors, model.PrefixAmbassador, id, decodeAmbassador)
		if err != nil {
			return nil, err
		}
		key := keyOf(model.PrefixAmbassador, a.ID)
		before := *a
		u.Apply(a)
		emailMoved := model.EmailKey(before.Email) != model.EmailKey(a.Email)
		if emailMoved {
			if err := claimEmail(tx, key, a.Email); err != nil {
				return nil, err
			}
		}
		a.UpdatedAt = model.NewTime(w.now)
		return func() error {
			if err := tx.Bucket(bucketAmbassadors).Put(key[:], encodeAmbassador(a)); err != nil {
				return err
			}
			if emailMoved {
				byEmail := tx.Bucket(bucketAmbassadorsByEmail)
				if err := byEmail.Delete(hashKey(model.EmailKey(before.Email))); err != nil {
					return err
				}
				if err := byEmail.Put(hashKey(model.EmailKey(a.Email)), key[:]); err != nil {
					return err
				}
			}
			if before.Status != a.Status {
				if err := deleteIndexes(tx, key, ambassadorIndexes(&before)...); err != nil {
					return err
				}
				if err := putIndexes(tx, key, ambassadorIndexes(a)...); err != nil {
					return err
				}
			}
			return w.auditf("ambassador.updated", a.ID, "%s", changed(&before, a))
		}, nil
	})
	return a, err
}

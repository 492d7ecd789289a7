package store

import (
	"context"
	"slices"
	"strings"

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
			if err := s.appendEvent(w.tx, w.now, model.EventAmbassadorCreated, key, a); err != nil {
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

// FindAmbassadors implements model.AmbassadorService. A list by status
// walks its index. A search for an email costs one read of the email
// index; any other search or a school reads and decodes every ambassador
// it walks past, at most scanBudget of them a page (see listPage), so a
// page costs the same in a store of a million as of a thousand, and the
// whole of a rare match is found by paging on.
func (s *Store) FindAmbassadors(ctx context.Context, f model.AmbassadorFilter) (p model.Page[*model.Ambassador], err error) {
	bucket, prefix := bucketAmbassadors, []byte(nil)
	if f.Status != "" {
		bucket, prefix = bucketAmbassadorsByStatus, []byte{ambassadorStatusByte(f.Status)}
	}
	search := strings.ToLower(strings.TrimSpace(f.Search))
	school := strings.ToLower(strings.TrimSpace(f.School))
	load := loadAmbassador
	if search != "" || school != "" {
		load = func(tx *bolt.Tx, key []byte) (*model.Ambassador, bool, error) {
			a, _, err := loadAmbassador(tx, key)
			if err != nil {
				return nil, false, err
			}
			return a, ambassadorMatches(a, search, school), nil
		}
	}
	err = s.view(func(tx *bolt.Tx) error {
		if strings.Contains(search, "@") {
			var found bool
			if p, found, err = findAmbassadorByEmail(tx, search, f); found || err != nil {
				return err
			}
		}
		p, err = listPage(tx, bucket, prefix, model.PrefixAmbassador, f.ListOptions, load)
		return err
	})
	return p, err
}

// ambassadorMatches reports whether a's name, email or school holds
// search and its school is school; both are lower case, and "" matches
// anything.
func ambassadorMatches(a *model.Ambassador, search, school string) bool {
	var sch string
	if a.School != nil {
		sch = strings.ToLower(strings.TrimSpace(*a.School))
	}
	if school != "" && sch != school {
		return false
	}
	return search == "" || strings.Contains(strings.ToLower(a.FirstName+" "+a.LastName), search) ||
		strings.Contains(strings.ToLower(a.Email), search) || strings.Contains(sch, search)
}

// findAmbassadorByEmail is the page of f that holds the ambassador whose
// email is email, if there is one that f's other filters keep. found is
// false when there is none, for the caller to search on.
func findAmbassadorByEmail(tx *bolt.Tx, email string, f model.AmbassadorFilter) (p model.Page[*model.Ambassador], found bool, err error) {
	key := tx.Bucket(bucketAmbassadorsByEmail).Get(hashKey(model.EmailKey(email)))
	if key == nil {
		return p, false, nil
	}
	a, _, err := loadAmbassador(tx, key)
	if err != nil {
		return p, false, err
	}
	if (f.Status != "" && a.Status != f.Status) || !ambassadorMatches(a, "", strings.ToLower(strings.TrimSpace(f.School))) {
		return p, false, nil
	}
	// The one match is the whole list: a later page has nothing.
	p.Data = []*model.Ambassador{}
	if f.Cursor == "" {
		p.Data = append(p.Data, a)
	}
	return p, true, nil
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
			if !a.CanSignIn() {
				if _, err := portalSessions.trim(tx, key, 0); err != nil {
					return err
				}
			}
			return w.auditf("ambassador.updated", a.ID, "%s", changed(&before, a))
		}, nil
	})
	return a, err
}

// CheckAmbassadorImport implements model.AmbassadorService: the checks
// of ImportAmbassadors in a read transaction.
func (s *Store) CheckAmbassadorImport(ctx context.Context, ins []model.AmbassadorCreate) error {
	problems := model.ValidateImport(ins)
	if problems.Has("rows") {
		return problems.Err()
	}
	return s.view(func(tx *bolt.Tx) error { return importProblems(tx, ins, problems).Err() })
}

// importProblems adds to problems, those of ValidateImport(ins), the
// emails of ins that an ambassador already has: a read of the email
// index a row.
func importProblems(tx *bolt.Tx, ins []model.AmbassadorCreate, problems model.FieldErrors) model.FieldErrors {
	bad := make(map[string]bool, len(problems))
	for _, p := range problems {
		bad[p.Field] = true
	}
	fe := slices.Clone(problems)
	byEmail := tx.Bucket(bucketAmbassadorsByEmail)
	for i, in := range ins {
		field := model.ImportField(i, "email")
		if bad[field] {
			continue
		}
		if owner := byEmail.Get(hashKey(model.EmailKey(in.Email))); owner != nil {
			fe.Add(field, model.FInvalidValue, "is already the email of ambassador %s",
				model.FormatID(model.PrefixAmbassador, [16]byte(owner)))
		}
	}
	return fe
}

// ImportAmbassadors implements model.AmbassadorService. Every row is
// validated, and its email looked up in the email index, before anything
// is written; only when no row has a problem does the apply write them
// all, each with its indexes and audit entry, in the one transaction. A
// replay returns the ambassadors as they are now: the idempotency entry
// keeps their keys, as CreatePlacements' does.
func (s *Store) ImportAmbassadors(ctx context.Context, ins []model.AmbassadorCreate, idem model.Idempotency) ([]*model.Ambassador, bool, error) {
	problems := model.ValidateImport(ins)
	if problems.Has("rows") {
		return nil, false, problems.Err()
	}
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		if err := importProblems(w.tx, ins, problems).Err(); err != nil {
			return nil, nil, err
		}
		now := model.NewTime(w.now)
		made := make([]*model.Ambassador, len(ins))
		keys := make([]byte, 0, 16*len(ins))
		for i, in := range ins {
			key := w.newKey()
			made[i] = model.NewAmbassador(in, model.FormatID(model.PrefixAmbassador, key), now)
			keys = append(keys, key[:]...)
		}
		return snapshot(w.newKey(), keys), func() error {
			for i, a := range made {
				key := [16]byte(keys[16*i : 16*i+16])
				if err := w.tx.Bucket(bucketAmbassadors).Put(key[:], encodeAmbassador(a)); err != nil {
					return err
				}
				if err := w.tx.Bucket(bucketAmbassadorsByEmail).Put(hashKey(model.EmailKey(a.Email)), key[:]); err != nil {
					return err
				}
				if err := putIndexes(w.tx, key, ambassadorIndexes(a)...); err != nil {
					return err
				}
				if err := s.appendEvent(w.tx, w.now, model.EventAmbassadorCreated, key, a); err != nil {
					return err
				}
				if err := w.auditf("ambassador.created", a.ID, "status %s, one of %d imported together", a.Status, len(made)); err != nil {
					return err
				}
			}
			return nil
		}, nil
	})
	if err != nil {
		return nil, false, err
	}
	_, keys, err := splitSnapshot(snap)
	if err != nil || len(keys)%16 != 0 {
		return nil, false, errCorrupt
	}
	out := make([]*model.Ambassador, 0, len(keys)/16)
	err = s.view(func(tx *bolt.Tx) error {
		for k := range slices.Chunk(keys, 16) {
			a, err := decodeAmbassador(k, tx.Bucket(bucketAmbassadors).Get(k))
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, replayed, err
}

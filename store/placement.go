package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.PlacementService = (*Store)(nil)

func encodePlacement(p *model.Placement) []byte {
	e := newEncoder()
	e.idKey(model.PrefixProgram, p.ProgramID)
	e.idKey(model.PrefixAmbassador, p.AmbassadorID)
	e.optStr(p.Label)
	e.str(p.Code)
	if p.Active {
		e.byte(1)
	} else {
		e.byte(0)
	}
	if l := p.Location; l != nil {
		e.byte(1)
		e.str(l.Address)
		e.optFloat(l.Latitude)
		e.optFloat(l.Longitude)
	} else {
		e.byte(0)
	}
	e.bytes(p.Metadata)
	e.time(p.CreatedAt)
	e.time(p.UpdatedAt)
	return e.b
}

func decodePlacement(key, val []byte) (*model.Placement, error) {
	d := newDecoder(val)
	p := &model.Placement{ID: model.FormatID(model.PrefixPlacement, [16]byte(key))}
	p.ProgramID = d.id(model.PrefixProgram)
	p.AmbassadorID = d.id(model.PrefixAmbassador)
	p.Label = d.optStr()
	p.Code = d.str()
	p.Active = d.byte() == 1
	if d.byte() == 1 {
		p.Location = &model.Location{Address: d.str(), Latitude: d.optFloat(), Longitude: d.optFloat()}
	}
	p.Metadata = d.bytes()
	p.CreatedAt = d.time()
	p.UpdatedAt = d.time()
	return p, d.err
}

func (e *encoder) optFloat(f *float64) {
	if f == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(*f))
}

func (d *decoder) optFloat() *float64 {
	if d.byte() == 0 {
		return nil
	}
	b := d.take(8)
	if len(b) != 8 {
		return nil
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(b))
	return &f
}

// newCode draws a placement code no other placement has, nor any in
// taken (drawn for placements not written yet).
func newCode(tx *bolt.Tx, taken map[string]bool) (string, error) {
	byCode := tx.Bucket(bucketPlacementsByCode)
	for {
		buf := make([]byte, model.CodeLen)
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for i, b := range buf {
			// 31 symbols: the slight bias of a byte modulo 31 costs a
			// fraction of a bit of the code's 49.
			buf[i] = model.CodeAlphabet[int(b)%len(model.CodeAlphabet)]
		}
		if byCode.Get(buf) == nil && !taken[string(buf)] {
			return string(buf), nil
		}
	}
}

// CreatePlacement implements model.PlacementService.
func (s *Store) CreatePlacement(ctx context.Context, in model.PlacementCreate, idem model.Idempotency) (*model.Placement, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		made, err := newPlacements(w, []model.PlacementCreate{in})
		if err != nil {
			return nil, nil, err
		}
		return snapshot(made[0].key, made[0].val), func() error { return putPlacements(w, made) }, nil
	})
	return fromSnapshot(snap, replayed, err, decodePlacement)
}

// CreatePlacements implements model.PlacementService: n placements like in,
// made in one transaction under one idempotency key. A replay returns the
// same placements, as they are now: the idempotency entry keeps their
// keys, under a key of the batch's own.
func (s *Store) CreatePlacements(ctx context.Context, in model.PlacementCreate, n int, idem model.Idempotency) ([]*model.Placement, bool, error) {
	return s.CreatePlacementBatch(ctx, slices.Repeat([]model.PlacementCreate{in}, n), idem)
}

// CreatePlacementBatch implements model.PlacementService: CreatePlacements
// for placements that need not be alike, such as a sheet of posters for
// many ambassadors, checked and made as that makes them.
func (s *Store) CreatePlacementBatch(ctx context.Context, ins []model.PlacementCreate, idem model.Idempotency) ([]*model.Placement, bool, error) {
	if len(ins) == 0 || len(ins) > model.MaxPlacementBatch {
		var fe model.FieldErrors
		fe.Add("placements", model.FInvalidValue, "must be from 1 to %d", model.MaxPlacementBatch)
		return nil, false, fe.Err()
	}
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		made, err := newPlacements(w, ins)
		if err != nil {
			return nil, nil, err
		}
		keys := make([]byte, 0, 16*len(made))
		for _, p := range made {
			keys = append(keys, p.key[:]...)
		}
		return snapshot(w.newKey(), keys), func() error { return putPlacements(w, made) }, nil
	})
	if err != nil {
		return nil, false, err
	}
	_, keys, err := splitSnapshot(snap)
	if err != nil || len(keys)%16 != 0 {
		return nil, false, errCorrupt
	}
	out := make([]*model.Placement, 0, len(keys)/16)
	err = s.view(func(tx *bolt.Tx) error {
		for k := range slices.Chunk(keys, 16) {
			p, err := decodePlacement(k, tx.Bucket(bucketPlacements).Get(k))
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	return out, replayed, err
}

// placementOwnersExist reports an unknown program or ambassador of in as
// field errors, and an archived program as a conflict: a program that
// has ended takes no new posters.
func placementOwnersExist(tx *bolt.Tx, in model.PlacementCreate) error {
	var fe model.FieldErrors
	prg, err := getRecord(tx, bucketPrograms, model.PrefixProgram, in.ProgramID, decodeProgram)
	if model.ErrorCode(err) == model.ENotFound {
		fe.Add("program_id", model.FNotFound, "program %s does not exist", in.ProgramID)
	} else if err != nil {
		return err
	}
	if !exists(tx, bucketAmbassadors, model.PrefixAmbassador, in.AmbassadorID) {
		fe.Add("ambassador_id", model.FNotFound, "ambassador %s does not exist", in.AmbassadorID)
	}
	if err := fe.Err(); err != nil {
		return err
	}
	if prg.Status == model.ProgramArchived {
		return model.Errorf(model.EConflict, "program %s is archived; set its status to active to add posters", prg.ID)
	}
	return nil
}

// newPlacement is a placement about to be written.
type newPlacement struct {
	key [16]byte
	val []byte
	p   *model.Placement
}

// newPlacements checks the program and ambassador of each of ins, each
// pair once, and makes a placement of each, with a code of its own.
func newPlacements(w *wtx, ins []model.PlacementCreate) ([]newPlacement, error) {
	checked := map[[2]string]bool{}
	for _, in := range ins {
		owners := [2]string{in.ProgramID, in.AmbassadorID}
		if checked[owners] {
			continue
		}
		if err := placementOwnersExist(w.tx, in); err != nil {
			return nil, err
		}
		checked[owners] = true
	}
	return makePlacements(w, ins)
}

// makePlacements makes a placement of each of ins, with a code of its
// own, for a caller that has checked their programs and ambassadors.
func makePlacements(w *wtx, ins []model.PlacementCreate) ([]newPlacement, error) {
	out := make([]newPlacement, 0, len(ins))
	taken := map[string]bool{}
	for _, in := range ins {
		code, err := newCode(w.tx, taken)
		if err != nil {
			return nil, err
		}
		taken[code] = true
		key := w.newKey()
		p := model.NewPlacement(in, model.FormatID(model.PrefixPlacement, key), code, model.NewTime(w.now))
		out = append(out, newPlacement{key, encodePlacement(p), p})
	}
	return out, nil
}

// putPlacements writes placements with their indexes.
func putPlacements(w *wtx, placements []newPlacement) error {
	tx := w.tx
	for i, np := range placements {
		if err := tx.Bucket(bucketPlacements).Put(np.key[:], np.val); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPlacementsByCode).Put([]byte(np.p.Code), np.key[:]); err != nil {
			return err
		}
		prg, amb := keyOf(model.PrefixProgram, np.p.ProgramID), keyOf(model.PrefixAmbassador, np.p.AmbassadorID)
		if err := putIndexes(tx, np.key, indexEntry{bucketPlacementsByProgram, prg[:]}, indexEntry{bucketPlacementsByAmbassador, amb[:]}); err != nil {
			return err
		}
		if err := w.auditf("placement.created", np.p.ID, "code %s for program %s, ambassador %s (%d of %d)",
			np.p.Code, np.p.ProgramID, np.p.AmbassadorID, i+1, len(placements)); err != nil {
			return err
		}
	}
	return nil
}

// FindPlacementByID implements model.PlacementService.
func (s *Store) FindPlacementByID(ctx context.Context, id string) (p *model.Placement, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		p, err = getRecord(tx, bucketPlacements, model.PrefixPlacement, id, decodePlacement)
		return err
	})
	return p, err
}

// FindPlacementByCode implements model.PlacementService.
func (s *Store) FindPlacementByCode(ctx context.Context, code string) (p *model.Placement, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		key := tx.Bucket(bucketPlacementsByCode).Get([]byte(code))
		if key == nil {
			return model.Errorf(model.ENotFound, "no poster has code %s", code)
		}
		p, err = decodePlacement(key, tx.Bucket(bucketPlacements).Get(key))
		return err
	})
	return p, err
}

// FindPlacements implements model.PlacementService.
func (s *Store) FindPlacements(ctx context.Context, f model.PlacementFilter) (p model.Page[*model.Placement], err error) {
	bucket, prefix := bucketPlacements, []byte(nil)
	switch {
	case f.AmbassadorID != "":
		bucket, prefix = bucketPlacementsByAmbassador, idPrefix(model.PrefixAmbassador, f.AmbassadorID)
	case f.ProgramID != "":
		bucket, prefix = bucketPlacementsByProgram, idPrefix(model.PrefixProgram, f.ProgramID)
	}
	load := func(tx *bolt.Tx, key []byte) (*model.Placement, bool, error) {
		pl, err := decodePlacement(key, tx.Bucket(bucketPlacements).Get(key))
		if err != nil {
			return nil, false, err
		}
		return pl, (f.ProgramID == "" || pl.ProgramID == f.ProgramID) && (f.AmbassadorID == "" || pl.AmbassadorID == f.AmbassadorID), nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucket, prefix, model.PrefixPlacement, f.ListOptions, load)
		return err
	})
	return p, err
}

// UpdatePlacement implements model.PlacementService.
func (s *Store) UpdatePlacement(ctx context.Context, id string, u model.PlacementUpdate) (p *model.Placement, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		p, err = getRecord(w.tx, bucketPlacements, model.PrefixPlacement, id, decodePlacement)
		if err != nil {
			return nil, err
		}
		before := *p
		u.Apply(p)
		p.UpdatedAt = model.NewTime(w.now)
		key := keyOf(model.PrefixPlacement, p.ID)
		return func() error {
			if err := w.tx.Bucket(bucketPlacements).Put(key[:], encodePlacement(p)); err != nil {
				return err
			}
			return w.auditf("placement.updated", p.ID, "%s", changed(&before, p))
		}, nil
	})
	return p, err
}

// RecordScan implements model.PlacementService: in one transaction it
// finds the poster, decides whether the scan is a repeat, and writes the
// impression with its indexes, counters and event.
func (s *Store) RecordScan(ctx context.Context, sc model.Scan, repeatWindowMs int64) (res model.ScanResult, err error) {
	err = s.update(func(w *wtx) (func() error, error) {
		tx, now := w.tx, w.now
		res = model.ScanResult{}
		key := tx.Bucket(bucketPlacementsByCode).Get([]byte(sc.Code))
		if key == nil {
			return nil, model.Errorf(model.ENotFound, "no poster has code %s", sc.Code)
		}
		p, err := decodePlacement(key, tx.Bucket(bucketPlacements).Get(key))
		if err != nil {
			return nil, err
		}
		prg, err := getRecord(tx, bucketPrograms, model.PrefixProgram, p.ProgramID, decodeProgram)
		if err != nil {
			return nil, err
		}
		res.LandingURL, res.Active = prg.LandingURL, p.Active
		if !p.Active {
			return nil, nil
		}
		recentKey := cat(key, sc.IPHash[:])
		var lastScan *time.Time
		if last := tx.Bucket(bucketScanRecent).Get(recentKey); len(last) == 8 {
			t := time.UnixMilli(int64(binary.BigEndian.Uint64(last)))
			lastScan = &t
		}
		impKey := w.newKey()
		m := model.NewScanImpression(sc, p, lastScan, time.Duration(repeatWindowMs)*time.Millisecond,
			model.FormatID(model.PrefixImpression, impKey), now)
		res.Impression = m
		return func() error {
			if err := tx.Bucket(bucketScanRecent).Put(recentKey, binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))); err != nil {
				return err
			}
			return s.putImpression(w, impKey, m, sc.IPHash[:])
		}, nil
	})
	return res, err
}

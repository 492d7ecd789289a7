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

// newCode draws a placement code no other placement has.
func newCode(tx *bolt.Tx) (string, error) {
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
		if byCode.Get(buf) == nil {
			return string(buf), nil
		}
	}
}

// CreatePlacement implements model.PlacementService.
func (s *Store) CreatePlacement(ctx context.Context, in model.PlacementCreate, idem model.Idempotency) (*model.Placement, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(tx *bolt.Tx, now time.Time) ([]byte, error) {
		if err := placementOwnersExist(tx, in); err != nil {
			return nil, err
		}
		key, val, err := s.putPlacement(tx, now, in)
		if err != nil {
			return nil, err
		}
		return snapshot(key, val), nil
	})
	return fromSnapshot(snap, replayed, err, decodePlacement)
}

// CreatePlacements implements model.PlacementService: n placements like in,
// made in one transaction under one idempotency key. A replay returns the
// same placements, as they are now: the idempotency entry keeps their
// keys, under a key of the batch's own.
func (s *Store) CreatePlacements(ctx context.Context, in model.PlacementCreate, n int, idem model.Idempotency) ([]*model.Placement, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(tx *bolt.Tx, now time.Time) ([]byte, error) {
		if err := placementOwnersExist(tx, in); err != nil {
			return nil, err
		}
		keys := make([]byte, 0, 16*n)
		for range n {
			key, _, err := s.putPlacement(tx, now, in)
			if err != nil {
				return nil, err
			}
			keys = append(keys, key[:]...)
		}
		return snapshot(s.ids.New(now), keys), nil
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
// field errors.
func placementOwnersExist(tx *bolt.Tx, in model.PlacementCreate) error {
	var fe model.FieldErrors
	if !exists(tx, bucketPrograms, model.PrefixProgram, in.ProgramID) {
		fe.Add("program_id", model.FNotFound, "program %s does not exist", in.ProgramID)
	}
	if !exists(tx, bucketAmbassadors, model.PrefixAmbassador, in.AmbassadorID) {
		fe.Add("ambassador_id", model.FNotFound, "ambassador %s does not exist", in.AmbassadorID)
	}
	return fe.Err()
}

// putPlacement writes a new placement like in, with a fresh code, and its
// indexes.
func (s *Store) putPlacement(tx *bolt.Tx, now time.Time, in model.PlacementCreate) ([16]byte, []byte, error) {
	code, err := newCode(tx)
	if err != nil {
		return [16]byte{}, nil, err
	}
	key := s.ids.New(now)
	t := model.NewTime(now)
	p := &model.Placement{ID: model.FormatID(model.PrefixPlacement, key), ProgramID: in.ProgramID, AmbassadorID: in.AmbassadorID,
		Location: in.Location, Code: code, Active: true, Metadata: in.Metadata, CreatedAt: t, UpdatedAt: t}
	if in.Label != "" {
		p.Label = &in.Label
	}
	val := encodePlacement(p)
	if err := tx.Bucket(bucketPlacements).Put(key[:], val); err != nil {
		return key, nil, err
	}
	if err := tx.Bucket(bucketPlacementsByCode).Put([]byte(code), key[:]); err != nil {
		return key, nil, err
	}
	prg, amb := keyOf(model.PrefixProgram, p.ProgramID), keyOf(model.PrefixAmbassador, p.AmbassadorID)
	return key, val, putIndexes(tx, key, indexEntry{bucketPlacementsByProgram, prg[:]}, indexEntry{bucketPlacementsByAmbassador, amb[:]})
}

// FindPlacementByID implements model.PlacementService.
func (s *Store) FindPlacementByID(ctx context.Context, id string) (p *model.Placement, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		p, err = getRecord(tx, bucketPlacements, model.PrefixPlacement, id, decodePlacement)
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
	err = s.update(func(tx *bolt.Tx) error {
		p, err = getRecord(tx, bucketPlacements, model.PrefixPlacement, id, decodePlacement)
		if err != nil {
			return err
		}
		u.Apply(p)
		p.UpdatedAt = model.NewTime(s.now())
		key := keyOf(model.PrefixPlacement, p.ID)
		return tx.Bucket(bucketPlacements).Put(key[:], encodePlacement(p))
	})
	return p, err
}

// RecordScan implements model.PlacementService: in one transaction it
// finds the poster, decides whether the scan is a repeat, and writes the
// impression with its indexes, counters and event.
func (s *Store) RecordScan(ctx context.Context, sc model.Scan, repeatWindowMs int64) (res model.ScanResult, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		now := s.now()
		res = model.ScanResult{}
		key := tx.Bucket(bucketPlacementsByCode).Get([]byte(sc.Code))
		if key == nil {
			return model.Errorf(model.ENotFound, "no poster has code %s", sc.Code)
		}
		p, err := decodePlacement(key, tx.Bucket(bucketPlacements).Get(key))
		if err != nil {
			return err
		}
		prg, err := getRecord(tx, bucketPrograms, model.PrefixProgram, p.ProgramID, decodeProgram)
		if err != nil {
			return err
		}
		res.LandingURL, res.Active = prg.LandingURL, p.Active
		if !p.Active {
			return nil
		}
		recent := tx.Bucket(bucketScanRecent)
		recentKey := cat(key, sc.IPHash[:])
		var flags model.Flags
		if sc.Bot {
			flags = append(flags, model.FlagBot)
		}
		if last := recent.Get(recentKey); len(last) == 8 && now.UnixMilli()-int64(binary.BigEndian.Uint64(last)) < repeatWindowMs {
			flags = append(flags, model.FlagRepeat)
		}

		impKey := s.ids.New(now)
		m := &model.Impression{ID: model.FormatID(model.PrefixImpression, impKey), ProgramID: p.ProgramID, AmbassadorID: p.AmbassadorID,
			PlacementID: &p.ID, Flags: flags, Metadata: nil, CreatedAt: model.NewTime(now)}
		if sc.UserAgent != "" {
			m.UserAgent = &sc.UserAgent
		}
		if sc.Referrer != "" {
			m.Referrer = &sc.Referrer
		}
		if err := recent.Put(recentKey, binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))); err != nil {
			return err
		}
		if err := s.putImpression(tx, impKey, m, sc.IPHash[:], now); err != nil {
			return err
		}
		res.Impression = m
		return nil
	})
	return res, err
}

package store

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.ReferralService = (*Store)(nil)

const (
	referralPending byte = iota + 1
	referralConverted
	referralRejected
)

func referralStatusByte(s model.ReferralStatus) byte {
	switch s {
	case model.ReferralConverted:
		return referralConverted
	case model.ReferralRejected:
		return referralRejected
	}
	return referralPending
}

func referralStatusOf(b byte) model.ReferralStatus {
	switch b {
	case referralConverted:
		return model.ReferralConverted
	case referralRejected:
		return model.ReferralRejected
	}
	return model.ReferralPending
}

func encodeReferral(r *model.Referral) []byte {
	e := newEncoder()
	e.idKey(model.PrefixImpression, r.ImpressionID)
	e.idKey(model.PrefixProgram, r.ProgramID)
	e.idKey(model.PrefixAmbassador, r.AmbassadorID)
	e.optID(model.PrefixPlacement, r.PlacementID)
	e.byte(referralStatusByte(r.Status))
	e.time(r.CreatedAt)
	e.time(r.UpdatedAt)
	e.str(r.FirstName)
	e.str(r.LastName)
	e.str(r.Email)
	e.optStr(r.ProfilePictureURL)
	e.bytes(r.Metadata)
	e.uvarint(uint64(len(r.Flags)))
	for _, f := range r.Flags {
		e.str(f)
	}
	if r.ErasedAt != nil {
		e.byte(1)
		e.time(*r.ErasedAt)
	} else {
		e.byte(0)
	}
	return e.b
}

func decodeReferral(key, val []byte) (*model.Referral, error) {
	d := newDecoder(val)
	r := &model.Referral{ID: model.FormatID(model.PrefixReferral, [16]byte(key))}
	r.ImpressionID = d.id(model.PrefixImpression)
	r.ProgramID = d.id(model.PrefixProgram)
	r.AmbassadorID = d.id(model.PrefixAmbassador)
	r.PlacementID = d.optID(model.PrefixPlacement)
	r.Status = referralStatusOf(d.byte())
	r.CreatedAt = d.time()
	r.UpdatedAt = d.time()
	r.FirstName = d.str()
	r.LastName = d.str()
	r.Email = d.str()
	r.ProfilePictureURL = d.optStr()
	r.Metadata = d.bytes()
	for n := d.count(); n > 0 && d.err == nil; n-- {
		r.Flags = append(r.Flags, d.str())
	}
	if d.byte() == 1 {
		t := d.time()
		r.ErasedAt = &t
	}
	return r, d.err
}

// referralIndexes lists the index entries of r. The status ones change with
// its status; the rest are fixed at creation.
func referralIndexes(r *model.Referral) (fixed, byStatus []indexEntry) {
	prg, amb := keyOf(model.PrefixProgram, r.ProgramID), keyOf(model.PrefixAmbassador, r.AmbassadorID)
	st := []byte{referralStatusByte(r.Status)}
	imp := keyOf(model.PrefixImpression, r.ImpressionID)
	fixed = []indexEntry{
		{bucketReferralsByEmail, hashKey(model.EmailKey(r.Email))},
		{bucketReferralsByImpression, imp[:]},
	}
	byStatus = []indexEntry{
		{bucketReferralsByStatus, st},
		{bucketReferralsByProgramStatus, cat(prg[:], st)},
		{bucketReferralsByAmbassadorStatus, cat(amb[:], st)},
	}
	return fixed, byStatus
}

// CreateReferral implements model.ReferralService. The referral, its index
// entries, its referral.created event and its idempotency entry are written
// in one transaction.
func (s *Store) CreateReferral(ctx context.Context, in model.ReferralCreate, idem model.Idempotency) (*model.Referral, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(tx *bolt.Tx, now time.Time) ([]byte, error) {
		imp, err := getRecord(tx, bucketImpressions, model.PrefixImpression, in.ImpressionID, decodeImpression)
		if model.ErrorCode(err) == model.ENotFound {
			return nil, model.FieldNotFound("impression_id", model.PrefixImpression, in.ImpressionID)
		} else if err != nil {
			return nil, err
		}
		facts, err := s.signupFacts(tx, &in, imp, now)
		if err != nil {
			return nil, err
		}
		prg, err := getRecord(tx, bucketPrograms, model.PrefixProgram, imp.ProgramID, decodeProgram)
		if err != nil {
			return nil, err
		}
		flags := append(model.Flags(nil), in.Flags...)
		fraud := model.FraudFlags(facts)
		flags = append(flags, fraud...)
		status := model.ReferralPending
		if len(fraud) > 0 && prg.FraudPolicy == model.FraudReject {
			status = model.ReferralRejected
		}

		key := s.ids.New(now)
		t := model.NewTime(now)
		r := &model.Referral{ID: model.FormatID(model.PrefixReferral, key), ImpressionID: imp.ID,
			FirstName: in.FirstName, LastName: in.LastName, Email: in.Email, Metadata: in.Metadata,
			Status: status, ProgramID: imp.ProgramID, AmbassadorID: imp.AmbassadorID,
			PlacementID: imp.PlacementID, Flags: flags, CreatedAt: t, UpdatedAt: t}
		if in.ProfilePictureURL != "" {
			r.ProfilePictureURL = &in.ProfilePictureURL
		}
		val := encodeReferral(r)
		if err := tx.Bucket(bucketReferrals).Put(key[:], val); err != nil {
			return nil, err
		}
		fixed, byStatus := referralIndexes(r)
		if err := putIndexes(tx, key, append(fixed, byStatus...)...); err != nil {
			return nil, err
		}
		if err := s.counts.bump(referralSubject(r), dayOf(now), func(c *model.Counts) {
			c.Referrals++
			if len(r.Flags) > 0 {
				c.FlaggedReferrals++
			}
			if r.Status == model.ReferralRejected {
				c.Rejected++
			}
		}); err != nil {
			return nil, err
		}
		if facts.ReferralsFromImpression == 0 {
			if err := s.countFirstReferral(imp); err != nil {
				return nil, err
			}
		}
		if err := s.appendRecordEvent(tx, now, recordReferral, key, val); err != nil {
			return nil, err
		}
		return snapshot(key, val), nil
	})
	return fromSnapshot(snap, replayed, err, decodeReferral)
}

// signupFacts gathers what the fraud rules look at, reading only.
func (s *Store) signupFacts(tx *bolt.Tx, in *model.ReferralCreate, imp *model.Impression, now time.Time) (model.SignupFacts, error) {
	f := model.SignupFacts{Email: in.Email, SinceScan: -1}
	amb, err := getRecord(tx, bucketAmbassadors, model.PrefixAmbassador, imp.AmbassadorID, decodeAmbassador)
	if err != nil {
		return f, err
	}
	f.AmbassadorEmail = amb.Email
	impKey := keyOf(model.PrefixImpression, imp.ID)
	c := tx.Bucket(bucketReferralsByImpression).Cursor()
	for k, _ := c.Seek(impKey[:]); k != nil && bytes.HasPrefix(k, impKey[:]) && f.ReferralsFromImpression < model.MaxReferralsPerImpression; k, _ = c.Next() {
		f.ReferralsFromImpression++
	}
	emailKey := hashKey(model.EmailKey(in.Email))
	refs := tx.Bucket(bucketReferrals)
	err = scanDesc(tx.Bucket(bucketReferralsByEmail), [][]byte{emailKey}, nil, func(k []byte) (bool, error) {
		other, err := decodeReferral(k, refs.Get(k))
		if err != nil {
			return false, err
		}
		f.EmailReferredInProgram = other.ProgramID == imp.ProgramID
		return !f.EmailReferredInProgram, nil
	})
	if err != nil {
		return f, err
	}
	if imp.PlacementID != nil {
		f.SinceScan = now.Sub(imp.CreatedAt.Time)
	}
	return f, nil
}

// FindReplayedReferral implements model.ReferralService.
func (s *Store) FindReplayedReferral(ctx context.Context, idem model.Idempotency) (r *model.Referral, err error) {
	if idem.Key == "" {
		return nil, nil
	}
	var snap []byte
	err = s.view(func(tx *bolt.Tx) error {
		snap, err = s.findIdempotent(tx, idem, s.now())
		return err
	})
	if err != nil || snap == nil {
		return nil, err
	}
	key, val, err := splitSnapshot(snap)
	if err != nil {
		return nil, err
	}
	return decodeReferral(key[:], val)
}

// FindReferralByID implements model.ReferralService.
func (s *Store) FindReferralByID(ctx context.Context, id string) (r *model.Referral, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		r, err = getRecord(tx, bucketReferrals, model.PrefixReferral, id, decodeReferral)
		return err
	})
	return r, err
}

// FindReferrals implements model.ReferralService. It walks the most
// selective index the filters allow (email, then ambassador, then program,
// each with status when given) and checks the rest per record.
func (s *Store) FindReferrals(ctx context.Context, f model.ReferralFilter) (p model.Page[*model.Referral], err error) {
	bucket, prefixes := bucketReferrals, [][]byte{nil}
	emailKey := model.EmailKey(f.Email)
	// A program's or an ambassador's referrals are listed from its ranges
	// of the by-status index, one per status (or the one asked for),
	// merged; a second index without the status would cost each referral
	// another 50 bytes on disk.
	statuses := func(owner []byte) [][]byte {
		if f.Status != "" {
			return [][]byte{cat(owner, []byte{referralStatusByte(f.Status)})}
		}
		var ps [][]byte
		for _, st := range []byte{referralPending, referralConverted, referralRejected} {
			ps = append(ps, cat(owner, []byte{st}))
		}
		return ps
	}
	switch {
	case f.Email != "":
		bucket, prefixes = bucketReferralsByEmail, [][]byte{hashKey(emailKey)}
	case f.AmbassadorID != "":
		bucket, prefixes = bucketReferralsByAmbassadorStatus, statuses(idPrefix(model.PrefixAmbassador, f.AmbassadorID))
	case f.ProgramID != "":
		bucket, prefixes = bucketReferralsByProgramStatus, statuses(idPrefix(model.PrefixProgram, f.ProgramID))
	case f.Status != "":
		bucket, prefixes = bucketReferralsByStatus, [][]byte{{referralStatusByte(f.Status)}}
	}
	load := func(tx *bolt.Tx, key []byte) (*model.Referral, bool, error) {
		r, err := decodeReferral(key, tx.Bucket(bucketReferrals).Get(key))
		if err != nil {
			return nil, false, err
		}
		ok := (f.ProgramID == "" || r.ProgramID == f.ProgramID) &&
			(f.AmbassadorID == "" || r.AmbassadorID == f.AmbassadorID) &&
			(f.Status == "" || r.Status == f.Status) &&
			(f.Email == "" || model.EmailKey(r.Email) == emailKey)
		return r, ok, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listMerged(tx, bucket, prefixes, model.PrefixReferral, f.ListOptions, load)
		return err
	})
	return p, err
}

// UpdateReferral implements model.ReferralService. A status change moves
// the status index entries and writes a referral.status_changed event.
func (s *Store) UpdateReferral(ctx context.Context, id string, u model.ReferralUpdate) (r *model.Referral, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		r, err = getRecord(tx, bucketReferrals, model.PrefixReferral, id, decodeReferral)
		if err != nil {
			return err
		}
		before := *r
		if err := u.Apply(r); err != nil {
			return err
		}
		if r.Status == before.Status && bytes.Equal(r.Metadata, before.Metadata) {
			return nil // a retry, or nothing asked: no write, no event
		}
		return s.putReferralChange(tx, s.now(), &before, r)
	})
	return r, err
}

// EraseReferral implements model.ReferralService.
func (s *Store) EraseReferral(ctx context.Context, id string) (r *model.Referral, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		r, err = getRecord(tx, bucketReferrals, model.PrefixReferral, id, decodeReferral)
		if err != nil || r.ErasedAt != nil {
			return err
		}
		now := s.now()
		key := keyOf(model.PrefixReferral, r.ID)
		oldEmail := indexEntry{bucketReferralsByEmail, hashKey(model.EmailKey(r.Email))}
		t := model.NewTime(now)
		r.FirstName, r.LastName, r.Email, r.ProfilePictureURL, r.Metadata = "", "", "", nil, nil
		r.ErasedAt, r.UpdatedAt = &t, t
		val := encodeReferral(r)
		if err := tx.Bucket(bucketReferrals).Put(key[:], val); err != nil {
			return err
		}
		if err := deleteIndexes(tx, key, oldEmail); err != nil {
			return err
		}
		if err := s.rewriteSnapshot(tx, key, val); err != nil {
			return err
		}
		// The scan the person signed up from is linked to them through
		// the referral: its user agent, referrer and IP hash go too.
		impKey := keyOf(model.PrefixImpression, r.ImpressionID)
		if v := tx.Bucket(bucketImpressions).Get(impKey[:]); v != nil {
			imp, ip, err := decodeImpressionWithIP(impKey[:], v)
			if err != nil {
				return err
			}
			if ip != nil && imp.PlacementID != nil {
				// Repeat detection's entry for that scan holds the hash too.
				plc := keyOf(model.PrefixPlacement, *imp.PlacementID)
				if err := tx.Bucket(bucketScanRecent).Delete(cat(plc[:], ip)); err != nil {
					return err
				}
			}
			if imp.UserAgent != nil || imp.Referrer != nil || ip != nil {
				if err := scrubImpression(tx, impKey, imp); err != nil {
					return err
				}
			}
		}
		if err := rewriteEvents(tx, key, val, func(typ string, data []byte) ([]byte, error) {
			if typ == model.EventReferralStatusChanged {
				var ev struct {
					PreviousStatus model.ReferralStatus `json:"previous_status"`
				}
				json.Unmarshal(data, &ev)
				return json.Marshal(struct {
					Referral       *model.Referral      `json:"referral"`
					PreviousStatus model.ReferralStatus `json:"previous_status"`
				}{r, ev.PreviousStatus})
			}
			return json.Marshal(r)
		}); err != nil {
			return err
		}
		return s.appendEvent(tx, now, model.EventReferralErased, key, struct {
			ID       string     `json:"id"`
			ErasedAt model.Time `json:"erased_at"`
		}{r.ID, t})
	})
	return r, err
}

// putReferralChange writes r, changed from before: the record, its status
// index entries when the status moved, and the referral.status_changed
// event.
func (s *Store) putReferralChange(tx *bolt.Tx, now time.Time, before, r *model.Referral) error {
	r.UpdatedAt = model.NewTime(now)
	key := keyOf(model.PrefixReferral, r.ID)
	if err := tx.Bucket(bucketReferrals).Put(key[:], encodeReferral(r)); err != nil {
		return err
	}
	if before.Status == r.Status {
		return nil
	}
	_, oldIdx := referralIndexes(before)
	_, newIdx := referralIndexes(r)
	if err := deleteIndexes(tx, key, oldIdx...); err != nil {
		return err
	}
	if err := putIndexes(tx, key, newIdx...); err != nil {
		return err
	}
	if err := s.countStatusChange(r); err != nil {
		return err
	}
	return s.appendEvent(tx, now, model.EventReferralStatusChanged, key, struct {
		Referral       *model.Referral      `json:"referral"`
		PreviousStatus model.ReferralStatus `json:"previous_status"`
	}{r, before.Status})
}

package store

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
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
// its status; the rest are fixed at creation. The email index entry goes
// through its journal (emailIndexKey).
func referralIndexes(r *model.Referral) (fixed, byStatus []indexEntry) {
	prg, amb := keyOf(model.PrefixProgram, r.ProgramID), keyOf(model.PrefixAmbassador, r.AmbassadorID)
	st := []byte{referralStatusByte(r.Status)}
	imp := keyOf(model.PrefixImpression, r.ImpressionID)
	fixed = []indexEntry{
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
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		tx, now := w.tx, w.now
		imp, err := getRecord(tx, bucketImpressions, model.PrefixImpression, in.ImpressionID, decodeImpression)
		if model.ErrorCode(err) == model.ENotFound {
			return nil, nil, model.FieldNotFound("impression_id", model.PrefixImpression, in.ImpressionID)
		} else if err != nil {
			return nil, nil, err
		}
		facts, err := s.signupFacts(tx, &in, imp, now)
		if err != nil {
			return nil, nil, err
		}
		prg, err := getRecord(tx, bucketPrograms, model.PrefixProgram, imp.ProgramID, decodeProgram)
		if err != nil {
			return nil, nil, err
		}
		key := w.newKey()
		r := model.NewReferral(in, imp, prg, facts, model.FormatID(model.PrefixReferral, key), model.NewTime(now))
		val := encodeReferral(r)
		return snapshot(key, val), func() error {
			if err := tx.Bucket(bucketReferrals).Put(key[:], val); err != nil {
				return err
			}
			fixed, byStatus := referralIndexes(r)
			if err := putIndexes(tx, key, append(fixed, byStatus...)...); err != nil {
				return err
			}
			if err := s.emailJournal.put(tx, emailIndexKey(r.Email, key), nil); err != nil {
				return err
			}
			if err := w.counts.bump(referralSubject(r), dayOf(now), func(c *model.Counts) {
				c.Referrals++
				if len(r.Flags) > 0 {
					c.FlaggedReferrals++
				}
				if r.Status == model.ReferralRejected {
					c.Rejected++
				}
			}); err != nil {
				return err
			}
			if facts.ReferralsFromImpression == 0 {
				if err := countFirstReferral(w, imp); err != nil {
					return err
				}
			}
			return s.appendRecordEvent(tx, now, recordReferral, key, val)
		}, nil
	})
	return fromSnapshot(snap, replayed, err, decodeReferral)
}

// emailIndexKey is the email index's key for referral key with email.
func emailIndexKey(email string, key [16]byte) [32]byte {
	var k [32]byte
	copy(k[:], hashKey(model.EmailKey(email)))
	copy(k[16:], key[:])
	return k
}

// journaledByEmail returns the keys of the referrals with email hash
// prefix that the email index's journal holds and tx can see, newest
// first. The rest are in the index under the same prefix; a carried
// generation's entries are in both until it is dropped.
func (s *Store) journaledByEmail(tx *bolt.Tx, prefix []byte) ([][]byte, error) {
	journaled, err := s.emailJournal.keysUnder(tx, [16]byte(prefix))
	if err != nil {
		return nil, err
	}
	keys := make([][]byte, 0, len(journaled))
	for _, k := range journaled {
		keys = append(keys, bytes.Clone(k[16:]))
	}
	slices.SortFunc(keys, func(a, b []byte) int { return bytes.Compare(b, a) })
	return keys, nil
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
	journaled, err := s.journaledByEmail(tx, emailKey)
	if err != nil {
		return f, err
	}
	refs := tx.Bucket(bucketReferrals)
	err = scanDesc(tx.Bucket(bucketReferralsByEmail), [][]byte{emailKey}, journaled, nil, func(k []byte) (bool, error) {
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
//
// What the other filters cost: a placement's referrals are read from its
// ambassador's ranges, which hold them among the ambassador's others; a
// time range starts the walk at To and ends it at From, since keys sort by
// creation; flagged is checked per record. A page reads as many records
// as it shows when these match most of what the index holds, and at most
// scanBudget entries when they match few, coming back short with a cursor
// to go on (listMerged), so no filter makes a page cost more as the store
// grows.
func (s *Store) FindReferrals(ctx context.Context, f model.ReferralFilter) (p model.Page[*model.Referral], err error) {
	if f.Cursor == "" && !f.To.IsZero() {
		f.Cursor = model.FormatID(model.PrefixReferral, model.TimeKey(f.To.Time))
	}
	emailKey := model.EmailKey(f.Email)
	load := func(tx *bolt.Tx, key []byte) (*model.Referral, bool, error) {
		if !f.From.IsZero() && model.IDTime([16]byte(key)).Before(f.From.Time) {
			return nil, false, errPastRange
		}
		r, err := decodeReferral(key, tx.Bucket(bucketReferrals).Get(key))
		if err != nil {
			return nil, false, err
		}
		ok := (f.ProgramID == "" || r.ProgramID == f.ProgramID) &&
			(f.AmbassadorID == "" || r.AmbassadorID == f.AmbassadorID) &&
			(f.PlacementID == "" || r.PlacementID != nil && *r.PlacementID == f.PlacementID) &&
			(f.Status == "" || r.Status == f.Status) &&
			(f.Email == "" || model.EmailKey(r.Email) == emailKey) &&
			(!f.Flagged || len(r.Flags) > 0) &&
			(f.From.IsZero() || !r.CreatedAt.Before(f.From.Time)) && (f.To.IsZero() || r.CreatedAt.Before(f.To.Time))
		return r, ok, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		ambassadorID := f.AmbassadorID
		if f.PlacementID != "" {
			plc, err := getRecord(tx, bucketPlacements, model.PrefixPlacement, f.PlacementID, decodePlacement)
			if model.ErrorCode(err) == model.ENotFound {
				p.Data = []*model.Referral{}
				return nil // an unknown poster brought nobody
			} else if err != nil {
				return err
			}
			f.PlacementID = plc.ID // as stored, in lower case
			if ambassadorID == "" {
				ambassadorID = plc.AmbassadorID
			}
		}
		bucket, prefixes := bucketReferrals, [][]byte{nil}
		// A program's or an ambassador's referrals are listed from its
		// ranges of the by-status index, one per status (or the one asked
		// for), merged; a second index without the status would cost each
		// referral another 50 bytes on disk.
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
		case ambassadorID != "":
			bucket, prefixes = bucketReferralsByAmbassadorStatus, statuses(idPrefix(model.PrefixAmbassador, ambassadorID))
		case f.ProgramID != "":
			bucket, prefixes = bucketReferralsByProgramStatus, statuses(idPrefix(model.PrefixProgram, f.ProgramID))
		case f.Status != "":
			bucket, prefixes = bucketReferralsByStatus, [][]byte{{referralStatusByte(f.Status)}}
		}
		var journaled [][]byte
		if f.Email != "" {
			if journaled, err = s.journaledByEmail(tx, prefixes[0]); err != nil {
				return err
			}
		}
		p, err = listMerged(tx, bucket, prefixes, journaled, model.PrefixReferral, f.ListOptions, load)
		return err
	})
	return p, err
}

// UpdateReferral implements model.ReferralService. A status change moves
// the status index entries and writes a referral.status_changed event.
func (s *Store) UpdateReferral(ctx context.Context, id string, u model.ReferralUpdate) (r *model.Referral, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		before, err := getRecord(w.tx, bucketReferrals, model.PrefixReferral, id, decodeReferral)
		if err != nil {
			return nil, err
		}
		after := *before
		r = &after
		if err := u.Apply(r); err != nil {
			return nil, err
		}
		if r.Status == before.Status && bytes.Equal(r.Metadata, before.Metadata) {
			return nil, nil // a retry, or nothing asked: no write, no event
		}
		return func() error {
			if err := s.putReferralChange(w, before, r); err != nil {
				return err
			}
			return w.auditf("referral.updated", r.ID, "%s", changed(before, r))
		}, nil
	})
	return r, err
}

// EraseReferral implements model.ReferralService.
func (s *Store) EraseReferral(ctx context.Context, id string) (r *model.Referral, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		tx, now := w.tx, w.now
		before, err := getRecord(tx, bucketReferrals, model.PrefixReferral, id, decodeReferral)
		if err != nil || before.ErasedAt != nil {
			r = before
			return nil, err
		}
		r = before.Erased(model.NewTime(now))
		key := keyOf(model.PrefixReferral, r.ID)
		val := encodeReferral(r)
		return func() error {
			if err := tx.Bucket(bucketReferrals).Put(key[:], val); err != nil {
				return err
			}
			if err := s.emailJournal.delete(tx, emailIndexKey(before.Email, key), func([]byte) bool { return true }); err != nil {
				return err
			}
			if err := s.rewriteSnapshot(tx, key, val); err != nil {
				return err
			}
			if err := scrubSignupScan(tx, r.ImpressionID); err != nil {
				return err
			}
			if err := rewriteEvents(tx, key, val, func(typ string, data []byte) ([]byte, error) {
				if typ == model.EventReferralStatusChanged {
					var ev model.ReferralStatusChangedData
					json.Unmarshal(data, &ev)
					return json.Marshal(model.ReferralStatusChangedData{Referral: r, PreviousStatus: ev.PreviousStatus})
				}
				return json.Marshal(r)
			}); err != nil {
				return err
			}
			if err := s.appendEvent(tx, now, model.EventReferralErased, key, model.ReferralErasedData{ID: r.ID, ErasedAt: *r.ErasedAt}); err != nil {
				return err
			}
			return w.auditf("referral.erased", r.ID, "personal data erased")
		}, nil
	})
	return r, err
}

// scrubSignupScan erases what the scan a person signed up from holds of
// them, linked to them through the referral: its user agent, referrer
// and IP hash, and repeat detection's entry, which holds the hash too.
func scrubSignupScan(tx *bolt.Tx, impressionID string) error {
	impKey := keyOf(model.PrefixImpression, impressionID)
	v := tx.Bucket(bucketImpressions).Get(impKey[:])
	if v == nil {
		return nil
	}
	imp, ip, err := decodeImpressionWithIP(impKey[:], v)
	if err != nil {
		return err
	}
	if ip != nil && imp.PlacementID != nil {
		plc := keyOf(model.PrefixPlacement, *imp.PlacementID)
		if err := tx.Bucket(bucketScanRecent).Delete(cat(plc[:], ip)); err != nil {
			return err
		}
	}
	if imp.UserAgent == nil && imp.Referrer == nil && ip == nil {
		return nil
	}
	return scrubImpression(tx, impKey, imp)
}

// putReferralChange writes r, changed from before: the record, its status
// index entries when the status moved, and the referral.status_changed
// event.
func (s *Store) putReferralChange(w *wtx, before, r *model.Referral) error {
	tx := w.tx
	r.UpdatedAt = model.NewTime(w.now)
	key := keyOf(model.PrefixReferral, r.ID)
	if err := s.keepAsCreated(tx, w.now, bucketReferrals, key); err != nil {
		return err
	}
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
	if err := countStatusChange(w, r); err != nil {
		return err
	}
	return s.appendEvent(tx, w.now, model.EventReferralStatusChanged, key, model.ReferralStatusChangedData{Referral: r, PreviousStatus: before.Status})
}

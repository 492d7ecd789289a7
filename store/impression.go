package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.ImpressionService = (*Store)(nil)

func encodeImpression(m *model.Impression) []byte {
	e := newEncoder()
	e.idKey(model.PrefixProgram, m.ProgramID)
	e.idKey(model.PrefixAmbassador, m.AmbassadorID)
	e.optID(model.PrefixPlacement, m.PlacementID)
	e.optStr(m.UserAgent)
	e.optStr(m.Referrer)
	e.bytes(m.Metadata)
	e.time(m.CreatedAt)
	e.uvarint(uint64(len(m.Flags)))
	for _, f := range m.Flags {
		e.str(f)
	}
	return e.b
}

// encodeImpressionWithIP appends the scanner's keyed IP hash, which is
// kept for repeat detection and privacy retention but never returned.
func encodeImpressionWithIP(m *model.Impression, ipHash []byte) []byte {
	e := &encoder{b: encodeImpression(m)}
	e.bytes(ipHash)
	return e.b
}

func decodeImpression(key, val []byte) (*model.Impression, error) {
	m, _, err := decodeImpressionWithIP(key, val)
	return m, err
}

// decodeImpressionWithIP also returns the IP hash encodeImpressionWithIP
// appended, or nil.
func decodeImpressionWithIP(key, val []byte) (*model.Impression, []byte, error) {
	d := newDecoder(val)
	m := &model.Impression{ID: model.FormatID(model.PrefixImpression, [16]byte(key))}
	m.ProgramID = d.id(model.PrefixProgram)
	m.AmbassadorID = d.id(model.PrefixAmbassador)
	m.PlacementID = d.optID(model.PrefixPlacement)
	m.UserAgent = d.optStr()
	m.Referrer = d.optStr()
	m.Metadata = d.bytes()
	m.CreatedAt = d.time()
	for n := d.count(); n > 0 && d.err == nil; n-- {
		m.Flags = append(m.Flags, d.str())
	}
	var ipHash []byte
	if d.err == nil && len(d.b) > 0 {
		// Read apart, so a tail this code does not know never fails the
		// record itself.
		tail := &decoder{b: d.b}
		if h := tail.bytes(); tail.err == nil && len(h) > 0 {
			ipHash = h
		}
	}
	return m, ipHash, d.err
}

func impressionIndexes(m *model.Impression) []indexEntry {
	prg, amb := keyOf(model.PrefixProgram, m.ProgramID), keyOf(model.PrefixAmbassador, m.AmbassadorID)
	idx := []indexEntry{
		{bucketImpressionsByProgram, prg[:]},
		{bucketImpressionsByAmbassador, amb[:]},
	}
	if m.PlacementID != nil {
		plc := keyOf(model.PrefixPlacement, *m.PlacementID)
		idx = append(idx, indexEntry{bucketImpressionsByPlacement, plc[:]})
	}
	return idx
}

// resolveImpressionSource checks that the records in makes the impression
// of exist, all problems together, and returns the program, ambassador and
// placement it belongs to.
func resolveImpressionSource(tx *bolt.Tx, in *model.ImpressionCreate) (prg, amb string, plc *string, err error) {
	var fe model.FieldErrors
	prg, amb = in.ProgramID, in.AmbassadorID
	if in.PlacementID != "" {
		p, err := getRecord(tx, bucketPlacements, model.PrefixPlacement, in.PlacementID, decodePlacement)
		if model.ErrorCode(err) == model.ENotFound {
			fe.Add("placement_id", model.FNotFound, "placement %s does not exist", in.PlacementID)
			return "", "", nil, fe.Err()
		} else if err != nil {
			return "", "", nil, err
		}
		return p.ProgramID, p.AmbassadorID, &p.ID, in.AgreesWith(p).Err()
	}
	if !exists(tx, bucketPrograms, model.PrefixProgram, prg) {
		fe.Add("program_id", model.FNotFound, "program %s does not exist", prg)
	}
	if !exists(tx, bucketAmbassadors, model.PrefixAmbassador, amb) {
		fe.Add("ambassador_id", model.FNotFound, "ambassador %s does not exist", amb)
	}
	return prg, amb, plc, fe.Err()
}

func exists(tx *bolt.Tx, bucket []byte, prefix, id string) bool {
	k, ok := model.ParseID(prefix, id)
	return ok && tx.Bucket(bucket).Get(k[:]) != nil
}

// CreateImpression implements model.ImpressionService.
func (s *Store) CreateImpression(ctx context.Context, in model.ImpressionCreate, idem model.Idempotency) (*model.Impression, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		prg, amb, plc, err := resolveImpressionSource(w.tx, &in)
		if err != nil {
			return nil, nil, err
		}
		key := w.newKey()
		m := model.NewImpression(in, prg, amb, plc, model.FormatID(model.PrefixImpression, key), model.NewTime(w.now))
		return snapshot(key, encodeImpression(m)), func() error { return s.putImpression(w, key, m, nil) }, nil
	})
	return fromSnapshot(snap, replayed, err, decodeImpression)
}

// putImpression writes a new impression with its indexes, counters and
// impression.created event.
func (s *Store) putImpression(w *wtx, key [16]byte, m *model.Impression, ipHash []byte) error {
	tx, now := w.tx, w.now
	val := encodeImpression(m)
	stored := val
	if ipHash != nil {
		stored = encodeImpressionWithIP(m, ipHash)
	}
	if err := tx.Bucket(bucketImpressions).Put(key[:], stored); err != nil {
		return err
	}
	if err := putIndexes(tx, key, impressionIndexes(m)...); err != nil {
		return err
	}
	if err := w.counts.bump(impressionSubject(m), dayOf(now), func(c *model.Counts) {
		countImpression(c, m)
	}); err != nil {
		return err
	}
	return s.appendRecordEvent(tx, now, recordImpression, key, val)
}

// FindImpressionByID implements model.ImpressionService.
func (s *Store) FindImpressionByID(ctx context.Context, id string) (m *model.Impression, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		m, err = getRecord(tx, bucketImpressions, model.PrefixImpression, id, decodeImpression)
		return err
	})
	return m, err
}

// FindImpressions implements model.ImpressionService. It walks the most
// selective index a filter allows and checks the other filters per record.
func (s *Store) FindImpressions(ctx context.Context, f model.ImpressionFilter) (p model.Page[*model.Impression], err error) {
	bucket, prefix := bucketImpressions, []byte(nil)
	switch {
	case f.PlacementID != "":
		bucket, prefix = bucketImpressionsByPlacement, idPrefix(model.PrefixPlacement, f.PlacementID)
	case f.AmbassadorID != "":
		bucket, prefix = bucketImpressionsByAmbassador, idPrefix(model.PrefixAmbassador, f.AmbassadorID)
	case f.ProgramID != "":
		bucket, prefix = bucketImpressionsByProgram, idPrefix(model.PrefixProgram, f.ProgramID)
	}
	load := func(tx *bolt.Tx, key []byte) (*model.Impression, bool, error) {
		m, err := decodeImpression(key, tx.Bucket(bucketImpressions).Get(key))
		if err != nil {
			return nil, false, err
		}
		ok := (f.ProgramID == "" || m.ProgramID == f.ProgramID) &&
			(f.AmbassadorID == "" || m.AmbassadorID == f.AmbassadorID) &&
			(f.PlacementID == "" || m.PlacementID != nil && *m.PlacementID == f.PlacementID)
		return m, ok, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucket, prefix, model.PrefixImpression, f.ListOptions, load)
		return err
	})
	return p, err
}

// idPrefix is the index prefix for a filter ID. An ID that cannot parse
// yields a prefix that matches nothing, as no record has it.
func idPrefix(prefix, id string) []byte {
	k, ok := model.ParseID(prefix, id)
	if !ok {
		return []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	return k[:]
}

package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// An idempotency entry lives under sha256(principal ‖ 0 ‖ key) and holds
// fingerprint (32) ‖ expiry in Unix ms (8) ‖ the record the first request
// made, which a replay returns even after the record has changed. The record
// is found one of three ways:
//
//   - snapRecord ‖ kind ‖ key: a referral or an impression (kind as in
//     record events), read where it lives, as long as it has not changed
//     since it was created; a change made within the idempotency window
//     first copies it, as created, to records_as_created (keepAsCreated),
//     where a replay finds it. Erasure deletes that copy, so an erased
//     record replays erased. Records change rarely after their creation,
//     so most entries keep no copy of their record at all.
//   - snapInline ‖ key ‖ value: a copy of the record as created (the
//     other kinds, whose changes keep no copy);
//   - snapEvent ‖ key: written before schema 15 (pinEventReplays): the
//     record's creation event holds that copy (see formatRecordEvent).
//     Erasure rewrites the event, and with it the replay.
//
// None of them needs the outbox but the last, so the outbox is pruned
// as soon as its consumers have passed an event (PruneOutbox).
//
// The expiry index holds expiry (8) ‖ entry key (32), so the sweeper finds
// expired keys by walking from the start.

const idemHeader = 32 + 8

const (
	snapInline byte = 0
	snapEvent  byte = 1
	snapRecord byte = 2
)

// recordBuckets are where the records of snapRecord entries live, by
// kind. A referral changes by putReferralChange, which keeps it as
// created, and by erasure; an impression only by the scrubbing of its scan
// data, which its replay shows too, as it shows an erasure.
var recordBuckets = map[byte][]byte{recordReferral: bucketReferrals, recordImpression: bucketImpressions}

// bucketRecordsAsCreated holds record key → the record's value as it was
// created, for a record of snapRecord entries that changed within the
// idempotency window. Keys are time-ordered, so the sweeper deletes
// copies past the window from the start.
var bucketRecordsAsCreated = []byte("records_as_created")

// inlineSnapshotKey returns the key of the record an entry value keeps inline.
func inlineSnapshotKey(v []byte) ([]byte, bool) {
	if len(v) < idemHeader+1+16 || v[idemHeader] != snapInline {
		return nil, false
	}
	return v[idemHeader+1 : idemHeader+1+16], true
}

func idempotencyKey(idem model.Idempotency) [32]byte {
	h := sha256.New()
	h.Write([]byte(idem.Scope))
	h.Write([]byte{0})
	h.Write([]byte(idem.Key))
	return [32]byte(h.Sum(nil))
}

// entryExpired reports whether entry value v is past its expiry at now.
func entryExpired(v []byte, now time.Time) bool {
	return int64(binary.BigEndian.Uint64(v[32:40])) <= now.UnixMilli()
}

// dropIdempotent deletes what points at entry value v of key: its expiry
// and the way back to it from a record it keeps inline.
func dropIdempotent(tx *bolt.Tx, key, v []byte) error {
	if err := unlinkSnapshot(tx, v); err != nil {
		return err
	}
	return tx.Bucket(bucketIdempotencyExpiry).Delete(cat(v[32:40], key))
}

// unlinkSnapshot deletes the way back from a record that entry value v
// keeps inline, if it keeps one.
func unlinkSnapshot(tx *bolt.Tx, v []byte) error {
	if rec, ok := inlineSnapshotKey(v); ok {
		return tx.Bucket(bucketIdempotencyByRecord).Delete(rec)
	}
	return nil
}

// keyedFingerprint is what an entry keeps of the request's fingerprint:
// an HMAC of it under a secret of the store's. The fingerprint is a plain
// hash of the request, the person's email and name included, and the
// entry outlives an erasure by up to a window; keyed, it cannot be used
// to test a guess of what the request said.
func (s *Store) keyedFingerprint(idem model.Idempotency) []byte {
	h := hmac.New(sha256.New, s.fingerprintKey)
	h.Write(idem.Fingerprint[:])
	return h.Sum(nil)
}

// findIdempotent returns a copy of the snapshot saved under idem, nil if
// there is none or it has expired, or idempotency_key_reused if the key was
// used for a different request.
func (s *Store) findIdempotent(tx *bolt.Tx, idem model.Idempotency, now time.Time) ([]byte, error) {
	v := s.idemJournal.get(tx, idempotencyKey(idem))
	if len(v) < idemHeader || entryExpired(v, now) {
		return nil, nil
	}
	// Entries written before fingerprints were keyed hold the bare one;
	// they expire within a window of the upgrade.
	if !bytes.Equal(v[:32], s.keyedFingerprint(idem)) && !bytes.Equal(v[:32], idem.Fingerprint[:]) {
		return nil, model.Errorf(model.EIdempotencyKeyReused,
			"this idempotency key was already used with different parameters")
	}
	stored := v[idemHeader:]
	switch {
	case len(stored) == 2+16 && stored[0] == snapRecord:
		key := [16]byte(stored[2:])
		if !model.IDTime(key).Add(s.idemWindow).After(now) {
			// The window has shrunk since the entry was written: copies as
			// created are kept for the window as it is now, so the entry
			// cannot replay its record exactly any more.
			return nil, nil
		}
		return s.recordAsCreated(tx, stored[1], key)
	case len(stored) > 1+16 && stored[0] == snapInline:
		return bytes.Clone(stored[1:]), nil
	case len(stored) == 1+16 && stored[0] == snapEvent:
		key := [16]byte(stored[1:])
		val, ok, err := createdRecord(tx, key)
		if err != nil || !ok {
			return nil, errCorrupt
		}
		return snapshot(key, val), nil
	}
	return nil, errCorrupt
}

// putIdempotent saves snap under idem until now plus the window, replacing
// an expired entry that the sweeper has not reached yet.
func (s *Store) putIdempotent(tx *bolt.Tx, idem model.Idempotency, now time.Time, snap []byte) error {
	key := idempotencyKey(idem)
	if old := s.idemJournal.get(tx, key); len(old) >= idemHeader {
		// The old entry has expired (Store.create replays a live one), so
		// nothing of it is kept: not its expiry, not the way back from its
		// record, and no copy in the journal or the tree.
		if err := dropIdempotent(tx, key[:], old); err != nil {
			return err
		}
		if err := s.idemJournal.delete(tx, key, func([]byte) bool { return true }); err != nil {
			return err
		}
	}
	recKey, recVal, err := splitSnapshot(snap)
	if err != nil {
		return err
	}
	exp := binary.BigEndian.AppendUint64(nil, uint64(now.Add(s.idemWindow).UnixMilli()))
	v := make([]byte, 0, idemHeader+1+len(snap))
	v = append(append(v, s.keyedFingerprint(idem)...), exp...)
	if kind, ok := recordKind(tx, recKey, recVal); ok {
		v = append(append(append(v, snapRecord), kind), recKey[:]...)
	} else {
		v = append(append(v, snapInline), snap...)
		// So erasing a record can find the snapshot that copies it.
		if err := tx.Bucket(bucketIdempotencyByRecord).Put(recKey[:], key[:]); err != nil {
			return err
		}
	}
	if err := s.idemJournal.put(tx, key, v); err != nil {
		return err
	}
	return tx.Bucket(bucketIdempotencyExpiry).Put(cat(exp, key[:]), empty)
}

// recordKind returns the kind of the record key when it lives, as val,
// in the bucket of one of recordBuckets' kinds.
func recordKind(tx *bolt.Tx, key [16]byte, val []byte) (byte, bool) {
	for kind, bucket := range recordBuckets {
		if v := tx.Bucket(bucket).Get(key[:]); v != nil && bytes.Equal(v, val) {
			return kind, true
		}
	}
	return 0, false
}

// recordAsCreated returns a snapshot of record key (of kind) as it was
// created: its copy in records_as_created if it has changed since, else
// the record where it lives.
func (s *Store) recordAsCreated(tx *bolt.Tx, kind byte, key [16]byte) ([]byte, error) {
	if v := tx.Bucket(bucketRecordsAsCreated).Get(key[:]); v != nil {
		return snapshot(key, v), nil
	}
	bucket := recordBuckets[kind]
	if bucket == nil {
		return nil, errCorrupt
	}
	v := tx.Bucket(bucket).Get(key[:])
	if v == nil {
		return nil, errCorrupt
	}
	return snapshot(key, v), nil
}

// keepAsCreated copies record key, about to change in bucket, to
// records_as_created, so that a replay of its creation still returns it
// as created: it runs before every change of a record kind that
// recordBuckets lists, but for those that take personal data out, which
// a replay must show too (erasure: rewriteSnapshot). Only a record
// created within the idempotency window may have an entry to replay it,
// and only its first change copies it; whether an entry exists is not
// known from the record, so one created without an idempotency key is
// copied too, and swept with the rest.
func (s *Store) keepAsCreated(tx *bolt.Tx, now time.Time, bucket []byte, key [16]byte) error {
	if !model.IDTime(key).Add(s.idemWindow).After(now) {
		return nil
	}
	copies := tx.Bucket(bucketRecordsAsCreated)
	if copies.Get(key[:]) != nil {
		return nil
	}
	v := tx.Bucket(bucket).Get(key[:])
	if v == nil {
		return nil
	}
	// Copied: the change about to be put may reuse the memory v is in.
	return copies.Put(bytes.Clone(key[:]), bytes.Clone(v))
}

// rewriteSnapshot replaces the snapshot of record key, wherever an
// idempotency entry keeps one, with val; the entry's fingerprint and
// expiry stay. An entry that reads the record where it lives loses the
// record's copy as created, so that it replays val too.
func (s *Store) rewriteSnapshot(tx *bolt.Tx, key [16]byte, val []byte) error {
	if err := tx.Bucket(bucketRecordsAsCreated).Delete(key[:]); err != nil {
		return err
	}
	entryKey := tx.Bucket(bucketIdempotencyByRecord).Get(key[:])
	if len(entryKey) != 32 {
		return nil
	}
	return s.idemJournal.rewrite(tx, [32]byte(entryKey), func(old []byte) []byte {
		if rec, ok := inlineSnapshotKey(old); !ok || !bytes.Equal(rec, key[:]) {
			return nil // swept, or reused for another record since
		}
		return append(append(append([]byte(nil), old[:idemHeader]...), snapInline), snapshot(key, val)...)
	})
}

// sweepBatch bounds one sweep transaction, so sweeping a large backlog
// never holds the writer for long.
const sweepBatch = 1000

// SweepIdempotencyKeys deletes the entries of keys that expired before now
// and returns how many it deleted.
func (s *Store) SweepIdempotencyKeys(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := s.update(applyOnly(func(w *wtx) error {
			tx := w.tx
			n = 0
			c := tx.Bucket(bucketIdempotencyExpiry).Cursor()
			limit := uint64(now.UnixMilli())
			// Each pass deletes the first entry, so the next is the first
			// again (bbolt's Next after Delete can skip one).
			for k, _ := c.First(); k != nil && n < sweepBatch; k, _ = c.First() {
				if len(k) != 8+32 || binary.BigEndian.Uint64(k[:8]) > limit {
					break
				}
				key := [32]byte(k[8:])
				if v := s.idemJournal.get(tx, key); len(v) >= idemHeader && bytes.Equal(v[32:40], k[:8]) {
					if err := unlinkSnapshot(tx, v); err != nil {
						return err
					}
				}
				exp := k[:8]
				if err := s.idemJournal.delete(tx, key, func(v []byte) bool { return bytes.Equal(v[32:40], exp) }); err != nil {
					return err
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		}))
		total += n
		if err != nil || ctx.Err() != nil {
			return total, err
		}
		if n < sweepBatch {
			return total, s.sweepAsCreated(ctx, now)
		}
	}
}

// sweepAsCreated deletes the copies in records_as_created of records
// created a window or more before now, which no entry can replay any more.
func (s *Store) sweepAsCreated(ctx context.Context, now time.Time) error {
	limit := model.TimeKey(now.Add(-s.idemWindow))
	_, err := s.inBatches(ctx, sweepBatch, func(w *wtx) (n int, err error) {
		c := w.tx.Bucket(bucketRecordsAsCreated).Cursor()
		// Each pass deletes the first copy, so the next is the first again.
		for k, _ := c.First(); k != nil && n < sweepBatch && bytes.Compare(k, limit[:]) < 0; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	})
	return err
}

func (s *Store) sweepLoop(every time.Duration) {
	defer close(s.sweepDone)
	if every < 0 {
		<-s.stopSweep
		return
	}
	if every == 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	prune := time.NewTicker(min(every, outboxPruneEvery))
	defer prune.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
			s.sweep()
		case <-prune.C:
			s.pruneOutbox()
		}
	}
}

// outboxPruneEvery is how often the outbox is pruned, more often than the
// rest is swept: consumers pass events within moments of their commit, and
// under load a minute of events would be a sizeable part of the file.
const outboxPruneEvery = 5 * time.Second

func (s *Store) pruneOutbox() {
	n, err := s.PruneOutbox(context.Background(), s.now())
	switch {
	case err != nil && !isModelError(err):
		s.log.Error("pruning the outbox failed", "err", err)
	case n > 0:
		s.log.Debug("pruned events nobody needs any more from the outbox", "count", n)
	}
}

// settleCommits bounds one settleJournals: enough commits to carry two
// generations of the default size, 256 entries each.
const settleCommits = 2 * (DefaultJournalEntries/journalCarryMin + 2)

// settleJournals commits until the journals have nothing left to freeze
// or carry, for quiet stores: busy ones carry as they write. It stops
// after enough commits to carry two generations (at most settleCommits),
// because under steady load there is always more, and the sweep has other
// work.
func (s *Store) settleJournals() error {
	n := 0
	for _, j := range s.journals() {
		n = max(n, min(settleCommits, 2*(j.limit/j.carryMin+2)))
	}
	due := func() bool {
		for _, j := range s.journals() {
			if j.due(s.now()) {
				return true
			}
		}
		return false
	}
	for ; n > 0 && due(); n-- {
		if err := s.update(applyOnly(func(*wtx) error { return nil })); err != nil {
			return err
		}
	}
	return nil
}

// sweep is one round of the sweeper: the journals and expired
// idempotency keys, then scan data past its retention (or, without one,
// old repeat-scan entries). The outbox is pruned on a ticker of its own
// (pruneOutbox).
func (s *Store) sweep() {
	if err := s.settleJournals(); err != nil && !isModelError(err) {
		s.log.Error("carrying the journals into their trees failed", "err", err)
	}
	n, err := s.SweepIdempotencyKeys(context.Background(), s.now())
	switch {
	case err != nil && !isModelError(err):
		s.log.Error("sweeping idempotency keys failed", "err", err)
	case n > 0:
		s.log.Debug("swept expired idempotency keys", "count", n)
	}
	n, err = s.EmitTimedApprovals(context.Background(), s.now())
	switch {
	case err != nil && !isModelError(err):
		s.log.Error("writing the events of commissions whose hold period ended failed", "err", err)
	case n > 0:
		s.log.Debug("wrote the events of commissions whose hold period ended", "count", n)
	}
	if _, err := s.PrunePortalLinks(context.Background(), s.now()); err != nil && !isModelError(err) {
		s.log.Error("pruning expired portal sign-in links failed", "err", err)
	}
	if _, err := s.pruneWebhookAttempts(context.Background(), s.now().Add(-webhookAttemptsKept)); err != nil && !isModelError(err) {
		s.log.Error("pruning old webhook attempts failed", "err", err)
	}
	if s.retention > 0 {
		n, err := s.ScrubOldScans(context.Background(), s.now().Add(-s.retention))
		switch {
		case err != nil && !isModelError(err):
			s.log.Error("scrubbing old scan data failed", "err", err)
		case n > 0:
			s.log.Info("scrubbed scan data past its retention", "impressions", n)
		}
	} else if err := s.pruneScanRecent(context.Background(), s.now().Add(-scanRecentKept)); err != nil && !isModelError(err) {
		// Without a retention nothing is scrubbed, but repeat detection
		// still forgets what it no longer needs.
		s.log.Error("pruning repeat-scan entries failed", "err", err)
	}
}

// keyEventReplays, in the meta bucket, is set while idempotency entries
// written before schema 15 may still replay from events: the key of the
// newest event at the upgrade (16) and the last of those entries'
// expiries (Unix ms, 8).
var keyEventReplays = []byte("event_replays")

// pinEventReplays, the migration to schema 15, keeps the events that
// older idempotency entries (snapEvent) replay from: every one of them is
// in the outbox at the upgrade, and no entry outlives the latest expiry
// in the expiry index. Reading those two keys, it costs nothing however
// large the store.
func pinEventReplays(tx *bolt.Tx, now time.Time) error {
	exp, _ := tx.Bucket(bucketIdempotencyExpiry).Cursor().Last()
	last, _ := tx.Bucket(bucketOutbox).Cursor().Last()
	if len(exp) < 8 || int64(binary.BigEndian.Uint64(exp[:8])) <= now.UnixMilli() || len(last) != 16 {
		return nil
	}
	return tx.Bucket(bucketMeta).Put(keyEventReplays, cat(last, exp[:8]))
}

// eventReplaysFrom is where pruning may start in the outbox at now: after
// the events of the upgrade to schema 15 while an older entry may replay
// from one of them, else at the start (nil). Once no entry can, it
// forgets the upgrade.
func eventReplaysFrom(tx *bolt.Tx, now time.Time) ([]byte, error) {
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keyEventReplays)
	if len(v) != 16+8 {
		return nil, nil
	}
	if int64(binary.BigEndian.Uint64(v[16:])) > now.UnixMilli() {
		from := successor([16]byte(v[:16]))
		return from[:], nil
	}
	return nil, meta.Delete(keyEventReplays)
}

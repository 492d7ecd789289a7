package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// Idempotency entries live in partitions by expiry. The bucket
// idempotency_partitions holds one bucket per span of expiry times (a
// partitionsPerWindow-th of the window), named by the span's end in Unix
// ms (8 bytes, big endian): once the clock reaches a partition's name,
// every entry in it has expired, and the sweeper drops it whole. In its
// partition an entry lives under idempotencyKey and holds fingerprint
// (32) ‖ expiry in Unix ms (8) ‖ the record the first request made, which
// a replay returns even after the record has changed. The record is kept
// one of two ways:
//
//   - snapInline ‖ key ‖ value: a copy of the record as created;
//   - snapEvent ‖ key: the record's creation event already holds that copy
//     (see formatRecordEvent), so the entry points there instead of keeping
//     a third one. Erasure rewrites the event, and with it the replay.
//
// Everything is read from the transaction's own snapshot: no map in memory
// says where an entry is, so a reader finds exactly the entries its
// snapshot holds, and the heap does not grow with the keys. A lookup tries
// each partition, newest first; a key has one entry at most (reusing an
// expired key deletes its old entry), so the order only decides how soon a
// hit stops. Partitions are named by expiry, not by when the entry was
// written, so a clock that steps back puts new entries into older
// partitions without any entry outliving its partition's name, and a
// window changed between runs leaves the old partitions' names true.

const idemHeader = 32 + 8

const (
	snapInline byte = 0
	snapEvent  byte = 1
)

// partitionsPerWindow is how many partitions a window's entries spread
// over. More would make a missed lookup, which tries every partition, cost
// more; fewer would keep expired entries longer, up to a partition's span
// past their expiry.
const partitionsPerWindow = 8

// inlineSnapshotKey returns the key of the record an entry value keeps inline.
func inlineSnapshotKey(v []byte) ([]byte, bool) {
	if len(v) < idemHeader+1+16 || v[idemHeader] != snapInline {
		return nil, false
	}
	return v[idemHeader+1 : idemHeader+1+16], true
}

// idempotencyKey is an entry's key: the first 16 bytes of
// sha256(scope ‖ 0 ‖ key), which leave a collision between two of a
// store's keys out of reach and take half the room of the whole hash in
// every leaf and branch page.
func idempotencyKey(idem model.Idempotency) [16]byte {
	h := sha256.New()
	h.Write([]byte(idem.Scope))
	h.Write([]byte{0})
	h.Write([]byte(idem.Key))
	return [16]byte(h.Sum(nil))
}

// entryExpired reports whether entry value v is past its expiry at now.
func entryExpired(v []byte, now time.Time) bool {
	return int64(binary.BigEndian.Uint64(v[32:40])) <= now.UnixMilli()
}

// partitionSpan is how much of the window one partition's expiry times
// cover, in ms.
func (s *Store) partitionSpan() uint64 {
	return max(1, uint64(s.idemWindow.Milliseconds())/partitionsPerWindow)
}

// partitionOf names the partition of an entry that expires at exp (Unix
// ms): the end of the span of expiry times that holds exp.
func partitionOf(exp, span uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, (exp+span-1)/span*span)
}

// findEntry returns key's entry as tx sees it and the partition that holds
// it, or nil values when there is none.
func findEntry(tx *bolt.Tx, key [16]byte) (*bolt.Bucket, []byte) {
	root := tx.Bucket(bucketIdempotencyPartitions)
	c := root.Cursor()
	// Newest first: a replay most often follows its request closely.
	for name, v := c.Last(); name != nil; name, v = c.Prev() {
		if v != nil {
			continue // not a partition
		}
		p := root.Bucket(name)
		if v := p.Get(key[:]); v != nil {
			return p, v
		}
	}
	return nil, nil
}

// unlinkSnapshot deletes the way back to key's entry, value v, from the
// record it keeps inline, if it keeps one and the way back still leads
// to key.
func unlinkSnapshot(tx *bolt.Tx, key, v []byte) error {
	rec, ok := inlineSnapshotKey(v)
	if !ok {
		return nil
	}
	byRecord := tx.Bucket(bucketIdempotencyByRecord)
	if !bytes.Equal(byRecord.Get(rec), key) {
		return nil
	}
	return byRecord.Delete(bytes.Clone(rec))
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
	_, v := findEntry(tx, idempotencyKey(idem))
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
	if p, old := findEntry(tx, key); old != nil {
		// The old entry has expired (Store.create replays a live one), so
		// nothing of it is kept: not the entry, which may sit in another
		// partition than the new one, and not the way back from its record.
		if err := unlinkSnapshot(tx, key[:], old); err != nil {
			return err
		}
		if err := p.Delete(key[:]); err != nil {
			return err
		}
	}
	recKey, recVal, err := splitSnapshot(snap)
	if err != nil {
		return err
	}
	exp := uint64(now.Add(s.idemWindow).UnixMilli())
	v := make([]byte, 0, idemHeader+1+len(snap))
	v = binary.BigEndian.AppendUint64(append(v, s.keyedFingerprint(idem)...), exp)
	if created, ok, err := createdRecord(tx, recKey); err != nil {
		return err
	} else if ok && bytes.Equal(created, recVal) {
		v = append(append(v, snapEvent), recKey[:]...)
	} else {
		v = append(append(v, snapInline), snap...)
		// So erasing a record can find the snapshot that copies it.
		if err := tx.Bucket(bucketIdempotencyByRecord).Put(recKey[:], key[:]); err != nil {
			return err
		}
	}
	p, err := tx.Bucket(bucketIdempotencyPartitions).CreateBucketIfNotExists(partitionOf(exp, s.partitionSpan()))
	if err != nil {
		return err
	}
	return p.Put(key[:], v)
}

// rewriteSnapshot replaces the inline snapshot of record key, if an
// idempotency entry keeps one, with val; the entry's fingerprint and
// expiry stay.
func (s *Store) rewriteSnapshot(tx *bolt.Tx, key [16]byte, val []byte) error {
	entryKey := tx.Bucket(bucketIdempotencyByRecord).Get(key[:])
	if len(entryKey) != 16 {
		return nil
	}
	p, old := findEntry(tx, [16]byte(entryKey))
	if rec, ok := inlineSnapshotKey(old); !ok || !bytes.Equal(rec, key[:]) {
		return nil // swept, or reused for another record since
	}
	v := append(append(append([]byte(nil), old[:idemHeader]...), snapInline), snapshot(key, val)...)
	return p.Put(bytes.Clone(entryKey), v)
}

// SweepIdempotencyKeys drops the partitions of idempotency entries that
// all expired at or before now, one partition a transaction, and returns
// how many entries they held. An expired entry in a partition not yet due
// is no longer replayed, and reusing its key replaces it; it goes with its
// partition, at most a partition's span later.
func (s *Store) SweepIdempotencyKeys(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, dropped := 0, false
		err := s.update(applyOnly(func(w *wtx) error {
			tx := w.tx
			n, dropped = 0, false
			root := tx.Bucket(bucketIdempotencyPartitions)
			name, v := root.Cursor().First()
			if name == nil {
				return nil
			}
			if len(name) != 8 || v != nil {
				return fmt.Errorf("idempotency partition %x: %w", name, errCorrupt)
			}
			if binary.BigEndian.Uint64(name) > uint64(now.UnixMilli()) {
				return nil
			}
			name = bytes.Clone(name)
			err := root.Bucket(name).ForEach(func(k, v []byte) error {
				n++
				return unlinkSnapshot(tx, k, v)
			})
			if err != nil {
				return err
			}
			dropped = true
			return root.DeleteBucket(name)
		}))
		total += n
		if err != nil || !dropped || ctx.Err() != nil {
			return total, err
		}
	}
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
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep is one round of the sweeper: expired idempotency keys, then scan
// data past its retention (or, without one, old repeat-scan entries).
func (s *Store) sweep() {
	n, err := s.SweepIdempotencyKeys(context.Background(), s.now())
	switch {
	case err != nil && !isModelError(err):
		s.log.Error("sweeping idempotency keys failed", "err", err)
	case n > 0:
		s.log.Debug("swept expired idempotency keys", "count", n)
	}
	n, err = s.PruneOutbox(context.Background(), s.now())
	switch {
	case err != nil && !isModelError(err):
		s.log.Error("pruning the outbox failed", "err", err)
	case n > 0:
		s.log.Debug("pruned events nobody needs any more from the outbox", "count", n)
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

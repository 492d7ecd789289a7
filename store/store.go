// Package store keeps referrald's records in one bbolt file. It is the only
// package that imports bbolt.
//
// Every write goes through a single writer goroutine that drains all writes
// waiting at that moment into one transaction and commits it with one
// fsync (group commit). A lone write commits at once; under load, many
// requests share each fsync, so throughput grows with concurrency while
// every caller still returns only after its data is durable.
package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/referrald/referrald/model"
)

// Buckets. Index buckets are named after what they index.
var (
	bucketMeta                        = []byte("meta")
	bucketPrograms                    = []byte("programs")
	bucketAmbassadors                 = []byte("ambassadors")
	bucketAmbassadorsByEmail          = []byte("ambassadors_by_email")
	bucketAmbassadorsByStatus         = []byte("ambassadors_by_status")
	bucketPlacements                  = []byte("placements")
	bucketImpressions                 = []byte("impressions")
	bucketImpressionsByProgram        = []byte("impressions_by_program")
	bucketImpressionsByAmbassador     = []byte("impressions_by_ambassador")
	bucketImpressionsByPlacement      = []byte("impressions_by_placement")
	bucketReferrals                   = []byte("referrals")
	bucketReferralsByStatus           = []byte("referrals_by_status")
	bucketReferralsByEmail            = []byte("referrals_by_email")
	bucketReferralsByProgramStatus    = []byte("referrals_by_program_status")
	bucketReferralsByAmbassadorStatus = []byte("referrals_by_ambassador_status")
	bucketReferralsByImpression       = []byte("referrals_by_impression")
	bucketOutbox                      = []byte("outbox")
	bucketAPIKeys                     = []byte("api_keys")
	bucketAPIKeysByHash               = []byte("api_keys_by_hash")
)

var allBuckets = [][]byte{
	bucketMeta, bucketPrograms, bucketAmbassadors, bucketAmbassadorsByEmail, bucketAmbassadorsByStatus,
	bucketPlacements, bucketImpressions, bucketImpressionsByProgram, bucketImpressionsByAmbassador,
	bucketImpressionsByPlacement, bucketReferrals,
	bucketReferralsByStatus, bucketReferralsByEmail, bucketReferralsByProgramStatus,
	bucketReferralsByAmbassadorStatus, bucketReferralsByImpression, bucketIdempotencyPartitions, bucketOutbox,
	bucketAPIKeys, bucketAPIKeysByHash,
	bucketHookCursors, bucketHookDeadLetters, bucketHookRetries, bucketHookResults,
}

// schemaVersion is the layout this code reads and writes. A store written by
// a newer referrald is refused rather than misread.
const schemaVersion = 11

var keySchemaVersion = []byte("schema_version")

// FileName is the bbolt file inside the data directory.
const FileName = "referrald.db"

// ErrLocked is returned by Open when another process (a running
// referrald) holds the file.
var ErrLocked = errors.New("the store file is locked by another process (is referrald running?)")

// maxBatch bounds one group commit, so one transaction's dirty pages, and
// the wait of the first caller in it, stay small.
const maxBatch = 512

// Options tune a Store. The zero value is a durable store with a 24 h
// idempotency window.
type Options struct {
	// IdempotencyWindow is how long an idempotency key is remembered.
	IdempotencyWindow time.Duration
	// SweepInterval is how often expired idempotency keys are deleted; 0
	// means every minute, a negative value never (tests sweep by hand).
	SweepInterval time.Duration
	// NoSync skips fsync on commit: faster, and unsafe. For benchmarks only.
	NoSync bool
	// Now is the clock; tests replace it to move through time.
	Now    func() time.Time
	Logger *slog.Logger
	// OnCommit, when set, is told of every committed transaction: how
	// many writes it carried and how long it took, fsync included.
	OnCommit func(writes int, d time.Duration)
	// ScanRetention, when positive, is how long scan data (user agent,
	// referrer, IP hash) is kept; the sweeper scrubs what is older.
	ScanRetention time.Duration
	// OutboxConsumers name what reads the outbox (the configured hook
	// plugins): an event is kept until each of them has passed it.
	OutboxConsumers []string
	// OutboxRetention is how long events are kept when nothing consumes
	// them; 0 means DefaultOutboxRetention.
	OutboxRetention time.Duration
}

// DefaultOutboxRetention keeps a week of events without consumers, so a
// plugin added with start_from: beginning still finds recent history.
const DefaultOutboxRetention = 7 * 24 * time.Hour

// Store implements the model's services on bbolt.
type Store struct {
	db         *bolt.DB
	now        func() time.Time
	ids        *model.IDGenerator
	idemWindow time.Duration
	log        *slog.Logger
	onCommit   func(writes int, d time.Duration)
	retention  time.Duration

	outboxConsumers []string
	outboxRetention time.Duration

	// mu guards closed and the send side of writes, so no write is sent
	// after the writer has been told to finish.
	mu         sync.RWMutex
	closed     bool
	writes     chan *writeOp
	writerDone chan struct{}
	stopSweep  chan struct{}
	sweepDone  chan struct{}

	commits    atomic.Uint64
	batchedOps atomic.Uint64
	// commitFailedAt is when a commit last failed for the disk's sake
	// (Unix ns), 0 once one has succeeded since.
	commitFailedAt atomic.Int64

	// counts gathers the counter changes of the group commit in progress;
	// only the writer goroutine touches it.
	counts *countBatch

	// fingerprintKey keys the request fingerprints kept in idempotency
	// entries (see keyedFingerprint).
	fingerprintKey []byte
}

// Open opens (creating if needed) the store at path. It fails after a second
// if another process holds the file.
func Open(path string, opt Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: time.Second,
		// The hashmap freelist allocates in O(1) where the array one
		// scans, and not syncing it to disk saves a page write per commit;
		// bbolt rebuilds it by scanning at open after a crash.
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
		NoSync:         opt.NoSync,
		// bbolt must remap the file when it outgrows its mapping, and a
		// remap waits for every read transaction, a streaming backup
		// included. Mapping 1 GiB of address space from the start makes
		// that rare; it costs address space, not memory.
		InitialMmapSize: 1 << 30,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		db:         db,
		now:        opt.Now,
		ids:        model.NewIDGenerator(),
		idemWindow: opt.IdempotencyWindow,
		log:        opt.Logger,
		onCommit:   opt.OnCommit,
		retention:  opt.ScanRetention,

		outboxConsumers: opt.OutboxConsumers,
		outboxRetention: opt.OutboxRetention,
		writes:          make(chan *writeOp, maxBatch),
		writerDone:      make(chan struct{}),
		stopSweep:       make(chan struct{}),
		sweepDone:       make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.idemWindow <= 0 {
		s.idemWindow = 24 * time.Hour
	}
	if s.outboxRetention <= 0 {
		s.outboxRetention = DefaultOutboxRetention
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := db.Update(s.migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	go s.writeLoop()
	if s.fingerprintKey, err = s.Secret("idempotency-fingerprint"); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	go s.sweepLoop(opt.SweepInterval)
	return s, nil
}

// migrate creates the buckets and checks the schema version. Later layouts
// add their steps here, each moving the version up by one.
func (s *Store) migrate(tx *bolt.Tx) error {
	for _, name := range append(append(append(allBuckets, moneyBuckets...), placementBuckets...),
		bucketCounters, bucketOutboxBySubject, bucketIdempotencyByRecord) {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchemaVersion)
	setVersion := func() error { return meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, schemaVersion)) }
	switch {
	case v == nil:
		return setVersion()
	case len(v) != 8:
		return fmt.Errorf("corrupt schema version")
	}
	version := binary.BigEndian.Uint64(v)
	if version > schemaVersion {
		return fmt.Errorf("store has schema version %d; this referrald reads up to %d", version, schemaVersion)
	}
	// Each step moves a store up one version, in order.
	steps := map[uint64]func(*bolt.Tx) error{
		1: rebuildCounters,          // 1 → 2: per-day counters, counted from the records
		2: indexReferralImpressions, // 2 → 3: referrals by impression, for fraud signals
		3: indexForErasure,          // 3 → 4: events by subject, idempotency snapshots by record
		4: compactReferrals,         // 4 → 5: tagged idempotency snapshots, no status-less referral indexes
		5: countBotsApart,           // 5 → 6: bot scans counted apart, so the funnel can leave them out
		// 6 → 7: the idempotency journal, which Open starts; an older
		// referrald would not look there.
		6: func(*bolt.Tx) error { return nil },
		// 7 → 8: the email index journal, likewise.
		7: func(*bolt.Tx) error { return nil },
		// 8 → 9: each subject's total, so reads without a date range cost
		// a key; and placement_batches goes, written by posters until
		// 4c48f6b and never read.
		8: func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket([]byte("placement_batches")); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
			return countAllDays(tx)
		},
		// 9 → 10: the impressions that led to a referral, the numerator
		// of the scan-to-signup rate.
		9: countImpressionsWithReferral,
		// 10 → 11: idempotency entries in partitions by expiry and the
		// email index in its tree alone, out of the journals; an older
		// referrald would not look there.
		10: func(tx *bolt.Tx) error { return s.dropJournals(tx, s.now()) },
	}
	for ; version < schemaVersion; version++ {
		if err := steps[version](tx); err != nil {
			return fmt.Errorf("migrate schema %d → %d: %w", version, version+1, err)
		}
	}
	return setVersion()
}

// indexReferralImpressions builds referrals_by_impression from the
// referrals.
func indexReferralImpressions(tx *bolt.Tx) error {
	idx := tx.Bucket(bucketReferralsByImpression)
	return tx.Bucket(bucketReferrals).ForEach(func(k, v []byte) error {
		r, err := decodeReferral(k, v)
		if err != nil {
			return err
		}
		imp := keyOf(model.PrefixImpression, r.ImpressionID)
		return idx.Put(cat(imp[:], k), empty)
	})
}

// indexForErasure builds the indexes that let erasure find every copy of
// a record: its events (by the id in their payload) and its idempotency
// snapshot.
func indexForErasure(tx *bolt.Tx) error {
	bySubject := tx.Bucket(bucketOutboxBySubject)
	err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		ev, err := decodeEvent(k, v)
		if err != nil {
			return err
		}
		if key, ok := subjectInData(ev.Data); ok {
			return bySubject.Put(cat(key[:], k), empty)
		}
		return nil
	})
	if err != nil {
		return err
	}
	byRecord := tx.Bucket(bucketIdempotencyByRecord)
	return tx.Bucket(bucketIdempotencyTree).ForEach(func(k, v []byte) error {
		if len(v) >= idemHeader+16 {
			return byRecord.Put(v[idemHeader:idemHeader+16], k)
		}
		return nil
	})
}

// compactReferrals drops the referral indexes by program and by
// ambassador, which their by-status twins now serve, and marks every
// idempotency snapshot written before snapshots could live in events as kept
// inline.
func compactReferrals(tx *bolt.Tx) error {
	for _, name := range []string{"referrals_by_program", "referrals_by_ambassador"} {
		if err := tx.DeleteBucket([]byte(name)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
	}
	entries := tx.Bucket(bucketIdempotencyTree)
	var keys, vals [][]byte
	err := entries.ForEach(func(k, v []byte) error {
		if len(v) > idemHeader {
			keys = append(keys, bytes.Clone(k))
			vals = append(vals, append(append(bytes.Clone(v[:idemHeader]), snapInline), v[idemHeader:]...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, k := range keys {
		if err := entries.Put(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// appendOrdered are the buckets whose new keys sort after the old ones (a
// time-ordered ID, alone or after a fixed prefix). bbolt splits a full page
// in half, which suits keys that land anywhere but leaves these buckets
// half empty, since nothing is ever inserted behind the split again.
var appendOrdered = [][]byte{
	bucketImpressions, bucketImpressionsByProgram, bucketImpressionsByAmbassador, bucketImpressionsByPlacement,
	bucketReferrals, bucketReferralsByStatus,
	bucketReferralsByProgramStatus, bucketReferralsByAmbassadorStatus, bucketReferralsByImpression,
	bucketIdempotencyByRecord, bucketOutbox, bucketOutboxBySubject,
	bucketEarnings, bucketEarningsByReferral, bucketEarningsByProgram, bucketEarningsByAmbassador,
	bucketEarningsByStatus, bucketCommissions, bucketCommissionsByAmbassador, bucketCommissionsByEarning,
	bucketPayouts,
}

// appendFillPercent is how full those buckets' pages are left when they
// split. Not quite full: a record rewritten a little longer (an added flag,
// say) then still fits its page.
const appendFillPercent = 0.95

// packAppendOrdered sets the fill of the append-ordered buckets for tx; the
// setting lasts as long as the transaction's bucket handles.
func packAppendOrdered(tx *bolt.Tx) {
	for _, name := range appendOrdered {
		if b := tx.Bucket(name); b != nil {
			b.FillPercent = appendFillPercent
		}
	}
}

// Close finishes the writes already accepted, refuses new ones, stops the
// sweeper and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.writes)
	s.mu.Unlock()
	<-s.writerDone
	close(s.stopSweep)
	<-s.sweepDone
	return s.db.Close()
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.db.Path() }

// Stats are counters for operators and benchmarks.
type Stats struct {
	// Commits is the number of write transactions committed.
	Commits uint64
	// Writes is the number of writes those transactions carried.
	Writes uint64
	// PageWrites is the number of page writes bbolt made for them (a page
	// and its overflow count once, and so does each commit's meta page):
	// what the disk is asked to do, whatever its speed on the day.
	PageWrites int64
	// FileSize is the size of the bbolt file in bytes.
	FileSize int64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	db := s.db.Stats()
	st := Stats{Commits: s.commits.Load(), Writes: s.batchedOps.Load(), PageWrites: db.TxStats.GetWrite()}
	if fi, err := os.Stat(s.db.Path()); err == nil {
		st.FileSize = fi.Size()
	}
	return st
}

// Check runs bbolt's consistency check over the whole file.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// writeOp is one caller's part of a group commit. Its fn must do every
// check that can fail for a client's reason before it writes anything: a
// model error leaves the rest of the batch to commit, so any write made
// before it would be committed with them. fn may run twice (alone, after a
// batch it was in failed), so it has no effect outside the transaction.
type writeOp struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// update runs fn in the next group commit and returns once that commit is
// on disk (or failed).
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	op := &writeOp{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return model.Errorf(model.EUnavailable, "the service is shutting down")
	}
	s.writes <- op
	s.mu.RUnlock()
	return <-op.done
}

func (s *Store) writeLoop() {
	defer close(s.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	for op := range s.writes {
		batch = append(batch[:0], op)
	drain:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-s.writes:
				if !ok {
					break drain
				}
				batch = append(batch, op)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

// commit runs batch in one transaction. If that fails as a whole, each op
// is run again alone, so one op's failure is not every op's.
func (s *Store) commit(batch []*writeOp) {
	results := make([]error, len(batch))
	var opErr error
	began := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		packAppendOrdered(tx)
		s.counts = &countBatch{tx: tx, pending: map[string]*model.Counts{}}
		defer func() { s.counts = nil }()
		for i, op := range batch {
			results[i] = runOp(op, tx)
			if results[i] != nil && !isModelError(results[i]) {
				opErr = results[i]
				return opErr
			}
		}
		return s.counts.flush()
	})
	if err != nil && len(batch) > 1 {
		for _, op := range batch {
			s.commit([]*writeOp{op})
		}
		return
	}
	if err == nil {
		s.commitFailedAt.Store(0)
		s.commits.Add(1)
		s.batchedOps.Add(uint64(len(batch)))
		if s.onCommit != nil {
			s.onCommit(len(batch), time.Since(began))
		}
	}
	for i, op := range batch {
		switch {
		case err == nil:
			op.done <- results[i]
		case err == opErr && !isIOError(err):
			s.log.Error("store write failed", "err", err)
			op.done <- fmt.Errorf("store write: %w", err)
		default:
			s.commitFailedAt.Store(time.Now().UnixNano())
			s.log.Error("store commit failed; writes are refused until it succeeds", "err", err)
			op.done <- model.Errorf(model.EUnavailable, "the store cannot accept writes right now")
		}
	}
}

// failedCommitHold is how long after a failed commit Writable says no,
// unless a commit succeeds first. Writable does not try a write of its own:
// a small one can succeed in pages bbolt freed earlier while a create,
// which needs more, fails. So with no writes coming in (a load balancer
// has taken the service out), Writable says yes again after the hold, and
// the next write tells.
const failedCommitHold = 10 * time.Second

// Writable implements model.WriteHealth: an error while the store is
// closed, or within failedCommitHold of a commit that failed for the
// disk's sake (full, quota, I/O error) with none succeeding since.
func (s *Store) Writable() error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return model.Errorf(model.EUnavailable, "the store is closed")
	}
	if at := s.commitFailedAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < failedCommitHold {
		return model.Errorf(model.EUnavailable, "the store cannot accept writes right now (disk full or I/O error; see the log); reads still work")
	}
	return nil
}

// runOp runs one op's fn, turning a panic into an error so that one bad
// write cannot take the writer goroutine, and every later write, down.
func runOp(op *writeOp, tx *bolt.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in store write: %v", v)
		}
	}()
	return op.fn(tx)
}

func isModelError(err error) bool {
	var me *model.Error
	return errors.As(err, &me)
}

// isIOError reports errors that say the disk, not the request, is at fault.
func isIOError(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.EROFS) || errors.Is(err, bolterrors.ErrDatabaseNotOpen)
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

// create runs write under the idempotency key idem: a replay within the
// window returns the snapshot saved by the first request, a different
// request under the same key is refused, and otherwise write's record and
// the key's entry are committed in one transaction. write returns the
// snapshot of the record it wrote.
func (s *Store) create(ctx context.Context, idem model.Idempotency,
	write func(tx *bolt.Tx, now time.Time) ([]byte, error)) (snap []byte, replayed bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if idem.Key != "" {
		// Most replays are answered here, from a read transaction, without
		// queueing behind the writer.
		err = s.view(func(tx *bolt.Tx) error {
			snap, err = s.findIdempotent(tx, idem, s.now())
			return err
		})
		if err != nil || snap != nil {
			return snap, snap != nil, err
		}
	}
	err = s.update(func(tx *bolt.Tx) error {
		now := s.now()
		snap, replayed = nil, false
		if idem.Key != "" {
			found, err := s.findIdempotent(tx, idem, now)
			if err != nil {
				return err
			}
			if found != nil {
				snap, replayed = found, true
				return nil
			}
		}
		made, err := write(tx, now)
		if err != nil {
			return err
		}
		if idem.Key != "" {
			if err := s.putIdempotent(tx, idem, now, made); err != nil {
				return err
			}
		}
		snap = made
		return nil
	})
	return snap, replayed, err
}

// Backup implements model.BackupService. The copy is logical: bbolt's
// Backup rewrites every bucket, as of one read transaction, into a fresh
// file beside the store, which is then streamed. A raw page copy would
// also carry pages bbolt has freed but not overwritten, and with them data
// that was erased; this one holds only what the store holds, and is
// smaller too.
func (s *Store) Backup(ctx context.Context, w io.Writer, start func(size int64)) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(s.db.Path()), "backup-*.db")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	path := tmp.Name()
	tmp.Close()
	defer os.Remove(path)
	dst, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		return 0, fmt.Errorf("backup: compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	start(fi.Size())
	return io.Copy(w, f)
}

// Summary describes a store file, for checking a backup.
type Summary struct {
	Programs, Ambassadors, Impressions, Referrals, Events int
}

// Verify opens the store file at path read-only, runs bbolt's consistency
// check over it and counts its records.
func Verify(path string) (Summary, error) {
	var sum Summary
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return sum, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("consistency check: %w", errors.Join(errs...))
		}
		count := func(name []byte) int {
			if b := tx.Bucket(name); b != nil {
				return b.Stats().KeyN
			}
			return 0
		}
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("not a referrald store")
		}
		sum = Summary{count(bucketPrograms), count(bucketAmbassadors), count(bucketImpressions),
			count(bucketReferrals), count(bucketOutbox)}
		return nil
	})
	return sum, err
}

// Secret returns the store's secret called name: 32 random bytes made at
// first use and kept in the meta bucket, so they survive restarts and
// travel with backups.
func (s *Store) Secret(name string) ([]byte, error) {
	key := []byte("secret:" + name)
	var secret []byte
	err := s.view(func(tx *bolt.Tx) error {
		secret = bytes.Clone(tx.Bucket(bucketMeta).Get(key))
		return nil
	})
	if err != nil || secret != nil {
		return secret, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(key); v != nil {
			secret = bytes.Clone(v)
			return nil
		}
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(key, secret)
	})
	return secret, err
}

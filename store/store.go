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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/referrald/referrald/model"
)

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
	// JournalEntries is how many new entries each journal (idempotency
	// entries, the email index) holds before they are moved into their
	// tree (see journal.go); 0 means DefaultJournalEntries. Tests make it
	// small to reach a journal's every stage quickly; it is no setting.
	JournalEntries int
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
	// diskTrouble tells the log of a run of such failures; only the
	// writer goroutine touches it.
	diskTrouble troubleLog

	// The journals take new idempotency entries and email index entries
	// (see journal.go).
	idemJournal, emailJournal *journal

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
	if n, err := strconv.Atoi(linkedJournalEntries); err == nil && opt.JournalEntries == 0 {
		opt.JournalEntries = n
	}
	for _, j := range []struct {
		to   **journal
		kind *journalKind
	}{{&s.idemJournal, &idempotencyJournal}, {&s.emailJournal, &emailJournal}} {
		if *j.to, err = loadJournal(db, j.kind, opt.JournalEntries, s.now); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		if j := *j.to; j.carrying() {
			// Only after a crash: the commits ahead carry it as they go.
			s.log.Info("resuming a journal's move into its tree", "journal", j.kind.what,
				"entries", len(j.carry), "open_entries", j.active.n)
		}
	}
	s.emailJournal.partner = s.idemJournal
	go s.writeLoop()
	if s.fingerprintKey, err = s.Secret("idempotency-fingerprint"); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	go s.sweepLoop(opt.SweepInterval)
	return s, nil
}

// appendOrdered are the buckets whose new keys sort after the old ones (a
// time-ordered ID, alone or after a fixed prefix). bbolt splits a full page
// in half, which suits keys that land anywhere but leaves these buckets
// half empty, since nothing is ever inserted behind the split again.
var appendOrdered = [][]byte{
	bucketImpressions, bucketImpressionsByProgram, bucketImpressionsByAmbassador, bucketImpressionsByPlacement,
	bucketReferrals, bucketReferralsByStatus,
	bucketReferralsByProgramStatus, bucketReferralsByAmbassadorStatus, bucketReferralsByImpression,
	bucketIdempotencyExpiry, bucketIdempotencyByRecord, bucketOutbox, bucketOutboxBySubject,
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

// writeOp is one caller's part of a group commit. Its write may run twice
// (alone, after a batch it was in failed), so it has no effect outside
// the transaction.
type writeOp struct {
	fn   write
	done chan error
}

// linkedJournalEntries, set at link time with -ldflags '-X
// github.com/referrald/referrald/store.linkedJournalEntries=64', builds a
// binary whose journals freeze every that many entries: the crash test
// kills such a server mid-carry. Release builds leave it empty.
var linkedJournalEntries string

// update runs fn in the next group commit and returns once that commit is
// on disk (or failed).
func (s *Store) update(fn write) error {
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
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		packAppendOrdered(tx)
		for _, j := range s.journals() {
			if err := j.begin(tx, now); err != nil {
				return err
			}
		}
		w := s.newWtx(tx, now)
		for i, op := range batch {
			results[i] = w.run(op.fn)
			if results[i] != nil && !isModelError(results[i]) {
				opErr = results[i]
				return opErr
			}
		}
		for _, j := range s.journals() {
			if err := j.carryOn(tx, len(batch), now); err != nil {
				return err
			}
		}
		if err := w.counts.flush(); err != nil {
			return err
		}
		for _, j := range s.journals() {
			j.publish(now)
		}
		return nil
	})
	for _, j := range s.journals() {
		if err == nil {
			j.committed()
		} else {
			j.rolledBack()
		}
	}
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
		s.diskTrouble.cleared(s.log, time.Now())
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
			s.diskTrouble.failed(s.log, err, time.Now())
			op.done <- model.Errorf(model.EUnavailable, "the store cannot accept writes right now")
		}
	}
}

// troubleSummaryEvery is how often the log sums up writes refused while
// the disk keeps failing.
const troubleSummaryEvery = time.Minute

// troubleLog tells the log of a run of commits failing for the disk's
// sake: once when it starts, a summary every troubleSummaryEvery while it
// lasts, and once when it clears. A line per refused write would flood
// the log, and with it, often, the full disk itself.
type troubleLog struct {
	since, reported time.Time
	refused         int // writes refused since the run began
	sinceReport     int // of those, since the last line
}

func (t *troubleLog) failed(log *slog.Logger, err error, now time.Time) {
	t.refused++
	t.sinceReport++
	switch {
	case t.since.IsZero():
		t.since, t.reported, t.sinceReport = now, now, 0
		log.Error("store commits are failing (disk full or I/O error); writes are refused until one succeeds, reads go on", "err", err)
	case now.Sub(t.reported) >= troubleSummaryEvery:
		log.Error("store commits are still failing; writes are being refused", "err", err,
			"refused_writes", t.sinceReport, "failing_for", now.Sub(t.since).Round(time.Second))
		t.reported, t.sinceReport = now, 0
	}
}

func (t *troubleLog) cleared(log *slog.Logger, now time.Time) {
	if t.since.IsZero() {
		return
	}
	log.Info("store commits succeed again; writes are accepted", "refused_writes", t.refused,
		"failed_for", now.Sub(t.since).Round(time.Second))
	*t = troubleLog{}
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

func isModelError(err error) bool {
	var me *model.Error
	return errors.As(err, &me)
}

// isIOError reports errors that say the disk, not the request, is at fault.
func isIOError(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.EROFS) || errors.Is(err, bolterrors.ErrDatabaseNotOpen)
}

func (s *Store) journals() [2]*journal { return [2]*journal{s.idemJournal, s.emailJournal} }

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

// create runs a create under the idempotency key idem: a replay within the
// window returns the snapshot saved by the first request, a different
// request under the same key is refused, and otherwise the record and the
// key's entry are committed in one transaction. check is a write's check
// step that also returns the snapshot of the record its apply writes.
func (s *Store) create(ctx context.Context, idem model.Idempotency,
	check func(w *wtx) (snap []byte, apply func() error, err error)) (snap []byte, replayed bool, err error) {
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
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		snap, replayed = nil, false
		if idem.Key != "" {
			found, err := s.findIdempotent(w.tx, idem, w.now)
			if err != nil || found != nil {
				snap, replayed = found, found != nil
				return nil, err
			}
		}
		made, apply, err := check(w)
		if err != nil {
			return nil, err
		}
		snap = made
		return func() error {
			if err := apply(); err != nil {
				return err
			}
			if idem.Key == "" {
				return nil
			}
			return s.putIdempotent(w.tx, idem, w.now, made)
		}, nil
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
		return 0, backupError(err)
	}
	path := tmp.Name()
	tmp.Close()
	defer os.Remove(path)
	dst, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, Timeout: time.Second})
	if err != nil {
		return 0, backupError(err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		return 0, backupError(fmt.Errorf("compact: %w", err))
	}
	if err := dst.Close(); err != nil {
		return 0, backupError(err)
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

// backupError tells a client why a backup could not be made: the data
// directory lacking room for the copy is the disk's condition, which may
// pass, not a fault of the service.
func backupError(err error) error {
	if isIOError(err) {
		return model.Errorf(model.EUnavailable, "the data directory has no room for the backup's temporary copy (it needs about the store's size free); free some space and try again")
	}
	return fmt.Errorf("backup: %w", err)
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

// WriteBackupFile makes the file dst a backup: write fills a temporary
// file beside it (from Backup, or a running server's copy), which is
// synced, checked with Verify and only then renamed into place, since a
// bad copy must never replace a good backup. It returns the checked
// file's Summary.
func WriteBackupFile(dst string, write func(io.Writer) error) (Summary, error) {
	tmp := dst + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Summary{}, err
	}
	defer os.Remove(tmp)
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Summary{}, err
	}
	sum, err := Verify(tmp)
	if err != nil {
		return Summary{}, fmt.Errorf("the copy does not check out, %s is left as it was: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return Summary{}, err
	}
	// The rename is durable only once the directory is synced too.
	return sum, syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
	err = s.update(func(w *wtx) (func() error, error) {
		if v := w.tx.Bucket(bucketMeta).Get(key); v != nil {
			secret = bytes.Clone(v)
			return nil, nil
		}
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		return func() error { return w.tx.Bucket(bucketMeta).Put(key, secret) }, nil
	})
	return secret, err
}

package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// journalFixture is a store with one impression to sign up from.
type journalFixture struct {
	s   *Store
	imp string
}

func newJournalFixture(t *testing.T, path string, opt Options) journalFixture {
	t.Helper()
	s, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	ctx := context.Background()
	p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "amb@example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	return journalFixture{s, imp.ID}
}

func (f journalFixture) create(t *testing.T, i int) *model.Referral {
	t.Helper()
	in := model.ReferralCreate{ImpressionID: f.imp, FirstName: "J", LastName: "D", Email: fmt.Sprintf("j%d@example.com", i)}
	r, replayed, err := f.s.CreateReferral(context.Background(), in, journalIdem(i))
	if err != nil || replayed {
		t.Fatalf("create %d: %v replayed=%v", i, err, replayed)
	}
	return r
}

// reopen checks and closes the fixture's store and opens it again, as a
// restart would.
func (f *journalFixture) reopen(t *testing.T, path string, opt Options) *Store {
	t.Helper()
	if err := f.s.Check(); err != nil {
		t.Fatal(err)
	}
	f.s.Close()
	s, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	f.s = s
	return s
}

func journalIdem(i int) model.Idempotency {
	return model.Idempotency{Scope: "key_test", Key: fmt.Sprintf("signup-%d", i), Fingerprint: [32]byte{byte(i), byte(i >> 8)}}
}

// replaysAll checks that each key still answers with its referral.
func (f journalFixture) replaysAll(t *testing.T, ids []string) {
	t.Helper()
	for i, id := range ids {
		in := model.ReferralCreate{ImpressionID: f.imp, FirstName: "J", LastName: "D", Email: fmt.Sprintf("j%d@example.com", i)}
		r, replayed, err := f.s.CreateReferral(context.Background(), in, journalIdem(i))
		if err != nil || !replayed || r.ID != id {
			t.Fatalf("key %d: got %v replayed=%v %v; want a replay of %s", i, r, replayed, err, id)
		}
	}
}

// journalShape counts the idempotency journal's generations and entries
// and the entries bucket's entries, as committed.
func journalShape(t *testing.T, s *Store) (gens, journaled, carried int) {
	t.Helper()
	return shapeOf(t, s, &idempotencyJournal)
}

// shapeOf counts a journal's generations and entries and its tree's
// entries, as committed.
func shapeOf(t *testing.T, s *Store, kind *journalKind) (gens, journaled, carried int) {
	t.Helper()
	s.view(func(tx *bolt.Tx) error {
		root := tx.Bucket(kind.root)
		root.ForEachBucket(func(name []byte) error {
			gens++
			journaled += root.Bucket(name).Stats().KeyN
			return nil
		})
		carried = tx.Bucket(kind.tree).Stats().KeyN
		return nil
	})
	return gens, journaled, carried
}

// TestJournalCarriesEntriesAndKeepsEveryKey: entries pass from the journal
// into the entries bucket while creates go on, every key replays at every
// stage and after a restart, and a settled journal is one empty generation.
func TestJournalCarriesEntriesAndKeepsEveryKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newJournalFixture(t, path, Options{SweepInterval: -1})
	f.s.idemJournal.limit, f.s.idemJournal.carryMin = 40, 8
	var ids []string
	sawCarrying := false
	for i := range 300 {
		ids = append(ids, f.create(t, i).ID)
		if gens, _, carried := journalShape(t, f.s); gens == 2 && carried > 0 {
			sawCarrying = true
		}
	}
	if gens, journaled, carried := journalShape(t, f.s); !sawCarrying || carried == 0 || gens > 2 || journaled+carried < 300 {
		t.Fatalf("after 300 creates: carrying seen %v, %d generations, %d journaled, %d carried", sawCarrying, gens, journaled, carried)
	}
	f.replaysAll(t, ids)

	if err := f.s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	// Once settled, every key is in the tree but the open generation's.
	j := f.s.idemJournal
	open := j.active.n
	if _, _, carried := journalShape(t, f.s); j.carrying() || open >= j.limit || carried+open != 300 {
		t.Fatalf("settled: carrying %v, %d open, %d carried", j.carrying(), open, carried)
	}
	f.replaysAll(t, ids)

	again := f.reopen(t, path, Options{SweepInterval: -1})
	f.replaysAll(t, ids)
	if n := again.idemJournal.active.n; n != open || again.idemJournal.carrying() {
		t.Fatalf("reopened journal holds %d open keys (want %d), carrying again: %v", n, open, again.idemJournal.carrying())
	}
}

// TestJournalResumesCarryingAfterARestart: a store closed (or killed)
// while a generation was being carried carries it again from the start.
func TestJournalResumesCarryingAfterARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newJournalFixture(t, path, Options{SweepInterval: -1})
	f.s.idemJournal.limit, f.s.idemJournal.carryMin = 100, 1
	var ids []string
	for i := range 110 {
		ids = append(ids, f.create(t, i).ID)
	}
	if gens, _, carried := journalShape(t, f.s); gens != 2 || carried == 0 || carried >= 100 {
		t.Fatalf("want a generation half carried; got %d generations, %d carried", gens, carried)
	}
	var log bytes.Buffer
	s := f.reopen(t, path, Options{SweepInterval: -1, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if !strings.Contains(log.String(), "resuming a journal's move into its tree") || !strings.Contains(log.String(), `journal="idempotency journal" entries=100`) {
		t.Fatalf("the restart does not say it resumes carrying: %q", log.String())
	}
	if s.idemJournal.frozen == nil || s.idemJournal.frozen.n != 100 || len(s.idemJournal.carry) != 100 {
		t.Fatalf("reopened: frozen %+v, %d to carry", s.idemJournal.frozen, len(s.idemJournal.carry))
	}
	f.replaysAll(t, ids)
	if err := s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	// The carried generation stays until the next freeze.
	if gens, journaled, carried := journalShape(t, s); gens != 2 || journaled != 110 || carried != 100 || s.idemJournal.carrying() {
		t.Fatalf("settled: %d generations, %d journaled, %d carried", gens, journaled, carried)
	}
	f.replaysAll(t, ids)
}

// TestJournalDropsExpiredEntries: entries that expire in the journal are
// swept from it, or dropped when carried, together with their expiry
// entries, so neither the journal nor the indexes keep dead keys.
func TestJournalDropsExpiredEntries(t *testing.T) {
	for _, how := range []string{"swept", "carried"} {
		t.Run(how, func(t *testing.T) {
			clk := &TestClock{T: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
			f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, Now: clk.Now, IdempotencyWindow: time.Minute})
			for i := range 20 {
				f.create(t, i)
			}
			clk.Add(2 * time.Minute)
			switch how {
			case "swept":
				n, err := f.s.SweepIdempotencyKeys(context.Background(), clk.Now())
				if err != nil || n != 20 {
					t.Fatalf("swept %d, %v; want 20", n, err)
				}
			case "carried":
				clk.Add(journalMaxAge)
				if err := f.s.settleJournals(); err != nil {
					t.Fatal(err)
				}
			}
			if _, journaled, carried := journalShape(t, f.s); carried != 0 || journaled != 0 {
				t.Fatalf("%d journaled, %d carried; want nothing left", journaled, carried)
			}
			f.s.view(func(tx *bolt.Tx) error {
				if n := tx.Bucket(bucketIdempotencyExpiry).Stats().KeyN; n != 0 {
					t.Errorf("%d expiry entries left", n)
				}
				return nil
			})
			f.s.view(func(tx *bolt.Tx) error {
				for i := range 20 {
					if v := f.s.idemJournal.get(tx, idempotencyKey(journalIdem(i))); v != nil {
						t.Errorf("key %d still finds an entry", i)
					}
				}
				return nil
			})
			// The keys are free again.
			f.create(t, 3)
		})
	}
}

// TestJournalRewriteReachesEveryCopy: while an entry is carried it has a
// copy in the frozen generation and one in the entries bucket. Erasing the
// record it keeps inline must rewrite both, or carrying again after a
// restart would bring the person's data back.
func TestJournalRewriteReachesEveryCopy(t *testing.T) {
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	s := f.s
	r := f.create(t, 0)
	rKey := keyOf(model.PrefixReferral, r.ID)
	entryKey := idempotencyKey(journalIdem(0))
	// Keys that sort after the first, so that a commit, which carries
	// two keys when it has one write, leaves some behind, even after the
	// erasure's own commit has carried two more.
	for i, n := 1, 0; n < 5; i++ {
		if k := idempotencyKey(journalIdem(i)); bytes.Compare(k[:], entryKey[:]) > 0 {
			f.create(t, i)
			n++
		}
	}
	keepInline(t, s, rKey, entryKey)
	s.idemJournal.limit, s.idemJournal.carryMin = 1, 1
	for range 2 { // freeze, then carry the first key
		if err := s.update(applyOnly(func(*wtx) error { return nil })); err != nil {
			t.Fatal(err)
		}
	}
	if gens, journaled, carried := journalShape(t, s); gens != 2 || journaled != 6 || carried != 2 {
		t.Fatalf("want two of six keys carried; got %d generations, %d journaled, %d carried", gens, journaled, carried)
	}
	if _, err := s.EraseReferral(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	s.view(func(tx *bolt.Tx) error {
		var copies int
		check := func(v []byte) {
			if bytes.Contains(v, []byte("j0@example.com")) {
				t.Errorf("a copy still holds the email: %q", v)
			}
			copies++
		}
		root := tx.Bucket(bucketIdempotencyJournal)
		root.ForEachBucket(func(name []byte) error {
			return root.Bucket(name).ForEach(func(_, v []byte) error {
				if bytes.HasPrefix(v, entryKey[:]) {
					check(v)
				}
				return nil
			})
		})
		check(tx.Bucket(bucketIdempotency).Get(entryKey[:]))
		// The frozen generation's and the carried one.
		if copies != 2 {
			t.Errorf("checked %d copies, want 2", copies)
		}
		return nil
	})
}

// keepInline makes the journaled entry of entryKey keep record rKey
// inline, as entries written before schema 4 do, by rewriting it in place.
func keepInline(t *testing.T, s *Store, rKey [16]byte, entryKey [32]byte) {
	t.Helper()
	err := s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		val := bytes.Clone(tx.Bucket(bucketReferrals).Get(rKey[:]))
		if err := tx.Bucket(bucketIdempotencyByRecord).Put(rKey[:], entryKey[:]); err != nil {
			return err
		}
		locs, _ := s.idemJournal.locate(tx, entryKey)
		l := locs[0]
		g, old := s.idemJournal.value(tx.Bucket(bucketIdempotencyJournal), l, entryKey)
		inline := append(append(bytes.Clone(old[:idemHeader]), snapInline), snapshot(rKey, val)...)
		return g.Put(genName(l.seq), cat(entryKey[:], inline))
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// TestJournalReuseOfAnExpiredKeyLeavesNoCopy: a key used again after its
// window replaces every copy of its old entry, so an old inline snapshot
// of another person cannot outlive the reuse in the journal.
func TestJournalReuseOfAnExpiredKeyLeavesNoCopy(t *testing.T) {
	clk := &TestClock{T: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, Now: clk.Now, IdempotencyWindow: time.Minute})
	s := f.s
	first := f.create(t, 0)
	rKey, entryKey := keyOf(model.PrefixReferral, first.ID), idempotencyKey(journalIdem(0))
	keepInline(t, s, rKey, entryKey)
	clk.Add(2 * time.Minute)
	in := model.ReferralCreate{ImpressionID: f.imp, FirstName: "K", LastName: "L", Email: "someone.else@example.com"}
	second, replayed, err := s.CreateReferral(context.Background(), in, journalIdem(0))
	if err != nil || replayed || second.ID == first.ID {
		t.Fatalf("reuse after the window: %v replayed=%v %v", second, replayed, err)
	}
	s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketIdempotencyByRecord).Get(rKey[:]) != nil {
			t.Error("the first record still points at the reused entry")
		}
		root := tx.Bucket(bucketIdempotencyJournal)
		copies := 0
		root.ForEachBucket(func(name []byte) error {
			return root.Bucket(name).ForEach(func(_, v []byte) error {
				if bytes.HasPrefix(v, entryKey[:]) {
					copies++
					if bytes.Contains(v, []byte("j0@example.com")) {
						t.Errorf("the first person's snapshot is still journaled")
					}
				}
				return nil
			})
		})
		if copies != 1 {
			t.Errorf("%d journaled copies of the key, want 1", copies)
		}
		return nil
	})
}

// TestJournalReaderKeepsItsSnapshot: a read transaction that began before
// a generation was carried still finds every entry of it afterwards.
func TestJournalReaderKeepsItsSnapshot(t *testing.T) {
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	s := f.s
	s.idemJournal.limit, s.idemJournal.carryMin = 20, 4
	for i := range 20 {
		f.create(t, i)
	}
	if err := s.update(applyOnly(func(*wtx) error { return nil })); err != nil { // freezes
		t.Fatal(err)
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	if s.idemJournal.carrying() {
		t.Fatal("not settled")
	}
	for i := range 20 {
		snap, err := s.findIdempotent(tx, journalIdem(i), time.Now())
		if err != nil || snap == nil {
			t.Fatalf("key %d: %v; the old snapshot no longer finds it", i, err)
		}
	}
}

// TestJournalBatchRetryKeepsEntriesApart: when a group commit fails as a
// whole and each write is run again alone, the journal's sequence starts
// again where the failed transaction began, so no entry overwrites
// another and each key is journaled once.
func TestJournalBatchRetryKeepsEntriesApart(t *testing.T) {
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	s := f.s
	f.create(t, 0)
	put := func(i int) *writeOp {
		return &writeOp{done: make(chan error, 1), fn: applyOnly(func(w *wtx) error { return journalEntry(s, w.tx, i) })}
	}
	broken := &writeOp{done: make(chan error, 1), fn: applyOnly(func(*wtx) error { return errors.New("disk on fire") })}
	// The writer goroutine is idle between writes; the last one's answer
	// orders this call after it.
	s.commit([]*writeOp{put(1), broken, put(2)})
	if err := <-broken.done; err == nil {
		t.Fatal("the broken write succeeded")
	}
	f.create(t, 3)
	s.view(func(tx *bolt.Tx) error {
		seen := map[[32]byte]int{}
		root := tx.Bucket(bucketIdempotencyJournal)
		root.ForEachBucket(func(name []byte) error {
			return root.Bucket(name).ForEach(func(_, v []byte) error {
				seen[[32]byte(v[:32])]++
				return nil
			})
		})
		for _, i := range []int{0, 1, 2, 3} {
			if n := seen[idempotencyKey(journalIdem(i))]; n != 1 {
				t.Errorf("key %d is journaled %d times, want once", i, n)
			}
			if s.idemJournal.get(tx, idempotencyKey(journalIdem(i))) == nil {
				t.Errorf("key %d is not found", i)
			}
		}
		return nil
	})
}

// journalEntry journals an entry for key i that expires in an hour.
func journalEntry(s *Store, tx *bolt.Tx, i int) error {
	v := make([]byte, idemHeader+1+16)
	binary.BigEndian.PutUint64(v[32:40], uint64(time.Now().Add(time.Hour).UnixMilli()))
	v[idemHeader] = snapEvent
	return s.idemJournal.put(tx, idempotencyKey(journalIdem(i)), v)
}

// frozenAndExpired makes n entries with a one-minute window, freezes them
// as a generation carried carryMin a commit, and lets them expire.
func frozenAndExpired(t *testing.T, n, carryMin int) (journalFixture, *TestClock) {
	t.Helper()
	clk := &TestClock{T: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, Now: clk.Now, IdempotencyWindow: time.Minute})
	f.s.idemJournal.limit, f.s.idemJournal.carryMin = n, carryMin
	for i := range n {
		f.create(t, i)
	}
	if err := f.s.update(applyOnly(func(*wtx) error { return nil })); err != nil { // freezes
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	return f, clk
}

// TestJournalKeyInBothGenerations: a key reused after its window while
// its old entry waits in the frozen generation is carried with its new
// entry, never the old one; the other, expired, entries are dropped.
func TestJournalKeyInBothGenerations(t *testing.T) {
	f, clk := frozenAndExpired(t, 40, 1)
	s := f.s
	in := model.ReferralCreate{ImpressionID: f.imp, FirstName: "K", LastName: "L", Email: "again@example.com"}
	again, replayed, err := s.CreateReferral(context.Background(), in, journalIdem(7))
	if err != nil || replayed {
		t.Fatalf("reuse: %v replayed=%v", err, replayed)
	}
	if err := s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	s.idemJournal.limit = 1 // so the new entry is frozen and carried too
	if err := s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	if _, _, carried := journalShape(t, s); s.idemJournal.carrying() || s.idemJournal.active.n != 0 || carried != 1 {
		t.Fatalf("not settled: %d open, %d carried", s.idemJournal.active.n, carried)
	}
	r, replayed, err := s.CreateReferral(context.Background(), in, journalIdem(7))
	if err != nil || !replayed || r.ID != again.ID {
		t.Fatalf("after carrying: %v replayed=%v %v; want a replay of %s", r, replayed, err, again.ID)
	}
	s.view(func(tx *bolt.Tx) error {
		key := idempotencyKey(journalIdem(7))
		if v := tx.Bucket(bucketIdempotency).Get(key[:]); len(v) < idemHeader || entryExpired(v, clk.Now()) {
			t.Errorf("the tree holds the old, expired entry of the reused key")
		}
		return nil
	})
}

// TestJournalSweepWhileCarrying: a sweep that deletes frozen entries in
// the very commit that carries them leaves them out of the carry.
func TestJournalSweepWhileCarrying(t *testing.T) {
	f, clk := frozenAndExpired(t, 30, 30)
	s := f.s
	// The sweep's own commit carries all 30 after deleting them.
	if n, err := s.SweepIdempotencyKeys(context.Background(), clk.Now()); err != nil || n != 30 {
		t.Fatalf("swept %d, %v; want 30", n, err)
	}
	if _, journaled, carried := journalShape(t, s); journaled != 0 || carried != 0 || s.idemJournal.carrying() {
		t.Fatalf("%d journaled, %d carried, carrying %v; want nothing left", journaled, carried, s.idemJournal.carrying())
	}
}

// TestJournalAgesOnTheStoreClock: a reopened journal dates its entries by
// the store's clock, so the age that freezes it is the store's too.
func TestJournalAgesOnTheStoreClock(t *testing.T) {
	clk := &TestClock{T: time.Date(2020, 1, 1, 9, 0, 0, 0, time.UTC)} // long before the wall clock
	path := filepath.Join(t.TempDir(), FileName)
	opt := Options{SweepInterval: -1, Now: clk.Now}
	f := newJournalFixture(t, path, opt)
	f.create(t, 0)
	s := f.reopen(t, path, opt)
	clk.Add(journalMaxAge)
	if !s.idemJournal.due(clk.Now()) {
		t.Fatalf("an entry journaled %v ago is not due to be carried", journalMaxAge)
	}
}

// TestJournalSettleIsBounded: one sweep round's nudge to the journal
// stops after settleCommits commits, even with more to carry, so the sweep
// gets on with its other work.
func TestJournalSettleIsBounded(t *testing.T) {
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, NoSync: true})
	s := f.s
	entries := 2*settleCommits + 100
	s.idemJournal.limit, s.idemJournal.carryMin = entries, 1
	// Entries straight into the journal, in one commit: the records
	// they would point at do not matter here.
	if err := s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		for i := range entries {
			if err := journalEntry(s, tx, i); err != nil {
				return err
			}
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().Commits
	if err := s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	// One commit freezes; each later one, with its single write, carries
	// two keys, 100 short of all.
	if n := s.Stats().Commits - before; n != settleCommits || !s.idemJournal.carrying() || s.idemJournal.carried != entries-102 {
		t.Fatalf("%d commits, carrying %v, %d carried; want %d commits and %d carried",
			n, s.idemJournal.carrying(), s.idemJournal.carried, settleCommits, entries-102)
	}
}

// TestJournalKeysSharingAHint: a generation finds entries by their key's
// first 4 bytes, so keys that share them must still each find their own
// entry, lose only their own when deleted, and list only under their own
// prefix.
func TestJournalKeysSharingAHint(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	keys := [][32]byte{{1, 2, 3, 4, 'a'}, {1, 2, 3, 4, 'b'}, {1, 2, 3, 4, 'b', 20: 1}}
	value := func(i int) []byte { return bytes.Repeat([]byte{byte('0' + i)}, idemHeader) }
	err = s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		for i, k := range keys {
			if err := s.idemJournal.put(tx, k, value(i)); err != nil {
				return err
			}
			if err := s.emailJournal.put(tx, k, nil); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, present ...int) {
		t.Helper()
		s.view(func(tx *bolt.Tx) error {
			for i, k := range keys {
				want := []byte(nil)
				if slices.Contains(present, i) {
					want = value(i)
				}
				if got := s.idemJournal.get(tx, k); !bytes.Equal(got, want) {
					t.Errorf("%s: key %d finds %q; want %q", when, i, got, want)
				}
			}
			under, err := s.emailJournal.keysUnder(tx, [16]byte(keys[1][:16]))
			if err != nil || len(under) != 2 || !slices.Contains(under, keys[1]) || !slices.Contains(under, keys[2]) {
				t.Errorf("%s: under the second key's prefix: %x, %v", when, under, err)
			}
			return nil
		})
	}
	check("put", 0, 1, 2)
	if err := s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		return s.idemJournal.delete(tx, keys[1], func([]byte) bool { return true })
	})); err != nil {
		t.Fatal(err)
	}
	check("one deleted", 0, 2)
}

func TestCarryOrderListsEveryEntryByItsKeysFirstBytes(t *testing.T) {
	g := newGeneration(100)
	for i, k := range [][]byte{{9, 0, 0, 2}, {1, 2, 3, 4, 'b'}, {0, 0, 0, 1}, {1, 2, 3, 4, 'a'}, {0xff, 0, 0, 0}, {9, 0, 0, 0}} {
		g.add(k, 100+uint64(i))
	}
	g.add([]byte{5, 0, 0, 0}, 108) // 106 and 107 were deleted before a restart read the bucket
	got := g.carryOrder()
	// Keys sharing 4 bytes come oldest first; the gap is not listed.
	if want := []uint32{2, 1, 3, 8, 5, 0, 4}; !slices.Equal(got, want) {
		t.Fatalf("carry order %v; want %v", got, want)
	}

	g = newGeneration(1)
	hints := map[uint32]uint32{} // offset → hint
	key := make([]byte, 32)
	for off := range uint32(10000) {
		rand.Read(key)
		if off%10 == 0 {
			key[0], key[1] = 0, 0 // the first pass alone decides these
		}
		hints[off] = hintOf(key)
		g.add(key, 1+uint64(off))
	}
	got = g.carryOrder()
	if len(got) != len(hints) {
		t.Fatalf("%d offsets in carry order; want %d", len(got), len(hints))
	}
	seen := map[uint32]bool{}
	for i, off := range got {
		if seen[off] {
			t.Fatalf("offset %d listed twice", off)
		}
		seen[off] = true
		hint, ok := hints[off]
		if !ok {
			t.Fatalf("offset %d was never added", off)
		}
		if i > 0 && (hints[got[i-1]] > hint || hints[got[i-1]] == hint && got[i-1] > off) {
			t.Fatalf("offset %d (hint %x) after offset %d (hint %x)", off, hint, got[i-1], hints[got[i-1]])
		}
	}
}

// BenchmarkCarryOrder measures what a freeze adds to its commit for a full
// generation at the default size.
func BenchmarkCarryOrder(b *testing.B) {
	g := newGeneration(1)
	key := make([]byte, 32)
	for i := range DefaultJournalEntries {
		rand.Read(key)
		g.add(key, 1+uint64(i))
	}
	b.ResetTimer()
	for range b.N {
		if order := g.carryOrder(); len(order) != DefaultJournalEntries {
			b.Fatalf("%d entries in carry order", len(order))
		}
	}
}

// TestJournalsFreezeApart: the idempotency and email journals fill at the
// same rate, one entry each per signup; the email journal freezes its
// first generation at half size, so that no commit freezes both.
func TestJournalsFreezeApart(t *testing.T) {
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, NoSync: true, JournalEntries: 64})
	name := func(j *journal) uint64 {
		if j.frozen == nil {
			return 0
		}
		return j.frozen.name
	}
	var idemFreezes, emailFreezes []int
	for i := range 600 {
		idem, email := name(f.s.idemJournal), name(f.s.emailJournal)
		f.create(t, i)
		if name(f.s.idemJournal) != idem {
			idemFreezes = append(idemFreezes, i)
		}
		if name(f.s.emailJournal) != email {
			emailFreezes = append(emailFreezes, i)
		}
	}
	if len(idemFreezes) < 8 || len(emailFreezes) < 8 {
		t.Fatalf("froze at creates %v and %v; want at least 8 each", idemFreezes, emailFreezes)
	}
	for _, i := range idemFreezes {
		if slices.Contains(emailFreezes, i) {
			t.Fatalf("both journals froze at create %d (idempotency at %v, email at %v)", i, idemFreezes, emailFreezes)
		}
	}
	if emailFreezes[0] > 40 {
		t.Fatalf("the email journal first froze at create %d; want about 32", emailFreezes[0])
	}
}

// TestJournalReaderFindsAGenerationMemoryDropped: a reader that began
// while a generation was still being carried, and looks after memory has
// dropped it, reads it from its own snapshot: the miss the maps alone
// would give is gone.
func TestJournalReaderFindsAGenerationMemoryDropped(t *testing.T) {
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	s := f.s
	s.idemJournal.limit, s.idemJournal.carryMin = 20, 4
	for i := range 20 {
		f.create(t, i)
	}
	if err := s.update(applyOnly(func(*wtx) error { return nil })); err != nil { // freezes, carries a few
		t.Fatal(err)
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	uncarried := 0
	for i := range 20 {
		if tx.Bucket(bucketIdempotency).Get(keyBytes(idempotencyKey(journalIdem(i)))) == nil {
			uncarried++
		}
	}
	if uncarried == 0 {
		t.Fatal("the snapshot has every entry in the tree already; the test needs some uncarried")
	}
	if err := s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	for i := 20; i < 40; i++ { // fills the next generation, whose freeze drops the first
		f.create(t, i)
	}
	if err := s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	root := tx.Bucket(bucketIdempotencyJournal)
	_, known := s.idemJournal.locate(tx, idempotencyKey(journalIdem(0)))
	dropped := false
	root.ForEachBucket(func(name []byte) error {
		n := binary.BigEndian.Uint64(name)
		dropped = dropped || n != known[0] && n != known[1]
		return nil
	})
	if !dropped {
		t.Fatal("memory still knows every generation of the snapshot; the test needs one dropped")
	}
	for i := range 20 {
		snap, err := s.findIdempotent(tx, journalIdem(i), time.Now())
		if err != nil || snap == nil {
			t.Fatalf("key %d: %v; the old snapshot does not find it", i, err)
		}
	}
}

// TestJournalEntriesAreKnownWhenTheirCommitIs: a reader that begins the
// moment a commit is on disk, before the writer has returned, finds the
// commit's entries.
func TestJournalEntriesAreKnownWhenTheirCommitIs(t *testing.T) {
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	s := f.s
	key := idempotencyKey(journalIdem(7))
	var found []byte
	err := s.update(applyOnly(func(w *wtx) error {
		w.tx.OnCommit(func() {
			s.view(func(tx *bolt.Tx) error {
				found = s.idemJournal.get(tx, key)
				return nil
			})
		})
		return journalEntry(s, w.tx, 7)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if found == nil {
		t.Fatal("a snapshot that holds the entry did not find it")
	}
}

// TestJournalRollbackRestoresMemory: a transaction whose commit fails
// after publish leaves the maps as they were, whether it only put entries
// or also froze a generation, and the journal goes on from there.
func TestJournalRollbackRestoresMemory(t *testing.T) {
	f := newJournalFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	s := f.s
	j := s.idemJournal
	j.limit, j.carryMin = 8, 2
	for i := range 5 {
		f.create(t, i)
	}
	for _, freeze := range []bool{false, true} {
		t.Run(fmt.Sprintf("freeze=%v", freeze), func(t *testing.T) {
			j.mu.RLock()
			before := struct {
				active, n int
				latest    int
				frozen    *generation
				published uint64
			}{int(j.active.name), j.active.n, len(j.active.latest), j.frozen, j.published}
			j.mu.RUnlock()
			if freeze {
				j.limit = j.active.n // due now
			}
			tx, err := s.db.Begin(true)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.begin(tx, time.Now()); err != nil {
				t.Fatal(err)
			}
			if froze := j.tx.freezeAs != 0; froze != freeze {
				t.Fatalf("froze = %v", froze)
			}
			for i := 100; i < 103; i++ {
				if err := journalEntry(s, tx, i); err != nil {
					t.Fatal(err)
				}
			}
			j.publish(time.Now())
			if locs, _ := j.locate(tx, idempotencyKey(journalIdem(100))); len(locs) == 0 {
				t.Fatal("publish did not take in the entries")
			}
			tx.Rollback()
			j.rolledBack()
			j.limit = 8
			s.view(func(rtx *bolt.Tx) error {
				if locs, _ := j.locate(rtx, idempotencyKey(journalIdem(100))); len(locs) != 0 {
					t.Fatalf("after the rollback memory still points at %v", locs)
				}
				return nil
			})
			j.mu.RLock()
			after := struct {
				active, n int
				latest    int
				frozen    *generation
				published uint64
			}{int(j.active.name), j.active.n, len(j.active.latest), j.frozen, j.published}
			j.mu.RUnlock()
			if after != before {
				t.Fatalf("memory after the rollback %+v, before %+v", after, before)
			}
		})
	}
	for i := 5; i < 30; i++ {
		f.create(t, i)
	}
	if err := s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	s.view(func(tx *bolt.Tx) error {
		for i := range 30 {
			if s.idemJournal.get(tx, idempotencyKey(journalIdem(i))) == nil {
				t.Errorf("key %d is not found", i)
			}
		}
		return nil
	})
}

func keyBytes(k [32]byte) []byte { return k[:] }

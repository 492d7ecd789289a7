package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// TestIdempotencyEntriesKeepAKeyedFingerprint: the entry does not hold the
// request's bare hash (which would confirm a guess of an erased person's
// email), and an entry written before fingerprints were keyed still
// replays.
func TestIdempotencyEntriesKeepAKeyedFingerprint(t *testing.T) {
	s := openTestStore(t, Options{SweepInterval: -1})
	ctx := context.Background()
	idem := model.Idempotency{Scope: "k", Key: "prog-1", Fingerprint: [32]byte{1, 2, 3}}
	p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, idem)
	if err != nil {
		t.Fatal(err)
	}
	key := idempotencyKey(idem)
	var stored []byte
	s.view(func(tx *bolt.Tx) error {
		_, v := findEntry(tx, key)
		stored = bytes.Clone(v[:32])
		return nil
	})
	if bytes.Equal(stored, idem.Fingerprint[:]) || !bytes.Equal(stored, s.keyedFingerprint(idem)) {
		t.Fatalf("stored fingerprint % x; want the keyed one, not the request's hash", stored)
	}
	// As written before: the bare fingerprint.
	err = s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		p, old := findEntry(tx, key)
		v := bytes.Clone(old)
		copy(v, idem.Fingerprint[:])
		return p.Put(key[:], v)
	}))
	if err != nil {
		t.Fatal(err)
	}
	again, replayed, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, idem)
	if err != nil || !replayed || again.ID != p.ID {
		t.Fatalf("replay of an entry with a bare fingerprint: %+v replayed=%v %v", again, replayed, err)
	}
	other := idem
	other.Fingerprint = [32]byte{9}
	if _, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Q", LandingURL: "https://x.example"}, other); model.ErrorCode(err) != model.EIdempotencyKeyReused {
		t.Fatalf("another request under the key: %v, want idempotency_key_reused", err)
	}
}

// partitions lists the names of the idempotency partitions as committed,
// with the number of entries in each.
func partitions(t *testing.T, s *Store) map[uint64]int {
	t.Helper()
	parts := map[uint64]int{}
	s.view(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketIdempotencyPartitions)
		return root.ForEachBucket(func(name []byte) error {
			n := 0
			root.Bucket(name).ForEach(func(_, _ []byte) error { n++; return nil })
			parts[binary.BigEndian.Uint64(name)] = n
			return nil
		})
	})
	return parts
}

// TestIdempotencyKeysExpireAfterTheWindow: a key is replayed until the
// window has passed, to the millisecond, and then makes a new record; the
// sweeper drops a partition once every entry in it has expired, and takes
// the way back from a record with it.
func TestIdempotencyKeysExpireAfterTheWindow(t *testing.T) {
	clk := &TestClock{T: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	f := newSignupFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, Now: clk.Now, IdempotencyWindow: time.Hour}, 5)
	ctx := context.Background()
	first := f.create(t, 0)
	progIdem := model.Idempotency{Scope: "k", Key: "prog", Fingerprint: [32]byte{7}}
	prog, _, err := f.s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, progIdem)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour - time.Millisecond)
	if n, err := f.s.SweepIdempotencyKeys(ctx, clk.Now()); err != nil || n != 0 {
		t.Fatalf("sweep within the window: %d, %v; want nothing swept", n, err)
	}
	f.replays(t, 0, first.ID)

	clk.Add(time.Millisecond)
	in := f.signup(0)
	in.FirstName = "Other" // the old key's fingerprint no longer matters
	other := signupIdem(0)
	other.Fingerprint = [32]byte{0xff}
	second, replayed, err := f.s.CreateReferral(ctx, in, other)
	if err != nil || replayed || second.ID == first.ID {
		t.Fatalf("the key after its window: %v replayed=%v %v; want a new referral", second, replayed, err)
	}
	if again, replayed, err := f.s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, progIdem); err != nil || replayed || again.ID == prog.ID {
		t.Fatalf("the program's key after its window: %v replayed=%v %v; want a new program", again, replayed, err)
	}

	// The reused keys' old entries went when they were replaced; the
	// sweep a window on drops the new ones' partitions whole, and the way
	// back from the second program with them.
	before := 0
	for _, n := range partitions(t, f.s) {
		before += n
	}
	if before != 2 {
		t.Fatalf("%d entries in %v; want the two reused keys' new ones", before, partitions(t, f.s))
	}
	clk.Add(time.Hour + time.Hour/partitionsPerWindow)
	if n, err := f.s.SweepIdempotencyKeys(ctx, clk.Now()); err != nil || n != 2 {
		t.Fatalf("sweep a window and a span on: %d, %v; want 2", n, err)
	}
	if parts := partitions(t, f.s); len(parts) != 0 {
		t.Fatalf("partitions left: %v", parts)
	}
	f.s.view(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketIdempotencyByRecord).Stats().KeyN; n != 0 {
			t.Errorf("%d ways back from records left", n)
		}
		return nil
	})
}

// TestIdempotencyUnderAClockThatStepsBack drives keys with a clock that
// jumps both ways, sweeping as it goes, against a model: a key is
// replayed exactly while it is live (not past its expiry by the clock of
// the moment) and no sweep has dropped its partition (which needs a
// clock past its name, which is past the key's expiry). So a sweep never
// drops a live key, and an expired one is never replayed; a key reused
// while its old entry waits in a later partition than its new one leaves
// a single entry.
func TestIdempotencyUnderAClockThatStepsBack(t *testing.T) {
	const window = time.Hour
	clk := &TestClock{T: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	f := newSignupFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, Now: clk.Now, IdempotencyWindow: window}, 3)
	ctx := context.Background()
	type key struct {
		id      string
		exp     time.Time
		dropped bool
	}
	keys := map[int]*key{}
	span := f.s.partitionSpan()
	rng := rand.New(rand.NewPCG(1, 2))
	sawBack, sawDropped, sawReused := false, false, false
	for step := range 400 {
		now := clk.Now()
		switch op := rng.IntN(10); {
		case op < 5: // use a key
			i := rng.IntN(12)
			r, replayed, err := f.s.CreateReferral(ctx, f.signup(i), signupIdem(i))
			if err != nil {
				t.Fatalf("step %d: key %d: %v", step, i, err)
			}
			k := keys[i]
			live := k != nil && !k.dropped && now.Before(k.exp)
			if replayed != live || live && r.ID != k.id {
				t.Fatalf("step %d at %v: key %d replayed=%v (%s); model %+v", step, now, i, replayed, r.ID, k)
			}
			if !replayed {
				sawReused = sawReused || k != nil
				keys[i] = &key{id: r.ID, exp: now.Add(window)}
			}
		case op < 7: // look, as the API does before calling a plugin
			i := rng.IntN(12)
			r, err := f.s.FindReplayedReferral(ctx, signupIdem(i))
			k := keys[i]
			live := k != nil && !k.dropped && now.Before(k.exp)
			if err != nil || (r != nil) != live || live && r.ID != k.id {
				t.Fatalf("step %d at %v: key %d finds %v, %v; model %+v", step, now, i, r, err, k)
			}
		case op < 8:
			if _, err := f.s.SweepIdempotencyKeys(ctx, now); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				exp := uint64(k.exp.UnixMilli())
				if name := (exp + span - 1) / span * span; name <= uint64(now.UnixMilli()) && !k.dropped {
					if now.Before(k.exp) {
						t.Fatalf("step %d: the model drops a live key", step)
					}
					k.dropped, sawDropped = true, true
				}
			}
		default: // the clock moves, back as often as on
			// Whole milliseconds, as entries keep their expiry.
			d := time.Duration(rng.Int64N(window.Milliseconds()))*time.Millisecond - window/2
			sawBack = sawBack || d < 0
			clk.Add(d)
		}
	}
	if !sawBack || !sawDropped || !sawReused {
		t.Fatalf("the run never stepped back (%v), dropped a partition (%v) or reused a key (%v)", sawBack, sawDropped, sawReused)
	}
	// One entry a key at most, whichever partitions it passed through.
	f.s.view(func(tx *bolt.Tx) error {
		seen := map[string]bool{}
		root := tx.Bucket(bucketIdempotencyPartitions)
		return root.ForEachBucket(func(name []byte) error {
			return root.Bucket(name).ForEach(func(k, _ []byte) error {
				if seen[string(k)] {
					t.Errorf("key %x has two entries", k)
				}
				seen[string(k)] = true
				return nil
			})
		})
	})
}

// TestIdempotencyReaderSeesItsSnapshot: a read transaction finds every
// entry its snapshot holds, whatever commits after it began (entries in
// new partitions, partitions dropped whole), and none of the entries
// committed since.
func TestIdempotencyReaderSeesItsSnapshot(t *testing.T) {
	clk := &TestClock{T: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	f := newSignupFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, Now: clk.Now, IdempotencyWindow: time.Hour}, 3)
	ctx := context.Background()
	var ids []string
	for i := range 8 {
		ids = append(ids, f.create(t, i).ID)
		clk.Add(5 * time.Minute)
	}
	if n := len(partitions(t, f.s)); n < 4 {
		t.Fatalf("the keys went into %d partitions; want them spread", n)
	}
	began := clk.Now()
	tx, err := f.s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	clk.Add(40 * time.Minute)
	if n, err := f.s.SweepIdempotencyKeys(ctx, clk.Now()); err != nil || n == 0 {
		t.Fatalf("swept %d, %v; want the first keys' partitions dropped", n, err)
	}
	for i := 8; i < 12; i++ {
		f.create(t, i)
	}
	for i, id := range ids {
		snap, err := f.s.findIdempotent(tx, signupIdem(i), began)
		if err != nil || snap == nil {
			t.Fatalf("key %d: %v; the reader no longer finds it", i, err)
		}
		if key, _, _ := splitSnapshot(snap); model.FormatID(model.PrefixReferral, key) != id {
			t.Fatalf("key %d finds referral %x; want %s", i, key, id)
		}
	}
	for i := 8; i < 12; i++ {
		if snap, err := f.s.findIdempotent(tx, signupIdem(i), began); err != nil || snap != nil {
			t.Fatalf("key %d, committed after the reader began, is found: %v", i, err)
		}
	}
}

// TestReplayFindsEveryAcknowledgedKey: once a create has returned, a look
// under its key (what the API does before asking the hook plugins) finds
// it, while other creates commit and partitions are made and dropped
// around it. A lookup that could miss a committed entry would let a retry
// ask the plugins twice.
func TestReplayFindsEveryAcknowledgedKey(t *testing.T) {
	const window = time.Minute
	clk := &TestClock{T: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	f := newSignupFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1, Now: clk.Now, IdempotencyWindow: window, NoSync: true}, 1000)
	ctx := context.Background()
	const clients, each = 8, 60
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				i := c*each + j
				created := clk.Now()
				r, _, err := f.s.CreateReferral(ctx, f.signup(i), signupIdem(i))
				if err != nil {
					t.Error(err)
					return
				}
				found, err := f.s.FindReplayedReferral(ctx, signupIdem(i))
				if err != nil || found == nil || found.ID != r.ID {
					if clk.Now().Before(created.Add(window)) {
						t.Errorf("key %d, acknowledged as %s, finds %v, %v", i, r.ID, found, err)
						return
					}
				}
				if j%5 == 4 {
					// Keys a minute old expire and their partitions go.
					clk.Add(time.Second)
					if _, err := f.s.SweepIdempotencyKeys(ctx, clk.Now()); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := len(partitions(t, f.s)); n > partitionsPerWindow+1 {
		t.Fatalf("%d partitions left for a window's keys", n)
	}
}

// liveHeap is the heap's size after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestHeapDoesNotGrowWithLiveKeys: nothing in memory keeps track of the
// keys, so an open store takes as much heap with many live keys as with a
// few. Each measure follows a reopen, which starts bbolt's own page map
// afresh; the maps the journals kept took about 20 bytes a key each.
func TestHeapDoesNotGrowWithLiveKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	opt := Options{SweepInterval: -1, NoSync: true}
	f := newSignupFixture(t, path, opt, 1<<30)
	grow := func(from, to int) {
		var wg sync.WaitGroup
		const clients = 16
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + c; i < to; i += clients {
					if _, _, err := f.s.CreateReferral(context.Background(), f.signup(i), signupIdem(i)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	reopen := func() {
		if err := f.s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, opt)
		if err != nil {
			t.Fatal(err)
		}
		checkAndCloseAtCleanup(t, s)
		f.s = s
	}
	live := func(i int) {
		t.Helper()
		if r, err := f.s.FindReplayedReferral(context.Background(), signupIdem(i)); err != nil || r == nil {
			t.Fatalf("key %d: %v, %v; want it live", i, r, err)
		}
	}
	const few, many = 2000, 22000
	grow(0, few)
	reopen()
	live(few - 1)
	withFew := liveHeap()
	grow(few, many)
	reopen()
	live(0)
	live(many - 1)
	withMany := liveHeap()
	// 20,000 more keys: the journals' maps would have held 800 kB.
	if withMany > withFew+256<<10 {
		t.Fatalf("live heap %d B with %d keys, %d B with %d: it grows with the keys", withFew, few, withMany, many)
	}
	t.Logf("live heap with the store open: %d B with %d keys, %d B with %d", withFew, few, withMany, many)
}

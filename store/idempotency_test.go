package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
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
	var stored []byte
	s.view(func(tx *bolt.Tx) error {
		stored = bytes.Clone(s.idemJournal.get(tx, idempotencyKey(idem))[:32])
		return nil
	})
	if bytes.Equal(stored, idem.Fingerprint[:]) || !bytes.Equal(stored, s.keyedFingerprint(idem)) {
		t.Fatalf("stored fingerprint % x; want the keyed one, not the request's hash", stored)
	}
	// As written before: the bare fingerprint.
	err = s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		return s.idemJournal.rewrite(tx, idempotencyKey(idem), func(old []byte) []byte {
			v := bytes.Clone(old)
			copy(v, idem.Fingerprint[:])
			return v
		})
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

// replayFixture is a store with a consumer, on a test clock, and a
// referral and its impression created under idempotency keys, as their
// creates answered.
type replayFixture struct {
	s            *Store
	clk          *TestClock
	path         string
	in           model.ReferralCreate
	impIn        model.ImpressionCreate
	idem, impKey model.Idempotency
	ref          *model.Referral
	imp          *model.Impression
}

func newReplayFixture(t *testing.T, opt Options) *replayFixture {
	t.Helper()
	f := &replayFixture{clk: &TestClock{T: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}, path: filepath.Join(t.TempDir(), FileName)}
	opt.Now, opt.SweepInterval = f.clk.Now, -1
	s, p, a := openWithAmbassador(t, f.path, opt)
	checkAndCloseAtCleanup(t, s)
	f.s = s
	ctx := context.Background()
	f.impIn = model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID, UserAgent: "Mozilla/5.0 (replay)"}
	f.impKey = model.Idempotency{Scope: "key_1", Key: "scan", Fingerprint: [32]byte{7}}
	var err error
	if f.imp, _, err = s.CreateImpression(ctx, f.impIn, f.impKey); err != nil {
		t.Fatal(err)
	}
	f.in = model.ReferralCreate{ImpressionID: f.imp.ID, FirstName: "Jo", LastName: "Doe", Email: "jo.doe@x.example",
		Metadata: model.Metadata(`{"campaign":"spring"}`)}
	f.idem = model.Idempotency{Scope: "key_1", Key: "signup", Fingerprint: [32]byte{8}}
	if f.ref, _, err = s.CreateReferral(ctx, f.in, f.idem); err != nil {
		t.Fatal(err)
	}
	return f
}

// replay makes the referral's create again and returns its answer as the
// API would write it.
func (f *replayFixture) replay(t *testing.T) (*model.Referral, []byte) {
	t.Helper()
	r, replayed, err := f.s.CreateReferral(context.Background(), f.in, f.idem)
	if err != nil || !replayed {
		t.Fatalf("replay: %+v replayed=%v %v", r, replayed, err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return r, b
}

// passAll moves consumer past every event and prunes, returning how many
// events went.
func (f *replayFixture) passAll(t *testing.T, consumer string) int {
	t.Helper()
	ctx := context.Background()
	if _, err := f.s.StartHookCursor(ctx, consumer, false); err != nil {
		t.Fatal(err)
	}
	all, err := f.s.FindEvents(ctx, "", 1000)
	if err != nil || len(all) == 0 {
		t.Fatalf("events: %d %v", len(all), err)
	}
	if err := f.s.AckHookEvent(ctx, consumer, all[len(all)-1].ID, nil); err != nil {
		t.Fatal(err)
	}
	n, err := f.s.PruneOutbox(ctx, f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A replay answers exactly as the create did, byte for byte, after the
// referral has changed and after its events were pruned, which happens
// within the idempotency window once the consumer has passed them. The
// impression's replay too.
func TestReplayAfterTheEventIsPruned(t *testing.T) {
	f := newReplayFixture(t, Options{OutboxConsumers: []string{"crm"}})
	ctx := context.Background()
	want, _ := json.Marshal(f.ref)
	f.clk.Add(time.Minute)
	converted, meta := model.ReferralConverted, model.Metadata(`{"campaign":"autumn"}`)
	if _, err := f.s.UpdateReferral(ctx, f.ref.ID, model.ReferralUpdate{Status: &converted, Metadata: &meta}); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(time.Minute)
	if _, err := f.s.UpdateReferral(ctx, f.ref.ID, model.ReferralUpdate{Metadata: &model.Metadata{'{', '}'}}); err != nil {
		t.Fatal(err)
	}
	events, _ := outboxSizes(t, f.s)
	if n := f.passAll(t, "crm"); n != events {
		t.Fatalf("pruned %d of %d events within the idempotency window, want all: the consumer passed them", n, events)
	}
	if events, bySubject := outboxSizes(t, f.s); events != 0 || bySubject != 0 {
		t.Fatalf("%d events and %d index entries left", events, bySubject)
	}
	got, b := f.replay(t)
	if !bytes.Equal(b, want) || got.Status != model.ReferralPending {
		t.Fatalf("replay after pruning:\n got %s\nwant %s", b, want)
	}
	if now, _ := f.s.FindReferralByID(ctx, f.ref.ID); now.Status != model.ReferralConverted {
		t.Fatalf("the referral itself is %s, want converted", now.Status)
	}
	imp, replayed, err := f.s.CreateImpression(ctx, f.impIn, f.impKey)
	if err != nil || !replayed || !reflect.DeepEqual(imp, f.imp) {
		t.Fatalf("impression replay: %+v replayed=%v %v; want %+v", imp, replayed, err, f.imp)
	}
	// The entries keep no copy of what they replay, but for the changed
	// referral's copy as created.
	f.s.view(func(tx *bolt.Tx) error {
		for _, idem := range []model.Idempotency{f.idem, f.impKey} {
			if v := f.s.idemJournal.get(tx, idempotencyKey(idem)); len(v) != idemHeader+2+16 || v[idemHeader] != snapRecord {
				t.Errorf("entry % x; want one that reads its record where it lives", v)
			}
		}
		if n := tx.Bucket(bucketRecordsAsCreated).Stats().KeyN; n != 1 {
			t.Errorf("%d copies as created, want the changed referral's", n)
		}
		return nil
	})
}

// An erased referral replays erased, whether or not it changed before,
// and no copy of what was erased is left for a replay.
func TestReplayOfAnErasedReferral(t *testing.T) {
	for _, changed := range []bool{false, true} {
		t.Run(fmt.Sprintf("changed=%v", changed), func(t *testing.T) {
			f := newReplayFixture(t, Options{OutboxConsumers: []string{"crm"}})
			ctx := context.Background()
			if changed {
				rejected := model.ReferralRejected
				if _, err := f.s.UpdateReferral(ctx, f.ref.ID, model.ReferralUpdate{Status: &rejected}); err != nil {
					t.Fatal(err)
				}
			}
			f.passAll(t, "crm")
			erased, err := f.s.EraseReferral(ctx, f.ref.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, b := f.replay(t)
			if got.ErasedAt == nil || bytes.Contains(b, []byte("jo.doe")) || bytes.Contains(b, []byte("spring")) || got.FirstName != "" {
				t.Fatalf("replay of an erased referral: %s", b)
			}
			if want, _ := json.Marshal(erased); !bytes.Equal(b, want) {
				t.Fatalf("replay %s, want the erased record %s", b, want)
			}
			f.s.view(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketRecordsAsCreated).ForEach(func(k, v []byte) error {
					if bytes.Contains(v, []byte("jo.doe")) {
						t.Errorf("a copy as created still holds the email: %q", v)
					}
					return nil
				})
			})
		})
	}
}

// Copies as created go when no entry can replay them, and the key is
// free again.
func TestCopiesAsCreatedAreSwept(t *testing.T) {
	f := newReplayFixture(t, Options{IdempotencyWindow: time.Hour})
	ctx := context.Background()
	converted := model.ReferralConverted
	if _, err := f.s.UpdateReferral(ctx, f.ref.ID, model.ReferralUpdate{Status: &converted}); err != nil {
		t.Fatal(err)
	}
	copies := func() (n int) {
		f.s.view(func(tx *bolt.Tx) error { n = tx.Bucket(bucketRecordsAsCreated).Stats().KeyN; return nil })
		return n
	}
	f.clk.Add(59 * time.Minute)
	if _, err := f.s.SweepIdempotencyKeys(ctx, f.clk.Now()); err != nil || copies() != 1 {
		t.Fatalf("within the window: %d copies, %v; want the one", copies(), err)
	}
	if got, _ := f.replay(t); got.Status != model.ReferralPending {
		t.Fatalf("replay: %s, want pending as created", got.Status)
	}
	f.clk.Add(2 * time.Minute)
	if _, err := f.s.SweepIdempotencyKeys(ctx, f.clk.Now()); err != nil || copies() != 0 {
		t.Fatalf("past the window: %d copies, %v; want none", copies(), err)
	}
	in := f.in
	in.Email = "someone.else@x.example"
	again, replayed, err := f.s.CreateReferral(ctx, in, f.idem)
	if err != nil || replayed || again.ID == f.ref.ID {
		t.Fatalf("the key past its window: %+v replayed=%v %v; want a new referral", again, replayed, err)
	}
}

// An entry written before schema 15 replays from the creation event; the
// migration keeps the events before it until the last such entry has
// expired, while later events are pruned as soon as they are passed.
func TestEventReplaysOfOlderEntries(t *testing.T) {
	f := newReplayFixture(t, Options{OutboxConsumers: []string{"crm"}})
	want, _ := json.Marshal(f.ref)
	before, _ := outboxSizes(t, f.s)
	f.s.Close()
	// As a schema 14 store wrote them: entries that point at the events.
	f.s = reopenAsSchemaWith(t, f.path, 14, Options{Now: f.clk.Now, SweepInterval: -1, OutboxConsumers: []string{"crm"}},
		func(tx *bolt.Tx) error {
			for _, idem := range []model.Idempotency{f.idem, f.impKey} {
				key := idempotencyKey(idem)
				err := rewriteEntry(tx, key, func(v []byte) []byte {
					return append(append(bytes.Clone(v[:idemHeader]), snapEvent), v[idemHeader+2:]...)
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	ctx := context.Background()
	f.clk.Add(time.Hour)
	converted := model.ReferralConverted
	if _, err := f.s.UpdateReferral(ctx, f.ref.ID, model.ReferralUpdate{Status: &converted}); err != nil {
		t.Fatal(err)
	}
	if n := f.passAll(t, "crm"); n != 1 {
		t.Fatalf("pruned %d events; want only the one written after the upgrade", n)
	}
	if events, _ := outboxSizes(t, f.s); events != before {
		t.Fatalf("%d events left, want the %d older entries replay from", events, before)
	}
	if _, b := f.replay(t); !bytes.Equal(b, want) {
		t.Fatalf("replay of an older entry:\n got %s\nwant %s", b, want)
	}
	f.clk.Add(23 * time.Hour) // the entries have expired
	if n, err := f.s.PruneOutbox(ctx, f.clk.Now()); err != nil || n != before {
		t.Fatalf("pruned %d, %v; want the %d kept for the older entries", n, err, before)
	}
	f.s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(keyEventReplays) != nil {
			t.Error("the upgrade is still remembered")
		}
		return nil
	})
}

// rewriteEntry rewrites the idempotency entry of key wherever it is kept,
// outside the store (no journal in memory).
func rewriteEntry(tx *bolt.Tx, key [32]byte, edit func(v []byte) []byte) error {
	root := tx.Bucket(bucketIdempotencyJournal)
	found := 0
	err := root.ForEachBucket(func(name []byte) error {
		g := root.Bucket(name)
		var seqs, vals [][]byte
		g.ForEach(func(k, v []byte) error {
			if bytes.HasPrefix(v, key[:]) {
				seqs, vals = append(seqs, bytes.Clone(k)), append(vals, cat(key[:], edit(v[32:])))
			}
			return nil
		})
		for i := range seqs {
			found++
			if err := g.Put(seqs[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if v := tx.Bucket(bucketIdempotency).Get(key[:]); v != nil {
		found++
		if err := tx.Bucket(bucketIdempotency).Put(key[:], edit(bytes.Clone(v))); err != nil {
			return err
		}
	}
	if found == 0 {
		return fmt.Errorf("no entry %x", key)
	}
	return nil
}

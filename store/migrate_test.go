package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// A store written before counters existed (schema 1) gets them counted
// from its records when a newer referrald opens it.
func TestMigrationRebuildsCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, _, _ := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	a, _, _ := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@x.example"}, model.Idempotency{})
	imp, _, _ := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if _, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D", Email: "j@x.example"}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Make it look like a schema 1 store: no counters.
	s = reopenAsSchema(t, path, 1, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketCounters) })
	f, err := s.Funnel(ctx, model.StatsFilter{})
	if err != nil || f.Impressions != 1 || f.Referrals != 1 {
		t.Fatalf("after migration: %+v %v; want the counts rebuilt", f.Counts, err)
	}
	if err := s.VerifyCounters(ctx); err != nil {
		t.Fatal(err)
	}
}

// A schema 4 store kept every idempotency snapshot inline without saying
// so; after migration its replays still return the original records.
func TestMigrationTagsInlineSnapshots(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	idem := model.Idempotency{Scope: "k", Key: "prog-1", Fingerprint: [32]byte{1}}
	p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, idem)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = reopenAsSchema(t, path, 4, func(tx *bolt.Tx) error {
		entries := tx.Bucket(bucketIdempotencyTree)
		k := idempotencyKey(idem)
		v := entries.Get(padKey(k[:]))
		if len(v) <= idemHeader || v[idemHeader] != snapInline {
			t.Fatalf("a program's snapshot should be kept inline: % x", v)
		}
		old := append(append([]byte(nil), v[:idemHeader]...), v[idemHeader+1:]...)
		if err := entries.Put(padKey(k[:]), old); err != nil {
			return err
		}
		return nil
	})
	again, replayed, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, idem)
	if err != nil || !replayed || again.ID != p.ID || again.Name != "P" {
		t.Fatalf("replay after migration: %+v replayed=%v %v", again, replayed, err)
	}
}

// A schema 5 store counted bot scans only among the excluded ones; after
// migration the funnel leaves them out of its counts.
func TestMigrationCountsBotsApart(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, p, a := openWithAmbassador(t, path, Options{SweepInterval: -1})
	ctx := context.Background()
	plc, _, err := s.CreatePlacement(ctx, model.PlacementCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	for i, bot := range []bool{false, true, true} {
		if _, err := s.RecordScan(ctx, model.Scan{Code: plc.Code, IPHash: [16]byte{byte(i)}, Bot: bot}, 60_000); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	// Make it look like a schema 5 store: counters without a bot count.
	s = reopenAsSchema(t, path, 5, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		var keys, vals [][]byte
		err := b.ForEach(func(k, v []byte) error {
			c, err := decodeCounts(v)
			c.BotImpressions = 0
			keys, vals = append(keys, k), append(vals, encodeCounts(&c)[:len(encodeCounts(&c))-1]) // drop the trailing count
			return err
		})
		if err != nil {
			return err
		}
		for i := range keys {
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	f, err := s.Funnel(ctx, model.StatsFilter{})
	if err != nil || f.Impressions != 1 || f.BotImpressions != 2 || f.ExcludedImpressions != 0 {
		t.Fatalf("after migration: %+v %v; want 1 impression and 2 bots", f.Counts, err)
	}
	if err := s.VerifyCounters(ctx); err != nil {
		t.Fatal(err)
	}
}

// A schema 8 store had day counters only; after migration each subject
// has its total, and reads without a date range, which read just the
// totals, agree with the days. The unused placement_batches bucket goes.
func TestMigrationCountsTotals(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	clk := &TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s, p, a := openWithAmbassador(t, path, Options{SweepInterval: -1, Now: clk.Now})
	ctx := context.Background()
	for day := range 3 {
		for i := range day + 1 {
			imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
				Email: fmt.Sprintf("j%d-%d@x.example", day, i)}, model.Idempotency{}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(24 * time.Hour)
	}
	s.Close()

	s = reopenAsSchema(t, path, 8, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("placement_batches")) // as older posters wrote it
		if err != nil {
			return err
		}
		return b.Put([]byte("batch"), []byte("placement keys"))
	})
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("placement_batches")) != nil {
			t.Error("placement_batches is still there after the migration")
		}
		return nil
	})
	for _, f := range []model.StatsFilter{{}, {ProgramID: p.ID}, {AmbassadorID: a.ID}, {ProgramID: p.ID, AmbassadorID: a.ID}} {
		got, err := s.Funnel(ctx, f)
		if err != nil || got.Impressions != 6 || got.Referrals != 6 {
			t.Fatalf("funnel %+v after migration: %+v %v; want 6 impressions and 6 referrals", f, got.Counts, err)
		}
	}
	board, err := s.Leaderboard(ctx, model.StatsFilter{}, 10)
	if err != nil || len(board) != 1 || board[0].Referrals != 6 {
		t.Fatalf("leaderboard after migration: %+v %v", board, err)
	}
	if err := s.VerifyCounters(ctx); err != nil {
		t.Fatal(err)
	}
}

// A schema 9 store did not count the scans that led to a signup; after
// migration they are counted, each scan once however many signups it led
// to, and repeat scans not at all.
func TestMigrationCountsImpressionsWithReferral(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, p, a := openWithAmbassador(t, path, Options{SweepInterval: -1})
	ctx := context.Background()
	plc, _, err := s.CreatePlacement(ctx, model.PlacementCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	// Scans from two people, the second person's twice (a repeat), and
	// signups: two from the first scan, one from the repeat.
	var imps []string
	for _, ip := range []byte{1, 2, 2} {
		imp, err := s.RecordScan(ctx, model.Scan{Code: plc.Code, IPHash: [16]byte{ip}}, 60_000)
		if err != nil {
			t.Fatal(err)
		}
		imps = append(imps, imp.Impression.ID)
	}
	for i, imp := range []string{imps[0], imps[0], imps[2]} {
		if _, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp, FirstName: "J", LastName: "D",
			Email: fmt.Sprintf("j%d@x.example", i)}, model.Idempotency{}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, s *Store) {
		t.Helper()
		for _, f := range []model.StatsFilter{{}, {ProgramID: p.ID}, {PlacementID: plc.ID}} {
			got, err := s.Funnel(ctx, f)
			if err != nil || got.Impressions != 3 || got.ExcludedImpressions != 1 || got.ImpressionsWithReferral != 1 ||
				got.ScanToSignupRate == nil || *got.ScanToSignupRate != 0.5 {
				t.Fatalf("%s: funnel %+v: %+v %v; want 1 of 2 counted scans with a signup", when, f, got, err)
			}
		}
		if err := s.VerifyCounters(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check("as written", s)
	s.Close()
	check("after migration", reopenAsSchema(t, path, 9, func(*bolt.Tx) error { return nil }))
}

// A schema 7 store keeps its whole email index in the tree; after
// migration a list by email and the duplicate-email check still find
// every referral.
func TestMigrationKeepsTheEmailIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newSignupFixture(t, path, Options{SweepInterval: -1}, 3)
	for i := range 12 {
		f.create(t, i)
	}
	f.s.Close()
	f.s = reopenAsSchema(t, path, 7, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketEmailJournal) != nil {
			t.Error("a schema 7 store has an email journal")
		}
		n := 0 // counted by hand: Stats sees only what is on disk already
		tx.Bucket(bucketReferralsByEmail).ForEach(func(_, _ []byte) error { n++; return nil })
		if n != 12 {
			t.Errorf("the email index holds %d entries; want 12", n)
		}
		return nil
	})
	f.checkLists(t, "migrated")
	for i := 12; i < 18; i++ {
		f.create(t, i) // flagged as duplicates: the migrated entries count
	}
	f.checkLists(t, "after new signups")
}

// schema10Key is the key schema 10 kept idem's entry under: the whole
// sha256 of scope ‖ 0 ‖ key.
func schema10Key(idem model.Idempotency) []byte {
	h := sha256.Sum256([]byte(idem.Scope + "\x00" + idem.Key))
	return h[:]
}

// TestMigrationEmptiesTheJournals: a schema 10 store keeps idempotency
// entries and email index entries in its trees, in its journals'
// generations, or in both (carried, and kept until the next freeze).
// After the migration every key still replays and every email still
// lists its referrals and flags a new signup as a duplicate, an entry
// that had expired is gone with the way back from its record, erasure
// still finds an inline snapshot, and the journals and the old trees are
// gone.
func TestMigrationEmptiesTheJournals(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newSignupFixture(t, path, Options{SweepInterval: -1}, 3)
	ctx := context.Background()
	var ids []string
	for i := range 9 {
		ids = append(ids, f.create(t, i).ID)
	}
	keepInline(t, f.s, ids[4], signupIdem(4))
	progIdem := model.Idempotency{Scope: "key_test", Key: "program", Fingerprint: [32]byte{1}}
	prog, _, err := f.s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, progIdem)
	if err != nil {
		t.Fatal(err)
	}
	goneIdem := model.Idempotency{Scope: "key_test", Key: "expired", Fingerprint: [32]byte{2}}
	gone, _, err := f.s.CreateProgram(ctx, model.ProgramCreate{Name: "Q", LandingURL: "https://x.example"}, goneIdem)
	if err != nil {
		t.Fatal(err)
	}
	f.s.Close()

	f.s = reopenAsSchema(t, path, 10, func(tx *bolt.Tx) error {
		tree, expiry := tx.Bucket(bucketIdempotencyTree), tx.Bucket(bucketIdempotencyExpiry)
		byEmail, byRecord := tx.Bucket(bucketReferralsByEmail), tx.Bucket(bucketIdempotencyByRecord)
		// Two generations each, as a journal holds while one is carried.
		idemGens, emailGens := tx.Bucket(bucketIdempotencyJournal), tx.Bucket(bucketEmailJournal)
		var frozen, active [2]*bolt.Bucket
		for j, gens := range []*bolt.Bucket{idemGens, emailGens} {
			var err error
			if frozen[j], err = gens.CreateBucket(binary.BigEndian.AppendUint64(nil, 100)); err != nil {
				return err
			}
			if active[j], err = gens.CreateBucket(binary.BigEndian.AppendUint64(nil, 200)); err != nil {
				return err
			}
		}
		seq := uint64(100)
		journal := func(gen *bolt.Bucket, entry []byte) error {
			seq++
			return gen.Put(binary.BigEndian.AppendUint64(nil, seq), entry)
		}
		// Each key under the whole hash, in the tree (0, 3, 6), in the
		// open generation alone (1, 4, 7), or in the frozen one and the
		// tree (2, 5, 8); each email index entry likewise.
		move := func(idem model.Idempotency, where int) error {
			k := idempotencyKey(idem)
			v := bytes.Clone(tree.Get(padKey(k[:])))
			if v == nil {
				t.Fatalf("no entry for %+v", idem)
			}
			if err := tree.Delete(padKey(k[:])); err != nil {
				return err
			}
			if err := expiry.Delete(cat(v[32:40], padKey(k[:]))); err != nil {
				return err
			}
			if rec, ok := inlineSnapshotKey(v); ok {
				if err := byRecord.Put(bytes.Clone(rec), schema10Key(idem)); err != nil {
					return err
				}
			}
			if err := expiry.Put(cat(v[32:40], schema10Key(idem)), empty); err != nil {
				return err
			}
			if where != 1 {
				if err := tree.Put(schema10Key(idem), v); err != nil {
					return err
				}
			}
			switch where {
			case 1:
				return journal(active[0], cat(schema10Key(idem), v))
			case 2:
				return journal(frozen[0], cat(schema10Key(idem), v))
			}
			return nil
		}
		for i, id := range ids {
			if err := move(signupIdem(i), i%3); err != nil {
				return err
			}
			rKey := keyOf(model.PrefixReferral, id)
			entry := cat(hashKey(model.EmailKey(f.email(i))), rKey[:])
			if i%3 == 1 {
				if err := byEmail.Delete(entry); err != nil {
					return err
				}
				if err := journal(active[1], entry); err != nil {
					return err
				}
			} else if i%3 == 2 {
				if err := journal(frozen[1], entry); err != nil {
					return err
				}
			}
		}
		if err := move(progIdem, 0); err != nil {
			return err
		}
		// An entry that expired an hour ago, waiting in the open
		// generation for the sweeper.
		if err := move(goneIdem, 1); err != nil {
			return err
		}
		c := active[0].Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if bytes.HasPrefix(v, schema10Key(goneIdem)) {
				v = bytes.Clone(v)
				binary.BigEndian.PutUint64(v[32+32:], uint64(time.Now().Add(-time.Hour).UnixMilli()))
				return active[0].Put(bytes.Clone(k), v)
			}
		}
		t.Fatal("the expired entry is not in the open generation")
		return nil
	})

	f.s.view(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketIdempotencyJournal, bucketEmailJournal, bucketIdempotencyTree, bucketIdempotencyExpiry} {
			if tx.Bucket(name) != nil {
				t.Errorf("bucket %s is still there", name)
			}
		}
		byRecord := tx.Bucket(bucketIdempotencyByRecord)
		progKey, goneKey, rKey := keyOf(model.PrefixProgram, prog.ID), keyOf(model.PrefixProgram, gone.ID), keyOf(model.PrefixReferral, ids[4])
		if k := idempotencyKey(progIdem); !bytes.Equal(byRecord.Get(progKey[:]), k[:]) {
			t.Errorf("the program's way back to its entry: %x; want %x", byRecord.Get(progKey[:]), k)
		}
		if k := idempotencyKey(signupIdem(4)); !bytes.Equal(byRecord.Get(rKey[:]), k[:]) {
			t.Errorf("the referral's way back to its entry: %x; want %x", byRecord.Get(rKey[:]), k)
		}
		if v := byRecord.Get(goneKey[:]); v != nil {
			t.Errorf("the expired entry's record still leads to it: %x", v)
		}
		return nil
	})
	entries := 0
	for _, n := range partitions(t, f.s) {
		entries += n
	}
	if entries != len(ids)+1 {
		t.Fatalf("%d entries in partitions; want the %d live ones", entries, len(ids)+1)
	}
	for i, id := range ids {
		f.replays(t, i, id)
	}
	if again, replayed, err := f.s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, progIdem); err != nil || !replayed || again.ID != prog.ID {
		t.Fatalf("the program's key: %v replayed=%v %v", again, replayed, err)
	}
	if again, replayed, err := f.s.CreateProgram(ctx, model.ProgramCreate{Name: "Q", LandingURL: "https://x.example"}, goneIdem); err != nil || replayed || again.ID == gone.ID {
		t.Fatalf("the expired key: %v replayed=%v %v; want a new program", again, replayed, err)
	}
	f.checkLists(t, "migrated")
	f.checkIndexHoldsListed(t, "migrated")
	for i := 9; i < 15; i++ {
		f.create(t, i) // flagged as duplicates of the migrated entries
	}
	if _, err := f.s.EraseReferral(ctx, ids[4]); err != nil {
		t.Fatal(err)
	}
	f.forget(f.email(4), ids[4])
	f.checkLists(t, "erased")
	f.checkIndexHoldsListed(t, "erased")
	if r, replayed, err := f.s.CreateReferral(ctx, f.signup(4), signupIdem(4)); err != nil || !replayed || r.Email != "" {
		t.Fatalf("replay of the erased referral kept inline: %+v replayed=%v %v", r, replayed, err)
	}
}

// openWithAmbassador opens a new store at path with a program and an
// ambassador in it, for a migration test to add records to.
func openWithAmbassador(t *testing.T, path string, opt Options) (*Store, *model.Program, *model.Ambassador) {
	t.Helper()
	s, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	return s, p, a
}

// withoutImpressionsWithReferral drops the counters' last field, as
// stores before schema 10 wrote them.
func withoutImpressionsWithReferral(tx *bolt.Tx) error {
	b := tx.Bucket(bucketCounters)
	var keys, vals [][]byte
	err := b.ForEach(func(k, v []byte) error {
		c, err := decodeCounts(v)
		c.ImpressionsWithReferral = 0
		enc := encodeCounts(&c)
		keys, vals = append(keys, bytes.Clone(k)), append(vals, enc[:len(enc)-1])
		return err
	})
	if err != nil {
		return err
	}
	for i := range keys {
		if err := b.Put(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// withoutTotals removes the counters' totals over all days.
func withoutTotals(tx *bolt.Tx) error {
	b := tx.Bucket(bucketCounters)
	var totals [][]byte
	b.ForEach(func(k, _ []byte) error {
		if binary.BigEndian.Uint32(k[len(k)-4:]) == allDays {
			totals = append(totals, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range totals {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// padKey stands in for the whole sha256 that schema 10 kept an
// idempotency entry under, where only the 16 bytes kept since are known:
// the migration keeps the first 16 bytes of the key it finds.
func padKey(k []byte) []byte { return append(bytes.Clone(k[:16]), make([]byte, 16)...) }

// asSchema10 puts the idempotency entries where schema 10 kept them: in
// one tree, with an index by expiry and the way back from records by the
// 32-byte key (padKey), and, from schema 7 and 8 on, the journals'
// buckets, each with an empty generation, as Open made them. The email
// index kept its entries in the same bucket.
func asSchema10(tx *bolt.Tx, version uint64) error {
	tree, err := tx.CreateBucket(bucketIdempotencyTree)
	if err != nil {
		return err
	}
	expiry, err := tx.CreateBucket(bucketIdempotencyExpiry)
	if err != nil {
		return err
	}
	root := tx.Bucket(bucketIdempotencyPartitions)
	err = root.ForEachBucket(func(name []byte) error {
		return root.Bucket(name).ForEach(func(k, v []byte) error {
			if err := tree.Put(padKey(k), bytes.Clone(v)); err != nil {
				return err
			}
			return expiry.Put(cat(v[32:40], padKey(k)), empty)
		})
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bucketIdempotencyPartitions); err != nil {
		return err
	}
	byRecord := tx.Bucket(bucketIdempotencyByRecord)
	var recs, keys [][]byte
	byRecord.ForEach(func(rec, key []byte) error {
		recs, keys = append(recs, bytes.Clone(rec)), append(keys, padKey(key))
		return nil
	})
	for i, rec := range recs {
		if err := byRecord.Put(rec, keys[i]); err != nil {
			return err
		}
	}
	for _, j := range []struct {
		name  []byte
		since uint64
	}{{bucketIdempotencyJournal, 7}, {bucketEmailJournal, 8}} {
		if version >= j.since {
			gens, err := tx.CreateBucket(j.name)
			if err != nil {
				return err
			}
			if _, err := gens.CreateBucket(binary.BigEndian.AppendUint64(nil, 1)); err != nil {
				return err
			}
		}
	}
	return nil
}

// reopenAsSchema rewrites the store file at path with change, marks it as
// written by schema version, and opens it again, which migrates it. The
// store is closed at cleanup after bbolt's consistency check.
func reopenAsSchema(t *testing.T, path string, version uint64, change func(tx *bolt.Tx) error) *Store {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if version < 11 {
			if err := asSchema10(tx, version); err != nil {
				return err
			}
		}
		if version < 9 {
			if err := withoutTotals(tx); err != nil {
				return err
			}
		}
		if version < 10 {
			if err := withoutImpressionsWithReferral(tx); err != nil {
				return err
			}
		}
		if err := change(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, version))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	return s
}

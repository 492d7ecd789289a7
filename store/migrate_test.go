package store

import (
	"bytes"
	"context"
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
		entries := tx.Bucket(bucketIdempotency)
		k := idempotencyKey(idem)
		v := entries.Get(k[:])
		if len(v) <= idemHeader || v[idemHeader] != snapInline {
			t.Fatalf("a program's snapshot should be kept inline: % x", v)
		}
		old := append(append([]byte(nil), v[:idemHeader]...), v[idemHeader+1:]...)
		if err := entries.Put(k[:], old); err != nil {
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

// A schema 10 store had no console users nor audit log; after migration
// it has their buckets, and the first run's setup link, users and audit
// entries work on it. An older referrald refuses the migrated store.
func TestMigrationAddsConsoleUsersAndAudit(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, p, _ := openWithAmbassador(t, path, Options{SweepInterval: -1})
	s.Close()
	s = reopenAsSchema(t, path, 10, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketUsers) != nil || tx.Bucket(bucketAudit) != nil {
			t.Error("the console's buckets are still there")
		}
		return nil
	})
	ctx := context.Background()
	if n, err := s.CountUsers(ctx); n != 0 || err != nil {
		t.Fatalf("CountUsers after migration: %d, %v", n, err)
	}
	token, err := s.CreateSetupToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.RedeemSetupToken(ctx, token, model.UserCreate{Email: "ann@example.com", Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	as := model.WithActor(ctx, model.Actor{Kind: model.ActorUser, ID: u.ID, Label: u.Email, Audited: true})
	if _, err := s.UpdateProgram(as, p.ID, model.ProgramUpdate{Name: ptr("Renamed")}); err != nil {
		t.Fatal(err)
	}
	if page, err := s.FindAudit(ctx, model.AuditFilter{ActorID: u.ID}); err != nil || len(page.Data) != 2 {
		t.Fatalf("audit after migration: %+v %v; want the setup and the rename", page, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if v := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchemaVersion)); v != schemaVersion {
			t.Errorf("schema version %d after migration, want %d", v, schemaVersion)
		}
		return nil
	})
}

func ptr[T any](v T) *T { return &v }

// withoutJournal puts a journal's entries where a store before it kept
// them, in its tree, and removes the journal.
func withoutJournal(tx *bolt.Tx, kind *journalKind) error {
	root, tree := tx.Bucket(kind.root), tx.Bucket(kind.tree)
	err := root.ForEachBucket(func(name []byte) error {
		return root.Bucket(name).ForEach(func(_, v []byte) error {
			return tree.Put(bytes.Clone(v[:32]), bytes.Clone(v[32:]))
		})
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket(kind.root)
}

// A schema 7 store keeps its whole email index in the tree; after
// migration a list by email and the duplicate-email check still find
// every referral, and new ones go through the journal beside them.
func TestMigrationKeepsTheEmailIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newEmailFixture(t, path, 3)
	for i := range 12 {
		f.create(t, i)
	}
	f.s.Close()
	f.s = reopenAsSchema(t, path, 7, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketEmailJournal) != nil {
			t.Error("the email journal is still there")
		}
		n := 0 // counted by hand: Stats sees only what is on disk already
		tx.Bucket(bucketReferralsByEmail).ForEach(func(_, _ []byte) error { n++; return nil })
		if n != 12 {
			t.Errorf("the email index tree holds %d entries; want 12", n)
		}
		return nil
	})
	f.checkLists(t, "migrated")
	for i := 12; i < 18; i++ {
		f.create(t, i) // flagged as duplicates: the tree's entries count
	}
	f.checkLists(t, "after new signups")
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

// withoutHolds drops the commissions' last field and the queue of those
// awaiting approval, as stores before schema 12 had neither.
func withoutHolds(tx *bolt.Tx) error {
	b := tx.Bucket(bucketCommissions)
	var keys, vals [][]byte
	b.ForEach(func(k, v []byte) error {
		keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v[:len(v)-1]))
		return nil
	})
	for i := range keys {
		if err := b.Put(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return tx.DeleteBucket(bucketCommissionsAwaiting)
}

// A schema 11 store had no queue of the commissions awaiting approval;
// after migration the queue lists those still pending, and none is held.
func TestMigrationQueuesPendingCommissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, _, a := openWithAmbassador(t, path, Options{SweepInterval: -1})
	ctx := context.Background()
	var pending []string
	for _, hold := range []int{30, 0, 10} {
		p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example", HoldDays: &hold,
			Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 100, Currency: "USD"}}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ref, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
			Email: fmt.Sprintf("j%d@x.example", hold)}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		e, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: ref.ID, Amount: 1000, Currency: "USD"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		if hold > 0 {
			c, err := s.FindCommissions(ctx, model.CommissionFilter{EarningID: e.ID})
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, c.Data[0].ID)
		}
	}
	s.Close()
	s = reopenAsSchema(t, path, 11, func(*bolt.Tx) error { return nil })
	var got []string
	page, err := s.FindCommissionQueue(ctx, model.CommissionQueueFilter{})
	for _, c := range page.Data {
		got = append(got, c.ID)
		if c.OnHold {
			t.Errorf("%s is on hold after migration", c.ID)
		}
	}
	// Soonest approved first: the 10-day hold, then the 30-day one.
	if want := []string{pending[1], pending[0]}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queue after migration: %v %v, want %v", got, err, want)
	}
	if held, err := s.FindCommissionQueue(ctx, model.CommissionQueueFilter{OnHold: true}); err != nil || len(held.Data) != 0 {
		t.Fatalf("held after migration: %+v %v, want none", held, err)
	}
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

// reopenAsSchema rewrites the store file at path with change, marks it as
// written by schema version, and opens it again, which migrates it. The
// store is closed at cleanup after bbolt's consistency check.
func reopenAsSchema(t *testing.T, path string, version uint64, change func(tx *bolt.Tx) error) *Store {
	t.Helper()
	return reopenAsSchemaWith(t, path, version, Options{SweepInterval: -1}, change)
}

// reopenAsSchemaWith is reopenAsSchema, opening the migrated store with opt.
func reopenAsSchemaWith(t *testing.T, path string, version uint64, opt Options, change func(tx *bolt.Tx) error) *Store {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if version < 7 {
			if err := withoutJournal(tx, &idempotencyJournal); err != nil {
				return err
			}
		}
		if version < 8 {
			if err := withoutJournal(tx, &emailJournal); err != nil {
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
		if version < 11 {
			for _, name := range [][]byte{bucketUsers, bucketUsersByEmail, bucketSessions, bucketSessionsByUser, bucketSetupTokens,
				bucketAudit, bucketAuditByActor, bucketAuditBySubject, bucketAuditByAction} {
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
		}
		if version < 12 {
			if err := withoutHolds(tx); err != nil {
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
	s, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	return s
}

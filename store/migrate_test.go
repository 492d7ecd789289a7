package store

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"

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
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketCounters); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		entries := tx.Bucket(bucketIdempotency)
		k := idempotencyKey(idem)
		v := entries.Get(k)
		if len(v) <= idemHeader || v[idemHeader] != snapInline {
			t.Fatalf("a program's snapshot should be kept inline: % x", v)
		}
		old := append(append([]byte(nil), v[:idemHeader]...), v[idemHeader+1:]...)
		if err := entries.Put(k, old); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 4))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again, replayed, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, idem)
	if err != nil || !replayed || again.ID != p.ID || again.Name != "P" {
		t.Fatalf("replay after migration: %+v replayed=%v %v", again, replayed, err)
	}
}

package store

import (
	"bytes"
	"context"
	"testing"

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

package store

import (
	"bytes"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// A write is held to its two steps: a check that writes, or an apply that
// refuses the request, fails that write and leaves nothing of it in the
// store, while the other writes of the group commit still commit.
func TestWriteStepsAreEnforced(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	op := func(fn write) *writeOp { return &writeOp{fn: fn, done: make(chan error, 1)} }
	meta := func(w *wtx) *bolt.Bucket { return w.tx.Bucket(bucketMeta) }
	good := op(func(w *wtx) (func() error, error) {
		return func() error { return meta(w).Put([]byte("test:good"), []byte("1")) }, nil
	})
	writesInCheck := op(func(w *wtx) (func() error, error) {
		if err := meta(w).Put([]byte("test:check"), []byte("1")); err != nil {
			return nil, err
		}
		return nil, model.Errorf(model.EConflict, "refused after writing")
	})
	refusesInApply := op(func(w *wtx) (func() error, error) {
		return func() error {
			if err := meta(w).Put([]byte("test:apply"), []byte("1")); err != nil {
				return err
			}
			return model.Errorf(model.EConflict, "refused while writing")
		}, nil
	})
	// The writer goroutine is idle between writes; calling commit here
	// stands in for one group commit of the three.
	s.commit([]*writeOp{writesInCheck, good, refusesInApply})
	if err := <-good.done; err != nil {
		t.Fatalf("the good write failed: %v", err)
	}
	for name, o := range map[string]*writeOp{"check that writes": writesInCheck, "apply that refuses": refusesInApply} {
		err := <-o.done
		if err == nil || isModelError(err) {
			t.Errorf("%s: got %v, want a store error (not a client's)", name, err)
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if !bytes.Equal(b.Get([]byte("test:good")), []byte("1")) {
			t.Error("the good write is not in the store")
		}
		for _, k := range []string{"test:check", "test:apply"} {
			if b.Get([]byte(k)) != nil {
				t.Errorf("%s was committed by a failed write", k)
			}
		}
		return nil
	})
}

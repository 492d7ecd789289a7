package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// wtx is what one write of a group commit works with: the transaction,
// the one time of the whole commit, and the commit's counter changes,
// which are flushed once at its end.
type wtx struct {
	tx     *bolt.Tx
	now    time.Time
	counts *countBatch
	ids    *model.IDGenerator
	// actor is who the write being applied is made by, while its changes
	// go to the audit log; nil otherwise (see audited in audit.go).
	actor *model.Actor
}

func (s *Store) newWtx(tx *bolt.Tx, now time.Time) *wtx {
	return &wtx{tx: tx, now: now, counts: &countBatch{tx: tx, pending: map[string]*model.Counts{}}, ids: s.ids}
}

// newKey returns a fresh record key, in the order of the commit.
func (w *wtx) newKey() [16]byte { return w.ids.New(w.now) }

// newID returns a fresh record ID with prefix.
func (w *wtx) newID(prefix string) string { return model.FormatID(prefix, w.newKey()) }

// A write is checked, then applied. Its check reads what it needs and
// decides, returning every error a client can cause (a model error); it
// must write nothing, since a group commit goes on with the other writes
// after one is refused. Only when it passes does the commit call the
// apply it returned (nil: nothing to write), which writes and fails only
// for the store's own reasons, failing the whole commit.
type write func(w *wtx) (apply func() error, err error)

// errCheckWrote reports a write whose check step changed the store: what
// it wrote would be committed with the rest of the batch though the write
// was refused.
var errCheckWrote = fmt.Errorf("store: a write's check step wrote to the store")

// run checks and applies one write, turning a panic into an error so that
// one bad write cannot take the writer goroutine, and every later write,
// down. It holds each step to its part: a check that writes, or an apply
// that refuses the request, is a bug in the store, reported as an error
// that fails the commit rather than one that lets it go on.
func (w *wtx) run(fn write) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in store write: %v", v)
		}
	}()
	// A write materializes the nodes of the pages it changes; a read
	// never does. (A node that an earlier write of the commit made is not
	// counted again, so this catches most, not all, such bugs.)
	nodes := w.nodes()
	apply, err := fn(w)
	if w.nodes() != nodes {
		return errCheckWrote
	}
	if err != nil || apply == nil {
		return err
	}
	if err := apply(); err != nil {
		if isModelError(err) {
			return fmt.Errorf("store: a write passed its check but its apply refused it: %v", err)
		}
		return err
	}
	return nil
}

// applyOnly is a write with nothing to check: store upkeep (sweeps,
// pruning), whose only errors are the store's own.
func applyOnly(fn func(w *wtx) error) write {
	return func(w *wtx) (func() error, error) { return func() error { return fn(w) }, nil }
}

// nodes counts the nodes the transaction has materialized so far.
func (w *wtx) nodes() int64 {
	st := w.tx.Stats()
	return st.GetNodeCount()
}

// inBatches runs batch, upkeep that handles at most limit items a
// transaction, in one transaction after another until one handles fewer
// or ctx ends, and returns how many it handled in all: a large backlog
// never holds the writer for long.
func (s *Store) inBatches(ctx context.Context, limit int, batch func(w *wtx) (int, error)) (int, error) {
	total := 0
	for {
		n := 0
		err := s.update(applyOnly(func(w *wtx) (err error) {
			n, err = batch(w)
			return err
		}))
		total += n
		if err != nil || n < limit || ctx.Err() != nil {
			return total, err
		}
	}
}

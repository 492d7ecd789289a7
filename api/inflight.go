package api

import (
	"context"
	"sync"

	"github.com/referrald/referrald/model"
)

// inflight lets one request at a time work under an idempotency key. A
// create that asks hook plugins first must not ask them again for a
// replay; the store makes one record per key however many requests race,
// but only this gate keeps a second request from reaching the plugins
// while the first is still on its way to the store.
type inflight struct {
	mu   sync.Mutex
	busy map[inflightKey]chan struct{}
}

type inflightKey struct{ scope, key string }

// acquire waits until no other request holds idem's key, then holds it
// until release is called. Without a key there is nothing to hold.
func (f *inflight) acquire(ctx context.Context, idem model.Idempotency) (release func(), err error) {
	if idem.Key == "" {
		return func() {}, nil
	}
	k := inflightKey{idem.Scope, idem.Key}
	for {
		f.mu.Lock()
		done, held := f.busy[k]
		if !held {
			if f.busy == nil {
				f.busy = map[inflightKey]chan struct{}{}
			}
			done = make(chan struct{})
			f.busy[k] = done
			f.mu.Unlock()
			return func() {
				f.mu.Lock()
				delete(f.busy, k)
				f.mu.Unlock()
				close(done)
			}, nil
		}
		f.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// BenchmarkCommitStrategy compares three ways of committing concurrent,
// durable writes of one referral's size (record, six index entries, an
// outbox event): a db.Update per write, bbolt's DB.Batch with a 2 ms
// delay, and the store's writer goroutine that drains every waiting write
// into one transaction. Run it with
//
//	go test ./store -run '^$' -bench CommitStrategy -benchtime 3s
//
// ns/op is per write, so 1e9/(ns/op) is writes per second.
func BenchmarkCommitStrategy(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		for _, strategy := range []string{"update", "batch", "writer"} {
			b.Run(fmt.Sprintf("%s/clients=%d", strategy, clients), func(b *testing.B) {
				s, err := Open(filepath.Join(b.TempDir(), FileName), Options{SweepInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				s.db.MaxBatchDelay = 2 * time.Millisecond
				commit := map[string]func(func(*bolt.Tx) error) error{
					"update": s.db.Update, "batch": s.db.Batch,
					"writer": func(fn func(*bolt.Tx) error) error {
						return s.update(applyOnly(func(w *wtx) error { return fn(w.tx) }))
					},
				}[strategy]
				write := func(tx *bolt.Tx) error { return writeReferralSized(s, tx) }
				b.ResetTimer()
				inParallel(b, clients, func() error { return commit(write) })
				st := s.Stats()
				if strategy == "writer" && st.Commits > 0 {
					b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
				}
			})
		}
	}
}

func writeReferralSized(s *Store, tx *bolt.Tx) error {
	now := time.Now()
	key := s.ids.New(now)
	r := &model.Referral{ID: model.FormatID(model.PrefixReferral, key), ImpressionID: model.FormatID(model.PrefixImpression, key),
		FirstName: "John", LastName: "Doe", Email: "john.doe@example.com", Status: model.ReferralPending,
		ProgramID: model.FormatID(model.PrefixProgram, key), AmbassadorID: model.FormatID(model.PrefixAmbassador, key),
		Metadata: model.Metadata(`{"source":"instagram"}`), CreatedAt: model.NewTime(now), UpdatedAt: model.NewTime(now)}
	val := encodeReferral(r)
	if err := tx.Bucket(bucketReferrals).Put(key[:], val); err != nil {
		return err
	}
	fixed, byStatus := referralIndexes(r)
	if err := putIndexes(tx, key, append(fixed, byStatus...)...); err != nil {
		return err
	}
	// Straight into the index: the journal is the writer's alone.
	email := emailIndexKey(r.Email, key)
	if err := tx.Bucket(bucketReferralsByEmail).Put(email[:], empty); err != nil {
		return err
	}
	return s.appendRecordEvent(tx, now, recordReferral, key, val)
}

// BenchmarkCreateReferral measures the store's whole create path with an
// idempotency key, at 64 concurrent callers.
func BenchmarkCreateReferral(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), FileName), Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	p, _, _ := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://example.com"}, model.Idempotency{})
	a, _, _ := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@example.com"}, model.Idempotency{})
	// Like referrald-bench: a distinct email per referral, an impression
	// per client.
	const clients = 64
	imps := make(chan string, clients)
	for range clients {
		imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
		if err != nil {
			b.Fatal(err)
		}
		imps <- imp.ID
	}
	var n atomic.Int64
	b.ResetTimer()
	inParallel(b, clients, func() error {
		imp := <-imps
		defer func() { imps <- imp }()
		i := n.Add(1)
		in := model.ReferralCreate{ImpressionID: imp, FirstName: "J", LastName: "D", Email: fmt.Sprintf("j%d@example.com", i)}
		idem := model.Idempotency{Scope: "bench", Key: fmt.Sprintf("k%d", i)}
		_, _, err := s.CreateReferral(ctx, in, idem)
		return err
	})
}

// inParallel runs op b.N times from exactly clients goroutines (RunParallel
// would start a multiple of GOMAXPROCS).
func inParallel(b *testing.B, clients int, op func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// openTestStore opens a store in a temp dir and, at cleanup, closes it
// after checking the file with bbolt's consistency check.
func openTestStore(t *testing.T, opt Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), FileName), opt)
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	return s
}

// checkAndCloseAtCleanup runs bbolt's consistency check over s's file and
// closes it when the test ends.
func checkAndCloseAtCleanup(t *testing.T, s *Store) {
	t.Cleanup(func() {
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if closed {
			return // the test closed it itself
		}
		if err := s.Check(); err != nil {
			t.Error(err)
		}
		s.Close()
	})
}

// TestClock is a clock that only moves when told to, for the store's
// tests inside the package and out (store_test).
type TestClock struct {
	mu sync.Mutex
	T  time.Time
}

func (c *TestClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.T }
func (c *TestClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.T = c.T.Add(d)
}

func scanRecentEntries(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.view(func(tx *bolt.Tx) error { n = tx.Bucket(bucketScanRecent).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// scanFrom records scans of a new poster from n visitors.
func scanFrom(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B",
		Email: fmt.Sprintf("a%d@x.example", time.Now().UnixNano())}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	plc, _, err := s.CreatePlacement(ctx, model.PlacementCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := s.RecordScan(ctx, model.Scan{Code: plc.Code, IPHash: [16]byte{byte(i), byte(i >> 8), 1}}, 60_000); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPruneScanRecentDeletesEveryExpiredEntry deletes a run of expired
// entries that lie side by side, where bbolt's Next after Delete would
// skip every other one.
func TestPruneScanRecentDeletesEveryExpiredEntry(t *testing.T) {
	clk := &TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := openTestStore(t, Options{Now: clk.Now, SweepInterval: -1})
	scanFrom(t, s, 300)
	clk.Add(72 * time.Hour)
	scanFrom(t, s, 5) // recent: kept
	if err := s.pruneScanRecent(context.Background(), clk.Now().Add(-scanRecentKept)); err != nil {
		t.Fatal(err)
	}
	if n := scanRecentEntries(t, s); n != 5 {
		t.Fatalf("%d repeat-scan entries left, want the 5 recent ones", n)
	}
}

// TestRepeatScanEntriesArePrunedWithoutRetention: with no scan retention
// the sweeper scrubs nothing, but still forgets old repeat-scan entries.
func TestRepeatScanEntriesArePrunedWithoutRetention(t *testing.T) {
	clk := &TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := openTestStore(t, Options{Now: clk.Now, SweepInterval: -1})
	scanFrom(t, s, 10)
	clk.Add(72 * time.Hour)
	s.sweep()
	if n := scanRecentEntries(t, s); n != 0 {
		t.Fatalf("%d repeat-scan entries left after a sweep, want none", n)
	}
}

package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// BenchmarkLeaderboard reads the leaderboard of a store that has counted
// 1,000 ambassadors in one program every day for half a year: without a
// date range (each ambassador's total), over a range that covers every
// day (the days walked, what every read cost before the totals), and over
// the last 30 days. Run it with
//
//	go test ./store -run '^$' -bench Leaderboard
func BenchmarkLeaderboard(b *testing.B) {
	const ambassadors, days = 1000, 182
	s, err := Open(filepath.Join(b.TempDir(), FileName), Options{SweepInterval: -1, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	program := model.FormatID(model.PrefixProgram, [16]byte{1})
	today := dayOf(time.Now())
	// The counters are put directly, as making the records behind them
	// would take minutes; only the program-wide and per-ambassador ones,
	// which are those the leaderboard reads, and the ambassadors, whose
	// names it reads.
	err = s.db.Update(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketCounters)
		for i := range ambassadors {
			key := [16]byte{2, byte(i >> 8), byte(i)}
			a := &model.Ambassador{FirstName: fmt.Sprintf("First%d", i), LastName: "Last", Email: fmt.Sprintf("a%d@x.example", i),
				Status: model.AmbassadorActive, Metadata: model.Metadata(`{"team":"north"}`)}
			if err := tx.Bucket(bucketAmbassadors).Put(key[:], encodeAmbassador(a)); err != nil {
				return err
			}
			subj := subject{program: program, ambassador: model.FormatID(model.PrefixAmbassador, key)}
			total := model.Counts{}
			for d := today - days + 1; d <= today; d++ {
				c := model.Counts{Impressions: 40, Referrals: int64(d % 7), Conversions: int64(i % 5)}
				total.Add(c)
				for _, p := range subj.prefixes()[2:4] {
					if err := bucket.Put(cat(p, dayKey(d)), encodeCounts(&c)); err != nil {
						return err
					}
				}
			}
			for _, p := range subj.prefixes()[2:4] {
				if err := bucket.Put(cat(p, dayKey(allDays)), encodeCounts(&total)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	month := model.NewTime(now.Add(-30 * 24 * time.Hour))
	for _, read := range []struct {
		name string
		f    model.StatsFilter
	}{
		{"total", model.StatsFilter{}},
		{"every_day", model.StatsFilter{From: model.NewTime(time.Unix(0, 0))}},
		{"last_30_days", model.StatsFilter{From: month}},
		{"program/total", model.StatsFilter{ProgramID: program}},
		{"program/last_30_days", model.StatsFilter{ProgramID: program, From: month}},
	} {
		name, f := read.name, read.f
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				board, err := s.Leaderboard(context.Background(), f, 10)
				if err != nil || len(board) != 10 || board[0].AmbassadorName == "" {
					b.Fatalf("%d entries, %v", len(board), err)
				}
			}
		})
	}
}

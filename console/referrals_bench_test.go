package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// BenchmarkReferralListPage times the referral list page, rendered
// through the console's handler as a signed-in viewer asks for it, on a
// store of 10,000 referrals and, with REFERRALD_BENCH_1M=1, of 1,000,000:
// each page is read by cursor from an index, so it should cost about the
// same at both sizes.
//
//	go test ./console -run '^$' -bench ReferralListPage -benchtime 2s
//	REFERRALD_BENCH_1M=1 go test ./console -run '^$' -bench ReferralListPage -benchtime 2s -timeout 30m
func BenchmarkReferralListPage(b *testing.B) {
	sizes := []int{10_000}
	if os.Getenv("REFERRALD_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	// Synced only at close: filling a million referrals one durable
	// commit at a time would take the benchmark's whole budget, and reads
	// do not care.
	st, err := store.Open(filepath.Join(b.TempDir(), store.FileName), store.Options{NoSync: true, SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv := New(Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Referrals: st, Keys: st,
		Earnings: st, Stats: st, Backup: st, Writes: st, Users: st, Audit: st}, Config{})
	ctx := context.Background()
	u, err := st.CreateUser(ctx, model.UserCreate{Email: "viewer@uni.example", Role: model.RoleViewer, Password: testPassword})
	if err != nil {
		b.Fatal(err)
	}
	_, token, err := st.CreateSession(ctx, u.ID)
	if err != nil {
		b.Fatal(err)
	}
	cookie := &http.Cookie{Name: sessionCookie, Value: token}
	fill := newBenchFill(b, st)

	for _, size := range sizes {
		fill.to(size)
		// The pages people open: the newest, a program's pending ones, a
		// page deep in the list, and a sparse filter (flagged), which looks
		// at a bounded number of referrals a page.
		pages := []struct{ name, path string }{
			{"first", "/console/referrals"},
			{"program+status", "/console/referrals?program=" + fill.program.ID + "&status=pending"},
			{"ambassador", "/console/referrals?ambassador=" + fill.ambassadors[0].ID},
			{"deep", "/console/referrals?cursor=" + fill.middle},
			{"flagged", "/console/referrals?flagged=true"},
		}
		for _, p := range pages {
			b.Run(fmt.Sprintf("referrals=%d/%s", size, p.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest("GET", p.path, nil)
					req.AddCookie(cookie)
					w := httptest.NewRecorder()
					srv.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("%s: %d", p.path, w.Code)
					}
				}
			})
		}
	}
}

// benchFill grows a store of referrals, each from an impression of its
// own, spread over a program's ambassadors.
type benchFill struct {
	tb          testing.TB
	st          *store.Store
	program     *model.Program
	ambassadors []*model.Ambassador
	n           int
	// middle is a referral from the middle of the store, for a deep page.
	middle string
}

func newBenchFill(tb testing.TB, st *store.Store) *benchFill {
	ctx := context.Background()
	p, _, err := st.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com/join"}, model.Idempotency{})
	if err != nil {
		tb.Fatal(err)
	}
	f := &benchFill{tb: tb, st: st, program: p}
	for i := range 100 {
		a, _, err := st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "Ambassador", LastName: fmt.Sprint(i),
			Email: fmt.Sprintf("a%d@uni.example", i)}, model.Idempotency{})
		if err != nil {
			tb.Fatal(err)
		}
		f.ambassadors = append(f.ambassadors, a)
	}
	return f
}

// to grows the store to n referrals, from concurrent clients, so the
// store's group commit writes many at a time.
func (f *benchFill) to(n int) {
	ctx := context.Background()
	var next atomic.Int64
	next.Store(int64(f.n))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				a := f.ambassadors[i%int64(len(f.ambassadors))]
				imp, _, err := f.st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: f.program.ID, AmbassadorID: a.ID}, model.Idempotency{})
				// One in a hundred signs up again: flagged, for the sparse
				// filter.
				email := fmt.Sprintf("p%d@mail.example", i)
				if i%100 == 99 {
					email = fmt.Sprintf("p%d@mail.example", i-1)
				}
				if err == nil {
					var r *model.Referral
					r, _, err = f.st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "Person", LastName: fmt.Sprint(i),
						Email: email}, model.Idempotency{})
					if err == nil && i == int64(n/2) {
						mu.Lock()
						f.middle = r.ID
						mu.Unlock()
					}
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if failed != nil {
		f.tb.Fatal(failed)
	}
	f.n = n
}

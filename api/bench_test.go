package api_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/referrald/referrald/api"
)

// BenchmarkScan and BenchmarkReferralCreate measure the scan route next to
// POST /v1/referrals, through the real router on a real, durable store,
// with 64 concurrent callers (fsync'd group commits included):
//
//	go test ./api -run '^$' -bench 'Scan|ReferralCreate' -benchtime 3s
//
// requests/s = 1e9 / ns/op.
// unlimited lifts the rate limits, which would otherwise be what the
// benchmarks measure.
var unlimited = api.Config{KeyRateLimit: api.Bucket{Rate: 1e6, Burst: 1e6}, IPRateLimit: api.Bucket{Rate: 1e6, Burst: 1e6}}

func BenchmarkScan(b *testing.B) {
	e := withServer(newEnv(b), unlimited)
	p := e.poster(b)
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/s/"+p.code, nil)
			r.Header.Set("User-Agent", iPhone)
			r.RemoteAddr = fmt.Sprintf("198.51.%d.%d:1", n.Add(1)%250, n.Load()%250)
			w := httptest.NewRecorder()
			e.srv.ServeHTTP(w, r)
			if w.Code != 302 {
				b.Errorf("scan: %d", w.Code)
			}
		}
	})
}

func BenchmarkReferralCreate(b *testing.B) {
	e := withServer(newEnv(b), unlimited)
	_, _, imp := e.impression()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"impression_id":%q,"first_name":"J","last_name":"D","email":"p%d@example.com","idempotency_key":"k%d"}`, imp, i, i)
			r := httptest.NewRequest("POST", "/v1/referrals", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+e.writeToken)
			w := httptest.NewRecorder()
			e.srv.ServeHTTP(w, r)
			if w.Code != 201 {
				b.Errorf("create: %d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkPlacementQR measures large QR images at ecc H through the
// router: drawn each time, and from the cache.
//
//	go test ./api -run '^$' -bench PlacementQR
func BenchmarkPlacementQR(b *testing.B) {
	e := withServer(newEnv(b), unlimited)
	p := e.poster(b)
	get := func(b *testing.B, size, margin int) {
		r := httptest.NewRequest("GET", fmt.Sprintf("/v1/placements/%s/qr.png?size=%d&margin=%d&ecc=H", p.id, size, margin), nil)
		r.Header.Set("Authorization", "Bearer "+e.readToken)
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("qr.png: %d %s", w.Code, w.Body)
		}
	}
	b.Run("drawn", func(b *testing.B) {
		// Every size from 1024 to 2048 with every margin, in turn: far more
		// than the cache holds, so each is drawn again by the time it
		// comes round.
		i := 0
		for b.Loop() {
			get(b, 2048-i%1025, i/1025%17)
			i++
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			get(b, 2048, 4)
		}
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"runtime"
	"slices"
	"time"

	"github.com/referrald/referrald/store"
)

// growReport is what `referrald-bench -grow N` reports: the timed load on
// the fresh store, checkpoints as the store grows to N referrals, and the
// timed load again on the grown store.
type growReport struct {
	Fresh       *benchResult      `json:"fresh"`
	Checkpoints []*growCheckpoint `json:"checkpoints"`
	Grown       *benchResult      `json:"grown"`
	// Rounds, when the server is in-process, alternate the timed load
	// between a new fresh store and the grown one, so that both are
	// measured on the same disk in the same minutes.
	Rounds []growRound `json:"rounds,omitempty"`
	// Ratio is the grown store's create throughput over the fresh one's:
	// the median of the rounds' ratios, or without rounds, Grown's over
	// Fresh's.
	Ratio float64 `json:"throughput_ratio"`
	// RatioLow and RatioHigh bound the rounds' median with 95 %
	// confidence, whatever the disk's noise is like; six rounds or more
	// give them.
	RatioLow  *float64 `json:"throughput_ratio_95_low,omitempty"`
	RatioHigh *float64 `json:"throughput_ratio_95_high,omitempty"`
	// WebhookDeliveries counts the messages the -webhook receiver was
	// sent, by every server of the run.
	WebhookDeliveries int64 `json:"webhook_deliveries,omitempty"`
}

// growRound is one fresh and one grown timed load, one after the other.
type growRound struct {
	Fresh *benchResult `json:"fresh"`
	Grown *benchResult `json:"grown"`
	Ratio float64      `json:"throughput_ratio"`
}

// growCheckpoint is measured when the store reaches Referrals referrals.
type growCheckpoint struct {
	Referrals int `json:"referrals"`
	// PerSecond and the latencies are those of the creates since the
	// previous checkpoint.
	PerSecond float64 `json:"creates_per_second"`
	P50ms     float64 `json:"create_p50_ms"`
	P99ms     float64 `json:"create_p99_ms"`
	// HeapBytes is the live Go heap after a collection (in-process runs).
	HeapBytes uint64 `json:"heap_live_bytes,omitempty"`
	// PagesPerCommit is how many pages bbolt wrote per commit since the
	// previous checkpoint (in-process runs): the disk's work, which with
	// one ambassador its speed on the day hardly changes.
	PagesPerCommit float64 `json:"pages_per_commit,omitempty"`
	// PagesPerWrite is the same per write: with many ambassadors each
	// signup brings pages of its own, so a slow disk's larger batches
	// write more pages per commit but not per write.
	PagesPerWrite float64 `json:"pages_per_write,omitempty"`
	// FileBytesPerReferral is the store file's size over the referrals
	// (with the pool, each has its impression in the file too).
	FileBytesPerReferral float64 `json:"file_bytes_per_referral,omitempty"`
	// OutboxEvents is how many events the outbox holds (in-process runs),
	// OutboxBytes the size of the pages allocated to it and its
	// by-subject index, and OutboxShare their share of the file.
	OutboxEvents int     `json:"outbox_events,omitempty"`
	OutboxBytes  int64   `json:"outbox_bytes,omitempty"`
	OutboxShare  float64 `json:"outbox_share,omitempty"`
	// BucketBytes is the size of the pages allocated to each bucket.
	BucketBytes map[string]int64 `json:"bucket_bytes,omitempty"`
	// FreeBytes is the size of the file's pages that are free for reuse.
	FreeBytes int64 `json:"free_bytes,omitempty"`
	// ConsumerLag is how many events the consumer furthest behind had
	// yet to pass, counted up to -max-lag (with -plugin or -webhook and
	// -max-lag).
	ConsumerLag *int64 `json:"consumer_lag_events,omitempty"`
	// Reads holds the median latency in ms of each read, over 21 calls.
	Reads map[string]float64 `json:"read_p50_ms"`
}

// growReads are the list and stats reads timed at each checkpoint.
func growReads(fx *benchFixture) map[string]string {
	return map[string]string{
		"list":               "/v1/referrals?limit=50",
		"list_by_program":    "/v1/referrals?limit=50&program_id=" + fx.program,
		"list_by_status":     "/v1/referrals?limit=50&status=pending&ambassador_id=" + fx.ambassadors[0],
		"list_page_10":       "", // filled in: the 10th page of the program's list
		"funnel":             "/v1/stats/funnel",
		"funnel_by_program":  "/v1/stats/funnel?program_id=" + fx.program,
		"leaderboard":        "/v1/stats/leaderboard?program_id=" + fx.program,
		"referral_by_cursor": "", // filled in: a page deep in the list, by cursor
	}
}

// benchGrow runs `referrald-bench -grow total`. newFresh, when set, starts another
// server on a new fresh store for the alternating rounds.
func benchGrow(fx *benchFixture, st *store.Store, newFresh func() (*benchFixture, func(), error), rounds, clients int,
	duration time.Duration, total int, asJSON bool, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "referrald-bench:", err)
		return exitFailed
	}
	rep := &growReport{}
	var err error
	pool := int(duration.Seconds() * poolRate)
	fmt.Fprintf(stderr, "timing %s of load on the fresh store\n", duration)
	if err := fx.fillPool(pool, clients); err != nil {
		return fail(err)
	}
	if rep.Fresh, err = runBench(fx, clients, duration, 0, 0, 0); err != nil {
		return fail(err)
	}
	made := rep.Fresh.Ops["create"].Count
	for _, target := range growTargets(made, total) {
		fmt.Fprintf(stderr, "growing the store to %d referrals\n", target)
		if err := fx.fillPool(target-made, clients); err != nil {
			return fail(err)
		}
		var before store.Stats
		if st != nil {
			before = st.Stats()
		}
		cp, err := growTo(fx, clients, target-made)
		if err != nil {
			return fail(err)
		}
		made = target
		cp.Referrals = made
		if st != nil {
			after := st.Stats()
			if after.Commits > before.Commits {
				cp.PagesPerCommit = float64(after.PageWrites-before.PageWrites) / float64(after.Commits-before.Commits)
				cp.PagesPerWrite = float64(after.PageWrites-before.PageWrites) / float64(after.Writes-before.Writes)
			}
			cp.FileBytesPerReferral = float64(after.FileSize) / float64(made)
			sp, err := st.Space()
			if err != nil {
				return fail(err)
			}
			cp.OutboxEvents, cp.OutboxBytes, cp.OutboxShare, cp.FreeBytes = sp.OutboxEvents, sp.OutboxBytes(), sp.OutboxShare(), sp.FreeBytes
			cp.BucketBytes = sp.Buckets
			if fx.gate != nil {
				lag := fx.gate.lag.Load()
				cp.ConsumerLag = &lag
			}
			fx.trim()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			cp.HeapBytes = ms.HeapAlloc
		}
		if cp.Reads, err = timeReads(fx); err != nil {
			return fail(err)
		}
		rep.Checkpoints = append(rep.Checkpoints, cp)
	}
	timeGrown := func() (*benchResult, error) {
		fmt.Fprintf(stderr, "timing %s of load on the grown store\n", duration)
		if err := fx.fillPool(pool, clients); err != nil {
			return nil, err
		}
		return runBench(fx, clients, duration, 0, 0, 0)
	}
	if rep.Grown, err = timeGrown(); err != nil {
		return fail(err)
	}
	rep.Ratio = rep.Grown.PerSecond / rep.Fresh.PerSecond
	report := func() int {
		if fx.delivered != nil {
			rep.WebhookDeliveries = fx.delivered.Load()
		}
		return printResult(stdout, asJSON, rep, func() { printGrow(stdout, rep) })
	}
	if newFresh == nil {
		return report()
	}
	var ratios []float64
	for i := range rounds {
		fmt.Fprintf(stderr, "round %d of %d: timing %s of load on a new fresh store\n", i+1, rounds, duration)
		r := growRound{}
		fresh, stop, err := newFresh()
		if err == nil {
			if err = fresh.fillPool(pool, clients); err == nil {
				r.Fresh, err = runBench(fresh, clients, duration, 0, 0, 0)
			}
			stop()
		}
		if err != nil {
			return fail(err)
		}
		if r.Grown, err = timeGrown(); err != nil {
			return fail(err)
		}
		r.Ratio = r.Grown.PerSecond / r.Fresh.PerSecond
		rep.Rounds = append(rep.Rounds, r)
		ratios = append(ratios, r.Ratio)
	}
	if n := len(ratios); n > 0 {
		slices.Sort(ratios)
		rep.Ratio = (ratios[(n-1)/2] + ratios[n/2]) / 2
		if lo, hi, ok := medianInterval(ratios); ok {
			rep.RatioLow, rep.RatioHigh = &lo, &hi
		}
	}
	return report()
}

// medianInterval is a 95 % confidence interval for the median of the
// population sorted was drawn from, which needs no assumption about its
// distribution: the order statistics k and n+1-k, for the largest k with
// P(X < k) ≤ 2.5 % where X ~ Binomial(n, ½), the count of draws below the
// median. ok is false for fewer than six values, too few for any k.
func medianInterval(sorted []float64) (lo, hi float64, ok bool) {
	n := len(sorted)
	lnHalfN := float64(n) * math.Log(0.5)
	below, k := 0.0, 0
	for i := 0; i <= n; i++ {
		lnChoose := lgamma(n+1) - lgamma(i+1) - lgamma(n-i+1)
		if below += math.Exp(lnChoose + lnHalfN); below > 0.025 {
			break
		}
		k = i + 1
	}
	if k == 0 {
		return 0, 0, false
	}
	return sorted[k-1], sorted[n-k], true
}

func lgamma(n int) float64 {
	v, _ := math.Lgamma(float64(n))
	return v
}

// growTargets are the checkpoints from above start up to total: 10k, 20k,
// 50k, 100k and so on, and total itself.
func growTargets(start, total int) []int {
	var out []int
	for base := 10_000; base < total; base *= 10 {
		for _, m := range []int{1, 2, 5} {
			if n := base * m; n > start && n < total {
				out = append(out, n)
			}
		}
	}
	return append(out, total)
}

// growTo creates n referrals with the lean clients and reports their pace.
func growTo(fx *benchFixture, clients, n int) (*growCheckpoint, error) {
	lat := make([][]time.Duration, clients)
	run := rand.Int64()
	began := time.Now()
	err := fx.spread(clients, n, func(c int, conn *benchConn, i int64) error {
		if fx.gate != nil {
			fx.gate.wait()
		}
		key := fmt.Sprintf("grow-%d-%d", run, i)
		body, _ := json.Marshal(benchReferral{ImpressionID: fx.impression(c), FirstName: "Gro", LastName: "Wth",
			Email: key + "@example.com", IdempotencyKey: key})
		t0 := time.Now()
		status, b, err := conn.do("POST", "/v1/referrals", body)
		lat[c] = append(lat[c], time.Since(t0))
		if err != nil || status != 201 {
			return fmt.Errorf("create: %d %s %v", status, b, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	ms := func(p float64) float64 { return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / 1e6 }
	return &growCheckpoint{PerSecond: float64(n) / time.Since(began).Seconds(), P50ms: ms(0.5), P99ms: ms(0.99)}, nil
}

// timeReads times each read 21 times, one at a time, and keeps the median.
func timeReads(fx *benchFixture) (map[string]float64, error) {
	conn := &benchConn{target: fx.target, token: fx.token}
	defer conn.close()
	get := func(path string) ([]byte, error) {
		status, b, err := conn.do("GET", path, nil)
		if err != nil || status != 200 {
			return nil, fmt.Errorf("GET %s: %d %s %v", path, status, b, err)
		}
		return b, nil
	}
	paths := growReads(fx)
	// Find the 10th page of the program's list, and a cursor 10,000
	// referrals deep, so that paging deep is timed as well as the first
	// page.
	cursor := ""
	for page := 1; page < 10; page++ {
		b, err := get("/v1/referrals?limit=50&program_id=" + fx.program + "&cursor=" + url.QueryEscape(cursor))
		if err != nil {
			return nil, err
		}
		var p struct {
			NextCursor string `json:"next_cursor"`
		}
		json.Unmarshal(b, &p)
		cursor = p.NextCursor
	}
	paths["list_page_10"] = "/v1/referrals?limit=50&program_id=" + fx.program + "&cursor=" + url.QueryEscape(cursor)
	deep := ""
	for page := 0; page < 100; page++ {
		b, err := get("/v1/referrals?limit=100&cursor=" + url.QueryEscape(deep))
		if err != nil {
			return nil, err
		}
		var p struct {
			NextCursor string `json:"next_cursor"`
		}
		json.Unmarshal(b, &p)
		deep = p.NextCursor
	}
	paths["referral_by_cursor"] = "/v1/referrals?limit=50&cursor=" + url.QueryEscape(deep)

	out := map[string]float64{}
	for name, path := range paths {
		var lat []time.Duration
		for range 21 {
			t0 := time.Now()
			if _, err := get(path); err != nil {
				return nil, err
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		out[name] = float64(lat[len(lat)/2]) / 1e6
	}
	return out, nil
}

func printGrow(w io.Writer, rep *growReport) {
	fmt.Fprintln(w, "fresh store:")
	printBench(w, rep.Fresh)
	fmt.Fprintln(w, "\nas the store grows (creates since the previous row; reads: median ms of 21 calls):")
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range rep.Checkpoints[0].Reads {
			if !yield(k) {
				return
			}
		}
	})
	fmt.Fprintf(w, "  %9s %8s %7s %7s %7s %7s %7s %7s %9s %7s %7s %7s %6s", "referrals", "create/s", "p50 ms", "p99 ms", "pages/c",
		"pages/w", "heap MB", "B/ref", "outbox ev", "obx MB", "obx %", "free MB", "lag")
	for _, n := range names {
		fmt.Fprintf(w, " %s", n)
	}
	fmt.Fprintln(w)
	for _, cp := range rep.Checkpoints {
		lag := "-"
		if cp.ConsumerLag != nil {
			lag = fmt.Sprint(*cp.ConsumerLag)
		}
		fmt.Fprintf(w, "  %9d %8.0f %7.2f %7.2f %7.1f %7.2f %7.1f %7.0f %9d %7.1f %7.1f %7.1f %6s", cp.Referrals, cp.PerSecond, cp.P50ms,
			cp.P99ms, cp.PagesPerCommit, cp.PagesPerWrite, float64(cp.HeapBytes)/(1<<20), cp.FileBytesPerReferral,
			cp.OutboxEvents, float64(cp.OutboxBytes)/(1<<20), 100*cp.OutboxShare, float64(cp.FreeBytes)/(1<<20), lag)
		for _, n := range names {
			fmt.Fprintf(w, " %*.2f", len(n), cp.Reads[n])
		}
		fmt.Fprintln(w)
	}
	if rep.WebhookDeliveries > 0 {
		fmt.Fprintf(w, "\nthe webhook receiver was sent %d messages\n", rep.WebhookDeliveries)
	}
	fmt.Fprintln(w, "\ngrown store:")
	printBench(w, rep.Grown)
	if len(rep.Rounds) == 0 {
		fmt.Fprintf(w, "\nthroughput on the grown store: %.0f%% of the fresh store's\n", 100*rep.Ratio)
		return
	}
	fmt.Fprintln(w, "\nalternating a new fresh store and the grown one (creates/s, p99 ms):")
	for i, r := range rep.Rounds {
		fmt.Fprintf(w, "  round %d: fresh %6.0f/s p99 %5.1f, grown %6.0f/s p99 %5.1f: %3.0f%%\n", i+1,
			r.Fresh.PerSecond, r.Fresh.Ops["create"].P99ms, r.Grown.PerSecond, r.Grown.Ops["create"].P99ms, 100*r.Ratio)
	}
	fmt.Fprintf(w, "throughput on the grown store: %.0f%% of a fresh store's (median of the rounds", 100*rep.Ratio)
	if rep.RatioHigh != nil {
		fmt.Fprintf(w, "; with 95%% confidence the median is %.0f%% to %.0f%%)\n", 100**rep.RatioLow, 100**rep.RatioHigh)
	} else {
		fmt.Fprintln(w, "; six rounds or more would bound it)")
	}
}

// Command referrald-bench is referrald's load generator. It drives POST
// /v1/referrals (and optional mixes of reads, scans and retries) with
// concurrent keep-alive clients, against referrald started in-process on
// a temporary store exactly as `referrald serve` starts it (package app),
// or against a running one with -url, and reports throughput and latency.
// `make bench` builds and runs it; docs/benchmarks.md holds its figures.
//
// Usage:
//
//	referrald-bench [-clients 64] [-duration 10s] [-json] [-config FILE]
//	referrald-bench -url URL -token T [-clients 64] [-duration 10s] [-json]
//	referrald-bench -grow N [-rounds 3] [-plugin PATH [-plugin-args ARGS]] [-webhook]
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"time"

	"github.com/referrald/referrald/app"
	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/store"
)

// Exit codes, as referrald's.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run parses the flags and runs the bench; getenv is the environment (for
// REFERRALD_TOKEN and GOGC), passed in so that tests are hermetic.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("referrald-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.Int("clients", 64, "concurrent keep-alive clients")
	duration := fs.Duration("duration", 10*time.Second, "how long to drive load")
	target := fs.String("url", "", "a running referrald to load (default: start one on a temporary store)")
	token := fs.String("token", getenv("REFERRALD_TOKEN"), "an admin token for -url")
	configPath := fs.String("config", "", "settings of the temporary server, read as serve reads them (hook plugins, limits, ...), "+
		"but for listen, data_dir, admin_token and metrics.listen, which are the bench's own, and the rate limits, which are "+
		"lifted; the environment is not read")
	retryShare := fs.Float64("retry", 0, "share of creates that reuse an earlier idempotency key (0..1)")
	getShare := fs.Float64("get", 0, "share of requests that GET a referral (0..1)")
	scanShare := fs.Float64("scan", 0, "share of requests that scan a poster (0..1)")
	noSync := fs.Bool("no-sync", false, "UNSAFE: commit without fsync (temporary store only)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (client and in-process server) to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the whole run to this file")
	perClient := fs.Bool("impression-per-client", false, "sign up every referral of a client from one impression "+
		"(flagged as reused; a worst case for the index) instead of a fresh impression each, made before timing")
	grow := fs.Int("grow", 0, "scale run: time the load on the fresh store, create this many referrals reporting "+
		"throughput, heap, disk and list/funnel latency as the store grows, then time the load again")
	rounds := fs.Int("rounds", 3, "with -grow on the temporary store: rounds that time a new fresh store and the grown one "+
		"in turn, for a ratio the disk's speed on the day does not skew; six or more bound its median with 95% confidence")
	ambassadors := fs.Int("ambassadors", 100, fmt.Sprintf("ambassadors, each with a placement, to spread the impressions, and so the "+
		"signups, over in turn (1..%d; created in the -url target too): each signup writes into its ambassador's range of "+
		"the per-ambassador indexes and counters; with -impression-per-client, client c signs up under ambassador c mod N",
		maxBenchAmbassadors))
	plugin := fs.String("plugin", "", "a hook plugin binary the temporary server runs as serve would (its sha256 taken "+
		"from the file), consuming the outbox, e.g. bin/plugins/commission")
	pluginArgs := fs.String("plugin-args", "", "the plugin's arguments, separated by spaces")
	webhook := fs.Bool("webhook", false, "subscribe a webhook endpoint on a local receiver to referral.created, "+
		"consuming the outbox (the temporary server allows private networks and http for it)")
	maxLag := fs.Int("max-lag", 0, "with -grow and -plugin or -webhook: hold growth back while a consumer is more than this "+
		"many events behind, so the store grows at the pace its consumers keep (0: never)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "referrald-bench: takes no arguments, not %q\n", fs.Arg(0))
		return exitUsage
	}
	if *clients < 1 || *duration <= 0 || *rounds < 0 || *retryShare < 0 || *getShare < 0 || *scanShare < 0 || *retryShare+*getShare+*scanShare > 1 {
		fmt.Fprintln(stderr, "referrald-bench: -clients ≥ 1, -duration > 0, -rounds ≥ 0, and -retry, -get and -scan shares from 0 to 1 with -get + -scan + -retry ≤ 1")
		return exitUsage
	}
	if *ambassadors < 1 || *ambassadors > maxBenchAmbassadors {
		fmt.Fprintf(stderr, "referrald-bench: -ambassadors from 1 to %d\n", maxBenchAmbassadors)
		return exitUsage
	}
	if *target != "" && *configPath != "" {
		fmt.Fprintln(stderr, "referrald-bench: -config sets up the temporary server; a server at -url has its own")
		return exitUsage
	}
	if *maxLag < 0 || *maxLag > 0 && *plugin == "" && !*webhook {
		fmt.Fprintln(stderr, "referrald-bench: -max-lag ≥ 0, and only with -plugin or -webhook")
		return exitUsage
	}
	if *target != "" && (*plugin != "" || *webhook) {
		fmt.Fprintln(stderr, "referrald-bench: -plugin and -webhook set up the temporary server; a server at -url has its own consumers")
		return exitUsage
	}
	cfg, err := config.Load(*configPath, config.Env{})
	if err != nil {
		fmt.Fprintln(stderr, "referrald-bench:", err)
		return exitUsage
	}
	consumer := newBenchConsumer(*plugin, *pluginArgs, *webhook)
	defer consumer.close()
	if err := consumer.configure(&cfg); err != nil {
		fmt.Fprintln(stderr, "referrald-bench:", err)
		return exitUsage
	}
	var st *store.Store
	base, adminToken := *target, *token
	if base == "" {
		// The in-process server's process is this one: tune its collector
		// as serve tunes its own.
		app.TuneGC(getenv)
		var stop func()
		st, base, adminToken, stop, err = benchServer(cfg, *noSync)
		if err != nil {
			fmt.Fprintln(stderr, "referrald-bench:", err)
			return exitFailed
		}
		defer stop()
	} else if adminToken == "" {
		fmt.Fprintln(stderr, "referrald-bench: -url needs -token (or REFERRALD_TOKEN), an admin token")
		return exitUsage
	}
	if *noSync {
		fmt.Fprintln(stderr, "WARNING: -no-sync: commits are not fsync'd; these figures are NOT durable and not comparable")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "referrald-bench:", err)
			return exitFailed
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "referrald-bench:", err)
			return exitFailed
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer func() {
			if err := writeHeapProfile(*memProfile); err != nil {
				fmt.Fprintln(stderr, "referrald-bench:", err)
			}
		}()
	}
	fx, err := benchSetup(base, adminToken, *clients, *ambassadors, *perClient)
	if err == nil {
		err = consumer.subscribe(fx)
	}
	if err != nil {
		fmt.Fprintln(stderr, "referrald-bench:", err)
		return exitFailed
	}
	fx.durable = !*noSync
	if *grow > 0 && *maxLag > 0 {
		fx.gate = startLagGate(st, consumer.consumerNames(fx), *maxLag)
		defer fx.gate.close()
	}
	if *grow > 0 {
		var newFresh func() (*benchFixture, func(), error)
		if st != nil {
			newFresh = func() (*benchFixture, func(), error) {
				_, base, token, stop, err := benchServer(cfg, *noSync)
				if err != nil {
					return nil, nil, err
				}
				fx, err := benchSetup(base, token, *clients, *ambassadors, *perClient)
				if err == nil {
					err = consumer.subscribe(fx)
				}
				if err != nil {
					stop()
					return nil, nil, err
				}
				fx.durable = !*noSync
				return fx, stop, nil
			}
		}
		return benchGrow(fx, st, newFresh, *rounds, *clients, *duration, *grow, *asJSON, stdout, stderr)
	}
	if err := fx.fillPool(int(duration.Seconds()*poolRate), *clients); err != nil {
		fmt.Fprintln(stderr, "referrald-bench:", err)
		return exitFailed
	}
	res, err := runBench(fx, *clients, *duration, *retryShare, *getShare, *scanShare)
	if err != nil {
		fmt.Fprintln(stderr, "referrald-bench:", err)
		return exitFailed
	}
	if st != nil {
		stats := st.Stats()
		res.Commits, res.StoreBytes = stats.Commits, stats.FileSize
		if stats.Commits > 0 {
			res.AvgBatch = float64(stats.Writes) / float64(stats.Commits)
			res.AvgPages = float64(stats.PageWrites) / float64(stats.Commits)
		}
	}
	return printResult(stdout, *asJSON, res, func() { printBench(stdout, res) })
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// unlimited is a rate limit the load never reaches: the bench measures
// the server, not its limits.
var unlimited = config.BucketConfig{Rate: 1e6, Burst: 1e6}

// benchServer starts referrald as serve does, from cfg, but on loopback,
// on a temporary store, with an admin token of its own and the rate
// limits lifted. Its log is dropped, as it would mix with the report.
func benchServer(cfg config.Config, noSync bool) (*store.Store, string, string, func(), error) {
	dir, err := os.MkdirTemp("", "referrald-bench-")
	if err != nil {
		return nil, "", "", nil, err
	}
	cfg.Listen, cfg.Metrics.Listen, cfg.DataDir = "127.0.0.1:0", "", dir
	cfg.AdminToken = "bench-admin-token-" + fmt.Sprint(rand.Int64())
	cfg.RateLimits = config.RateLimitsConfig{PerKey: unlimited, PerIP: unlimited}
	if err := cfg.Validate(); err != nil {
		os.RemoveAll(dir)
		return nil, "", "", nil, err
	}
	var opts []app.Option
	if noSync {
		opts = append(opts, app.NoSync())
	}
	a, err := app.New(cfg, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", "", nil, err
	}
	if err := a.Start(); err != nil {
		a.Close()
		os.RemoveAll(dir)
		return nil, "", "", nil, err
	}
	stop := func() {
		a.Shutdown()
		a.Close()
		os.RemoveAll(dir)
	}
	return a.Store(), "http://" + a.Addr(), cfg.AdminToken, stop, nil
}

// Command referrald runs referral programs for student ambassadors: QR
// scans become impressions, signups become referrals, purchases become
// earnings. One binary, one bbolt file.
//
// Usage:
//
//	referrald serve [-config FILE]            run the service
//	referrald keys create --scope S --name N  print a new API token once
//	referrald keys list | keys revoke ID      manage API keys
//	referrald backup FILE                     write a consistent copy of the store
//	referrald version                         print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/hooks/host"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// version is stamped by `make build` with -ldflags.
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// serverGCPercent is the garbage collector's target for a serving process.
// referrald's live heap is small, because the data lives in bbolt's memory
// map, outside the heap, while every request allocates; collecting at 400 %
// growth instead of Go's default 100 % costs a few tens of megabytes and
// saves about a quarter of the CPU a create-referral takes under load (see
// BENCHMARKS.md). GOGC, when set, still decides.
const serverGCPercent = 400

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		tuneGC(getenv)
		return serve(args[1:], getenv, stderr)
	case "keys":
		return keys(args[1:], getenv, stdout, stderr)
	case "backup":
		return backup(args[1:], getenv, stderr)
	case "hooks":
		return hooksCommand(args[1:], getenv, stdout, stderr)
	case "export":
		return exportCommand(args[1:], getenv, stdout, stderr)
	case "bench":
		tuneGC(getenv)
		return benchCommand(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "referrald", version)
		return exitOK
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "referrald: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: referrald <command> [-config FILE] [flags]

commands:
  serve                              run the service
  keys create --scope S --name N     create an API key and print its token once
  keys list                          list API keys
  keys revoke ID                     revoke an API key
  backup FILE                        write a consistent copy of the store, even while it serves
  export referrals|earnings|commissions [-o FILE] [-program_id ID] ...
                                     write records as CSV, with the list filters
  bench [-clients 64] [-duration 10s] [-json] [-url URL -token T]
                                     load POST /v1/referrals and report throughput and latency
  hooks dead-letters --plugin P      list a hook plugin's dead letters
  hooks retry --plugin P [EVENT...]  deliver dead letters again (all of P's when none are named)
  version                            print the version

Settings come from -config FILE (see config.example.yaml) and the
environment (REFERRALD_LISTEN, REFERRALD_DATA_DIR, ...); see README.md.
`)
}

// commandFlags parses a command's flags, always including -config, and
// loads the configuration. A usage or config problem prints one line.
func commandFlags(name string, args []string, getenv func(string) string, stderr io.Writer, define func(*flag.FlagSet)) (*flag.FlagSet, Config, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv("REFERRALD_CONFIG"), "YAML settings file (default: none, or $REFERRALD_CONFIG)")
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, Config{}, false
	}
	cfg, err := loadConfig(*configPath, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		return nil, cfg, false
	}
	return fs, cfg, true
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level)) // checked by Validate
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(args []string, getenv func(string) string, stderr io.Writer) int {
	_, cfg, ok := commandFlags("serve", args, getenv, stderr, nil)
	if !ok {
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	for _, name := range cfg.ignored() {
		log.Warn("a setting no longer has any effect; remove it (it will be refused in a later release)", "setting", name)
	}
	if n := len(cfg.AdminToken); n > 0 && n < weakAdminToken {
		log.Warn("the admin token is short enough to be guessed; use a long random one outside tests", "length", n, "recommended_min_length", weakAdminToken)
	}

	var st *store.Store
	m := metrics.New(func() float64 { return float64(st.Stats().FileSize) })
	// The hook host is made after the store it reads, but must hear of
	// every commit from the first: the pointer is filled in once it exists.
	var hookHost atomic.Pointer[host.Host]
	st, err := store.Open(cfg.StorePath(), store.Options{
		IdempotencyWindow: cfg.Idempotency.Window, Logger: log, ScanRetention: cfg.Privacy.ScanRetention,
		OnCommit: func(writes int, d time.Duration) {
			m.StoreCommit(writes, d)
			if h := hookHost.Load(); h != nil {
				h.Wake()
			}
		},
	})
	if err != nil {
		log.Error("cannot open the store", "err", err)
		return exitFailed
	}
	var stopBy time.Time // once a signal asks to stop: when the process must be gone
	defer func() {
		if err := closeStore(st.Close, stopBy, log); err != nil {
			log.Error("closing the store failed", "err", err)
		}
	}()

	svc := api.Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Referrals: st, Keys: st, Earnings: st, Stats: st, Backup: st, Writes: st}
	scanSecret, err := st.Secret("scan")
	if err != nil {
		log.Error("cannot read the scan key", "err", err)
		return exitFailed
	}
	proxies, _ := cfg.trustedProxies() // checked by Validate
	stopHooks := func() {}
	if len(cfg.Hooks.Plugins) > 0 {
		var cfgs []host.Config
		for _, p := range cfg.Hooks.Plugins {
			cfgs = append(cfgs, p.hostConfig())
		}
		h, err := host.New(cfgs, st, log, m.Registerer())
		if err != nil {
			log.Error("cannot set up hook plugins", "err", err)
			return exitFailed
		}
		hookHost.Store(h)
		h.Start()
		// Deferred after the store's Close, so it runs before it: plugins
		// stop (and no process is left) before the store closes. A normal
		// stop has done it already, beside the HTTP shutdown.
		defer h.Stop()
		stopHooks = h.Stop
		svc.Checker, svc.Hooks = h, h
		log.Info("hook plugins starting", "count", len(cfgs))
	}

	srv := api.New(svc,
		api.Config{
			AdminToken: cfg.AdminToken, Logger: log, Metrics: m, ServeMetrics: cfg.Metrics.Listen == "",
			MaxBodyBytes: cfg.Limits.MaxBodyBytes,
			KeyRateLimit: api.Bucket(cfg.RateLimits.PerKey), IPRateLimit: api.Bucket(cfg.RateLimits.PerIP),
			PublicBaseURL: cfg.publicBaseURL(), ScanSecret: scanSecret, RepeatWindow: cfg.Scan.RepeatWindow,
			ExpiredPage: cfg.Scan.Inactive == "expired", TrustedProxies: proxies,
		})
	servers := []*http.Server{newHTTPServer(srv, log)}
	listeners := []net.Listener{}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Listen, "err", err)
		return exitFailed
	}
	listeners = append(listeners, ln)
	if cfg.Metrics.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			ln.Close()
			log.Error("cannot listen for metrics", "addr", cfg.Metrics.Listen, "err", err)
			return exitFailed
		}
		servers = append(servers, newHTTPServer(mux, log))
		listeners = append(listeners, mln)
		log.Info("serving metrics on " + mln.Addr().String())
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { served <- hs.Serve(listeners[i]) }()
	}

	srv.SetReady(true)
	addr := ln.Addr().String()
	log.Info("listening on "+addr, "version", version, "store", cfg.StorePath())
	hintFirstRequest(ctx, log, st, cfg, addr)

	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return exitFailed
	case <-ctx.Done():
	}
	stopBy = time.Now().Add(stopWithin)
	log.Info("shutting down: finishing requests in flight", "grace", cfg.Shutdown.Grace)
	srv.SetReady(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Grace)
	defer cancel()
	// Requests finish while the plugins stop: in-flight deliveries are cut
	// off (and redelivered at the next start), so neither waits on the
	// other and the whole stop stays within the grace period.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); stopHooks() }()
	for _, hs := range servers {
		if err := hs.Shutdown(shutdownCtx); err != nil {
			// Close their connections, which cancels their contexts, so
			// that they let go of what they hold.
			hs.Close()
			log.Warn("requests still in flight at the deadline were cut off", "err", err)
		}
	}
	wg.Wait()
	log.Info("stopped")
	return exitOK
}

// stopWithin is how soon after SIGTERM the process is gone: the contract
// gives 10 s, and the grace period is at most 9 s of it.
const stopWithin = 9500 * time.Millisecond

// closeStore runs closeFn, the store's Close, waiting at most until stopBy
// when it is set. bbolt's close waits for every read transaction, and one
// can outlast the grace period (a backup of a large store compacts it in
// one). Leaving then loses nothing a client was told of: a write is
// acknowledged only once its commit is on disk, bbolt survives an exit in
// the middle of a commit as it survives a crash, and the file lock goes
// with the process.
func closeStore(closeFn func() error, stopBy time.Time, log *slog.Logger) error {
	closed := make(chan error, 1)
	go func() { closed <- closeFn() }()
	if stopBy.IsZero() {
		return <-closed
	}
	timer := time.NewTimer(max(time.Until(stopBy), 100*time.Millisecond))
	defer timer.Stop()
	select {
	case err := <-closed:
		return err
	case <-timer.C:
		log.Warn("the store is still closing, held by a long read such as a backup; exiting anyway, as every acknowledged write is on disk")
		return nil
	}
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// hintFirstRequest tells a new operator how to make the first request.
func hintFirstRequest(ctx context.Context, log *slog.Logger, keys model.APIKeyService, cfg Config, addr string) {
	example := fmt.Sprintf(`curl -H "Authorization: Bearer $TOKEN" http://%s/v1/programs`, addr)
	if cfg.AdminToken != "" {
		log.Info("first request: TOKEN is the configured admin token; " + example)
		return
	}
	if ks, err := keys.FindAPIKeys(ctx, model.ListOptions{Limit: 1}); err == nil && len(ks.Data) == 0 {
		log.Warn("no API keys yet: stop the server and run `referrald keys create --scope admin --name admin`, or set REFERRALD_ADMIN_TOKEN")
		return
	}
	log.Info("first request: " + example)
}

func keys(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: referrald keys create --scope read|write|admin --name NAME | keys list | keys revoke ID")
		return exitUsage
	}
	var scope, name *string
	fs, cfg, ok := commandFlags("keys "+args[0], args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		scope = fs.String("scope", "", "read, write or admin (create)")
		name = fs.String("name", "", "what the key is for (create)")
	})
	if !ok {
		return exitUsage
	}
	st, err := store.Open(cfg.StorePath(), store.Options{SweepInterval: -1})
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintln(stderr, "referrald: while the server runs, manage keys through the API: POST/GET /v1/keys, DELETE /v1/keys/ID")
		}
		return exitFailed
	}
	defer st.Close()
	ctx := context.Background()

	switch args[0] {
	case "create":
		k, token, err := st.CreateAPIKey(ctx, model.APIKeyCreate{Name: *name, Scope: model.Scope(*scope)})
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", describe(err))
			return exitUsage
		}
		fmt.Fprintf(stderr, "created %s (scope %s, name %q); the token below is shown only once:\n", k.ID, k.Scope, k.Name)
		fmt.Fprintln(stdout, token)
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSCOPE\tNAME\tCREATED\tREVOKED")
		for k, err := range allKeys(ctx, st) {
			if err != nil {
				fmt.Fprintln(stderr, "referrald:", err)
				return exitFailed
			}
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(model.TimeLayout)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Scope, k.Name, k.CreatedAt.Format(model.TimeLayout), revoked)
		}
		tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: referrald keys revoke ID")
			return exitUsage
		}
		k, err := st.RevokeAPIKey(ctx, fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", describe(err))
			return exitFailed
		}
		fmt.Fprintf(stderr, "revoked %s at %s\n", k.ID, k.RevokedAt.Format(model.TimeLayout))
	default:
		fmt.Fprintf(stderr, "referrald: unknown keys command %q\n", args[0])
		return exitUsage
	}
	return exitOK
}

// allKeys walks every API key page by page.
func allKeys(ctx context.Context, keys model.APIKeyService) iter.Seq2[*model.APIKey, error] {
	return func(yield func(*model.APIKey, error) bool) {
		opt := model.ListOptions{Limit: model.MaxListLimit}
		for {
			page, err := keys.FindAPIKeys(ctx, opt)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, k := range page.Data {
				if !yield(k, nil) {
					return
				}
			}
			if !page.HasMore {
				return
			}
			opt.Cursor = *page.NextCursor
		}
	}
}

// backup writes a consistent copy of the store to a file. With the server
// stopped it reads the store directly; while it runs (the file is locked)
// it asks the server for GET /v1/admin/backup with an admin token. The copy
// is written beside the target, fsync'd, renamed into place and checked.
func backup(args []string, getenv func(string) string, stderr io.Writer) int {
	var url *string
	fs, cfg, ok := commandFlags("backup", args, getenv, stderr, func(fs *flag.FlagSet) {
		url = fs.String("url", "", "the running server's base URL (default: http://<listen>)")
	})
	if !ok {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: referrald backup [-config FILE] [-url URL] FILE")
		return exitUsage
	}
	dst := fs.Arg(0)
	tmp := dst + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "referrald: backup:", err)
		return exitFailed
	}
	defer os.Remove(tmp)
	source, err := copyStore(cfg, *url, getenv, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "referrald: backup:", err)
		return exitFailed
	}
	// Checked before it takes the place of anything: a bad copy must
	// never replace a good backup.
	sum, err := store.Verify(tmp)
	if err != nil {
		fmt.Fprintf(stderr, "referrald: backup: the copy does not check out, %s is left as it was: %v\n", dst, err)
		return exitFailed
	}
	if err = os.Rename(tmp, dst); err == nil {
		err = syncDir(filepath.Dir(dst))
	}
	if err != nil {
		fmt.Fprintln(stderr, "referrald: backup:", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "backup of %s written to %s and checked: %d programs, %d ambassadors, %d impressions, %d referrals\n",
		source, dst, sum.Programs, sum.Ambassadors, sum.Impressions, sum.Referrals)
	return exitOK
}

// copyStore writes the store to w and says where it came from.
func copyStore(cfg Config, url string, getenv func(string) string, w io.Writer) (string, error) {
	st, api, err := storeOrServer(cfg, url, getenv, "back it up")
	if err != nil {
		return "", err
	}
	if st != nil {
		defer st.Close()
		_, err = st.Backup(context.Background(), w, func(int64) {})
		return cfg.StorePath(), err
	}
	return api.base, api.copyTo(context.Background(), "/v1/admin/backup", w)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// describe renders a domain error with its field problems for a terminal.
func describe(err error) string {
	var me *model.Error
	if !errors.As(err, &me) {
		return err.Error()
	}
	s := me.Message
	for _, f := range me.Fields {
		s += fmt.Sprintf("; %s: %s", f.Field, f.Message)
	}
	return s
}

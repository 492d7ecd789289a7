// Package app builds referrald's server from its configuration and runs
// it: the store, the metrics, the hook plugins' host and the HTTP API,
// wired in one place. `referrald serve` and the load generator in
// cmd/referrald-bench both start it here, so that what is measured is
// what is served.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/console"
	"github.com/referrald/referrald/hooks/host"
	"github.com/referrald/referrald/join"
	"github.com/referrald/referrald/mail"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/portal"
	"github.com/referrald/referrald/store"
	"github.com/referrald/referrald/webhooks"
)

// App is one referrald server: New builds it, Start serves, Shutdown
// stops serving and Close lets go of the store.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	store   *store.Store
	metrics *metrics.Metrics
	hooks   *host.Host   // nil without hook plugins
	mailer  *mail.Mailer // nil without email
	// webhooks delivers to the webhook endpoints; with none it only
	// watches for one being added.
	webhooks *webhooks.Dispatcher
	api      *api.Server
	// handler serves the API and the console on the API's address.
	handler http.Handler

	servers   []*http.Server
	listeners []net.Listener
	served    chan error
	// stopBy is set by Shutdown: when the process must be gone.
	stopBy time.Time
}

// Option changes how New builds the app.
type Option func(*options)

type options struct {
	noSync bool
}

// NoSync makes the store commit without fsync: UNSAFE, for the load
// generator's -no-sync only, which says so in its figures.
func NoSync() Option { return func(o *options) { o.noSync = true } }

// New opens (or creates) the store of cfg and builds the metrics, the hook
// host and the API server on it. Nothing listens and no plugin runs until
// Start. cfg must have passed Validate, as config.Load ensures.
func New(cfg config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	a := &App{cfg: cfg, log: log}
	a.metrics = metrics.New(func() float64 { return float64(a.store.Stats().FileSize) })
	// The hook host is made after the store it reads, but must hear of
	// every commit from the first: the pointer is filled in once it exists.
	var hookHost atomic.Pointer[host.Host]
	var mailer atomic.Pointer[mail.Mailer]
	var dispatcher atomic.Pointer[webhooks.Dispatcher]
	consumers := cfg.PluginNames()
	if cfg.Email.Enabled() {
		consumers = append(consumers, mail.Consumer)
	}
	st, err := store.Open(cfg.StorePath(), store.Options{
		IdempotencyWindow: cfg.Idempotency.Window, Logger: log,
		ScanRetention: cfg.Privacy.ScanRetention, NoSync: o.noSync,
		OutboxConsumers: consumers, OutboxRetention: cfg.Hooks.OutboxRetention,
		OnCommit: func(writes int, d time.Duration) {
			a.metrics.StoreCommit(writes, d)
			if h := hookHost.Load(); h != nil {
				h.Wake()
			}
			if m := mailer.Load(); m != nil {
				m.Wake()
			}
			if d := dispatcher.Load(); d != nil {
				d.Wake()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open the store: %w", err)
	}
	a.store = st

	svc := api.Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Referrals: st, Keys: st,
		Earnings: st, Stats: st, Backup: st, Writes: st, Users: st, Audit: st, Portal: st, Webhooks: st, Designs: st}
	svc.PrintRuns = st
	scanSecret, err := st.Secret("scan")
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("cannot read the scan key: %w", err)
	}
	if len(cfg.Hooks.Plugins) > 0 {
		var cfgs []host.Config
		for _, p := range cfg.Hooks.Plugins {
			cfgs = append(cfgs, p.HostConfig())
		}
		h, err := host.New(cfgs, st, log, a.metrics.Registerer())
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("cannot set up hook plugins: %w", err)
		}
		hookHost.Store(h)
		a.hooks = h
		svc.Checker, svc.Hooks = h, h
	}
	if cfg.Email.Enabled() {
		smtp := cfg.Email.SMTP
		m, err := mail.New(mail.Config{Host: smtp.Host, Port: smtp.Port, Username: smtp.Username, Password: smtp.Password,
			From: smtp.From, TLS: smtp.TLS, Templates: cfg.Email.Templates, BaseURL: cfg.PublicBaseURL()}, st, log, a.metrics.Registerer())
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("cannot set up email: %w", err)
		}
		mailer.Store(m)
		a.mailer = m
		svc.Mail = st
	}
	d, err := webhooks.New(webhooks.Config{AllowPrivateNetworks: cfg.Webhooks.AllowPrivateNetworks, UserAgent: "referrald"},
		st, log, a.metrics.Registerer())
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("cannot set up webhooks: %w", err)
	}
	dispatcher.Store(d)
	a.webhooks = d
	proxies, _ := cfg.TrustedProxyPrefixes() // checked by Validate
	a.api = api.New(svc, api.Config{
		AdminToken: cfg.AdminToken, Logger: log, Metrics: a.metrics, ServeMetrics: cfg.Metrics.Listen == "",
		MaxBodyBytes: cfg.Limits.MaxBodyBytes,
		KeyRateLimit: api.Bucket(cfg.RateLimits.PerKey), IPRateLimit: api.Bucket(cfg.RateLimits.PerIP),
		PublicBaseURL: cfg.PublicBaseURL(), ScanSecret: scanSecret, RepeatWindow: cfg.Scan.RepeatWindow,
		ExpiredPage: cfg.Scan.Inactive == "expired", TrustedProxies: proxies, ClientIPHeader: cfg.ClientIPHeader,
		WebhooksAllowHTTP:    cfg.Webhooks.AllowHTTP,
		StripeWebhookSecrets: cfg.Integrations.Stripe.Secrets(), StripeReferralMetadataKey: cfg.Integrations.Stripe.ReferralMetadataKey,
	})
	con := console.New(console.Services{Programs: svc.Programs, Ambassadors: svc.Ambassadors, Impressions: svc.Impressions,
		Placements: svc.Placements, Referrals: svc.Referrals, Keys: svc.Keys, Earnings: svc.Earnings, Stats: svc.Stats,
		Backup: svc.Backup, Checker: svc.Checker, Hooks: svc.Hooks, Writes: svc.Writes, Users: st, Audit: st, Portal: st, Webhooks: st,
		Designs: st, PrintRuns: svc.PrintRuns},
		console.Config{WebhooksAllowHTTP: cfg.Webhooks.AllowHTTP, SessionIdle: cfg.Console.SessionIdle, SessionAbsolute: cfg.Console.SessionAbsolute,
			TrustedProxies: proxies, ClientIPHeader: cfg.ClientIPHeader, Logger: log, Metrics: a.metrics,
			PublicBaseURL: cfg.PublicBaseURL(), EmailEnabled: cfg.Email.Enabled()})
	por := portal.New(portal.Services{Ambassadors: st, Programs: st, Placements: st, Referrals: st, Earnings: st, Stats: st, Portal: st,
		Designs: st},
		portal.Config{SessionIdle: cfg.Portal.SessionIdle, SessionAbsolute: cfg.Portal.SessionAbsolute, EmailEnabled: cfg.Email.Enabled(),
			TrustedProxies: proxies, ClientIPHeader: cfg.ClientIPHeader, PublicBaseURL: cfg.PublicBaseURL(), Logger: log, Metrics: a.metrics})
	signup := join.New(join.Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Designs: st, Referrals: st,
		Checker: svc.Checker}, join.Config{TrustedProxies: proxies, ClientIPHeader: cfg.ClientIPHeader, Logger: log, Metrics: a.metrics})
	a.handler = Handler(a.api, con, por, signup)
	return a, nil
}

// Handler serves the web console under /console/, the ambassador portal
// under /portal/ and the hosted signup page under /join/, sends a browser
// asking for / to the console, and passes everything else to the API as
// it is: the API's paths are exact (a trailing or doubled slash is its
// 404, never a redirect), so no ServeMux stands in front of it.
func Handler(apiHandler, consoleHandler, portalHandler, joinHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/console" || strings.HasPrefix(p, "/console/"):
			consoleHandler.ServeHTTP(w, r)
		case p == "/portal" || strings.HasPrefix(p, "/portal/"):
			portalHandler.ServeHTTP(w, r)
		case p == "/join" || strings.HasPrefix(p, "/join/"):
			joinHandler.ServeHTTP(w, r)
		case p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, "/console/", http.StatusFound)
		default:
			apiHandler.ServeHTTP(w, r)
		}
	})
}

// Store is the app's store, for what the server's owner reads of it.
func (a *App) Store() *store.Store { return a.store }

// Start listens on the API's address and, when metrics.listen is set, on
// the metrics one, starts the hook plugins and serves. From then on
// /readyz answers 200 and Addr is the API's address.
func (a *App) Start() error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen: %w", err)
	}
	a.servers = []*http.Server{newHTTPServer(a.handler, a.log)}
	a.listeners = []net.Listener{ln}
	if a.cfg.Metrics.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		mln, err := net.Listen("tcp", a.cfg.Metrics.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("cannot listen for metrics: %w", err)
		}
		a.servers = append(a.servers, newHTTPServer(mux, a.log))
		a.listeners = append(a.listeners, mln)
		a.log.Info("serving metrics on " + mln.Addr().String())
	}
	if a.hooks != nil {
		a.hooks.Start()
		a.log.Info("hook plugins starting", "count", len(a.cfg.Hooks.Plugins))
	}
	if a.mailer != nil {
		a.mailer.Start()
		a.log.Info("sending email", "smtp_host", a.cfg.Email.SMTP.Host, "smtp_port", a.cfg.Email.SMTP.Port, "tls", a.cfg.Email.SMTP.TLS)
	}
	a.webhooks.Start()
	a.served = make(chan error, len(a.servers))
	for i, hs := range a.servers {
		go func() { a.served <- hs.Serve(a.listeners[i]) }()
	}
	a.api.SetReady(true)
	return nil
}

// Addr is the address the API listens on, once started: the port the
// system chose when listen asks for port 0.
func (a *App) Addr() string { return a.listeners[0].Addr().String() }

// SetupLinkTTL is how long a first run's setup link works.
const SetupLinkTTL = time.Hour

// SetupLink returns, while the store has no console user, a new one-time
// link that makes the first owner: <public base URL>/console/setup?token=
// (the listen address when scan.public_base_url is not set); "" once a
// user exists. The link is a secret until used: show it to the operator
// once, and never log it. Call it after Start, which knows the address.
func (a *App) SetupLink(ctx context.Context) (string, error) {
	if n, err := a.store.CountUsers(ctx); err != nil || n > 0 {
		return "", err
	}
	token, err := a.store.CreateSetupToken(ctx, SetupLinkTTL)
	if model.ErrorCode(err) == model.EConflict {
		return "", nil // a user was made meanwhile
	} else if err != nil {
		return "", err
	}
	base := a.cfg.Scan.PublicBaseURL
	if base == "" {
		base = "http://" + a.Addr()
	}
	return strings.TrimRight(base, "/") + "/console/setup?token=" + url.QueryEscape(token), nil
}

// Wait blocks until ctx is done, and returns nil then, or until a server
// fails, and returns why.
func (a *App) Wait(ctx context.Context) error {
	select {
	case err := <-a.served:
		return err
	case <-ctx.Done():
		return nil
	}
}

// StopWithin is how soon after SIGTERM the process is gone: the contract
// gives 10 s, and the grace period is at most 9 s of it.
const StopWithin = 9500 * time.Millisecond

// Shutdown stops serving: /readyz turns 503, requests in flight get the
// grace period to finish, and the hook plugins stop meanwhile. It starts
// the StopWithin that Close keeps to.
func (a *App) Shutdown() {
	a.stopBy = time.Now().Add(StopWithin)
	a.log.Info("shutting down: finishing requests in flight", "grace", a.cfg.Shutdown.Grace)
	a.api.SetReady(false)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Shutdown.Grace)
	defer cancel()
	// Requests finish while the plugins stop: in-flight deliveries are cut
	// off (and redelivered at the next start), so neither waits on the
	// other and the whole stop stays within the grace period.
	var wg sync.WaitGroup
	if a.hooks != nil {
		wg.Go(a.hooks.Stop)
	}
	if a.mailer != nil {
		wg.Go(a.mailer.Stop)
	}
	wg.Go(a.webhooks.Stop)
	for _, hs := range a.servers {
		if err := hs.Shutdown(ctx); err != nil {
			// Close their connections, which cancels their contexts, so
			// that they let go of what they hold.
			hs.Close()
			a.log.Warn("requests still in flight at the deadline were cut off", "err", err)
		}
	}
	wg.Wait()
	a.log.Info("stopped")
}

// Close stops what Shutdown has not (the servers' listeners and the
// plugins, after a failure) and closes the store, giving up on it at the
// deadline Shutdown set.
func (a *App) Close() error {
	for _, hs := range a.servers {
		hs.Close()
	}
	// Before the store closes, so that no plugin process is left and no
	// delivery reads a closed store.
	if a.hooks != nil {
		a.hooks.Stop()
	}
	if a.mailer != nil {
		a.mailer.Stop()
	}
	a.webhooks.Stop()
	return closeStore(a.store.Close, a.stopBy, a.log)
}

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

// serverGCPercent is the garbage collector's target for a serving process.
// referrald's live heap is small, because the data lives in bbolt's memory
// map, outside the heap, while every request allocates; collecting at 400 %
// growth instead of Go's default 100 % costs a few tens of megabytes and
// saves about a quarter of the CPU a create-referral takes under load (see
// docs/benchmarks.md). GOGC, when set, still decides.
const serverGCPercent = 400

// TuneGC sets the garbage collector's target for a process that serves,
// unless GOGC is set in getenv.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}

// NewLogger is the server's log as cfg shapes it, written to w.
func NewLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Level)) // checked by Validate
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

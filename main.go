// Command referrald runs referral programs for student ambassadors: QR
// scans become impressions, signups become referrals, purchases become
// earnings. One binary, one bbolt file.
//
// Usage:
//
//	referrald serve                          run the service
//	referrald keys create --scope S --name N print a new API token once
//	referrald keys list | keys revoke ID     manage API keys
//	referrald version                        print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/referrald/referrald/api"
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

// shutdownGrace is how long in-flight requests get after SIGTERM; the
// contract allows 10 s for the whole shutdown.
const shutdownGrace = 8 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], getenv, stderr)
	case "keys":
		return keys(args[1:], getenv, stdout, stderr)
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
	fmt.Fprint(w, `usage: referrald <command> [flags]

commands:
  serve                              run the service
  keys create --scope S --name N     create an API key and print its token once
  keys list                          list API keys
  keys revoke ID                     revoke an API key
  version                            print the version

Settings come from the environment (REFERRALD_LISTEN, REFERRALD_DATA_DIR,
REFERRALD_ADMIN_TOKEN, ...); see README.md.
`)
}

// loadConfig builds the configuration from defaults and the environment.
func loadConfig(getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	if err := cfg.applyEnv(getenv); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func serve(args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		return exitUsage
	}
	log := newLogger(cfg, stderr)

	st, err := store.Open(cfg.StorePath(), store.Options{IdempotencyWindow: cfg.IdempotencyWindow, Logger: log})
	if err != nil {
		log.Error("cannot open the store", "err", err)
		return exitFailed
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store failed", "err", err)
		}
	}()

	srv := api.New(api.Services{Programs: st, Ambassadors: st, Impressions: st, Referrals: st, Keys: st},
		api.Config{AdminToken: cfg.AdminToken, Logger: log})
	httpServer := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Listen, "err", err)
		return exitFailed
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()

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
	log.Info("shutting down: finishing requests in flight")
	srv.SetReady(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("requests still in flight at the deadline were cut off", "err", err)
	}
	log.Info("stopped")
	return exitOK
}

// hintFirstRequest tells a new operator how to make the first request.
func hintFirstRequest(ctx context.Context, log *slog.Logger, keys model.APIKeyService, cfg Config, addr string) {
	example := fmt.Sprintf(`curl -H "Authorization: Bearer $TOKEN" http://%s/v1/programs`, addr)
	if cfg.AdminToken != "" {
		log.Info("first request: TOKEN is REFERRALD_ADMIN_TOKEN; " + example)
		return
	}
	if ks, err := keys.FindAPIKeys(ctx); err == nil && len(ks) == 0 {
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
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	scope := fs.String("scope", "", "read, write or admin (create)")
	name := fs.String("name", "", "what the key is for (create)")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		return exitUsage
	}
	st, err := store.Open(cfg.StorePath(), store.Options{SweepInterval: -1})
	if err != nil {
		fmt.Fprintln(stderr, "referrald:", err)
		fmt.Fprintln(stderr, "referrald: while the server runs, manage keys through the API: POST/GET /v1/keys, DELETE /v1/keys/ID")
		return exitFailed
	}
	defer st.Close()
	ctx := context.Background()

	switch args[0] {
	case "create":
		k, token, err := st.CreateAPIKey(ctx, *name, model.Scope(*scope))
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", describe(err))
			return exitUsage
		}
		fmt.Fprintf(stderr, "created %s (scope %s, name %q); the token below is shown only once:\n", k.ID, k.Scope, k.Name)
		fmt.Fprintln(stdout, token)
	case "list":
		ks, err := st.FindAPIKeys(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "referrald:", err)
			return exitFailed
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSCOPE\tNAME\tCREATED\tREVOKED")
		for _, k := range ks {
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

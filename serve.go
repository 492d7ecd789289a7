package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/referrald/referrald/app"
	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
)

// serve runs `referrald serve`: it reads the settings, warns about the
// risky ones, and runs the app until SIGTERM or SIGINT.
func serve(args []string, env config.Env, stdout, stderr io.Writer) int {
	fs, path, ok := parseFlags("serve", args, env, stderr, nil)
	if !ok {
		return exitUsage
	}
	// A file given without -config would otherwise be ignored, and the
	// server would start on the defaults.
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "referrald: serve takes no arguments; did you mean -config %s?\n", fs.Arg(0))
		return exitUsage
	}
	cfg, ok := loadConfig(path, env, stderr)
	if !ok {
		return exitUsage
	}
	app.TuneGC(env.Get)
	log := app.NewLogger(cfg.Log, stderr)
	for _, w := range cfg.Warnings() {
		log.Warn(w.Message, w.Args...)
	}

	// Before anything listens, so that a signal from someone who saw the
	// "listening on" line is never the default, abrupt one.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := app.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("closing the store failed", "err", err)
		}
	}()
	if err := a.Start(); err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	log.Info("listening on "+a.Addr(), "version", version, "store", cfg.StorePath())
	hintFirstRequest(ctx, log, a.Store(), cfg, a.Addr())
	announceSetupLink(ctx, a, log, stdout)
	if err := a.Wait(ctx); err != nil {
		log.Error("server stopped", "err", err)
		return exitFailed
	}
	a.Shutdown()
	return exitOK
}

// announceSetupLink prints, while there is no console user, a one-time
// link that makes the first owner. The link is a secret, so it goes to
// stdout once, for the operator starting the server, and never to the
// log, which is kept and shipped elsewhere.
func announceSetupLink(ctx context.Context, a *app.App, log *slog.Logger, stdout io.Writer) {
	link, err := a.SetupLink(ctx)
	if err != nil {
		log.Error("cannot make the console's setup link", "err", err)
		return
	}
	if link == "" {
		return
	}
	fmt.Fprintf(stdout, "No console user exists yet. Open this link within %d minutes to create the first owner\n"+
		"(it works once; keep it to yourself):\n\n    %s\n\n", int(app.SetupLinkTTL.Minutes()), link)
	log.Warn("no console users yet: a one-time setup link for the first owner was printed on standard output " +
		"(restart for a new one), or create one with `referrald users create`")
}

// hintFirstRequest tells a new operator how to make the first request.
func hintFirstRequest(ctx context.Context, log *slog.Logger, keys model.APIKeyService, cfg config.Config, addr string) {
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

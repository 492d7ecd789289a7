package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/health"
)

// healthcheckTimeout bounds the whole check: well inside the image's
// HEALTHCHECK --timeout=5s, so that a hung server is reported by this
// command, with a reason, rather than killed by the container engine.
const healthcheckTimeout = 3 * time.Second

// healthcheck runs `referrald healthcheck`: it asks a running server for
// GET /readyz and exits 0 on 200 and 1 otherwise, with one line saying
// why. It is the container image's HEALTHCHECK, which has no shell or
// curl to run. Every failure, a bad flag or setting included, exits 1:
// container engines read 1 as unhealthy and reserve 2.
func healthcheck(args []string, env config.Env, stderr io.Writer) int {
	var base *string
	fs, cfg, ok := commandFlags("healthcheck", args, env, stderr, func(fs *flag.FlagSet) {
		base = fs.String("url", "", "the server's base URL (default: http://<listen>, loopback for a wildcard host)")
	})
	if !ok {
		return exitFailed
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: referrald healthcheck [-config FILE] [-url URL]")
		return exitFailed
	}
	target, err := health.ReadyURL(*base, cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "referrald: healthcheck:", err)
		return exitFailed
	}
	if err := health.Check(target, healthcheckTimeout); err != nil {
		fmt.Fprintf(stderr, "referrald: healthcheck: %s: %v\n", target, err)
		return exitFailed
	}
	return exitOK
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/referrald/referrald/config"
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
	target, err := readyURL(*base, cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "referrald: healthcheck:", err)
		return exitFailed
	}
	if err := checkReady(target); err != nil {
		fmt.Fprintf(stderr, "referrald: healthcheck: %s: %v\n", target, err)
		return exitFailed
	}
	return exitOK
}

// readyURL is the /readyz address to ask: base's when given, else the
// listen address's. A wildcard listen host (0.0.0.0, ::, none) is where
// the server accepts connections, not an address to dial, so loopback is
// asked instead: that is where a container's own health check runs.
func readyURL(base, listen string) (string, error) {
	if base == "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return "", fmt.Errorf("listen %q is not host:port", listen)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("-url %q is not a base URL such as http://127.0.0.1:8080", base)
	}
	return strings.TrimSuffix(u.String(), "/") + "/readyz", nil
}

// healthClient asks without a proxy: a proxy from the environment would
// check itself, or fail, rather than the server beside it. A redirect is
// an answer like any other that is not 200.
var healthClient = &http.Client{
	Timeout:   healthcheckTimeout,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// checkReady is nil when target answers 200, and otherwise says what it
// answered instead, with the problem's detail when it gave one.
func checkReady(target string) error {
	res, err := healthClient.Get(target)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the line
		}
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	var problem struct{ Detail string }
	if json.Unmarshal(b, &problem) == nil && problem.Detail != "" {
		return fmt.Errorf("%s: %.200s", res.Status, strings.Join(strings.Fields(problem.Detail), " "))
	}
	return errors.New(res.Status)
}

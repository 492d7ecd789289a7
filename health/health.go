// Package health asks a running referrald whether it is ready: GET
// /readyz, as `referrald healthcheck` does for a container image, which
// has no shell or curl to do it with.
package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ReadyURL is the /readyz address to ask: base's (the command's -url,
// which its error names) when given, else the listen address's. A wildcard listen host (0.0.0.0, ::, none) is where
// the server accepts connections, not an address to dial, so loopback is
// asked instead: that is where a container's own health check runs.
func ReadyURL(base, listen string) (string, error) {
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

// Check is nil when target answers 200 within timeout, and otherwise says
// what it answered instead, with the problem's detail when it gave one.
func Check(target string, timeout time.Duration) error {
	// No proxy: a proxy from the environment would check itself, or fail,
	// rather than the server beside it. A redirect is an answer like any
	// other that is not 200.
	client := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	res, err := client.Get(target)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the caller names the URL already
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

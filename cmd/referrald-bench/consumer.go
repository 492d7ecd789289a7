package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/referrald/referrald/config"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// benchConsumer is what consumes the temporary server's outbox, as in
// production: a hook plugin, a webhook endpoint, or both. Events are
// pruned once every consumer has passed them, so the consumers' pace
// decides how much of the file the outbox takes.
type benchConsumer struct {
	// plugin is a hook plugin binary, configured as serve configures one
	// (its SHA-256 taken from the file), run with pluginArgs.
	plugin     string
	pluginArgs []string
	// webhook subscribes an endpoint on a local receiver to
	// referral.created on every server the bench starts.
	webhook   bool
	receiver  *httptest.Server
	delivered atomic.Int64
}

// benchPluginName is the name the plugin is configured under.
const benchPluginName = "bench-consumer"

func newBenchConsumer(plugin, pluginArgs string, webhook bool) *benchConsumer {
	return &benchConsumer{plugin: plugin, pluginArgs: strings.Fields(pluginArgs), webhook: webhook}
}

// configure adds the plugin to cfg, and lets webhook deliveries reach the
// receiver on loopback over plain HTTP.
func (c *benchConsumer) configure(cfg *config.Config) error {
	if c.plugin != "" {
		path, err := filepath.Abs(c.plugin)
		if err != nil {
			return err
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return fmt.Errorf("-plugin: %w", err)
		}
		cfg.Hooks.Plugins = append(cfg.Hooks.Plugins, config.PluginConfig{Name: benchPluginName, Path: path,
			Args: c.pluginArgs, SHA256: sum})
	}
	if c.webhook {
		cfg.Webhooks.AllowPrivateNetworks, cfg.Webhooks.AllowHTTP = true, true
		c.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			c.delivered.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
	}
	return nil
}

// subscribe registers the webhook endpoint on the server of fx.
func (c *benchConsumer) subscribe(fx *benchFixture) error {
	if !c.webhook {
		return nil
	}
	conn := &benchConn{target: fx.target, token: fx.token}
	defer conn.close()
	body, _ := json.Marshal(map[string]any{"url": c.receiver.URL + "/hook", "events": []string{"referral.created"},
		"description": "referrald-bench receiver"})
	status, b, err := conn.do("POST", "/v1/webhook_endpoints", body)
	id := jsonID(b)
	if err != nil || status != 201 || id == "" {
		return fmt.Errorf("create the webhook endpoint: %d %s %v", status, b, err)
	}
	fx.consumers, fx.delivered = append(fx.consumers, model.WebhookConsumer(id)), &c.delivered
	return nil
}

// consumerNames are the names under which the consumers of the server
// of fx keep their cursors.
func (c *benchConsumer) consumerNames(fx *benchFixture) []string {
	var names []string
	if c.plugin != "" {
		names = append(names, benchPluginName)
	}
	return append(names, fx.consumers...)
}

// lagGate holds growth back while a consumer of the grown store is more
// than maxLag events behind, so that the store grows at the pace its
// consumers keep up with, as a production store does; the bench's
// clients would otherwise create far faster than one delivery at a time.
type lagGate struct {
	st     *store.Store
	names  []string
	maxLag int
	behind atomic.Bool
	lag    atomic.Int64
	stop   chan struct{}
	done   chan struct{}
}

// lagPoll is how often the gate looks at the consumers' cursors.
const lagPoll = 20 * time.Millisecond

func startLagGate(st *store.Store, names []string, maxLag int) *lagGate {
	g := &lagGate{st: st, names: names, maxLag: maxLag, stop: make(chan struct{}), done: make(chan struct{})}
	g.poll()
	go func() {
		defer close(g.done)
		t := time.NewTicker(lagPoll)
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				return
			case <-t.C:
				g.poll()
			}
		}
	}()
	return g
}

// poll takes the lag of the consumer furthest behind, counted up to just
// past maxLag.
func (g *lagGate) poll() {
	worst := 0
	for _, name := range g.names {
		lag, err := g.st.HookLag(context.Background(), name, g.maxLag+1)
		if err == nil {
			worst = max(worst, lag.Depth)
		}
	}
	g.lag.Store(int64(worst))
	g.behind.Store(worst > g.maxLag)
}

// wait returns once no consumer is too far behind.
func (g *lagGate) wait() {
	for g.behind.Load() {
		time.Sleep(lagPoll / 4)
	}
}

func (g *lagGate) close() {
	close(g.stop)
	<-g.done
}

func (c *benchConsumer) close() {
	if c.receiver != nil {
		c.receiver.Close()
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

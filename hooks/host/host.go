package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/model"
)

// Host runs the configured plugins and delivers the outbox to each of
// them. Delivery happens after commit, in goroutines of its own: it never
// holds a store transaction and never slows a request.
type Host struct {
	plugins []*Plugin
	store   model.HookStore
	log     *slog.Logger
	metrics *Metrics
	wake    map[string]chan struct{}
	stop    chan struct{}
	// ctx is cancelled by Stop, cutting off deliveries in flight so a stop
	// never waits out an event timeout.
	ctx      context.Context
	cancel   context.CancelFunc
	stopOnce sync.Once
	wg       sync.WaitGroup
	// PollInterval bounds how long a new event can wait if a wake-up is
	// missed; Wake normally delivers at once.
	PollInterval time.Duration
}

// batchSize is how many outbox events one round reads.
const batchSize = 100

// New checks the plugin configurations and returns a Host ready to Start.
// reg, when set, receives the hook metrics.
func New(cfgs []Config, store model.HookStore, log *slog.Logger, reg prometheus.Registerer) (*Host, error) {
	h := &Host{store: store, log: log, wake: map[string]chan struct{}{}, stop: make(chan struct{}), PollInterval: time.Second}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if reg != nil {
		h.metrics = NewMetrics(reg)
	}
	for _, c := range cfgs {
		if _, dup := h.wake[c.Name]; dup {
			return nil, fmt.Errorf("plugin %s is configured twice", c.Name)
		}
		p, err := NewPlugin(c, log, h.metrics)
		if err != nil {
			return nil, err
		}
		// Before the service takes requests, so "now" is the moment the
		// plugin was added, not whenever its dispatcher first runs.
		if store != nil {
			cursor, err := store.StartHookCursor(h.ctx, p.Name(), p.cfg.StartFrom == StartNow)
			if err != nil {
				return nil, fmt.Errorf("plugin %s: %w", c.Name, err)
			}
			log.Debug("hook plugin starts in the outbox", "plugin", c.Name, "after_event", cursor, "start_from", p.cfg.StartFrom)
		}
		h.plugins = append(h.plugins, p)
		h.wake[c.Name] = make(chan struct{}, 1)
		h.metrics.track(c.Name)
	}
	if reg != nil && len(h.plugins) > 0 {
		reg.MustRegister(lagCollector{h})
	}
	return h, nil
}

// Plugins lists the plugins in configuration order.
func (h *Host) Plugins() []*Plugin { return h.plugins }

// Plugin returns the plugin called name, or nil.
func (h *Host) Plugin(name string) *Plugin {
	for _, p := range h.plugins {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Start starts every plugin and its dispatcher.
func (h *Host) Start() {
	for _, p := range h.plugins {
		p.Start()
		h.wg.Add(1)
		go h.dispatch(p, h.wake[p.Name()])
	}
}

// Stop stops the dispatchers (an event being delivered is left for the
// next start, which delivers it again), then every plugin process.
func (h *Host) Stop() {
	h.stopOnce.Do(func() {
		close(h.stop)
		h.cancel()
		h.wg.Wait()
		var wg sync.WaitGroup
		for _, p := range h.plugins {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop() }()
		}
		wg.Wait()
	})
}

// Wake tells the dispatchers that new events may be waiting. The store
// calls it after every commit; it never blocks.
func (h *Host) Wake() {
	for _, ch := range h.wake {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (h *Host) sleep(d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-h.stop:
		return false
	case <-wake:
		return true
	case <-t.C:
		return true
	}
}

func (h *Host) dispatch(p *Plugin, wake chan struct{}) {
	defer h.wg.Done()
	log := h.log.With("plugin", p.Name())
	storeFailures := 0
	for {
		progressed, err := h.round(p)
		if err != nil {
			storeFailures++
			log.Error("hook delivery: store error", "err", err)
			if !h.sleep(backoff(storeFailures, 100*time.Millisecond, 10*time.Second), nil) {
				return
			}
			continue
		}
		storeFailures = 0
		if !progressed && !h.sleep(h.PollInterval, wake) {
			return
		}
		select {
		case <-h.stop:
			return
		default:
		}
	}
}

// round delivers what is waiting for p: an operator's retry first, else
// the next batch of the outbox. It reports whether it got anywhere.
func (h *Host) round(p *Plugin) (bool, error) {
	ctx := context.Background()
	if _, running := p.Description(); !running {
		// Until the plugin has started, it is not known which events it
		// wants; nothing is skipped or failed meanwhile.
		return false, nil
	}
	if ev, err := h.store.NextHookRetry(ctx, p.Name()); err != nil || ev != nil {
		if err != nil {
			return false, err
		}
		res, dl, ok := h.deliver(p, ev)
		if !ok {
			return false, nil
		}
		return true, h.store.AckHookRetry(ctx, p.Name(), ev.ID, res, dl)
	}
	cursor, err := h.store.HookCursor(ctx, p.Name())
	if err != nil {
		return false, err
	}
	events, err := h.store.FindEvents(ctx, cursor, batchSize)
	if err != nil || len(events) == 0 {
		return false, err
	}
	skipped := ""
	for _, ev := range events {
		wants, known := p.Wants(ev.Type)
		if !known {
			return true, nil
		}
		if !wants {
			skipped = ev.ID
			continue
		}
		if skipped != "" {
			// Move past unwanted events before a delivery that may take
			// long, so a restart does not walk them again.
			if err := h.store.AckHookEvent(ctx, p.Name(), skipped, nil); err != nil {
				return true, err
			}
			skipped = ""
		}
		res, dl, ok := h.deliver(p, ev)
		switch {
		case !ok:
			return true, nil
		case dl != nil:
			err = h.store.DeadLetterHookEvent(ctx, *dl)
		default:
			err = h.store.AckHookEvent(ctx, p.Name(), ev.ID, res)
		}
		if err != nil {
			return true, err
		}
	}
	if skipped != "" {
		return true, h.store.AckHookEvent(ctx, p.Name(), skipped, nil)
	}
	return true, nil
}

// deliver calls OnEvent until it succeeds, the plugin says the event can
// never succeed, or the attempts run out (then it returns a dead letter). While the plugin is down it waits without using
// up attempts: its events are delivered when it is back. ok is false when
// the host is stopping.
func (h *Host) deliver(p *Plugin, ev *model.Event) (res *model.HookResult, dl *model.DeadLetter, ok bool) {
	cfg := p.Config()
	down := 0
	for attempt := 1; ; {
		out, err := p.OnEvent(h.ctx, hooks.Event{ID: ev.ID, Type: ev.Type, CreatedAt: ev.CreatedAt.Time,
			Data: ev.Data, Attempt: attempt})
		if h.ctx.Err() != nil {
			return nil, nil, false // stopping: the event is delivered again at the next start
		}
		if errors.Is(err, ErrDown) {
			down++
			if !h.sleep(backoff(down, 50*time.Millisecond, time.Second), nil) {
				return nil, nil, false
			}
			continue
		}
		h.metrics.delivered(p.Name(), ev.Type, err)
		if err == nil {
			h.log.Debug("hook event delivered", "plugin", p.Name(), "event_id", ev.ID, "event_type", ev.Type, "attempt", attempt)
			desc, _ := p.Description()
			return resultOf(p.Name(), desc.Version, ev, out), nil, true
		}
		if permanent(err) || attempt >= cfg.MaxAttempts {
			h.metrics.deadLettered(p.Name())
			msg := "hook event failed on every attempt; moved to the dead-letter list"
			if permanent(err) {
				// Retries would only hold up the events behind it.
				msg = "hook event refused for good by the plugin; moved to the dead-letter list"
			}
			h.log.Error(msg, "plugin", p.Name(), "event_id", ev.ID, "event_type", ev.Type, "attempts", attempt, "err", err)
			return nil, &model.DeadLetter{Plugin: p.Name(), EventID: ev.ID, EventType: ev.Type, Attempts: attempt,
				LastError: clip(err.Error()), FailedAt: model.NewTime(time.Now())}, true
		}
		wait := backoff(attempt, 200*time.Millisecond, 30*time.Second)
		h.log.Warn("hook event failed; will retry", "plugin", p.Name(), "event_id", ev.ID, "attempt", attempt,
			"retry_in", wait.Round(time.Millisecond), "err", err)
		if !h.sleep(wait, nil) {
			return nil, nil, false
		}
		attempt++
	}
}

func resultOf(plugin, version string, ev *model.Event, out hooks.EventResult) *model.HookResult {
	if out.Commission == nil {
		return nil
	}
	c := out.Commission
	return &model.HookResult{Plugin: plugin, PluginVersion: version, EventID: ev.ID, EventType: ev.Type, RecordedAt: model.NewTime(time.Now()),
		Commission: &model.HookCommission{AmbassadorID: c.AmbassadorID, Amount: c.Amount, Currency: c.Currency, Reason: c.Reason}}
}

func clip(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}

// lagCollector reports each plugin's backlog at scrape time.
type lagCollector struct{ h *Host }

var (
	depthDesc = prometheus.NewDesc("referrald_hook_outbox_depth",
		"Events not yet delivered to the plugin (counted up to 100000).", []string{"plugin"}, nil)
	ageDesc = prometheus.NewDesc("referrald_hook_outbox_oldest_age_seconds",
		"Age of the oldest event not yet delivered to the plugin; 0 when caught up.", []string{"plugin"}, nil)
	deadDesc = prometheus.NewDesc("referrald_hook_dead_letters_waiting",
		"Events on the plugin's dead-letter list, waiting for an operator to retry them (counted up to 100000).", []string{"plugin"}, nil)
)

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- ageDesc
	ch <- deadDesc
}

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.h.plugins {
		lag, err := c.h.store.HookLag(context.Background(), p.Name(), 100_000)
		if err != nil {
			continue
		}
		age := 0.0
		if !lag.Oldest.IsZero() {
			age = time.Since(lag.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(lag.Depth), p.Name())
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, p.Name())
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(lag.DeadLetters), p.Name())
	}
}

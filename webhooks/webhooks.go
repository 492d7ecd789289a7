// Package webhooks delivers the outbox to the webhook endpoints
// integrators register: each event is POSTed to each endpoint that wants
// it, signed as the Standard Webhooks specification (v1,
// standardwebhooks.com) says.
//
// Ordering: each endpoint reads the outbox in order, as a consumer of its
// own (model.WebhookConsumer). Messages an operator asked to send again
// go first, then the events after the endpoint's cursor, one at a time:
// an event is delivered, or has failed for good, before the next is sent.
// An event whose attempts are under way is finished before anything else.
//
// Failure policy: a 2xx answer is a success. Anything else (a 3xx too:
// redirects are not followed), a timeout or a connection error is a
// failure, tried again after the next wait of Config.Schedule (by default
// the specification's: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
// 14 h, 20 h, 24 h); after the last attempt the event becomes a failed
// message (a dead letter) and delivery goes on with the next. A 429 or
// 503 with Retry-After (seconds or an HTTP date) waits as long as it
// asks, but never less than the schedule's step nor more than
// MaxRetryAfter (24 h); it still counts as an attempt. A 410 Gone
// disables the endpoint and leaves the event undelivered, so enabling it
// again resumes with that event, from its first attempt. An endpoint
// that has failed without a success for model.WebhookFailingFor is
// disabled the same way at its next failure. A change of an endpoint's
// URL or events takes effect at its next attempt. Each attempt is recorded with where delivery stands, so
// a restart goes on with the same event, at the same attempt, when it
// was due. Delivery is at least once: an attempt cut off by Stop, or one
// whose success could not be recorded, is made again, with the same
// webhook-id, by which receivers recognise a message they have had.
//
// Safety: unless Config.AllowPrivateNetworks, a delivery never connects
// to a loopback, private, link-local, unique-local, unspecified or
// multicast address; the check is made on the address connected to, at
// connect time. No proxy is ever used.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referrald/referrald/model"
)

// Config tunes delivery; its zero value is the default.
type Config struct {
	// AllowPrivateNetworks lets deliveries reach loopback, private and
	// link-local addresses (on-prem receivers).
	AllowPrivateNetworks bool
	// Timeout bounds one attempt, the answer read included; 0 means 15 s.
	Timeout time.Duration
	// Schedule is the wait before each attempt of an event, so its length
	// is the number of attempts; nil means DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads each wait of the schedule by up to ± this fraction
	// of it, so endpoints that failed together do not retry together; 0
	// means DefaultJitter, a negative value none (tests).
	Jitter float64
	// UserAgent is sent with every delivery; "" means "referrald".
	UserAgent string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PollInterval is how often the endpoints are listed again (and how
	// long a new event waits if a Wake is missed); 0 means 2 s.
	PollInterval time.Duration
}

// DefaultSchedule is the specification's retry schedule: the wait before
// each of the 10 attempts.
var DefaultSchedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}

// DefaultJitter is the spread of the waits: ±10 %.
const DefaultJitter = 0.1

// Defaults and bounds.
const (
	DefaultTimeout      = 15 * time.Second
	DefaultPollInterval = 2 * time.Second
	// MaxRetryAfter bounds the wait a Retry-After can ask for.
	MaxRetryAfter = 24 * time.Hour
	// maxResponseRead is how much of an answer is read; responseKept of
	// it is recorded with the attempt.
	maxResponseRead = 64 << 10
	responseKept    = 1 << 10
	// batchSize is how many outbox events a round reads.
	batchSize = 100
)

// Store is what delivery needs of the store; *store.Store implements it.
type Store interface {
	FindWebhookEndpoints(ctx context.Context, opt model.ListOptions) (model.Page[*model.WebhookEndpoint], error)
	FindWebhookEndpointByID(ctx context.Context, id string) (*model.WebhookEndpoint, error)
	WebhookSecrets(ctx context.Context, id string) ([]string, error)
	RecordWebhookAttempt(ctx context.Context, a model.WebhookAttempt, health *model.WebhookEndpoint, progress *model.WebhookProgress) error
	WebhookProgressOf(ctx context.Context, id string) (*model.WebhookProgress, error)

	HookCursor(ctx context.Context, plugin string) (string, error)
	FindEvents(ctx context.Context, afterID string, limit int) ([]*model.Event, error)
	AckHookEvent(ctx context.Context, plugin, eventID string, result *model.HookResult) error
	DeadLetterHookEvent(ctx context.Context, dl model.DeadLetter) error
	NextHookRetry(ctx context.Context, plugin string) (*model.Event, error)
	AckHookRetry(ctx context.Context, plugin, eventID string, result *model.HookResult, dl *model.DeadLetter) error
	HookLag(ctx context.Context, plugin string, limit int) (model.HookLag, error)
}

// Dispatcher delivers events to every enabled endpoint, one goroutine per
// endpoint, after commit: it never holds a store transaction.
type Dispatcher struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	client  *http.Client
	metrics *metrics

	wake chan struct{}
	// ctx is cancelled by Stop, cutting off attempts in flight so a stop
	// never waits out a timeout; the attempt is made again at next start.
	ctx      context.Context
	cancel   context.CancelFunc
	started  bool
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	workers map[string]*worker
	// stopping holds the done channel of a worker told to stop, so a
	// worker started again for the same endpoint waits until it has.
	stopping map[string]chan struct{}
}

// worker is the goroutine of one endpoint.
type worker struct {
	id     string
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}
}

// New checks cfg, fills in its defaults and returns a Dispatcher ready to
// Start. reg, when set, receives the webhook metrics.
func New(cfg Config, st Store, log *slog.Logger, reg prometheus.Registerer) (*Dispatcher, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "referrald"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	switch {
	case cfg.Jitter == 0:
		cfg.Jitter = DefaultJitter
	case cfg.Jitter < 0:
		cfg.Jitter = 0
	}
	switch {
	case st == nil:
		return nil, errors.New("webhooks: no store")
	case cfg.Timeout < 0 || cfg.PollInterval < 0:
		return nil, fmt.Errorf("webhooks: timeout %s and poll interval %s must be positive", cfg.Timeout, cfg.PollInterval)
	case len(cfg.Schedule) == 0:
		return nil, errors.New("webhooks: the schedule must have at least one attempt")
	case cfg.Jitter >= 1:
		return nil, fmt.Errorf("webhooks: jitter %g must be below 1", cfg.Jitter)
	}
	for _, w := range cfg.Schedule {
		if w < 0 {
			return nil, fmt.Errorf("webhooks: schedule wait %s is negative", w)
		}
	}
	cfg.Schedule = append([]time.Duration(nil), cfg.Schedule...)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{cfg: cfg, store: st, log: log, wake: make(chan struct{}, 1), workers: map[string]*worker{},
		stopping: map[string]chan struct{}{}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.client = newClient(cfg)
	d.metrics = newMetrics(d, reg)
	return d, nil
}

// newClient is the HTTP client of every delivery: no proxy (it would hide
// the destination from the address check), no redirects (a 3xx is a
// failure: a redirect could lead anywhere), no cookies.
func newClient(cfg Config) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         newDialer(cfg.AllowPrivateNetworks).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Start starts delivery. It is called once; a stopped Dispatcher does not
// start again (make a new one).
func (d *Dispatcher) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.started = true
	d.wg.Add(1)
	go d.supervise()
}

// Stop stops delivery promptly: an attempt in flight is cut off, not
// recorded, and made again at the next start.
func (d *Dispatcher) Stop() {
	d.stopOnce.Do(func() {
		d.cancel()
		d.wg.Wait()
		d.client.CloseIdleConnections()
	})
}

// Wake tells the dispatcher that events may be waiting or endpoints may
// have changed. It is called after every commit; it never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// supervise keeps one worker per enabled endpoint, listing the endpoints
// again at every Wake and PollInterval.
func (d *Dispatcher) supervise() {
	defer d.wg.Done()
	tick := time.NewTicker(d.cfg.PollInterval)
	defer tick.Stop()
	failures := 0
	for {
		if err := d.sync(); err != nil {
			failures++
			d.log.Error("webhooks: cannot list the endpoints", "err", err)
			if !sleep(d.ctx, backoff(failures), nil) {
				return
			}
			continue
		}
		failures = 0
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		case <-tick.C:
		}
		d.mu.Lock()
		for _, w := range d.workers {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
		d.mu.Unlock()
	}
}

// endpoints lists every endpoint.
func (d *Dispatcher) endpoints(ctx context.Context) ([]*model.WebhookEndpoint, error) {
	var out []*model.WebhookEndpoint
	opt := model.ListOptions{Limit: model.MaxListLimit}
	for {
		p, err := d.store.FindWebhookEndpoints(ctx, opt)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Data...)
		if !p.HasMore || p.NextCursor == nil {
			return out, nil
		}
		opt.Cursor = *p.NextCursor
	}
}

// sync starts a worker for each enabled endpoint that has none and stops
// those of endpoints disabled or deleted.
func (d *Dispatcher) sync() error {
	eps, err := d.endpoints(d.ctx)
	if err != nil {
		return err
	}
	enabled := map[string]bool{}
	exists := map[string]bool{}
	for _, e := range eps {
		exists[e.ID] = true
		enabled[e.ID] = !e.Disabled
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, w := range d.workers {
		if !enabled[id] {
			w.cancel()
			delete(d.workers, id)
			d.stopping[id] = w.done
			if !exists[id] {
				d.metrics.forget(id)
			}
		}
	}
	for _, e := range eps {
		if !enabled[e.ID] || d.workers[e.ID] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(d.ctx)
		w := &worker{id: e.ID, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
		d.workers[e.ID] = w
		d.metrics.track(e.ID)
		prev := d.stopping[e.ID]
		delete(d.stopping, e.ID)
		d.wg.Add(1)
		go d.run(ctx, w, prev)
	}
	return nil
}

// sleep waits for d, a wake-up or the end of ctx; it reports false for
// the last.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
		return true
	case <-t.C:
		return true
	}
}

// backoff is the wait after the n-th store error in a row.
func backoff(n int) time.Duration {
	d := min(100*time.Millisecond<<min(n-1, 10), 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

// jitter spreads w by up to ± the configured fraction.
func (d *Dispatcher) jitter(w time.Duration) time.Duration {
	if d.cfg.Jitter == 0 || w <= 0 {
		return w
	}
	return time.Duration(float64(w) * (1 + d.cfg.Jitter*(2*rand.Float64()-1)))
}

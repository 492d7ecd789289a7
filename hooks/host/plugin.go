// Package host runs hook plugins for referrald: it starts each plugin as
// its own process through go-plugin (checksum-verified, over AutoMTLS),
// restarts it with backoff when it dies, calls it with deadlines, and
// delivers the store's outbox to it (dispatcher.go). It is server-side
// code; plugin authors import hooks/sdk instead.
package host

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/model"
)

// Failure policies for BeforeReferralCreate.
const (
	FailOpen   = "fail_open"
	FailClosed = "fail_closed"
)

// Config describes one plugin.
type Config struct {
	// Name identifies the plugin in logs, metrics, cursors and the admin
	// API: 1 to 64 of a-z, 0-9, _ and -.
	Name string
	// Path is the plugin binary; Args its arguments.
	Path string
	Args []string
	// Env is the plugin's whole environment (besides go-plugin's own
	// variables): referrald's is not passed on, so its secrets stay here.
	Env []string
	// SHA256 is the hex SHA-256 of the binary; a binary that does not
	// match is not started.
	SHA256 string
	// Events, when set, replaces the event types the plugin asks for.
	Events []string
	// EventTimeout bounds one OnEvent call; BeforeCreateTimeout one
	// BeforeReferralCreate call.
	EventTimeout        time.Duration
	BeforeCreateTimeout time.Duration
	// Policy is FailOpen or FailClosed.
	Policy string
	// MaxAttempts is how many times an event is tried before it goes to
	// the dead-letter list.
	MaxAttempts int
	// StartFrom says where a plugin met for the first time starts in the
	// outbox: StartNow (the default) or StartBeginning.
	StartFrom string
}

// Where a new plugin starts in the outbox.
const (
	// StartNow starts after the newest event, so a plugin added to an
	// install that has run for a while is not sent its history (a
	// commission plugin would pay bounties for old signups).
	StartNow = "now"
	// StartBeginning starts with the oldest event the outbox still holds.
	StartBeginning = "beginning"
)

// Defaults and bounds for Config.
const (
	DefaultEventTimeout        = 5 * time.Second
	DefaultBeforeCreateTimeout = 200 * time.Millisecond
	DefaultMaxAttempts         = 10
	MaxEventTimeout            = time.Minute
	MaxBeforeCreateTimeout     = 5 * time.Second
	// startTimeout bounds a plugin's start; it also bounds how long a
	// stop can wait for a plugin that is starting.
	startTimeout = 5 * time.Second
	// killGrace is how long a stopping plugin has to exit on its own once
	// its connection closes (go-plugin's own grace is the same), and
	// killWait how long a kill then waits for go-plugin to let go of the
	// process. With startTimeout they keep a stop within the 10 s that
	// shutdown promises, whatever the plugin does.
	killGrace = 2 * time.Second
	killWait  = time.Second
)

// knownEvents are the event types a plugin can subscribe to; a typo in a
// configured list would otherwise skip every event for good.
var knownEvents = []string{hooks.EventReferralCreated, hooks.EventReferralStatusChanged, hooks.EventImpressionCreated,
	hooks.EventEarningCreated, hooks.EventEarningRefunded, hooks.EventReferralErased,
	hooks.EventAmbassadorCreated, hooks.EventCommissionApproved, hooks.EventPayoutCreated,
	hooks.EventCommissionCreated, hooks.EventCommissionPaid, hooks.EventAll}

// Validate fills defaults and checks c.
func (c *Config) Validate() error {
	if c.Name == "" || len(c.Name) > 64 || strings.IndexFunc(c.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) >= 0 {
		return fmt.Errorf("name %q must be 1 to 64 of a-z, 0-9, _ and -", c.Name)
	}
	if c.Path == "" {
		return errors.New("path is required")
	}
	if sum, err := hex.DecodeString(c.SHA256); err != nil || len(sum) != sha256.Size {
		return errors.New("sha256 must be the 64 hex digits of the binary's SHA-256 (sha256sum PATH)")
	}
	if c.EventTimeout == 0 {
		c.EventTimeout = DefaultEventTimeout
	}
	if c.BeforeCreateTimeout == 0 {
		c.BeforeCreateTimeout = DefaultBeforeCreateTimeout
	}
	if c.EventTimeout < 0 || c.EventTimeout > MaxEventTimeout {
		return fmt.Errorf("event_timeout must be from 1ms to %s", MaxEventTimeout)
	}
	if c.BeforeCreateTimeout < 0 || c.BeforeCreateTimeout > MaxBeforeCreateTimeout {
		return fmt.Errorf("before_create_timeout must be from 1ms to %s: a client waits for it", MaxBeforeCreateTimeout)
	}
	for _, e := range c.Events {
		if !slices.Contains(knownEvents, e) {
			return fmt.Errorf("events: %q is not an event type (%s)", e, strings.Join(knownEvents, ", "))
		}
	}
	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("env: %q must be NAME=value", kv)
		}
	}
	switch c.StartFrom {
	case "":
		c.StartFrom = StartNow
	case StartNow, StartBeginning:
	default:
		return fmt.Errorf("start_from %q must be %s or %s", c.StartFrom, StartNow, StartBeginning)
	}
	switch c.Policy {
	case "":
		c.Policy = FailOpen
	case FailOpen, FailClosed:
	default:
		return fmt.Errorf("policy %q must be %s or %s", c.Policy, FailOpen, FailClosed)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 1 {
		return errors.New("max_attempts must be at least 1")
	}
	return nil
}

// ErrDown means the plugin is not running right now (starting, crashed
// and waiting to restart, or refused).
var ErrDown = errors.New("plugin is not running")

// Plugin is one supervised plugin process.
type Plugin struct {
	cfg      Config
	log      *slog.Logger
	checksum []byte
	metrics  *Metrics

	mu   sync.RWMutex
	live *process
	// last is what the plugin said of itself when it last ran, so that a
	// fail_closed plugin that wants BeforeReferralCreate still counts
	// while it is down.
	last *hooks.Description

	// broken receives the process a caller saw fail, so the supervisor
	// replaces it without waiting for its next check; a report about a
	// process already replaced is ignored.
	broken   chan *process
	stop     chan struct{}
	stopOnce sync.Once
	stopped  chan struct{}
	restarts atomic.Int64
	refused  atomic.Bool

	// checkPausedUntil (Unix ns) is set when a BeforeReferralCreate call
	// times out: until then calls fail at once with ErrCheckPaused, so a
	// hung plugin costs signups one timeout rather than one each, and the
	// process that hung is replaced meanwhile. After it, a single call at
	// a time (probing) tries the plugin again; a success ends the pause.
	// A new process does not: one that hangs as well is then killed once
	// a pause, not at every signup.
	checkPausedUntil atomic.Int64
	probing          atomic.Bool
}

// CheckPausedUntil reports whether BeforeReferralCreate calls are being
// skipped after a timeout, and until when.
func (p *Plugin) CheckPausedUntil() (time.Time, bool) {
	until := p.checkPausedUntil.Load()
	if until == 0 || time.Now().UnixNano() >= until {
		return time.Time{}, false
	}
	return time.Unix(0, until), true
}

// CheckPause is how long BeforeReferralCreate calls skip a plugin after
// one timed out.
const CheckPause = 2 * time.Second

// ErrCheckPaused means a plugin's BeforeReferralCreate was not called
// because a recent call timed out; the plugin's policy decides what the
// signup gets, as for any failed check.
var ErrCheckPaused = errors.New("plugin's signup check is paused after a timeout")

type process struct {
	client *plugin.Client
	// pid leads the process group the plugin and its children run in.
	pid  int
	hook hooks.Hook
	desc hooks.Description
}

// NewPlugin checks cfg and returns an unstarted plugin.
func NewPlugin(cfg Config, log *slog.Logger, m *Metrics) (*Plugin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	sum, _ := hex.DecodeString(cfg.SHA256)
	return &Plugin{cfg: cfg, log: log.With("plugin", cfg.Name), checksum: sum, metrics: m,
		broken: make(chan *process, 1), stop: make(chan struct{}), stopped: make(chan struct{})}, nil
}

// errRefused wraps a launch refused because the binary is missing or is
// not the one configured: no retry can fix that until an operator does.
var errRefused = errors.New("refused")

// checkBinary refuses a missing binary or one whose SHA-256 is not the
// configured one. go-plugin checks again as it starts the process, in
// case the file is replaced in between.
func (p *Plugin) checkBinary() error {
	got, err := fileSHA256(p.cfg.Path)
	if err != nil {
		return fmt.Errorf("%w: binary: %w", errRefused, err)
	}
	if !bytes.Equal(got, p.checksum) {
		return fmt.Errorf("%w: the SHA-256 of %s is %x, not the configured sha256 (run sha256sum on the binary)", errRefused, p.cfg.Path, got)
	}
	return nil
}

// Refused reports whether the plugin's last launch was refused for its
// binary; its events wait meanwhile.
func (p *Plugin) Refused() bool { return p.refused.Load() }

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// Name is the configured name.
func (p *Plugin) Name() string { return p.cfg.Name }

// Config is the plugin's configuration, defaults filled in.
func (p *Plugin) Config() Config { return p.cfg }

// Restarts counts how often the process was started again after the first.
func (p *Plugin) Restarts() int64 { return p.restarts.Load() }

// Description is what the running plugin said of itself, and whether it
// is running.
func (p *Plugin) Description() (hooks.Description, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.live == nil {
		return hooks.Description{}, false
	}
	return p.live.desc, true
}

// Wants reports whether the plugin takes events of type typ: the
// configured events if any, else what it last asked for. known is false
// until the plugin has described itself once; nothing may be skipped
// before then. It goes by the last description, not the live one, so a
// plugin that is restarting does not seem to want nothing.
func (p *Plugin) Wants(typ string) (wants, known bool) {
	events := p.cfg.Events
	if len(events) == 0 {
		p.mu.RLock()
		last := p.last
		p.mu.RUnlock()
		if last == nil {
			return false, false
		}
		events = last.Events
	}
	if model.InternalEvent(typ) {
		return false, true
	}
	return slices.Contains(events, typ) || slices.Contains(events, hooks.EventAll), true
}

// WantsBeforeCreate reports whether the running plugin asked for the
// synchronous signup hook.
func (p *Plugin) WantsBeforeCreate() bool {
	d, ok := p.Description()
	return ok && d.BeforeReferralCreate
}

// mayWantBeforeCreate reports whether a plugin that is down wanted the
// signup hook when it last ran, so its policy applies while it is away.
func (p *Plugin) mayWantBeforeCreate() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.live != nil {
		return false
	}
	if p.last == nil {
		// Never started: it is not known whether it vets signups, and a
		// fail_closed plugin must not be skipped for that.
		return p.cfg.Policy == FailClosed
	}
	return p.last.BeforeReferralCreate
}

// Start launches the supervisor, which starts the process and keeps it
// running until Stop.
func (p *Plugin) Start() { go p.supervise() }

// Stop kills the process and stops the supervisor; it returns once the
// process is gone.
func (p *Plugin) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.stopped
}

func (p *Plugin) current() *process {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.live
}

func (p *Plugin) supervise() {
	defer close(p.stopped)
	// The plugin processes are started from this goroutine with a
	// parent-death signal (Linux), which fires when the starting thread
	// ends: keep this goroutine on one thread for the plugin's life, so the
	// signal means "referrald died", never "the Go runtime retired a thread".
	runtime.LockOSThread()
	failures := 0
	for first := true; ; first = false {
		proc, err := p.launch()
		if err != nil {
			failures++
			wait := backoff(failures, 500*time.Millisecond, 30*time.Second)
			refused := errors.Is(err, errRefused)
			switch {
			case refused && !p.refused.Load():
				// Once, not at every try: nothing changes until the
				// binary or the configuration does.
				p.log.Error("plugin refused; the service runs without it and its events wait until the binary matches",
					"err", err)
			case !refused:
				p.log.Error("plugin did not start; trying again", "err", err, "retry_in", wait.Round(time.Millisecond))
			}
			p.refused.Store(refused)
			p.metrics.setRefused(p.cfg.Name, refused)
			if !p.sleep(wait) {
				return
			}
			continue
		}
		failures = 0
		p.refused.Store(false)
		p.metrics.setRefused(p.cfg.Name, false)
		if !first {
			p.restarts.Add(1)
			p.metrics.restarted(p.cfg.Name)
		}
		p.mu.Lock()
		p.live, p.last = proc, &proc.desc
		p.mu.Unlock()
		p.log.Info("plugin started", "name", proc.desc.Name, "version", proc.desc.Version,
			"events", strings.Join(proc.desc.Events, ","), "before_referral_create", proc.desc.BeforeReferralCreate)

		exited := p.watch(proc)
		p.mu.Lock()
		p.live = nil
		p.mu.Unlock()
		// A stop lets the plugin finish cleanly; a process that ended or
		// hung has nothing left to finish.
		p.kill(proc.client, proc.pid, !exited)
		if !exited {
			return // stopped
		}
		p.log.Warn("plugin process ended; restarting it")
		// A plugin that dies at once after every start must not spin.
		if !p.sleep(backoff(1, 200*time.Millisecond, time.Second)) {
			return
		}
	}
}

// watch waits until the process ends, a caller reports it broken, or
// Stop; it reports whether the process should be replaced.
func (p *Plugin) watch(proc *process) bool {
	// go-plugin offers no exit notification, so the supervisor looks
	// every quarter second; callers that see a failure say so at once.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return false
		case failed := <-p.broken:
			if failed == proc {
				return true
			}
		case <-tick.C:
			if proc.client.Exited() {
				return true
			}
		}
	}
}

// kill ends a plugin process and whatever it started in its process
// group, graceful or at once, and waits for go-plugin to let go of it, but
// never longer than killGrace and killWait: go-plugin's Kill waits until
// nothing holds the plugin's stdout and stderr open, and a process the
// plugin started outside its group can hold them for as long as it likes.
// Such a process is left behind, with go-plugin's goroutines waiting on it.
func (p *Plugin) kill(client *plugin.Client, pid int, graceful bool) {
	if !graceful {
		killGroup(pid)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.Kill()
	}()
	if graceful {
		// client.Kill closes the connection, which asks the plugin to exit.
		t := time.NewTimer(killGrace)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		// Its children too, whether or not it exited in time.
		killGroup(pid)
	}
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.log.Warn("a process the plugin started outside its process group still holds its output open; going on without it",
			"pid", pid)
	}
}

func (p *Plugin) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.stop:
		return false
	case <-t.C:
		return true
	}
}

// launch starts the process and asks it to describe itself.
func (p *Plugin) launch() (*process, error) {
	if err := p.checkBinary(); err != nil {
		return nil, err
	}
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, p.cfg.Env...)
	isolate(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  hooks.Handshake,
		VersionedPlugins: hooks.VersionedPlugins(nil),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SecureConfig:     &plugin.SecureConfig{Checksum: p.checksum, Hash: sha256.New()},
		AutoMTLS:         true,
		StartTimeout:     startTimeout,
		Stderr:           lineLogger{p.log, "plugin stderr"},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Level: hclog.Warn,
			Output: lineLogger{p.log, "go-plugin"}}),
	})
	rpc, err := client.Client()
	// Set by client.Client when the process started, even if the
	// handshake then failed.
	pid := 0
	if cmd.Process != nil {
		pid = cmd.Process.Pid
	}
	if err != nil {
		p.kill(client, pid, false)
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("%w: the SHA-256 of %s does not match the configured sha256 (run sha256sum on the binary)", errRefused, p.cfg.Path)
		}
		return nil, err
	}
	raw, err := rpc.Dispense(hooks.PluginName)
	if err != nil {
		p.kill(client, pid, false)
		return nil, err
	}
	hook, ok := raw.(hooks.Hook)
	if !ok {
		p.kill(client, pid, false)
		return nil, fmt.Errorf("plugin does not speak the hook contract")
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.EventTimeout)
	defer cancel()
	// A stop does not wait out the event timeout for a plugin that hangs
	// in Describe.
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	desc, err := hook.Describe(ctx)
	if err != nil {
		p.kill(client, pid, false)
		return nil, fmt.Errorf("describe: %w", err)
	}
	return &process{client: client, pid: pid, hook: hook, desc: desc}, nil
}

// OnEvent delivers e with the event deadline. A timeout or a transport
// failure gets the process replaced: a plugin that hangs is cut off.
func (p *Plugin) OnEvent(ctx context.Context, e hooks.Event) (hooks.EventResult, error) {
	proc := p.current()
	if proc == nil {
		return hooks.EventResult{}, ErrDown
	}
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.EventTimeout)
	defer cancel()
	res, err := proc.hook.OnEvent(callCtx, e)
	// A call cut off by our deadline is a hung plugin; one cut off
	// because the caller gave up (a stop) says nothing about the plugin.
	if err != nil && ctx.Err() == nil && processFailed(err) {
		p.reportBroken(proc)
	}
	return res, err
}

// BeforeReferralCreate asks the plugin about a signup within its
// deadline. Errors (timeouts, a plugin that is down or paused) are for the
// caller's failure policy. A call that times out pauses the plugin's
// checks and gets the process replaced, as a hung OnEvent does: a plugin
// that hangs in its check may hang in every one after it. A call the
// caller gave up on (the client hung up) says nothing about the plugin.
func (p *Plugin) BeforeReferralCreate(ctx context.Context, r hooks.ReferralRequest) (hooks.Decision, error) {
	// Before looking for the process, so that a paused plugin is reported
	// as paused while its hung process is being replaced.
	if until := p.checkPausedUntil.Load(); until != 0 {
		if time.Now().UnixNano() < until || !p.probing.CompareAndSwap(false, true) {
			p.metrics.beforeCreate(p.cfg.Name, 0, ErrCheckPaused)
			return hooks.Decision{}, ErrCheckPaused
		}
		defer p.probing.Store(false)
	}
	proc := p.current()
	if proc == nil {
		return hooks.Decision{}, ErrDown
	}
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.BeforeCreateTimeout)
	defer cancel()
	began := time.Now()
	d, err := proc.hook.BeforeReferralCreate(callCtx, r)
	p.metrics.beforeCreate(p.cfg.Name, time.Since(began), err)
	switch {
	case err == nil:
		p.checkPausedUntil.Store(0)
	case ctx.Err() != nil:
		// The caller gave up: nothing is known of the plugin.
	case errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded:
		if p.checkPausedUntil.Swap(time.Now().Add(CheckPause).UnixNano()) == 0 {
			p.log.Warn("BeforeReferralCreate timed out; skipping the plugin's signup checks for a while and restarting it",
				"plugin", p.cfg.Name, "pause", CheckPause)
		}
		p.reportBroken(proc)
	case status.Code(err) == codes.Unavailable:
		p.reportBroken(proc)
	}
	return d, err
}

func (p *Plugin) reportBroken(proc *process) {
	select {
	case p.broken <- proc:
	default:
	}
}

// processFailed tells a broken or hung process from a plugin that
// returned an error of its own.
func processFailed(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// permanent reports whether the plugin marked err as a failure no
// redelivery can fix: sdk.Permanent, which crosses as INVALID_ARGUMENT
// (the code the contract gives that meaning, for any language).
func permanent(err error) bool {
	return status.Code(err) == codes.InvalidArgument
}

// backoff is exponential from base, capped, with jitter between half and
// all of it so that retries of many events do not move in lockstep.
func backoff(attempt int, base, limit time.Duration) time.Duration {
	d := base << min(attempt-1, 20)
	if d > limit || d <= 0 {
		d = limit
	}
	return d/2 + rand.N(d/2+1)
}

// lineLogger turns each line a plugin (or go-plugin) writes into a log
// record, so plugin output lands in referrald's log with its name.
type lineLogger struct {
	log *slog.Logger
	msg string
}

func (l lineLogger) Write(b []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		// go-plugin's own lines in a plugin are hclog JSON; keep their
		// level so its debug chatter stays out of an info log.
		var rec struct {
			Level   string `json:"@level"`
			Message string `json:"@message"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level != "" {
			var level slog.Level
			if level.UnmarshalText([]byte(strings.Replace(rec.Level, "trace", "debug", 1))) != nil {
				level = slog.LevelInfo
			}
			l.log.Log(context.Background(), level, l.msg, "line", rec.Message)
			continue
		}
		l.log.Info(l.msg, "line", line)
	}
	return len(b), nil
}

var _ io.Writer = lineLogger{}

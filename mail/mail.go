// Package mail emails ambassadors: a welcome with a sign-in link when
// they are added, the sign-in links they ask for, their approved
// commissions and their payouts.
//
// The mailer is one more consumer of the store's outbox, like a hook
// plugin: it reads the events after commit, in order, with a durable
// cursor of its own (Consumer), turns each into a message or nothing,
// hands it to the SMTP server and only then moves its cursor. A crash
// between the two sends the message again: delivery is at least once.
// A server that is down or answers 4xx holds up the queue, tried again
// with back-off forever; a message the server refuses for good (5xx) is
// dead-lettered and the queue goes on. All of it runs in the mailer's
// goroutine, never in a request.
//
// Sign-in links are made when the message is sent, never stored: the
// token exists only in the email (the store keeps its hash).
package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	gomail "github.com/wneessen/go-mail"

	"github.com/referrald/referrald/model"
)

// Consumer is the mailer's name among the outbox's consumers: its cursor
// and dead letters are kept under it. No hook plugin can have it (their
// names are [a-z0-9_-]), so the app adds it to the store's
// OutboxConsumers, which keeps events until the mailer has passed them.
const Consumer = model.MailConsumer

// TLS modes of Config.TLS.
const (
	// TLSStartTLS requires STARTTLS (usually port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (usually port 465).
	TLSImplicit = "tls"
	// TLSOpportunistic uses STARTTLS when the server offers it.
	TLSOpportunistic = "opportunistic"
	// TLSNone never encrypts: for a relay on this machine.
	TLSNone = "none"
)

// StaleLinkRequest is how old a sign-in link request may be when its
// email can finally be sent: after that the person has given up, and a
// link arriving the next day would only confuse.
const StaleLinkRequest = time.Hour

// DefaultTimeout bounds each SMTP exchange when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// Config is how the mailer reaches the SMTP server and what it links to.
type Config struct {
	Host string
	// Port is the server's port; 0 means 587 (465 with TLSImplicit).
	Port     int
	Username string
	Password string
	// From is the sender: an address, or a name and an address.
	From string
	// TLS is TLSStartTLS (the default), TLSImplicit, TLSOpportunistic or
	// TLSNone.
	TLS string
	// Templates, when set, is a folder whose files replace the embedded
	// templates of the same name.
	Templates string
	// BaseURL is the public address of referrald: portal links are
	// BaseURL + "/portal/...".
	BaseURL string
	// Timeout bounds each SMTP exchange; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Store is what the mailer needs of the store: the outbox, its cursor and
// dead letters, the records a message tells of, and sign-in links.
type Store interface {
	// FindEvents returns up to limit events after afterID, oldest first.
	FindEvents(ctx context.Context, afterID string, limit int) ([]*model.Event, error)
	HookCursor(ctx context.Context, name string) (string, error)
	StartHookCursor(ctx context.Context, name string, fromNow bool) (string, error)
	AckHookEvent(ctx context.Context, name, eventID string, result *model.HookResult) error
	DeadLetterHookEvent(ctx context.Context, dl model.DeadLetter) error
	// NextHookRetry and AckHookRetry serve the dead letters an operator
	// queued again (RetryDeadLetters).
	NextHookRetry(ctx context.Context, name string) (*model.Event, error)
	AckHookRetry(ctx context.Context, name, eventID string, result *model.HookResult, dl *model.DeadLetter) error
	// FindAmbassadorByID errors: not_found.
	FindAmbassadorByID(ctx context.Context, id string) (*model.Ambassador, error)
	// FindProgramByID errors: not_found.
	FindProgramByID(ctx context.Context, id string) (*model.Program, error)
	// CreatePortalLink errors: not_found, conflict (the ambassador is
	// deactivated).
	CreatePortalLink(ctx context.Context, ambassadorID string, ttl time.Duration) (*model.PortalLink, error)
}

// batchSize is how many outbox events one round reads.
const batchSize = 100

// Mailer sends the outbox's emails. Make it with New, then Start it;
// Stop ends it.
type Mailer struct {
	cfg       Config
	from      *netmail.Address
	store     Store
	log       *slog.Logger
	templates map[string]*template
	sender    *sender
	metrics   *metrics

	wake     chan struct{}
	stop     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	stopOnce sync.Once
	wg       sync.WaitGroup

	// now is the clock; retryMin and retryMax bound the back-off between
	// attempts; pollInterval bounds how long an event waits when a Wake
	// is missed. Tests shorten them.
	now          func() time.Time
	retryMin     time.Duration
	retryMax     time.Duration
	pollInterval time.Duration
}

// New checks cfg, parses the templates (the operator's overrides
// included: one that does not parse or render is an error naming its
// file), and places the mailer's cursor in the outbox: a store met for
// the first time is not mailed its history, only what happens from now
// on. reg, when set, receives the mailer's metrics.
func New(cfg Config, st Store, log *slog.Logger, reg prometheus.Registerer) (*Mailer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Host == "" {
		return nil, errors.New("email: no SMTP host")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: sender %q: %w", cfg.From, err)
	}
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("email: base URL %q must be an http or https address: the portal links in messages start with it", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Username != "" && cfg.TLS == TLSNone && !isLoopback(cfg.Host) {
		return nil, fmt.Errorf("email: TLS mode none with a username would send the password in the clear to %s; use starttls or tls", cfg.Host)
	}
	snd, err := newSender(cfg)
	if err != nil {
		return nil, err
	}
	tmpls, err := loadTemplates(cfg.Templates, log)
	if err != nil {
		return nil, err
	}
	m := &Mailer{cfg: cfg, from: from, store: st, log: log, templates: tmpls, sender: snd,
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
		now: time.Now, retryMin: time.Second, retryMax: 5 * time.Minute, pollInterval: 10 * time.Second}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	// Before the service takes requests, so "now" is when email was
	// configured, not whenever the loop first runs.
	cursor, err := st.StartHookCursor(m.ctx, Consumer, true)
	if err != nil {
		return nil, fmt.Errorf("email: place the cursor in the outbox: %w", err)
	}
	log.Debug("mailer starts in the outbox", "after_event", cursor)
	if reg != nil {
		m.metrics = newMetrics(reg, m)
	}
	return m, nil
}

// Start starts sending in a goroutine of the mailer's own.
func (m *Mailer) Start() {
	m.wg.Add(1)
	go m.run()
}

// Stop stops the mailer and returns once it has: a send in flight is cut
// off, and its event is sent again at the next start.
func (m *Mailer) Stop() {
	m.stopOnce.Do(func() {
		close(m.stop)
		m.cancel()
		m.wg.Wait()
	})
}

// Wake tells the mailer that new events may be waiting. The app calls it
// after every commit; it never blocks.
func (m *Mailer) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// sleep waits d, or until woken when wake is set; it returns false when
// the mailer is stopping.
func (m *Mailer) sleep(d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-m.stop:
		return false
	case <-wake:
		return true
	case <-t.C:
		return true
	}
}

func (m *Mailer) run() {
	defer m.wg.Done()
	storeFailures := 0
	for {
		progressed, err := m.round()
		if m.ctx.Err() != nil {
			return
		}
		if err != nil {
			storeFailures++
			m.log.Error("email: store error", "err", err)
			if !m.sleep(m.backoff(storeFailures), nil) {
				return
			}
			continue
		}
		storeFailures = 0
		if !progressed && !m.sleep(m.pollInterval, m.wake) {
			return
		}
	}
}

// wanted are the event types that may make a message.
var wanted = map[string]bool{
	model.EventAmbassadorCreated:   true,
	model.EventPortalLinkRequested: true,
	model.EventCommissionApproved:  true,
	model.EventPayoutCreated:       true,
}

// round handles an operator's retry of a dead letter if one is queued,
// else the next batch of the outbox. It reports whether it got anywhere.
func (m *Mailer) round() (bool, error) {
	ctx := m.ctx
	if ev, err := m.store.NextHookRetry(ctx, Consumer); err != nil || ev != nil {
		if err != nil {
			return false, err
		}
		dl, ok := m.deliver(ev)
		if !ok {
			return false, nil
		}
		return true, m.store.AckHookRetry(context.WithoutCancel(ctx), Consumer, ev.ID, nil, dl)
	}
	cursor, err := m.store.HookCursor(ctx, Consumer)
	if err != nil {
		return false, err
	}
	events, err := m.store.FindEvents(ctx, cursor, batchSize)
	if err != nil || len(events) == 0 {
		return false, err
	}
	skipped := ""
	for _, ev := range events {
		if !wanted[ev.Type] {
			skipped = ev.ID
			continue
		}
		if skipped != "" {
			// Move past the events of no interest before a send that may
			// take long, so a restart does not walk them again.
			if err := m.store.AckHookEvent(ctx, Consumer, skipped, nil); err != nil {
				return true, err
			}
			skipped = ""
		}
		dl, ok := m.deliver(ev)
		if !ok {
			return true, nil
		}
		// A message sent (or skipped, or refused) is recorded even if
		// Stop came meanwhile, or the next start would send it twice.
		ctx := context.WithoutCancel(ctx)
		if dl != nil {
			err = m.store.DeadLetterHookEvent(ctx, *dl)
		} else {
			err = m.store.AckHookEvent(ctx, Consumer, ev.ID, nil)
		}
		if err != nil {
			return true, err
		}
	}
	if skipped != "" {
		return true, m.store.AckHookEvent(ctx, Consumer, skipped, nil)
	}
	return true, nil
}

// outcome is what became of one event.
type outcome struct {
	template     string
	ambassadorID string
	// skip says why no message is sent; "" when one was.
	skip string
	err  error
}

// deliver sends ev's message, trying again after temporary failures
// until it is sent or skipped (nil), or refused for good (a dead
// letter). ok is false when the mailer is stopping: the event is left
// for the next start.
func (m *Mailer) deliver(ev *model.Event) (dl *model.DeadLetter, ok bool) {
	for attempt := 1; ; attempt++ {
		out := m.attempt(ev)
		if out.err != nil && m.ctx.Err() != nil {
			return nil, false // stopping: cut off, so sent again at the next start
		}
		log := m.log.With("template", out.template, "event_id", ev.ID, "event_type", ev.Type)
		if out.ambassadorID != "" {
			log = log.With("ambassador_id", out.ambassadorID)
		}
		switch {
		case out.err == nil && out.skip == "":
			m.metrics.count(out.template, "sent")
			log.Info("email sent", "attempt", attempt)
			return nil, true
		case out.err == nil:
			if out.template != "" {
				m.metrics.count(out.template, "skipped")
				log.Info("email not sent", "reason", out.skip)
			}
			return nil, true
		case !isTemporary(out.err):
			m.metrics.count(out.template, "failed")
			log.Error("email refused for good; moved to the dead-letter list", "attempts", attempt, "err", out.err)
			return &model.DeadLetter{Plugin: Consumer, EventID: ev.ID, EventType: ev.Type, Attempts: attempt,
				LastError: clip(out.err.Error()), FailedAt: model.NewTime(m.now())}, true
		}
		wait := m.backoff(attempt)
		m.metrics.count(out.template, "retry")
		log.Warn("email not sent; will retry", "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", out.err)
		if !m.sleep(wait, nil) {
			return nil, false
		}
	}
}

// backoff is the wait after the nth failure: retryMin doubling up to
// retryMax, less up to half at random, so many installs that lost the
// same server do not all come back at once.
func (m *Mailer) backoff(n int) time.Duration {
	d := m.retryMin
	for i := 1; i < n && d < m.retryMax; i++ {
		d *= 2
	}
	d = min(d, m.retryMax)
	return d/2 + rand.N(d/2+1)
}

// clip bounds a dead letter's error.
func clip(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}

// attempt makes ev's message and sends it once. It reads the records
// afresh each time: an ambassador paused while the server was down gets
// no sign-in link, and a retried link is a new one.
func (m *Mailer) attempt(ev *model.Event) outcome {
	ctx := m.ctx
	out := outcome{}
	var amb *model.Ambassador
	var data any
	var err error
	switch ev.Type {
	case model.EventAmbassadorCreated, model.EventPortalLinkRequested:
		out.template = TemplateWelcome
		var id string
		if ev.Type == model.EventPortalLinkRequested {
			out.template = TemplateSignin
			var d model.PortalLinkRequestedData
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				out.err = permanent(fmt.Errorf("decode event: %w", err))
				return out
			}
			id = d.AmbassadorID
		} else {
			var a model.Ambassador
			if err := json.Unmarshal(ev.Data, &a); err != nil {
				out.err = permanent(fmt.Errorf("decode event: %w", err))
				return out
			}
			id = a.ID
		}
		out.ambassadorID = id
		if age := m.now().Sub(ev.CreatedAt.Time); ev.Type == model.EventPortalLinkRequested && age > StaleLinkRequest {
			out.skip = fmt.Sprintf("the link was asked for %s ago; a link this late would not be wanted", age.Round(time.Minute))
			return out
		}
		if amb, out.skip, out.err = m.ambassador(ctx, id); amb == nil {
			return out
		}
		if !amb.CanSignIn() {
			out.skip = fmt.Sprintf("the ambassador is %s and cannot sign in", amb.Status)
			return out
		}
		link, err := m.store.CreatePortalLink(ctx, amb.ID, model.PortalLinkTTL)
		switch model.ErrorCode(err) {
		case "":
		case model.ENotFound, model.EConflict:
			out.skip = "the ambassador can no longer sign in"
			return out
		default:
			out.err = temporary(fmt.Errorf("make a sign-in link: %w", err))
			return out
		}
		data = SigninData{Ambassador: person(amb), Links: m.links(), SigninURL: model.PortalLinkURL(m.cfg.BaseURL, link.Token),
			ExpiresIn: fmt.Sprintf("%d minutes", int(model.PortalLinkTTL/time.Minute))}
	case model.EventCommissionApproved:
		out.template = TemplateCommissionApproved
		var c model.Commission
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			out.err = permanent(fmt.Errorf("decode event: %w", err))
			return out
		}
		out.ambassadorID = c.AmbassadorID
		if c.Kind == model.CommissionClawback || c.Amount <= 0 {
			// A clawback takes money back; nobody wants an email for it.
			out.template = ""
			return out
		}
		if amb, out.skip, out.err = m.ambassador(ctx, c.AmbassadorID); amb == nil {
			return out
		}
		program := ""
		switch p, err := m.store.FindProgramByID(ctx, c.ProgramID); model.ErrorCode(err) {
		case "":
			program = p.Name
		case model.ENotFound:
		default:
			out.err = temporary(fmt.Errorf("read program: %w", err))
			return out
		}
		data = CommissionData{Ambassador: person(amb), Links: m.links(), Program: program, Kind: c.Kind,
			Amount: model.FormatMoney(c.Amount, c.Currency), CommissionsURL: m.cfg.BaseURL + "/portal/commissions"}
	case model.EventPayoutCreated:
		out.template = TemplatePayoutSent
		var p model.Payout
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			out.err = permanent(fmt.Errorf("decode event: %w", err))
			return out
		}
		out.ambassadorID = p.AmbassadorID
		if amb, out.skip, out.err = m.ambassador(ctx, p.AmbassadorID); amb == nil {
			return out
		}
		data = PayoutData{Ambassador: person(amb), Links: m.links(), Amount: model.FormatMoney(p.Amount, p.Currency),
			Reference: p.ExternalReference, Commissions: p.Commissions, PayoutsURL: m.cfg.BaseURL + "/portal/payouts"}
	default:
		return out
	}
	msg, err := m.message(ev, out.template, amb, data)
	if err != nil {
		out.err = permanent(redact(err, amb))
		return out
	}
	if err := m.sender.send(ctx, msg); err != nil {
		out.err = redact(err, amb)
	}
	return out
}

// ambassador reads the ambassador a message is for: nil and why not when
// there is none (anymore), nil and an error when the store failed.
func (m *Mailer) ambassador(ctx context.Context, id string) (*model.Ambassador, string, error) {
	a, err := m.store.FindAmbassadorByID(ctx, id)
	switch model.ErrorCode(err) {
	case "":
		return a, "", nil
	case model.ENotFound:
		return nil, "the ambassador no longer exists", nil
	}
	return nil, "", temporary(fmt.Errorf("read ambassador: %w", err))
}

func person(a *model.Ambassador) Person {
	return Person{FirstName: a.FirstName, LastName: a.LastName, Name: strings.TrimSpace(a.FirstName + " " + a.LastName)}
}

func (m *Mailer) links() Links {
	return Links{PortalURL: m.cfg.BaseURL + "/portal/", LoginURL: m.cfg.BaseURL + "/portal/login"}
}

// message renders template name with data into a message to amb.
func (m *Mailer) message(ev *model.Event, name string, amb *model.Ambassador, data any) (*gomail.Msg, error) {
	r, err := m.templates[name].render(data)
	if err != nil {
		return nil, fmt.Errorf("render template %s: %w", name, err)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(m.from)
	to := &netmail.Address{Name: strings.TrimSpace(amb.FirstName + " " + amb.LastName), Address: amb.Email}
	if err := msg.To(to.String()); err != nil {
		return nil, fmt.Errorf("recipient address refused: %w", err)
	}
	msg.Subject(r.subject)
	// One Message-ID per event: a message sent twice (a crash between
	// the send and the ack) is one message to a mailbox that dedupes.
	msg.SetMessageIDWithValue(ev.ID + ".referrald@" + domainOf(m.from.Address))
	msg.SetDateWithValue(m.now())
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetUserAgent("referrald")
	msg.SetBodyString(gomail.TypeTextPlain, r.text)
	msg.AddAlternativeString(gomail.TypeTextHTML, r.html)
	return msg, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// redact takes the ambassador's address and name out of an error
// (go-mail names the recipient), so they reach neither the log nor the
// dead letters.
func redact(err error, amb *model.Ambassador) error {
	msg := err.Error()
	for _, s := range []string{amb.Email, amb.FirstName + " " + amb.LastName} {
		if strings.TrimSpace(s) != "" {
			msg = strings.ReplaceAll(msg, s, "<recipient>")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redacted{err: err, msg: msg}
}

type redacted struct {
	err error
	msg string
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

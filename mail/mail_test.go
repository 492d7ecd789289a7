package mail

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/referrald/referrald/mail/smtptest"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// wait is how long a test waits for a message; the mailer sends within
// milliseconds, so only a broken one takes this long.
const wait = 10 * time.Second

// env is a real store, a real SMTP server and the mailers started on
// them. The store wakes the current mailer after every commit, as the
// app does.
type env struct {
	t      *testing.T
	st     *store.Store
	srv    *smtptest.Server
	offset atomic.Int64 // the store's clock is time.Now() + offset
	mailer atomic.Pointer[Mailer]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, srv: smtptest.Start(t)}
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{SweepInterval: -1,
		OutboxConsumers: []string{Consumer},
		Now:             func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) },
		OnCommit: func(int, time.Duration) {
			if m := e.mailer.Load(); m != nil {
				m.Wake()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	e.st = st
	return e
}

func (e *env) config() Config {
	return Config{Host: e.srv.Host(), Port: e.srv.Port(), From: "Campus Ambassadors <ambassadors@example.edu>", TLS: TLSNone,
		BaseURL: "https://referrals.example.edu", Timeout: 5 * time.Second}
}

// logs is a log that tests can read while the mailer writes it.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.Write(p) }
func (l *logs) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// start makes a mailer with cfg and starts it; it is stopped when the
// test ends.
func (e *env) start(cfg Config, reg prometheus.Registerer) (*Mailer, *logs) {
	e.t.Helper()
	m, l := e.newMailer(cfg, reg)
	m.Start()
	return m, l
}

func (e *env) newMailer(cfg Config, reg prometheus.Registerer) (*Mailer, *logs) {
	e.t.Helper()
	l := &logs{}
	m, err := New(cfg, e.st, slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})), reg)
	if err != nil {
		e.t.Fatal(err)
	}
	m.retryMin, m.retryMax = 5*time.Millisecond, 40*time.Millisecond
	e.mailer.Store(m)
	e.t.Cleanup(m.Stop)
	return m, l
}

func (e *env) ambassador(first, email string) *model.Ambassador {
	e.t.Helper()
	a, _, err := e.st.CreateAmbassador(context.Background(), model.AmbassadorCreate{FirstName: first, LastName: "Student", Email: email},
		model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) requestLink(a *model.Ambassador) {
	e.t.Helper()
	if err := e.st.RequestPortalLink(context.Background(), a.ID, model.LinkViaLogin); err != nil {
		e.t.Fatal(err)
	}
}

// signinToken checks that the message's text and HTML parts hold the same
// sign-in link and returns its token.
func signinToken(t *testing.T, msg *smtptest.Message) string {
	t.Helper()
	text, html := smtptest.SigninLink(msg.Text), smtptest.SigninLink(msg.HTML)
	if text == "" || text != html {
		t.Fatalf("sign-in link in the text %q, in the HTML %q; want one link in both", text, html)
	}
	if !strings.HasPrefix(text, "https://referrals.example.edu/portal/signin?token=") {
		t.Errorf("link %q is not under the base URL", text)
	}
	return smtptest.Token(text)
}

// Adding an ambassador sends one welcome, to them, whose link signs them
// in once; the log tells the operator without the token or the address.
func TestWelcome(t *testing.T) {
	e := newEnv(t)
	_, log := e.start(e.config(), nil)
	ada := e.ambassador("Ada", "ada@students.example.edu")
	msg := e.srv.Wait(t, 1, wait)[0]

	if msg.Recipient() != "ada@students.example.edu" || msg.From != "ambassadors@example.edu" {
		t.Errorf("envelope %s → %v", msg.From, msg.To)
	}
	if got := msg.Header.Get("To"); got != `"Ada Student" <ada@students.example.edu>` {
		t.Errorf("To: %s", got)
	}
	if !strings.HasPrefix(msg.Subject, "You're in") {
		t.Errorf("subject %q, want the welcome", msg.Subject)
	}
	if msg.ContentType != "multipart/alternative" || msg.Header.Get("Message-Id") == "" || msg.Header.Get("Date") == "" {
		t.Errorf("content type %q, Message-ID %q, Date %q", msg.ContentType, msg.Header.Get("Message-Id"), msg.Header.Get("Date"))
	}
	for _, part := range []string{msg.Text, msg.HTML} {
		if !strings.Contains(part, "https://referrals.example.edu/portal/login") {
			t.Errorf("no login address for later in %q", part)
		}
	}
	if !strings.Contains(msg.HTML, `<html lang="en">`) {
		t.Error("the HTML has no language")
	}
	token := signinToken(t, msg)
	ctx := context.Background()
	if sess, _, err := e.st.RedeemPortalLink(ctx, token); err != nil || sess.AmbassadorID != ada.ID {
		t.Fatalf("redeem: %+v %v", sess, err)
	}
	if _, _, err := e.st.RedeemPortalLink(ctx, token); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("second redeem: %v, want unauthorized", err)
	}

	// Exactly one welcome: the next message is the next event's.
	e.requestLink(ada)
	msgs := e.srv.Wait(t, 2, wait)
	if len(msgs) != 2 || !strings.Contains(msgs[1].Subject, "sign-in link") {
		t.Fatalf("got %d messages, the second %q; want the welcome, then the sign-in link", len(msgs), msgs[1].Subject)
	}
	second := signinToken(t, msgs[1])
	if second == token {
		t.Error("the sign-in link is the welcome's")
	}

	out := log.String()
	if !strings.Contains(out, `msg="email sent" template=welcome`) || !strings.Contains(out, "ambassador_id="+ada.ID) {
		t.Errorf("log does not say the welcome was sent:\n%s", out)
	}
	for _, secret := range []string{token, second, "ada@students.example.edu"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
}

// A sign-in link request is answered, except one older than an hour and
// one for an ambassador paused since.
func TestSigninRequests(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	ada, bob := e.ambassador("Ada", "ada@students.example.edu"), e.ambassador("Bob", "bob@students.example.edu")
	m, log := e.newMailer(e.config(), reg)

	e.offset.Store(int64(-2 * time.Hour))
	e.requestLink(ada) // while the mailer was down, two hours ago
	e.offset.Store(0)
	e.requestLink(bob)
	paused := model.AmbassadorPaused
	if _, err := e.st.UpdateAmbassador(context.Background(), bob.ID, model.AmbassadorUpdate{Status: &paused}); err != nil {
		t.Fatal(err)
	}
	e.requestLink(ada)
	// The two-hour-old request is the oldest the mailer has not passed.
	if age := testutil.ToFloat64(oldestCollector{m}); age < 3600 {
		t.Errorf("oldest age %v s, want the two-hour-old request's", age)
	}
	m.Start()

	msgs := e.srv.Wait(t, 1, wait)
	if msgs[0].Recipient() != "ada@students.example.edu" || !strings.Contains(msgs[0].Subject, "sign-in link") {
		t.Fatalf("first message to %s: %q; want Ada's fresh request", msgs[0].Recipient(), msgs[0].Subject)
	}
	signinToken(t, msgs[0])
	if got := testutil.ToFloat64(m.metrics.sent.WithLabelValues(TemplateSignin, "skipped")); got != 2 {
		t.Errorf("skipped sign-in emails: %v, want 2", got)
	}
	for _, want := range []string{"a link this late would not be wanted", "the ambassador is paused and cannot sign in"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, log.String())
		}
	}
	// Exactly one: the next message is the next event's.
	e.requestLink(ada)
	if msgs := e.srv.Wait(t, 2, wait); len(msgs) != 2 || msgs[1].Recipient() != "ada@students.example.edu" {
		t.Fatalf("got %d messages, want Ada's two", len(msgs))
	}
}

// A mailer added to a store with history does not mail it.
func TestNoHistory(t *testing.T) {
	e := newEnv(t)
	e.ambassador("Ada", "ada@students.example.edu")
	bob := e.ambassador("Bob", "bob@students.example.edu")
	e.requestLink(bob)
	e.start(e.config(), nil)
	cara := e.ambassador("Cara", "cara@students.example.edu")
	msgs := e.srv.Wait(t, 1, wait)
	if len(msgs) != 1 || msgs[0].Recipient() != "cara@students.example.edu" {
		t.Fatalf("first message to %s, want Cara's welcome (nothing from before the mailer)", msgs[0].Recipient())
	}
	// A second start keeps the cursor: still nothing old.
	e.requestLink(cara)
	if msgs := e.srv.Wait(t, 2, wait); len(msgs) != 2 || msgs[1].Recipient() != "cara@students.example.edu" {
		t.Fatalf("got %v", msgs)
	}
}

// Approved commissions are mailed with their amount and program, a
// clawback is not, and a payout is mailed with its reference.
func TestMoney(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hold := 30
	prg, _, err := e.st.CreateProgram(ctx, model.ProgramCreate{Name: "Spring Campus", LandingURL: "https://x.example", HoldDays: &hold,
		Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 1250, Currency: "USD"}}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	ada := e.ambassador("Ada", "ada@students.example.edu")
	var commissions []*model.Commission
	var earnings []*model.Earning
	for _, email := range []string{"j1@x.example", "j2@x.example"} {
		imp, _, err := e.st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: prg.ID, AmbassadorID: ada.ID}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ref, _, err := e.st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D", Email: email},
			model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ea, _, err := e.st.CreateEarning(ctx, model.EarningCreate{ReferralID: ref.ID, Amount: 10000, Currency: "USD"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		page, err := e.st.FindCommissions(ctx, model.CommissionFilter{EarningID: ea.ID})
		if err != nil || len(page.Data) != 1 {
			t.Fatalf("commission of %s: %+v %v", ea.ID, page, err)
		}
		earnings, commissions = append(earnings, ea), append(commissions, page.Data[0])
	}
	e.start(e.config(), nil)

	// A half refund before approval: approving the commission approves
	// its clawback of USD -6.25 too, which is not mailed.
	if _, _, err := e.st.RefundEarning(ctx, earnings[0].ID, model.EarningRefund{Amount: 5000}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range commissions {
		if _, err := e.st.ApproveCommission(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	p, _, err := e.st.CreatePayout(ctx, model.PayoutCreate{AmbassadorID: ada.ID, Currency: "USD", ExternalReference: "TRF-2026-0042"},
		model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Amount != 1875 {
		t.Fatalf("payout of %d, want 1875", p.Amount)
	}

	msgs := e.srv.Wait(t, 3, wait)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3", len(msgs))
	}
	for _, msg := range msgs[:2] {
		if msg.Subject != "You earned USD 12.50 with Spring Campus" {
			t.Errorf("subject %q, want the commission's (and no clawback's)", msg.Subject)
		}
		for _, part := range []string{msg.Text, msg.HTML} {
			if !strings.Contains(part, "USD 12.50") || !strings.Contains(part, "https://referrals.example.edu/portal/commissions") {
				t.Errorf("commission message without its amount or link: %q", part)
			}
		}
		if smtptest.SigninLink(msg.Text+msg.HTML) != "" {
			t.Error("a commission message holds a sign-in link")
		}
	}
	pay := msgs[2]
	if pay.Subject != "Your payout of USD 18.75 is on its way" {
		t.Errorf("subject %q, want the payout's", pay.Subject)
	}
	for _, part := range []string{pay.Text, pay.HTML} {
		if !strings.Contains(part, "TRF-2026-0042") || !strings.Contains(part, "https://referrals.example.edu/portal/payouts") {
			t.Errorf("payout message without its reference or link: %q", part)
		}
	}
}

// A server answering 451 holds the message back, tried again; a mailer
// stopped meanwhile has not moved its cursor, so the next one sends it,
// once, when the server is back.
func TestTemporaryFailure(t *testing.T) {
	e := newEnv(t)
	e.srv.SetMode(smtptest.TempFail)
	m, log := e.start(e.config(), nil)
	before, err := e.st.HookCursor(context.Background(), Consumer)
	if err != nil {
		t.Fatal(err)
	}
	ada := e.ambassador("Ada", "ada@students.example.edu")
	e.srv.WaitRefused(t, 3, wait)
	m.Stop()
	if after, _ := e.st.HookCursor(context.Background(), Consumer); after != before {
		t.Fatalf("cursor moved from %q to %q without a send", before, after)
	}
	// The third refusal may be cut off by Stop before it is logged.
	if out := log.String(); !strings.Contains(out, `msg="email not sent; will retry"`) || !strings.Contains(out, "attempt=2") ||
		!strings.Contains(out, "451") {
		t.Errorf("log does not tell of the retries:\n%s", out)
	}

	e.srv.SetMode(smtptest.Accept)
	e.start(e.config(), nil)
	msg := e.srv.Wait(t, 1, wait)[0]
	if !strings.HasPrefix(msg.Subject, "You're in") {
		t.Fatalf("subject %q, want the welcome", msg.Subject)
	}
	if _, _, err := e.st.RedeemPortalLink(context.Background(), signinToken(t, msg)); err != nil {
		t.Fatalf("the link minted at the successful send: %v", err)
	}
	e.requestLink(ada)
	if msgs := e.srv.Wait(t, 2, wait); len(msgs) != 2 || !strings.Contains(msgs[1].Subject, "sign-in link") {
		t.Fatalf("got %d messages; want the welcome once, then the sign-in link", len(msgs))
	}
}

// Stop cuts off a send in flight to a server that hangs, without moving
// the cursor: the next start sends the message.
func TestStopCutsOffSend(t *testing.T) {
	e := newEnv(t)
	e.srv.SetMode(smtptest.Hang)
	cfg := e.config()
	cfg.Timeout = time.Hour // only Stop can end the hung exchange
	m, _ := e.start(cfg, nil)
	e.ambassador("Ada", "ada@students.example.edu")
	e.srv.WaitRefused(t, 1, wait)
	stopped := make(chan struct{})
	go func() { m.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(wait):
		t.Fatal("Stop waited for the hung server")
	}
	if cursor, _ := e.st.HookCursor(context.Background(), Consumer); cursor != "" {
		t.Fatalf("cursor at %q after a cut-off send, want it before the welcome", cursor)
	}
	e.srv.SetMode(smtptest.Accept)
	e.start(e.config(), nil)
	if msg := e.srv.Wait(t, 1, wait)[0]; !strings.HasPrefix(msg.Subject, "You're in") {
		t.Fatalf("subject %q, want the welcome", msg.Subject)
	}
}

// The server failing for a while, within one mailer: the message goes
// once it is back.
func TestRetryRecovers(t *testing.T) {
	e := newEnv(t)
	e.srv.SetMode(smtptest.TempFail)
	reg := prometheus.NewRegistry()
	m, _ := e.start(e.config(), reg)
	ada := e.ambassador("Ada", "ada@students.example.edu")
	e.srv.WaitRefused(t, 2, wait)
	e.srv.SetMode(smtptest.Accept)
	e.srv.Wait(t, 1, wait)
	e.requestLink(ada)
	msgs := e.srv.Wait(t, 2, wait)
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0].Subject, "You're in") || !strings.Contains(msgs[1].Subject, "sign-in link") {
		t.Fatalf("got %d messages; want the welcome once, then the sign-in link", len(msgs))
	}
	if got := testutil.ToFloat64(m.metrics.sent.WithLabelValues(TemplateWelcome, "retry")); got < 2 {
		t.Errorf("welcome retries counted: %v, want at least 2", got)
	}
	if got := testutil.ToFloat64(m.metrics.sent.WithLabelValues(TemplateWelcome, "sent")); got != 1 {
		t.Errorf("welcomes sent: %v, want 1", got)
	}
}

// A message refused with 550 is dead-lettered, without the address in
// its error or the log, and the next message is still sent.
func TestPermanentFailure(t *testing.T) {
	e := newEnv(t)
	e.srv.SetMode(smtptest.PermFail)
	_, log := e.start(e.config(), nil)
	ada := e.ambassador("Ada", "ada@students.example.edu")
	e.srv.WaitRefused(t, 1, wait)
	e.srv.SetMode(smtptest.Accept)
	e.requestLink(ada)
	msgs := e.srv.Wait(t, 1, wait)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "sign-in link") {
		t.Fatalf("got %q, want the sign-in link after the refused welcome", msgs[0].Subject)
	}
	dls, err := e.st.FindDeadLetters(context.Background(), Consumer, model.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls.Data) != 1 {
		t.Fatalf("dead letters %+v, want the welcome", dls.Data)
	}
	dl := dls.Data[0]
	if dl.EventType != model.EventAmbassadorCreated || dl.Attempts != 1 || !strings.Contains(dl.LastError, "550") {
		t.Errorf("dead letter %+v", dl)
	}
	out := log.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "dead-letter") {
		t.Errorf("log does not tell of the refusal:\n%s", out)
	}
	for _, where := range []string{dl.LastError, out} {
		if strings.Contains(where, "ada@students.example.edu") || strings.Contains(where, "Ada Student") {
			t.Errorf("the recipient in %q", where)
		}
	}

	// Queued again by an operator, it is sent (with a fresh link) and
	// leaves the dead-letter list.
	if n, err := e.st.RetryDeadLetters(context.Background(), Consumer, nil); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	e.mailer.Load().Wake()
	msgs = e.srv.Wait(t, 2, wait)
	if len(msgs) != 2 || !strings.HasPrefix(msgs[1].Subject, "You're in") {
		t.Fatalf("got %d messages, want the retried welcome after the sign-in link", len(msgs))
	}
	signinToken(t, msgs[1])
}

// The mailer signs in to a server that asks for it.
func TestAuth(t *testing.T) {
	e := newEnv(t)
	e.srv.RequireAuth("mailer", "s3cret")
	cfg := e.config()
	cfg.Host = "localhost"
	cfg.Username, cfg.Password = "mailer", "s3cret"
	e.start(cfg, nil)
	e.ambassador("Ada", "ada@students.example.edu")
	e.srv.Wait(t, 1, wait)
}

// An operator's template replaces the embedded one; the others stay.
func TestTemplateOverride(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	write(t, dir, "signin.txt", `{{define "subject"}}Hello {{.Ambassador.FirstName}}, here is your link{{end}}Custom text: {{.SigninURL}}`)
	cfg := e.config()
	cfg.Templates = dir
	e.start(cfg, nil)
	ada := e.ambassador("Ada", "ada@students.example.edu")
	e.requestLink(ada)
	msg := e.srv.Wait(t, 2, wait)[1]
	if msg.Subject != "Hello Ada, here is your link" || !strings.HasPrefix(msg.Text, "Custom text: https://") {
		t.Errorf("subject %q, text %q; want the override's", msg.Subject, msg.Text)
	}
	if !strings.Contains(msg.HTML, "Sign in to your ambassador portal") {
		t.Errorf("HTML %q, want the embedded one", msg.HTML)
	}
	signinToken(t, msg)
}

// A template that does not parse, defines no subject or does not render
// with sample data fails New, naming the file.
func TestBrokenTemplate(t *testing.T) {
	for _, tc := range []struct{ file, src, want string }{
		{"signin.txt", `{{define "subject"}}x{{end}}{{if}}`, "signin.txt"},
		{"welcome.txt", `no subject here {{.SigninURL}}`, "defines no subject"},
		{"payout_sent.html", `<p>{{.Nope}}</p>`, "payout_sent.html"},
		{"commission_approved.txt", `{{define "subject"}}{{.Amount.Nope}}{{end}}`, "commission_approved.txt"},
		{"signin.html", `<a href="{{.SigninURL}}>`, "signin.html"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			e := newEnv(t)
			dir := t.TempDir()
			write(t, dir, tc.file, tc.src)
			cfg := e.config()
			cfg.Templates = dir
			_, err := New(cfg, e.st, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("got %v, want an error naming %s in %s", err, tc.want, dir)
			}
		})
	}
}

// New refuses a configuration that cannot work.
func TestBadConfig(t *testing.T) {
	e := newEnv(t)
	for name, change := range map[string]func(*Config){
		"no host":        func(c *Config) { c.Host = "" },
		"bad from":       func(c *Config) { c.From = "not an address" },
		"no base URL":    func(c *Config) { c.BaseURL = "" },
		"bad TLS":        func(c *Config) { c.TLS = "sometimes" },
		"password clear": func(c *Config) { c.Host, c.Username, c.Password = "smtp.example.com", "u", "p" },
		"bad port":       func(c *Config) { c.Port = 70000 },
	} {
		cfg := e.config()
		change(&cfg)
		if _, err := New(cfg, e.st, nil, nil); err == nil {
			t.Errorf("%s: New took %+v", name, cfg)
		}
	}
}

func write(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
}

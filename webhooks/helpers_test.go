package webhooks_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
	"github.com/referrald/referrald/webhooks"
)

// waitFor bounds every wait of a test: a delivery that should come comes
// well within it.
const waitFor = 5 * time.Second

// testEnv is a real store with a program, an ambassador and an
// impression to refer from.
type testEnv struct {
	t          *testing.T
	st         *store.Store
	program    *model.Program
	ambassador *model.Ambassador
	impression *model.Impression
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx := context.Background()
	e := &testEnv{t: t, st: st}
	e.program, _, err = st.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	e.ambassador = e.newAmbassador("ada@example.com")
	e.impression, _, err = st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: e.program.ID, AmbassadorID: e.ambassador.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *testEnv) newAmbassador(email string) *model.Ambassador {
	e.t.Helper()
	a, _, err := e.st.CreateAmbassador(context.Background(), model.AmbassadorCreate{FirstName: "Ada", LastName: "L", Email: email,
		Status: model.AmbassadorActive}, model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// endpoint registers url for events and returns the endpoint and its
// secret.
func (e *testEnv) endpoint(url string, events ...string) (*model.WebhookEndpoint, string) {
	e.t.Helper()
	in := model.WebhookEndpointCreate{URL: url, Events: events}
	if fe := in.Validate(true); len(fe) > 0 {
		e.t.Fatal(fe.Err())
	}
	ep, secret, err := e.st.CreateWebhookEndpoint(context.Background(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return ep, secret
}

// referral signs someone up and returns the referral.created event.
func (e *testEnv) referral(email string) *model.Event {
	e.t.Helper()
	_, _, err := e.st.CreateReferral(context.Background(), model.ReferralCreate{ImpressionID: e.impression.ID, FirstName: "John",
		LastName: "Doe", Email: email}, model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.newest(model.EventReferralCreated)
}

// newest is the newest event of type typ.
func (e *testEnv) newest(typ string) *model.Event {
	e.t.Helper()
	events, err := e.st.FindEvents(context.Background(), "", 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type == typ {
			return events[i]
		}
	}
	e.t.Fatalf("no %s event", typ)
	return nil
}

// dispatcher starts a dispatcher on the store, stopped at cleanup. Unless
// set, private networks are allowed (the receivers listen on 127.0.0.1),
// the schedule is short, without jitter, and the poll interval so long that only Wake
// brings deliveries promptly.
func (e *testEnv) dispatcher(cfg webhooks.Config, reg prometheus.Registerer) *webhooks.Dispatcher {
	e.t.Helper()
	if cfg.Schedule == nil {
		cfg.Schedule = []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Hour
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = -1 // none: tests measure the waits
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := webhooks.New(cfg, e.st, log, reg)
	if err != nil {
		e.t.Fatal(err)
	}
	d.Start()
	e.t.Cleanup(d.Stop)
	return d
}

// eventually waits until cond holds, checking it every few milliseconds:
// for state the dispatcher writes after the receiver has answered.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hit is one request a receiver got.
type hit struct {
	n      int // counts from 1
	header http.Header
	body   []byte
	at     time.Time
}

// reply is what a receiver answers.
type reply struct {
	status int
	header map[string]string
	body   string
}

// receiver is a real HTTP server that records every request and answers
// as its reply function says.
type receiver struct {
	srv  *httptest.Server
	hits chan hit

	mu    sync.Mutex
	n     int
	reply func(h hit) reply
}

func newReceiver(t *testing.T, f func(h hit) reply) *receiver {
	r := &receiver{hits: make(chan hit, 1000), reply: f}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.n++
		h := hit{n: r.n, header: req.Header.Clone(), body: body, at: time.Now()}
		f := r.reply
		r.mu.Unlock()
		if req.Method != http.MethodPost {
			h.header.Set("X-Test-Method", req.Method)
		}
		rep := reply{status: http.StatusOK}
		if f != nil {
			rep = f(h)
		}
		r.hits <- h
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setReply(f func(h hit) reply) {
	r.mu.Lock()
	r.reply = f
	r.mu.Unlock()
}

// next waits for the next request.
func (r *receiver) next(t *testing.T) hit {
	t.Helper()
	select {
	case h := <-r.hits:
		return h
	case <-time.After(waitFor):
		t.Fatal("timed out waiting for a delivery")
		return hit{}
	}
}

// none checks that no request is waiting to be looked at.
func (r *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case h := <-r.hits:
		t.Fatalf("unexpected delivery %d of %s", h.n, h.header.Get("webhook-id"))
	default:
	}
}

// message is a delivery's body.
type message struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

func decode(t *testing.T, h hit) message {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(h.body, &keys); err != nil || len(keys) != 3 {
		t.Fatalf("body %s: %v; want an object of type, timestamp and data", h.body, err)
	}
	var m message
	if err := json.Unmarshal(h.body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func ok(hit) reply { return reply{status: http.StatusOK} }

func attempts(t *testing.T, st *store.Store, endpointID, eventID string) []*model.WebhookAttempt {
	t.Helper()
	p, err := st.FindWebhookAttempts(context.Background(), endpointID, eventID, model.ListOptions{Limit: model.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	out := p.Data
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 { // oldest first
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

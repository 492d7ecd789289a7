package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/webhooks"
)

// A referral made is delivered to the endpoint promptly after Wake, once,
// as the specification shapes a message, signed with the endpoint's secret.
func TestDeliverReferralCreated(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, ok)
	ep, secret := e.endpoint(r.srv.URL+"/hooks?token=abc", model.WebhookEventAll)
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, UserAgent: "referrald/test"}, nil)
	ev := e.referral("john@example.com")
	d.Wake()

	h := r.next(t)
	if err := verify(secret, h.header, h.body, time.Now()); err != nil {
		t.Fatalf("signature: %v", err)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "referrald/test",
		"webhook-id": ev.ID, "X-Test-Method": ""} {
		if got := h.header.Get(k); got != want {
			t.Errorf("header %s: got %q, want %q", k, got, want)
		}
	}
	if ts, err := strconv.ParseInt(h.header.Get("webhook-timestamp"), 10, 64); err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("webhook-timestamp %q: want now in Unix seconds", h.header.Get("webhook-timestamp"))
	}
	m := decode(t, h)
	if m.Type != model.EventReferralCreated || m.Timestamp != ev.CreatedAt.UTC().Format(model.TimeLayout) {
		t.Errorf("got type %q timestamp %q, want %q %q", m.Type, m.Timestamp, model.EventReferralCreated, ev.CreatedAt.UTC().Format(model.TimeLayout))
	}
	if !bytes.Equal(m.Data, ev.Data) {
		t.Errorf("data %s, want the event's %s", m.Data, ev.Data)
	}
	var ref model.Referral
	if err := json.Unmarshal(m.Data, &ref); err != nil || ref.Email != "john@example.com" {
		t.Errorf("data is not the referral: %+v %v", ref, err)
	}
	// Done with: acknowledged, nothing left, one successful attempt.
	ctx := context.Background()
	eventually(t, "the event acknowledged", func() bool {
		cur, _ := e.st.HookCursor(ctx, model.WebhookConsumer(ep.ID))
		return cur == ev.ID
	})
	if a := attempts(t, e.st, ep.ID, ev.ID); len(a) != 1 || !a[0].Succeeded || a[0].Status != 200 || a[0].Attempt != 1 {
		t.Fatalf("attempts %+v", a)
	}
	r.none(t)
}

// A receiver failing three times gets the event four times with the same
// webhook-id, then the next event and nothing more of the first; every
// attempt is listed with its status and the first KiB of the answer.
func TestFailuresThenSuccess(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("é", 1000) // 2000 bytes: the first KiB is kept, no rune cut
	r := newReceiver(t, func(h hit) reply {
		if h.n <= 3 {
			return reply{status: 500, body: "oops " + strconv.Itoa(h.n) + " " + long}
		}
		return reply{status: 200, body: "thanks"}
	})
	ep, secret := e.endpoint(r.srv.URL, model.EventReferralCreated)
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, Schedule: []time.Duration{0, 5 * time.Millisecond,
		5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}}, nil)
	ev := e.referral("john@example.com")
	d.Wake()
	for i := 1; i <= 4; i++ {
		h := r.next(t)
		if got := h.header.Get("webhook-id"); got != ev.ID {
			t.Fatalf("delivery %d: webhook-id %q, want %q", i, got, ev.ID)
		}
		if err := verify(secret, h.header, h.body, time.Now()); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	later := e.referral("jane@example.com")
	d.Wake()
	if h := r.next(t); h.header.Get("webhook-id") != later.ID {
		t.Fatalf("got %q, want the later event %s", h.header.Get("webhook-id"), later.ID)
	}
	r.none(t)
	eventually(t, "the fourth attempt recorded", func() bool { return len(attempts(t, e.st, ep.ID, ev.ID)) == 4 })
	got := attempts(t, e.st, ep.ID, ev.ID)
	if len(got) != 4 {
		t.Fatalf("%d attempts, want 4", len(got))
	}
	for i, a := range got {
		wantStatus, wantPrefix := 500, "oops "+strconv.Itoa(i+1)+" é"
		if i == 3 {
			wantStatus, wantPrefix = 200, "thanks"
		}
		if a.Attempt != i+1 || a.Status != wantStatus || a.Succeeded != (i == 3) || !strings.HasPrefix(a.Response, wantPrefix) {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
		if i < 3 && (len(a.Response) > 1024 || len(a.Response) < 1020) {
			t.Errorf("attempt %d kept %d bytes, want the first KiB", i+1, len(a.Response))
		}
	}
	ctx := context.Background()
	if p, _ := e.st.WebhookProgressOf(ctx, ep.ID); p != nil {
		eventually(t, "progress cleared", func() bool { p, _ := e.st.WebhookProgressOf(ctx, ep.ID); return p == nil })
	}
	if cur, _ := e.st.FindWebhookEndpointByID(ctx, ep.ID); cur.FailingSince != nil {
		eventually(t, "failing_since cleared", func() bool {
			cur, _ := e.st.FindWebhookEndpointByID(ctx, ep.ID)
			return cur.FailingSince == nil
		})
	}
}

// 410 Gone disables the endpoint and leaves the event undelivered;
// enabled again, the endpoint is sent it.
func TestGoneDisables(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, func(h hit) reply { return reply{status: http.StatusGone} })
	ep, _ := e.endpoint(r.srv.URL, model.WebhookEventAll)
	reg := prometheus.NewRegistry()
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true}, reg)
	ev := e.referral("john@example.com")
	d.Wake()
	r.next(t)
	ctx := context.Background()
	eventually(t, "the endpoint disabled", func() bool {
		cur, _ := e.st.FindWebhookEndpointByID(ctx, ep.ID)
		return cur.Disabled
	})
	if m := scrape(t, reg); !strings.Contains(m, `referrald_webhook_endpoint_disabled{endpoint="`+ep.ID+`"} 1`) ||
		strings.Contains(m, "referrald_webhook_oldest_undelivered_age_seconds") {
		t.Errorf("metrics of a disabled endpoint:\n%s", m)
	}
	cur, _ := e.st.FindWebhookEndpointByID(ctx, ep.ID)
	if *cur.DisabledReason != model.WebhookDisabledGone || cur.DisabledAt == nil {
		t.Fatalf("disabled %+v, want reason gone", cur)
	}
	if c, _ := e.st.HookCursor(ctx, model.WebhookConsumer(ep.ID)); c == ev.ID {
		t.Fatal("the cursor moved past the event")
	}
	r.setReply(ok)
	on := false
	if _, err := e.st.UpdateWebhookEndpoint(ctx, ep.ID, model.WebhookEndpointUpdate{Disabled: &on}); err != nil {
		t.Fatal(err)
	}
	d.Wake()
	if h := r.next(t); h.header.Get("webhook-id") != ev.ID {
		t.Fatalf("got %s, want %s", h.header.Get("webhook-id"), ev.ID)
	}
	eventually(t, "the second attempt recorded", func() bool { return len(attempts(t, e.st, ep.ID, ev.ID)) == 2 })
	a := attempts(t, e.st, ep.ID, ev.ID)
	if len(a) != 2 || a[0].Status != 410 || a[1].Status != 200 || a[1].Attempt != 1 {
		t.Fatalf("attempts %+v, want 410 then 200 from a fresh first attempt", a)
	}
}

// A message failing every attempt becomes a failed message and the next
// event is delivered; retried by an operator, it is delivered again.
func TestFailedMessageAndRetry(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	bad := "john@example.com" // the receiver fails John's signup
	r := newReceiver(t, func(h hit) reply {
		mu.Lock()
		defer mu.Unlock()
		if bad != "" && bytes.Contains(h.body, []byte(bad)) {
			return reply{status: 500}
		}
		return reply{status: 204}
	})
	ep, _ := e.endpoint(r.srv.URL, model.WebhookEventAll)
	reg := prometheus.NewRegistry()
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true}, reg)
	// The endpoint's counters start at 0, so that an increase() over the
	// failed one sees the first failed message.
	eventually(t, "the endpoint's counters", func() bool {
		return strings.Contains(scrape(t, reg), `referrald_webhook_deliveries_total{endpoint="`+ep.ID+`",outcome="failed"} 0`)
	})
	first := e.referral("john@example.com")
	second := e.referral("jane@example.com")
	d.Wake()
	for i := 1; i <= 3; i++ { // the schedule's three attempts
		if h := r.next(t); h.header.Get("webhook-id") != first.ID {
			t.Fatalf("delivery %d: %s, want %s", i, h.header.Get("webhook-id"), first.ID)
		}
	}
	if h := r.next(t); h.header.Get("webhook-id") != second.ID {
		t.Fatalf("got %s, want the next event %s", h.header.Get("webhook-id"), second.ID)
	}
	ctx := context.Background()
	consumer := model.WebhookConsumer(ep.ID)
	eventually(t, "the second event acknowledged", func() bool { c, _ := e.st.HookCursor(ctx, consumer); return c == second.ID })
	dl, err := e.st.FindDeadLetters(ctx, consumer, model.ListOptions{})
	if err != nil || len(dl.Data) != 1 || dl.Data[0].EventID != first.ID || dl.Data[0].Attempts != 3 || dl.Data[0].LastError != "HTTP 500" {
		t.Fatalf("failed messages %+v %v", dl.Data, err)
	}
	scrape := scrape(t, reg)
	for _, want := range []string{
		`referrald_webhook_deliveries_total{endpoint="` + ep.ID + `",outcome="failed"} 1`,
		`referrald_webhook_deliveries_total{endpoint="` + ep.ID + `",outcome="failure"} 3`,
		`referrald_webhook_deliveries_total{endpoint="` + ep.ID + `",outcome="success"} 1`,
		`referrald_webhook_delivery_duration_seconds_count{endpoint="` + ep.ID + `"} 4`,
		`referrald_webhook_oldest_undelivered_age_seconds{endpoint="` + ep.ID + `"} 0`,
		`referrald_webhook_endpoint_disabled{endpoint="` + ep.ID + `"} 0`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	mu.Lock()
	bad = ""
	mu.Unlock()
	if n, err := e.st.RetryWebhookMessages(ctx, ep.ID, time.Time{}); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	d.Wake()
	if h := r.next(t); h.header.Get("webhook-id") != first.ID {
		t.Fatalf("got %s, want the retried %s", h.header.Get("webhook-id"), first.ID)
	}
	eventually(t, "the retry done with", func() bool { ev, _ := e.st.NextHookRetry(ctx, consumer); return ev == nil })
	if dl, _ := e.st.FindDeadLetters(ctx, consumer, model.ListOptions{}); len(dl.Data) != 0 {
		t.Fatalf("failed messages left: %+v", dl.Data)
	}
	r.none(t)
}

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptestRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, &http.Request{Method: "GET", Header: http.Header{}})
	return rec.Body.String()
}

// A 429 with Retry-After: 1 is tried again no sooner than a second later,
// though the schedule's step is 0.
func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, func(h hit) reply {
		if h.n == 1 {
			return reply{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "1"}}
		}
		return reply{status: 200}
	})
	e.endpoint(r.srv.URL, model.WebhookEventAll)
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, Schedule: []time.Duration{0, 0, 0}}, nil)
	e.referral("john@example.com")
	d.Wake()
	h1, h2 := r.next(t), r.next(t)
	if gap := h2.at.Sub(h1.at); gap < time.Second {
		t.Fatalf("second attempt %s after the first, want at least 1s", gap)
	}
}

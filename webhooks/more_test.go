package webhooks_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/webhooks"
)

// A URL whose host is a loopback address is refused (an attempt recorded
// with the reason, the receiver never reached) unless private networks
// are allowed; a dispatcher that allows them delivers it.
func TestRefusesPrivateAddress(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			e := newEnv(t)
			r := newReceiver(t, ok)
			url := strings.Replace(r.srv.URL, "127.0.0.1", host, 1)
			ep, _ := e.endpoint(url, model.WebhookEventAll)
			reg := prometheus.NewRegistry()
			schedule := []time.Duration{0, 10 * time.Millisecond, 200 * time.Millisecond, 10 * time.Millisecond}
			d := e.dispatcher(webhooks.Config{Schedule: schedule}, reg)
			ev := e.referral("john@example.com")
			d.Wake()
			ctx := context.Background()
			eventually(t, "the refused attempt recorded", func() bool {
				p, _ := e.st.WebhookProgressOf(ctx, ep.ID)
				return p != nil && p.Attempts >= 2
			})
			d.Stop()
			refused := attempts(t, e.st, ep.ID, ev.ID)
			for _, a := range refused {
				if a.Status != 0 || a.Succeeded || !strings.HasPrefix(a.Error, "refused: ") ||
					!strings.HasSuffix(a.Error, "is a loopback address; set webhooks.allow_private_networks to deliver on-prem") {
					t.Errorf("attempt %+v, want refused", a)
				}
			}
			if !strings.Contains(scrape(t, reg), `referrald_webhook_deliveries_total{endpoint="`+ep.ID+`",outcome="refused"} `+strconv.Itoa(len(refused))) {
				t.Error("metrics lack the refusals")
			}
			r.none(t)

			// Allowed, the next start goes on with the next attempt.
			e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, Schedule: schedule}, nil)
			if h := r.next(t); h.header.Get("webhook-id") != ev.ID {
				t.Fatalf("got %s, want %s", h.header.Get("webhook-id"), ev.ID)
			}
			n := len(refused) + 1
			eventually(t, "the delivery recorded", func() bool { return len(attempts(t, e.st, ep.ID, ev.ID)) == n })
			if a := attempts(t, e.st, ep.ID, ev.ID); a[n-1].Attempt != n || !a[n-1].Succeeded {
				t.Fatalf("last attempt %+v, want attempt %d delivered", a[n-1], n)
			}
		})
	}
}

// A restart goes on with the same event at the same attempt, when it is
// due, and delivers it exactly once more.
func TestRestartKeepsProgress(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, func(h hit) reply { return reply{status: 503} })
	ep, _ := e.endpoint(r.srv.URL, model.WebhookEventAll)
	schedule := []time.Duration{0, 300 * time.Millisecond, time.Millisecond, time.Millisecond}
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, Schedule: schedule}, nil)
	ev := e.referral("john@example.com")
	d.Wake()
	h1 := r.next(t)
	ctx := context.Background()
	eventually(t, "progress saved", func() bool { p, _ := e.st.WebhookProgressOf(ctx, ep.ID); return p != nil })
	d.Stop()
	p, _ := e.st.WebhookProgressOf(ctx, ep.ID)
	if p.EventID != ev.ID || p.Attempts != 1 || p.NextAt.Before(h1.at.Add(300*time.Millisecond)) {
		t.Fatalf("progress %+v", p)
	}
	r.setReply(ok)
	d = e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, Schedule: schedule}, nil)
	h2 := r.next(t)
	if h2.header.Get("webhook-id") != ev.ID || h2.at.Before(p.NextAt) {
		t.Fatalf("got %s at %s, want %s no sooner than %s", h2.header.Get("webhook-id"), h2.at, ev.ID, p.NextAt)
	}
	later := e.referral("jane@example.com")
	d.Wake()
	if h := r.next(t); h.header.Get("webhook-id") != later.ID {
		t.Fatalf("got %s, want the later event %s", h.header.Get("webhook-id"), later.ID)
	}
	r.none(t)
	a := attempts(t, e.st, ep.ID, ev.ID)
	if len(a) != 2 || a[0].Attempt != 1 || a[0].Status != 503 || a[1].Attempt != 2 || !a[1].Succeeded {
		t.Fatalf("attempts %+v", a)
	}
}

// Stop cuts off an attempt in flight at once; nothing is recorded of it,
// and the next start makes it again.
func TestStopCutsOffAttempt(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	var once sync.Once
	r := newReceiver(t, nil)
	// Before the server's Close, which waits for its handlers.
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	r.setReply(func(h hit) reply {
		if h.n == 1 {
			<-release // stuck until the test ends
		}
		return reply{status: 200}
	})
	ep, _ := e.endpoint(r.srv.URL, model.WebhookEventAll)
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true}, nil)
	ev := e.referral("john@example.com")
	d.Wake()
	// The handler signals a request only once it answers, so wait on
	// its count: the attempt is then in flight.
	eventually(t, "the request received", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.n == 1 })
	stopped := make(chan struct{})
	go func() { d.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second): // the attempt's timeout is 15 s
		t.Fatal("Stop did not cut off the attempt in flight")
	}
	if a := attempts(t, e.st, ep.ID, ev.ID); len(a) != 0 {
		t.Fatalf("attempts %+v recorded of a cut-off attempt", a)
	}
	once.Do(func() { close(release) })
	<-r.hits // the cut-off request
	e.dispatcher(webhooks.Config{AllowPrivateNetworks: true}, nil)
	if h := r.next(t); h.header.Get("webhook-id") != ev.ID {
		t.Fatalf("got %s, want %s", h.header.Get("webhook-id"), ev.ID)
	}
	eventually(t, "the delivery recorded", func() bool { return len(attempts(t, e.st, ep.ID, ev.ID)) == 1 })
	if a := attempts(t, e.st, ep.ID, ev.ID); a[0].Attempt != 1 || !a[0].Succeeded {
		t.Fatalf("attempt %+v, want the first attempt, made again", a[0])
	}
}

// After a rotation the message carries two signatures, one per secret.
func TestRotationSignsTwice(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, ok)
	ep, old := e.endpoint(r.srv.URL, model.WebhookEventAll)
	current, err := e.st.RotateWebhookSecret(context.Background(), ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true}, nil)
	e.referral("john@example.com")
	d.Wake()
	h := r.next(t)
	sigs := strings.Fields(h.header.Get("webhook-signature"))
	if len(sigs) != 2 {
		t.Fatalf("signatures %q, want two", sigs)
	}
	for i, secret := range []string{current, old} {
		one := h.header.Clone()
		one.Set("webhook-signature", sigs[i])
		if err := verify(secret, one, h.body, time.Now()); err != nil {
			t.Errorf("signature %d with its secret: %v", i, err)
		}
	}
}

// An endpoint is sent the events it subscribed to, in order: one of
// referral.created is not sent ambassador.created, and "*" is not sent
// impression.created.
func TestSubscriptions(t *testing.T) {
	e := newEnv(t)
	only, all := newReceiver(t, ok), newReceiver(t, ok)
	e.endpoint(only.srv.URL, model.EventReferralCreated)
	allEp, _ := e.endpoint(all.srv.URL, model.WebhookEventAll)
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true}, nil)
	e.newAmbassador("bob@example.com")
	amb := e.newest(model.EventAmbassadorCreated)
	if _, _, err := e.st.CreateImpression(context.Background(), model.ImpressionCreate{ProgramID: e.program.ID,
		AmbassadorID: e.ambassador.ID}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	ref := e.referral("john@example.com")
	d.Wake()
	if h := only.next(t); h.header.Get("webhook-id") != ref.ID {
		t.Fatalf("referral.created endpoint got %s (%s), want %s", h.header.Get("webhook-id"), decode(t, h).Type, ref.ID)
	}
	for _, want := range []*model.Event{amb, ref} {
		if h := all.next(t); h.header.Get("webhook-id") != want.ID {
			t.Fatalf("* endpoint got %s (%s), want %s (%s)", h.header.Get("webhook-id"), decode(t, h).Type, want.ID, want.Type)
		}
	}
	ctx := context.Background()
	eventually(t, "the * endpoint caught up", func() bool {
		lag, _ := e.st.HookLag(ctx, model.WebhookConsumer(allEp.ID), 10)
		return lag.Depth == 0
	})
	only.none(t)
	all.none(t)
}

// An endpoint failing for longer than model.WebhookFailingFor is
// disabled at its next failure.
func TestFailingTooLongDisables(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := newReceiver(t, func(h hit) reply {
		if h.n == 1 {
			// The first attempt fails, and days go by.
			mu.Lock()
			now = now.Add(model.WebhookFailingFor + time.Hour)
			mu.Unlock()
		}
		return reply{status: http.StatusInternalServerError}
	})
	ep, _ := e.endpoint(r.srv.URL, model.WebhookEventAll)
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, Now: clock,
		Schedule: []time.Duration{0, time.Millisecond, time.Millisecond, time.Millisecond}}, nil)
	ev := e.referral("john@example.com")
	d.Wake()
	r.next(t)
	r.next(t)
	ctx := context.Background()
	eventually(t, "the endpoint disabled", func() bool { cur, _ := e.st.FindWebhookEndpointByID(ctx, ep.ID); return cur.Disabled })
	cur, _ := e.st.FindWebhookEndpointByID(ctx, ep.ID)
	if *cur.DisabledReason != model.WebhookDisabledFailing {
		t.Fatalf("reason %q, want failing", *cur.DisabledReason)
	}
	if c, _ := e.st.HookCursor(ctx, model.WebhookConsumer(ep.ID)); c == ev.ID {
		t.Fatal("the event was passed over")
	}
	if a := attempts(t, e.st, ep.ID, ev.ID); len(a) != 2 {
		t.Fatalf("%d attempts, want 2", len(a))
	}
	r.none(t)
}

// A redirect is not followed and counts as a failure; an answer that does
// not come within the timeout is a failure; a changed URL takes effect at
// the next attempt.
func TestFailureKinds(t *testing.T) {
	e := newEnv(t)
	target := newReceiver(t, ok)
	redirect := newReceiver(t, nil)
	release := make(chan struct{})
	var once sync.Once
	slow := newReceiver(t, func(h hit) reply { <-release; return reply{status: 200} })
	// Before the server's Close, which waits for its handlers.
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	ep, _ := e.endpoint(redirect.srv.URL, model.WebhookEventAll)
	ctx := context.Background()
	redirect.setReply(func(h hit) reply {
		// The next attempts go to the URL as it is then.
		url := slow.srv.URL
		if _, err := e.st.UpdateWebhookEndpoint(ctx, ep.ID, model.WebhookEndpointUpdate{URL: &url}); err != nil {
			t.Error(err)
		}
		return reply{status: http.StatusFound, header: map[string]string{"Location": target.srv.URL}, body: "moved"}
	})
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, Timeout: 100 * time.Millisecond,
		Schedule: []time.Duration{0, time.Millisecond, time.Millisecond, time.Millisecond}}, nil)
	ev := e.referral("john@example.com")
	d.Wake()
	redirect.next(t)
	eventually(t, "the redirect recorded", func() bool { return len(attempts(t, e.st, ep.ID, ev.ID)) >= 1 })
	if a := attempts(t, e.st, ep.ID, ev.ID)[0]; a.Status != http.StatusFound || a.Succeeded || a.Response != "moved" {
		t.Fatalf("attempt %+v, want a failed 302", a)
	}
	eventually(t, "a timed-out attempt recorded", func() bool {
		for _, a := range attempts(t, e.st, ep.ID, ev.ID) {
			if a.Error == "no answer within 100ms" && a.Status == 0 {
				return true
			}
		}
		return false
	})
	once.Do(func() { close(release) })
	redirect.none(t)
	select {
	case h := <-target.hits:
		t.Fatalf("the redirect was followed: %s", h.header.Get("webhook-id"))
	default:
	}
}

// An endpoint deleted while its event is being tried is tried no more,
// and its delivery state is not brought back; other endpoints go on.
func TestDeletedEndpointStops(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	gone := newReceiver(t, nil)
	other := newReceiver(t, ok)
	ep, _ := e.endpoint(gone.srv.URL, model.WebhookEventAll)
	e.endpoint(other.srv.URL, model.WebhookEventAll)
	gone.setReply(func(h hit) reply {
		if h.n == 3 {
			if err := e.st.DeleteWebhookEndpoint(ctx, ep.ID); err != nil {
				t.Error(err)
			}
		}
		return reply{status: 500}
	})
	schedule := make([]time.Duration, 100)
	for i := range schedule {
		schedule[i] = time.Millisecond
	}
	d := e.dispatcher(webhooks.Config{AllowPrivateNetworks: true, Schedule: schedule}, nil)
	first := e.referral("john@example.com")
	d.Wake()
	for i := 0; i < 3; i++ {
		gone.next(t)
	}
	if h := other.next(t); h.header.Get("webhook-id") != first.ID {
		t.Fatalf("got %s, want %s", h.header.Get("webhook-id"), first.ID)
	}
	later := e.referral("jane@example.com")
	d.Wake()
	if h := other.next(t); h.header.Get("webhook-id") != later.ID {
		t.Fatalf("got %s, want %s", h.header.Get("webhook-id"), later.ID)
	}
	gone.none(t)
	consumer := model.WebhookConsumer(ep.ID)
	if cur, _ := e.st.HookCursor(ctx, consumer); cur != "" {
		t.Fatalf("cursor %s of the deleted endpoint brought back", cur)
	}
	if dl, _ := e.st.FindDeadLetters(ctx, consumer, model.ListOptions{}); len(dl.Data) != 0 {
		t.Fatalf("failed messages of the deleted endpoint: %+v", dl.Data)
	}
}

package store_test

import (
	"context"
	"testing"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// A dead letter retried by an operator that then succeeds must record the
// commission the plugin returned, as a first delivery does.
func TestRetriedDeadLetterRecordsThePluginsCommission(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t, store.Options{})
	fx := mustFixture(t, s, "ada@example.com")
	ref, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: fx.impression.ID,
		FirstName: "Jo", LastName: "Doe", Email: "jo@example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.FindEvents(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var created *model.Event
	for _, ev := range events {
		if ev.Type == model.EventReferralCreated {
			created = ev
		}
	}
	if created == nil {
		t.Fatal("no referral.created event")
	}
	const plugin = "bounty"
	if err := s.DeadLetterHookEvent(ctx, model.DeadLetter{Plugin: plugin, EventID: created.ID,
		EventType: created.Type, Attempts: 3, LastError: "down"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RetryDeadLetters(ctx, plugin, nil); err != nil || n != 1 {
		t.Fatalf("RetryDeadLetters = %d, %v; want 1", n, err)
	}
	retry, err := s.NextHookRetry(ctx, plugin)
	if err != nil || retry == nil || retry.ID != created.ID {
		t.Fatalf("NextHookRetry = %v, %v; want %s", retry, err, created.ID)
	}
	result := &model.HookResult{Plugin: plugin, PluginVersion: "1", EventID: created.ID, EventType: created.Type,
		Commission: &model.HookCommission{AmbassadorID: fx.ambassador.ID, Amount: 250, Currency: "EUR", Reason: "signup bounty"}}
	if err := s.AckHookRetry(ctx, plugin, created.ID, result, nil); err != nil {
		t.Fatal(err)
	}
	page, err := s.FindCommissions(ctx, model.CommissionFilter{AmbassadorID: fx.ambassador.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Fatalf("got %d commissions, want the plugin's one", len(page.Data))
	}
	c := page.Data[0]
	if c.Amount != 250 || c.Currency != "EUR" || c.ReferralID != ref.ID || c.Kind != model.CommissionBounty {
		t.Errorf("got commission %+v, want 250 EUR bounty for %s", c, ref.ID)
	}
	// The same retry acknowledged twice (a crash between the plugin's
	// answer and the ack) pays once.
	if err := s.AckHookRetry(ctx, plugin, created.ID, result, nil); err != nil {
		t.Fatal(err)
	}
	if page, _ := s.FindCommissions(ctx, model.CommissionFilter{AmbassadorID: fx.ambassador.ID}); len(page.Data) != 1 {
		t.Errorf("got %d commissions after a second ack, want 1", len(page.Data))
	}
}

// A plugin met for the first time starts after the newest event or before
// the oldest, as asked; a plugin that has a cursor keeps it, so a restart
// never skips what it has not been sent.
func TestStartHookCursor(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t, store.Options{})
	// On an empty outbox, "now" still means everything to come.
	if cur, err := s.StartHookCursor(ctx, "early", true); err != nil || cur != "" {
		t.Fatalf("empty outbox: got %q, %v; want no cursor", cur, err)
	}
	fx := mustFixture(t, s, "ada@example.com")
	if _, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: fx.impression.ID,
		FirstName: "Jo", LastName: "Doe", Email: "jo@example.com"}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	events, err := s.FindEvents(ctx, "", 100)
	if err != nil || len(events) < 2 {
		t.Fatalf("got %d events, %v; want at least 2", len(events), err)
	}
	newest := events[len(events)-1].ID
	cases := []struct {
		plugin  string
		fromNow bool
		want    string
	}{
		{"early", true, ""}, // met before the events: keeps its place
		{"added", true, newest},
		{"history", false, ""},
	}
	for _, c := range cases {
		for range 2 { // and again, as at the next start
			cur, err := s.StartHookCursor(ctx, c.plugin, c.fromNow)
			if err != nil || cur != c.want {
				t.Fatalf("%s: got %q, %v; want %q", c.plugin, cur, err, c.want)
			}
		}
		pending, err := s.FindEvents(ctx, c.want, 100)
		if err != nil {
			t.Fatal(err)
		}
		if wantPending := map[bool]int{true: 0, false: len(events)}[c.want == newest]; len(pending) != wantPending {
			t.Errorf("%s: %d events pending, want %d", c.plugin, len(pending), wantPending)
		}
	}
	if cur, _ := s.HookCursor(ctx, "history"); cur != "" {
		t.Errorf("a plugin at the start of the outbox shows cursor %q, want none", cur)
	}
}

// HookLag counts a plugin's dead letters, and only its own, up to the
// limit; a retried one is no longer counted.
func TestHookLagCountsDeadLetters(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t, store.Options{})
	mustFixture(t, s, "ada@example.com")
	events, err := s.FindEvents(ctx, "", 100)
	if err != nil || len(events) < 2 {
		t.Fatalf("FindEvents: %d events, %v; want at least 2", len(events), err)
	}
	for _, plugin := range []string{"bounty", "b"} {
		if _, err := s.StartHookCursor(ctx, plugin, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range events[:2] {
		if err := s.DeadLetterHookEvent(ctx, model.DeadLetter{Plugin: "bounty", EventID: ev.ID, EventType: ev.Type, Attempts: 10}); err != nil {
			t.Fatal(err)
		}
	}
	lag := func(plugin string, limit int) model.HookLag {
		t.Helper()
		l, err := s.HookLag(ctx, plugin, limit)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if got := lag("bounty", 100); got.DeadLetters != 2 || got.Depth != len(events)-2 {
		t.Fatalf("bounty: %+v, want 2 dead letters and %d undelivered", got, len(events)-2)
	}
	if got := lag("bounty", 1).DeadLetters; got != 1 {
		t.Fatalf("bounty counted up to 1: got %d", got)
	}
	if got := lag("b", 100); got.DeadLetters != 0 || got.Depth != len(events) {
		t.Fatalf("b, which shares bounty's first letter: %+v, want no dead letters and %d undelivered", got, len(events))
	}
	if _, err := s.RetryDeadLetters(ctx, "bounty", []string{events[0].ID}); err != nil {
		t.Fatal(err)
	}
	if got := lag("bounty", 100).DeadLetters; got != 1 {
		t.Fatalf("after retrying one: %d dead letters, want 1", got)
	}
}

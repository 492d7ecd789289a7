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

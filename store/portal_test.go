package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// A magic link signs its ambassador in once, within its lifetime, and
// only while they are active; their sessions end when they are paused.
func TestPortalLinksAndSessions(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()
	ada := mustFixture(t, s, "ada@example.com").ambassador

	link, err := s.CreatePortalLink(ctx, ada.ID, model.PortalLinkTTL)
	if err != nil {
		t.Fatal(err)
	}
	if !link.ExpiresAt.Equal(clk.Now().Add(model.PortalLinkTTL)) || len(link.Token) < 40 {
		t.Fatalf("link %+v", link)
	}
	sess, token, err := s.RedeemPortalLink(ctx, link.Token)
	if err != nil || sess.AmbassadorID != ada.ID || token == "" || token == link.Token {
		t.Fatalf("redeem: %+v %q %v", sess, token, err)
	}
	if _, _, err := s.RedeemPortalLink(ctx, link.Token); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("second redeem: %v, want unauthorized", err)
	}
	got, amb, err := s.PortalSessionByToken(ctx, token, idle, absolute)
	if err != nil || got.ID != sess.ID || amb.ID != ada.ID {
		t.Fatalf("session: %+v %+v %v", got, amb, err)
	}
	// A console session token is not a portal one, nor the other way.
	if _, _, err := s.SessionByToken(ctx, token, idle, absolute); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("portal token as a console session: %v", err)
	}

	// An expired link does not sign in, and is spent by trying.
	late, err := s.CreatePortalLink(ctx, ada.ID, model.PortalLinkTTL)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(model.PortalLinkTTL)
	if _, _, err := s.RedeemPortalLink(ctx, late.Token); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("expired link: %v, want unauthorized", err)
	}

	// Sign-out ends the session.
	second, _ := s.CreatePortalLink(ctx, ada.ID, 0)
	_, other, err := s.RedeemPortalLink(ctx, second.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EndPortalSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PortalSessionByToken(ctx, other, idle, absolute); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("ended session: %v", err)
	}

	// Pausing the ambassador ends their sessions and refuses new links,
	// and a link made before does not sign in.
	pending, _ := s.CreatePortalLink(ctx, ada.ID, 0)
	paused := model.AmbassadorPaused
	if _, err := s.UpdateAmbassador(ctx, ada.ID, model.AmbassadorUpdate{Status: &paused}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PortalSessionByToken(ctx, token, idle, absolute); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("session of a paused ambassador: %v", err)
	}
	if _, _, err := s.RedeemPortalLink(ctx, pending.Token); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("link of a paused ambassador: %v", err)
	}
	if _, err := s.CreatePortalLink(ctx, ada.ID, 0); model.ErrorCode(err) != model.EConflict {
		t.Fatalf("new link for a paused ambassador: %v, want conflict", err)
	}
	if err := s.RequestPortalLink(ctx, ada.ID, model.LinkViaLogin); model.ErrorCode(err) != model.EConflict {
		t.Fatalf("link request for a paused ambassador: %v, want conflict", err)
	}
	if _, err := s.CreatePortalLink(ctx, "amb_01jdq3f7k8m2n4p6r8t0v2x4z6", 0); model.ErrorCode(err) != model.ENotFound {
		t.Fatalf("unknown ambassador: %v", err)
	}
}

// The sweep deletes links that expired unused.
func TestPrunePortalLinks(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()
	ada := mustFixture(t, s, "ada@example.com").ambassador
	for range 3 {
		if _, err := s.CreatePortalLink(ctx, ada.ID, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	keep, _ := s.CreatePortalLink(ctx, ada.ID, time.Hour)
	if n, err := s.PrunePortalLinks(ctx, clk.Now()); err != nil || n != 0 {
		t.Fatalf("pruned %d, %v before any expired", n, err)
	}
	clk.Add(2 * time.Minute)
	if n, err := s.PrunePortalLinks(ctx, clk.Now()); err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3", n, err)
	}
	if _, _, err := s.RedeemPortalLink(ctx, keep.Token); err != nil {
		t.Fatalf("the link still valid was pruned: %v", err)
	}
}

// eventsOf returns the events of type typ, oldest first.
func eventsOf(t *testing.T, s *store.Store, typ string) []*model.Event {
	t.Helper()
	all, err := s.FindEvents(context.Background(), "", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*model.Event
	for _, ev := range all {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// A link request is an event naming the ambassador and carrying no
// token.
func TestRequestPortalLinkWritesAnEvent(t *testing.T) {
	s := MustOpenStore(t, store.Options{SweepInterval: -1})
	ada := mustFixture(t, s, "ada@example.com").ambassador
	if err := s.RequestPortalLink(context.Background(), ada.ID, model.LinkViaConsole); err != nil {
		t.Fatal(err)
	}
	evs := eventsOf(t, s, model.EventPortalLinkRequested)
	if len(evs) != 1 {
		t.Fatalf("got %d link request events", len(evs))
	}
	var d model.PortalLinkRequestedData
	if err := json.Unmarshal(evs[0].Data, &d); err != nil || d != (model.PortalLinkRequestedData{AmbassadorID: ada.ID, Via: model.LinkViaConsole}) {
		t.Fatalf("data %s: %+v %v", evs[0].Data, d, err)
	}
	if n := len(eventsOf(t, s, model.EventAmbassadorCreated)); n != 1 {
		t.Fatalf("got %d ambassador.created events, want 1", n)
	}
}

// Every commission made writes commission.created; every approval one
// commission.approved event: by hand at once, by the end of a hold
// period when the sweep next runs, by a release after the hold period
// ended at once; and a payout writes payout.created and commission.paid
// for each commission it paid.
func TestApprovalAndPayoutEvents(t *testing.T) {
	f := newMoneyFixture(t, 30, 30, 30, 0)
	ctx := context.Background()
	approved := func() []string {
		var ids []string
		for _, ev := range eventsOf(t, f.s, model.EventCommissionApproved) {
			var c model.Commission
			if err := json.Unmarshal(ev.Data, &c); err != nil || c.Status != model.CommissionApproved {
				t.Fatalf("event %s: %+v %v", ev.Data, c, err)
			}
			ids = append(ids, c.ID)
		}
		return ids
	}
	// The zero-day hold was approved when made; the sweep writes it.
	if n, err := f.s.EmitTimedApprovals(ctx, f.clk.Now()); err != nil || n != 1 {
		t.Fatalf("first sweep wrote %d, %v; want 1", n, err)
	}
	if _, err := f.s.ApproveCommission(ctx, f.commissions[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.HoldCommission(ctx, f.commissions[1].ID); err != nil {
		t.Fatal(err)
	}
	if got, want := approved(), f.ids(3, 0); fmtIDs(got) != want {
		t.Fatalf("approved events %v, want %v", got, want)
	}
	f.clk.Add(31 * 24 * time.Hour)
	// The held one stays pending; the third is approved by the time.
	if n, err := f.s.EmitTimedApprovals(ctx, f.clk.Now()); err != nil || n != 1 {
		t.Fatalf("sweep after the hold wrote %d, %v; want 1", n, err)
	}
	if n, err := f.s.EmitTimedApprovals(ctx, f.clk.Now()); err != nil || n != 0 {
		t.Fatalf("a second sweep wrote %d, %v; want 0", n, err)
	}
	if _, err := f.s.ReleaseCommission(ctx, f.commissions[1].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := f.s.EmitTimedApprovals(ctx, f.clk.Now()); err != nil || n != 0 {
		t.Fatalf("the sweep after a release wrote %d, %v; want 0", n, err)
	}
	if got, want := approved(), f.ids(3, 0, 2, 1); fmtIDs(got) != want {
		t.Fatalf("approved events %v, want %v", got, want)
	}
	p, _, err := f.s.CreatePayout(ctx, model.PayoutCreate{AmbassadorID: f.ambassador.ID, Currency: "USD", ExternalReference: "wire 7"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(eventsOf(t, f.s, model.EventCommissionCreated)); n != 4 {
		t.Errorf("got %d commission.created events, want 4", n)
	}
	if n := len(eventsOf(t, f.s, model.EventCommissionPaid)); n != 4 {
		t.Errorf("got %d commission.paid events, want 4", n)
	}
	evs := eventsOf(t, f.s, model.EventPayoutCreated)
	var got model.Payout
	if len(evs) != 1 || json.Unmarshal(evs[0].Data, &got) != nil || got.ID != p.ID || got.Amount != 400 {
		t.Fatalf("payout events %d: %+v", len(evs), got)
	}
}

func fmtIDs(ids []string) string {
	f := &moneyFixture{}
	for _, id := range ids {
		f.commissions = append(f.commissions, &model.Commission{ID: id})
	}
	is := make([]int, len(ids))
	for i := range is {
		is[i] = i
	}
	return f.ids(is...)
}

package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// outboxSizes counts the events and their by-subject index entries.
func outboxSizes(t *testing.T, s *Store) (events, bySubject int) {
	t.Helper()
	s.db.View(func(tx *bolt.Tx) error {
		events = tx.Bucket(bucketOutbox).Stats().KeyN
		bySubject = tx.Bucket(bucketOutboxBySubject).Stats().KeyN
		return nil
	})
	return events, bySubject
}

// withEvents opens a store on clk and writes events of every form: a
// referral's record event, a JSON event that names its subject, and one
// of the form written before events named their subject.
func withEvents(t *testing.T, opt Options, clk *TestClock) (*Store, *model.Referral) {
	t.Helper()
	opt.Now, opt.SweepInterval = clk.Now, -1
	s, p, a := openWithAmbassador(t, filepath.Join(t.TempDir(), FileName), opt)
	checkAndCloseAtCleanup(t, s)
	ctx := context.Background()
	imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
		Email: "j@x.example"}, model.Idempotency{Scope: "key_1", Key: "signup"})
	if err != nil {
		t.Fatal(err)
	}
	rejected := model.ReferralRejected
	if _, err := s.UpdateReferral(ctx, ref.ID, model.ReferralUpdate{Status: &rejected}); err != nil {
		t.Fatal(err)
	}
	err = s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		e := newEncoder()
		e.str("referral.status_changed")
		e.time(model.NewTime(clk.Now()))
		e.bytes([]byte(`{"referral":{"id":"` + ref.ID + `"},"previous_status":"pending"}`))
		return s.putEvent(tx, clk.Now(), keyOf(model.PrefixReferral, ref.ID), e.b)
	}))
	if err != nil {
		t.Fatal(err)
	}
	return s, ref
}

// Without consumers, events are kept for the retention, however short,
// then go with their index entries; a replay does not need them, and
// erasure still works on what is left.
func TestPruneOutboxWithoutConsumers(t *testing.T) {
	ctx := context.Background()
	clk := &TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s, ref := withEvents(t, Options{OutboxRetention: time.Hour}, clk)
	events, _ := outboxSizes(t, s)

	clk.Add(59 * time.Minute)
	if n, err := s.PruneOutbox(ctx, clk.Now()); err != nil || n != 0 {
		t.Fatalf("within the retention: pruned %d, %v; want 0", n, err)
	}
	clk.Add(2 * time.Minute) // past the retention, within the idempotency window
	if n, err := s.PruneOutbox(ctx, clk.Now()); err != nil || n != events {
		t.Fatalf("past the retention: pruned %d, %v; want all %d", n, err, events)
	}
	if events, bySubject := outboxSizes(t, s); events != 0 || bySubject != 0 {
		t.Fatalf("after pruning: %d events, %d index entries; want none", events, bySubject)
	}
	replay, replayed, err := s.CreateReferral(ctx, model.ReferralCreate{}, model.Idempotency{Scope: "key_1", Key: "signup"})
	if err != nil || !replayed || replay.ID != ref.ID || replay.Status != model.ReferralPending {
		t.Fatalf("replay: %v %v %v; want the referral as created, pending", replay, replayed, err)
	}
	if _, err := s.EraseReferral(ctx, ref.ID); err != nil {
		t.Fatal(err)
	}
	if events, bySubject := outboxSizes(t, s); events != 1 || bySubject != 1 {
		t.Fatalf("after erasure: %d events, %d index entries; want the referral.erased event", events, bySubject)
	}
}

// With consumers, an event goes once every one of them has passed it and
// none holds it as a dead letter or a queued retry.
func TestPruneOutboxWaitsForEveryConsumer(t *testing.T) {
	ctx := context.Background()
	clk := &TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s, _ := withEvents(t, Options{OutboxConsumers: []string{"crm", "bounty"}, OutboxRetention: time.Hour}, clk)
	all, err := s.FindEvents(ctx, "", 100)
	if err != nil || len(all) < 4 {
		t.Fatalf("got %d events, %v", len(all), err)
	}
	clk.Add(25 * time.Hour)
	prune := func(want int) {
		t.Helper()
		if n, err := s.PruneOutbox(ctx, clk.Now()); err != nil || n != want {
			t.Fatalf("pruned %d, %v; want %d", n, err, want)
		}
	}
	prune(0) // no consumer has started
	for _, c := range []string{"crm", "bounty"} {
		if _, err := s.StartHookCursor(ctx, c, false); err != nil {
			t.Fatal(err)
		}
	}
	prune(0) // both at the start
	// crm is done with everything; bounty with the first three, the
	// second of them a dead letter.
	if err := s.AckHookEvent(ctx, "crm", all[len(all)-1].ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AckHookEvent(ctx, "bounty", all[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetterHookEvent(ctx, model.DeadLetter{Plugin: "bounty", EventID: all[1].ID, EventType: all[1].Type}); err != nil {
		t.Fatal(err)
	}
	if err := s.AckHookEvent(ctx, "bounty", all[2].ID, nil); err != nil {
		t.Fatal(err)
	}
	prune(2) // the first and third; the dead letter stays
	if _, err := s.RetryDeadLetters(ctx, "bounty", nil); err != nil {
		t.Fatal(err)
	}
	prune(0) // queued for retry
	retry, err := s.NextHookRetry(ctx, "bounty")
	if err != nil || retry == nil || retry.ID != all[1].ID {
		t.Fatalf("the retried event must still be there: %v %v", retry, err)
	}
	if err := s.AckHookRetry(ctx, "bounty", retry.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	prune(1)
	if left, _ := s.FindEvents(ctx, "", 100); len(left) != len(all)-3 || left[0].ID != all[3].ID {
		t.Fatalf("left %d events, want the %d bounty has not passed", len(left), len(all)-3)
	}
}

// Space tells what the outbox takes of the file, and the rest.
func TestSpace(t *testing.T) {
	ctx := context.Background()
	clk := &TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s, _ := withEvents(t, Options{OutboxRetention: time.Hour}, clk)
	events, _ := outboxSizes(t, s)
	sp, err := s.Space()
	if err != nil {
		t.Fatal(err)
	}
	if sp.OutboxEvents != events || sp.OutboxBytes() <= 0 || sp.Buckets["referrals"] <= 0 || sp.FileBytes <= sp.OutboxBytes() ||
		sp.OutboxShare() != float64(sp.OutboxBytes())/float64(sp.FileBytes) {
		t.Fatalf("space with %d events: %+v, outbox %d bytes", events, sp, sp.OutboxBytes())
	}
	clk.Add(2 * time.Hour)
	if _, err := s.PruneOutbox(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if after, err := s.Space(); err != nil || after.OutboxEvents != 0 {
		t.Fatalf("after pruning: %d events, %v", after.OutboxEvents, err)
	}
}

package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// allAudit reads the whole audit log, newest first, a small page at a
// time so that paging is exercised too.
func allAudit(t *testing.T, s *store.Store, f model.AuditFilter) []*model.AuditEntry {
	t.Helper()
	f.Limit = 3
	var out []*model.AuditEntry
	for {
		page, err := s.FindAudit(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Data...)
		if !page.HasMore {
			return out
		}
		f.Cursor = *page.NextCursor
	}
}

func actions(entries []*model.AuditEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Action)
	}
	return out
}

// Every change an audited actor makes is in the audit log, newest first,
// with who made it; the same changes made without one leave no entry.
func TestAuditLogsEveryAuditedWrite(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	user := model.Actor{Kind: model.ActorUser, ID: "usr_01jdq3f7k8m2n4p6r8t0v2x4z6", Label: "ann@example.com",
		SessionID: "ses_01jdq3f7k8m2n4p6r8t0v2x4z7", Audited: true}
	ctx := model.WithActor(context.Background(), user)
	bg := context.Background()

	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com",
		Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateProgram(ctx, prg.ID, model.ProgramUpdate{Name: ptr("Spring 2027"), HoldDays: ptr(7)}); err != nil {
		t.Fatal(err)
	}
	amb, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "Zelda", LastName: "Lovelace", Email: "zelda@uni.example",
		Status: model.AmbassadorActive}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateAmbassador(ctx, amb.ID, model.AmbassadorUpdate{Email: ptr("zelda.l@uni.example"),
		Status: ptr(model.AmbassadorPaused)}); err != nil {
		t.Fatal(err)
	}
	plc, _, err := s.CreatePlacement(ctx, model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: amb.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreatePlacements(ctx, model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: amb.ID}, 2, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdatePlacement(ctx, plc.ID, model.PlacementUpdate{Active: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	// Scans and signups come in with a write key: no entries.
	imp, _, err := s.CreateImpression(bg, model.ImpressionCreate{ProgramID: prg.ID, AmbassadorID: amb.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	writeKey := model.WithActor(bg, model.Actor{Kind: model.ActorAPIKey, ID: "key_01jdq3f7k8m2n4p6r8t0v2x4z8", Label: "crm"})
	ref, _, err := s.CreateReferral(writeKey, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "John", LastName: "Doe",
		Email: "john.doe@example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateReferral(writeKey, ref.ID, model.ReferralUpdate{Metadata: ptr(model.Metadata(`{"crm":"1"}`))}); err != nil {
		t.Fatal(err)
	}
	ern, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: ref.ID, Amount: 1999, Currency: "USD"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	coms, _ := s.FindCommissions(bg, model.CommissionFilter{EarningID: ern.ID})
	if _, err := s.ApproveCommission(ctx, coms.Data[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreatePayout(ctx, model.PayoutCreate{AmbassadorID: amb.ID, Currency: "USD", ExternalReference: "bank-1"}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	ref2, _, err := s.CreateReferral(bg, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "Jane", LastName: "Roe",
		Email: "jane.roe@example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	ern2, _, err := s.CreateEarning(bg, model.EarningCreate{ReferralID: ref2.ID, Amount: 500, Currency: "USD"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RefundEarning(ctx, ern2.ID, model.EarningRefund{Amount: 100}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateReferral(ctx, ref2.ID, model.ReferralUpdate{Metadata: ptr(model.Metadata(`{"note":"x"}`))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseReferral(ctx, ref2.ID); err != nil {
		t.Fatal(err)
	}
	key, _, err := s.CreateAPIKey(ctx, model.APIKeyCreate{Name: "bi", Scope: model.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, model.UserCreate{Email: "vic@example.com", Role: model.RoleViewer, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, u.ID, model.UserUpdate{Role: ptr(model.RoleManager)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateSession(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.EndUserSessions(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	// Refused writes and writes that change nothing leave no entry.
	if _, err := s.CreateUser(ctx, model.UserCreate{Email: "VIC@example.com", Role: model.RoleViewer, Password: testPassword}); err == nil {
		t.Fatal("a second user with one email")
	}
	if _, err := s.UpdateUser(ctx, u.ID, model.UserUpdate{Role: ptr(model.RoleManager)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseReferral(ctx, ref2.ID); err != nil {
		t.Fatal(err)
	}

	entries := allAudit(t, s, model.AuditFilter{})
	got := actions(entries)
	slices.Reverse(got)
	want := []string{"program.created", "program.updated", "ambassador.created", "ambassador.updated",
		"placement.created", "placement.created", "placement.created", "placement.updated",
		"earning.created", "commission.approved", "payout.created", "earning.refunded", "referral.updated", "referral.erased",
		"api_key.created", "api_key.revoked", "user.created", "user.updated", "user.sessions_ended"}
	if !slices.Equal(got, want) {
		t.Fatalf("got actions, oldest first:\n  %v\nwant\n  %v", got, want)
	}
	for i, e := range entries {
		if e.Actor != user || !strings.HasPrefix(e.ID, model.PrefixAudit+"_") || e.Subject == "" || e.Summary == "" {
			t.Errorf("entry %+v: want every field, by %+v", e, user)
		}
		if i > 0 && e.ID >= entries[i-1].ID {
			t.Errorf("entries are not newest first at %d", i)
		}
		for _, personal := range []string{"zelda", "Lovelace", "john", "jane", "Roe", "uni.example", "bank-1", testPassword, "note"} {
			if strings.Contains(strings.ToLower(e.Summary), strings.ToLower(personal)) {
				t.Errorf("%s summary %q holds %q", e.Action, e.Summary, personal)
			}
		}
	}
	summaries := map[string]string{}
	for _, e := range entries {
		summaries[e.Action] = e.Summary
	}
	for action, want := range map[string]string{
		"program.created":    `name "Spring"`,
		"program.updated":    "changed hold_days 30 → 7, name",
		"ambassador.updated": "changed email, status active → paused",
		"referral.updated":   "changed metadata",
		"earning.created":    "1999 USD for referral " + ref.ID,
		"user.updated":       "role viewer → manager",
		"api_key.created":    `name "bi", scope read`,
	} {
		if summaries[action] != want {
			t.Errorf("%s: got summary %q, want %q", action, summaries[action], want)
		}
	}
}

func TestFindAuditFilters(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	as := func(id string) context.Context {
		return model.WithActor(context.Background(), model.Actor{Kind: model.ActorAPIKey, ID: id, Label: id, Audited: true})
	}
	var programs []*model.Program
	for i := range 4 {
		p, _, err := s.CreateProgram(as("key_a"), model.ProgramCreate{Name: fmt.Sprint("P", i), LandingURL: "https://example.com"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		programs = append(programs, p)
	}
	for i := range 5 {
		if _, err := s.UpdateProgram(as([]string{"key_a", "key_b"}[i%2]), programs[0].ID, model.ProgramUpdate{HoldDays: ptr(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	admin := model.WithActor(context.Background(), model.Actor{Kind: model.ActorAdminToken, Label: "admin token", Audited: true})
	if _, err := s.UpdateProgram(admin, programs[1].ID, model.ProgramUpdate{Name: ptr("Renamed")}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    model.AuditFilter
		want int
	}{
		{model.AuditFilter{}, 10},
		{model.AuditFilter{Subject: programs[0].ID}, 6},
		{model.AuditFilter{Subject: programs[1].ID}, 2},
		{model.AuditFilter{ActorID: "key_a"}, 7},
		{model.AuditFilter{ActorID: "key_b"}, 2},
		{model.AuditFilter{ActorID: "key_c"}, 0},
		{model.AuditFilter{Action: "program.updated"}, 6},
		{model.AuditFilter{Action: "program.created", ActorID: "key_b"}, 0},
		{model.AuditFilter{Subject: programs[0].ID, ActorID: "key_a", Action: "program.updated"}, 3},
		{model.AuditFilter{Subject: programs[1].ID, Action: "program.updated"}, 1},
	} {
		got := allAudit(t, s, c.f)
		if len(got) != c.want {
			t.Errorf("%+v: got %d entries, want %d", c.f, len(got), c.want)
		}
		for _, e := range got {
			if c.f.Subject != "" && e.Subject != c.f.Subject || c.f.ActorID != "" && e.Actor.ID != c.f.ActorID ||
				c.f.Action != "" && e.Action != c.f.Action {
				t.Errorf("%+v: got %+v", c.f, e)
			}
		}
	}
	if e := allAudit(t, s, model.AuditFilter{Subject: programs[1].ID})[0]; e.Actor.Kind != model.ActorAdminToken || e.Actor.ID != "" {
		t.Errorf("the admin token's entry: %+v", e)
	}
	_, err := s.FindAudit(context.Background(), model.AuditFilter{ListOptions: model.ListOptions{Cursor: "prg_nope"}})
	wantCode(t, "a bad cursor", err, model.EValidation)
}

package store

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// A program keeps its caps per currency, and so does the basis of each
// commission its rule pays.
func TestProgramCapsRoundTrip(t *testing.T) {
	caps := map[string]int64{"USD": 2000, "JPY": 3000}
	p := &model.Program{Name: "P", Commission: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1000, Caps: caps}}
	got, err := decodeProgram(make([]byte, 16), encodeProgram(p))
	if err != nil || !maps.Equal(got.Commission.Caps, caps) || got.Commission.LegacyCap != 0 {
		t.Fatalf("got %+v %v, want caps %v", got.Commission, err, caps)
	}
	c := &model.Commission{Kind: model.CommissionEarning, Basis: model.CommissionBasis{Rule: p.Commission}}
	gotC, err := decodeCommission(make([]byte, 16), encodeCommission(c))
	if err != nil || !maps.Equal(gotC.Basis.Rule.Caps, caps) {
		t.Fatalf("commission basis: got %+v %v, want caps %v", gotC.Basis.Rule, err, caps)
	}
}

// A program stored before caps were per currency has its single cap in
// the slot that held it, and nothing after its fraud policy. It reads
// back with that cap as a legacy one, which refuses earnings (nobody can
// say which currency it meant) until the rule is set again with caps.
func TestLegacyCapIsReadAndRefusesEarnings(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@x.example"}, model.Idempotency{})
	imp, _, _ := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: prg.ID, AmbassadorID: a.ID}, model.Idempotency{})
	ref, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D", Email: "j@x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}

	old := *prg
	old.Commission = &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1000, LegacyCap: 500}
	val := encodeProgram(&old)
	val = val[:len(val)-2] // the empty caps and the status, a 0 byte each, which the old layout did not have
	key := keyOf(model.PrefixProgram, prg.ID)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPrograms).Put(key[:], val) }); err != nil {
		t.Fatal(err)
	}

	got, err := s.FindProgramByID(ctx, prg.ID)
	if err != nil || got.Commission.LegacyCap != 500 || got.Commission.Caps != nil || got.FraudPolicy != model.FraudFlag {
		t.Fatalf("legacy program: %+v %v", got.Commission, err)
	}
	earning := model.EarningCreate{ReferralID: ref.ID, Amount: 100000, Currency: "USD"}
	if _, _, err := s.CreateEarning(ctx, earning, model.Idempotency{}); model.ErrorCode(err) != model.EConflict {
		t.Fatalf("an earning under a cap without a currency: got %v, want a conflict", err)
	}
	// Other changes keep the legacy cap; a new rule replaces it.
	name := "Renamed"
	if got, err := s.UpdateProgram(ctx, prg.ID, model.ProgramUpdate{Name: &name}); err != nil || got.Commission.LegacyCap != 500 {
		t.Fatalf("after a rename: %+v %v", got.Commission, err)
	}
	rule := &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1000, Caps: map[string]int64{"USD": 500}}
	if _, err := s.UpdateProgram(ctx, prg.ID, model.ProgramUpdate{Commission: rule, CommissionSet: true}); err != nil {
		t.Fatal(err)
	}
	e, _, err := s.CreateEarning(ctx, earning, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.FindCommissions(ctx, model.CommissionFilter{ListOptions: model.ListOptions{Limit: 10}, EarningID: e.ID})
	if err != nil || len(page.Data) != 1 || page.Data[0].Amount != 500 || page.Data[0].Basis.Rule.Caps["USD"] != 500 {
		t.Fatalf("commission under the new caps: %+v %v", page.Data, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// A commission stored before caps were per currency shows its rule's cap
// as it was, without a currency.
func TestLegacyCommissionBasisKeepsItsCap(t *testing.T) {
	c := &model.Commission{Kind: model.CommissionEarning, Currency: "USD",
		Basis: model.CommissionBasis{Rule: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1000, LegacyCap: 500}}}
	val := encodeCommission(c)
	got, err := decodeCommission(make([]byte, 16), val[:len(val)-1]) // without the empty caps the old layout lacked
	if err != nil || got.Basis.Rule.LegacyCap != 500 || got.Basis.Rule.Caps != nil {
		t.Fatalf("got %+v %v", got.Basis.Rule, err)
	}
}

// A program is active unless archived; one stored before programs had a
// status reads as active. An archived one is listed only when asked for
// (or with no status filter) and takes no new placements.
func TestProgramStatus(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	older, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Old", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil || older.Status != model.ProgramActive {
		t.Fatalf("new program: %+v %v, want active", older, err)
	}
	val := encodeProgram(older)
	key := keyOf(model.PrefixProgram, older.ID)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPrograms).Put(key[:], val[:len(val)-1]) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindProgramByID(ctx, older.ID); err != nil || got.Status != model.ProgramActive {
		t.Fatalf("a program from before statuses: %+v %v, want active", got, err)
	}

	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	archived := model.ProgramArchived
	if got, err := s.UpdateProgram(ctx, prg.ID, model.ProgramUpdate{Status: &archived}); err != nil || got.Status != archived {
		t.Fatalf("archive: %+v %v", got, err)
	}
	if got, err := s.FindProgramByID(ctx, prg.ID); err != nil || got.Status != archived || got.Name != "P" {
		t.Fatalf("archived program read back: %+v %v", got, err)
	}
	for _, tc := range []struct {
		status model.ProgramStatus
		want   []string
	}{
		{"", []string{prg.ID, older.ID}},
		{model.ProgramActive, []string{older.ID}},
		{model.ProgramArchived, []string{prg.ID}},
	} {
		page, err := s.FindPrograms(ctx, model.ProgramFilter{Status: tc.status})
		var got []string
		for _, p := range page.Data {
			got = append(got, p.ID)
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("status %q: got %v %v, want %v", tc.status, got, err, tc.want)
		}
	}

	a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	in := model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: a.ID}
	if _, _, err := s.CreatePlacement(ctx, in, model.Idempotency{}); model.ErrorCode(err) != model.EConflict {
		t.Fatalf("a placement in an archived program: got %v, want a conflict", err)
	}
	if _, _, err := s.CreatePlacements(ctx, in, 3, model.Idempotency{}); model.ErrorCode(err) != model.EConflict {
		t.Fatalf("posters in an archived program: got %v, want a conflict", err)
	}
	active := model.ProgramActive
	if _, err := s.UpdateProgram(ctx, prg.ID, model.ProgramUpdate{Status: &active}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreatePlacement(ctx, in, model.Idempotency{}); err != nil {
		t.Fatalf("a placement once the program is active again: %v", err)
	}
}

// A program without a landing page reads back without one, and a landing
// page set later can be cleared again.
func TestProgramWithoutLandingPage(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Hosted"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindProgramByID(ctx, p.ID); err != nil || got.LandingURL != "" || !got.HostedSignup() {
		t.Fatalf("got %+v, %v; want no landing page", got, err)
	}
	for _, landing := range []string{"https://example.com/join", ""} {
		if _, err := s.UpdateProgram(ctx, p.ID, model.ProgramUpdate{LandingURL: &landing}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.FindProgramByID(ctx, p.ID); err != nil || got.LandingURL != landing {
			t.Fatalf("after setting %q: got %q, %v", landing, got.LandingURL, err)
		}
	}
}

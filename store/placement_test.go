package store_test

import (
	"context"
	"testing"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// A batch of placements for several ambassadors is made whole or not at
// all, each with a code of its own, and its key replays it.
func TestCreatePlacementBatchIsAllOrNothing(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@uni.example")
	other, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "Bo", LastName: "B", Email: "bo@uni.example",
		Status: model.AmbassadorActive}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	ins := []model.PlacementCreate{
		{ProgramID: f.program.ID, AmbassadorID: f.ambassador.ID},
		{ProgramID: f.program.ID, AmbassadorID: f.ambassador.ID},
		{ProgramID: f.program.ID, AmbassadorID: other.ID, Label: "Library"},
	}
	count := func() int {
		t.Helper()
		page, err := s.FindPlacements(ctx, model.PlacementFilter{ProgramID: f.program.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Data)
	}

	bad := append(append([]model.PlacementCreate(nil), ins...), model.PlacementCreate{ProgramID: f.program.ID,
		AmbassadorID: "amb_01m8yqk4a5mstqtdtptfpvmbxh"})
	if _, _, err := s.CreatePlacementBatch(ctx, bad, model.Idempotency{}); model.ErrorCode(err) != model.EValidation {
		t.Fatalf("an unknown ambassador in the batch: got %v, want validation_failed", err)
	}
	if n := count(); n != 0 {
		t.Fatalf("a refused batch made %d placements", n)
	}
	for _, n := range []int{0, model.MaxPlacementBatch + 1} {
		if _, _, err := s.CreatePlacementBatch(ctx, make([]model.PlacementCreate, n), model.Idempotency{}); model.ErrorCode(err) != model.EValidation {
			t.Errorf("a batch of %d: got %v, want validation_failed", n, err)
		}
	}

	key := idem("batch-1", "three posters")
	made, replayed, err := s.CreatePlacementBatch(ctx, ins, key)
	if err != nil || replayed || len(made) != 3 {
		t.Fatalf("got %d, replayed %v, %v; want 3", len(made), replayed, err)
	}
	codes := map[string]bool{}
	for i, p := range made {
		codes[p.Code] = true
		if p.AmbassadorID != ins[i].AmbassadorID || !p.Active {
			t.Errorf("placement %d: %+v, want it for %s, active", i, p, ins[i].AmbassadorID)
		}
	}
	if len(codes) != 3 || made[2].Label == nil || *made[2].Label != "Library" {
		t.Errorf("got codes %v and label %v, want 3 codes and the label", codes, made[2].Label)
	}
	again, replayed, err := s.CreatePlacementBatch(ctx, ins, key)
	if err != nil || !replayed || len(again) != 3 || again[1].ID != made[1].ID {
		t.Fatalf("replay: got %d, replayed %v, %v", len(again), replayed, err)
	}
	if n := count(); n != 3 {
		t.Errorf("got %d placements, want 3", n)
	}
}

// A placement is found by the code on its poster, and an unknown code is
// not_found; finding one records no scan.
func TestFindPlacementByCode(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@uni.example")
	made, _, err := s.CreatePlacements(ctx, model.PlacementCreate{ProgramID: f.program.ID, AmbassadorID: f.ambassador.ID}, 2, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range made {
		got, err := s.FindPlacementByCode(ctx, want.Code)
		if err != nil || got.ID != want.ID || got.Code != want.Code || got.ProgramID != f.program.ID {
			t.Errorf("code %s: got %+v, %v; want placement %s", want.Code, got, err, want.ID)
		}
	}
	if _, err := s.FindPlacementByCode(ctx, "zzzzzzzzzz"); model.ErrorCode(err) != model.ENotFound {
		t.Errorf("an unknown code: got %v, want not_found", err)
	}
	imps, err := s.FindImpressions(ctx, model.ImpressionFilter{PlacementID: made[0].ID})
	if err != nil || len(imps.Data) != 0 {
		t.Errorf("impressions after finding the placement: %d, %v; want none", len(imps.Data), err)
	}
}

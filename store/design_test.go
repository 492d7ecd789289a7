package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/referrald/referrald/model"
)

// A program without a design has the defaults; an update keeps what it
// does not name, a logo comes back as stored and goes with its use in the
// QR code, and each change is audited.
func TestPosterDesignLifecycle(t *testing.T) {
	s := openTestStore(t, Options{SweepInterval: -1})
	ctx := model.WithActor(context.Background(), model.Actor{Kind: model.ActorUser, ID: "usr_01jdq3f7k8m2n4p6r8t0v2x4z6", Audited: true})
	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.FindPosterDesign(ctx, prg.ID)
	if err != nil || d.AccentColor != model.DefaultAccentColor || d.CallToAction != model.DefaultCallToAction || d.UpdatedAt != nil || d.Logo != nil {
		t.Fatalf("default design: %+v %v", d, err)
	}

	headline, show := "Łukasz says: eat well", true
	d, err = s.UpdatePosterDesign(ctx, prg.ID, model.PosterDesignUpdate{Headline: &headline, ShowAmbassadorName: &show})
	if err != nil || d.Headline != headline || !d.ShowAmbassadorName || d.AccentColor != model.DefaultAccentColor || d.UpdatedAt == nil {
		t.Fatalf("after update: %+v %v", d, err)
	}

	png := []byte("\x89PNG pixels")
	inQR := true
	if _, err := s.SetPosterLogo(ctx, prg.ID, png, 300, 120); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdatePosterDesign(ctx, prg.ID, model.PosterDesignUpdate{LogoInQR: &inQR}); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindPosterLogo(ctx, prg.ID)
	if err != nil || !bytes.Equal(got, png) {
		t.Fatalf("logo: %q %v", got, err)
	}
	d, _ = s.FindPosterDesign(ctx, prg.ID)
	if d.Logo == nil || d.Logo.Width != 300 || d.Logo.Bytes != len(png) || !d.LogoInQR || d.Headline != headline {
		t.Fatalf("design with logo: %+v", d)
	}

	if d, err = s.DeletePosterLogo(ctx, prg.ID); err != nil || d.Logo != nil || d.LogoInQR {
		t.Fatalf("after delete: %+v %v", d, err)
	}
	if _, err := s.FindPosterLogo(ctx, prg.ID); model.ErrorCode(err) != model.ENotFound {
		t.Fatalf("deleted logo: %v, want not_found", err)
	}
	if _, err := s.FindPosterDesign(ctx, "prg_01jdq3f7k8m2n4p6r8t0v2x4z6"); model.ErrorCode(err) != model.ENotFound {
		t.Fatalf("unknown program: %v, want not_found", err)
	}

	page, err := s.FindAudit(ctx, model.AuditFilter{Subject: prg.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range page.Data {
		actions = append(actions, e.Action)
	}
	want := []string{"poster_design.logo_deleted", "poster_design.updated", "poster_design.logo_set", "poster_design.updated", "program.created"}
	if len(actions) != len(want) {
		t.Fatalf("audit: %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("audit: %v, want %v", actions, want)
		}
	}
}

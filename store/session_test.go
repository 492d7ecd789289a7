package store_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

const (
	idle     = 30 * time.Minute
	absolute = 12 * time.Hour
)

func TestSessions(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now})
	ctx := context.Background()
	u := mustUser(t, s, "ann@example.com", model.RoleOwner)

	sess, token, err := s.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
		t.Fatalf("token %q: want 32 bytes in base64url", token)
	}
	if sess.UserID != u.ID || !sess.CreatedAt.Equal(clk.Now()) || !sess.LastSeenAt.Equal(clk.Now()) {
		t.Fatalf("got %+v", sess)
	}
	got, gotUser, err := s.SessionByToken(ctx, token, idle, absolute)
	if err != nil || got.ID != sess.ID || gotUser.ID != u.ID {
		t.Fatalf("SessionByToken: %+v %+v %v", got, gotUser, err)
	}

	// Within a minute of the last write, a request writes nothing.
	commits := s.Stats().Commits
	clk.Add(50 * time.Second)
	if got, _, err := s.SessionByToken(ctx, token, idle, absolute); err != nil || !got.LastSeenAt.Equal(sess.LastSeenAt.Time) {
		t.Fatalf("got %+v %v", got, err)
	}
	if s.Stats().Commits != commits {
		t.Fatal("a session seen again within the minute was written")
	}
	// Later, it is marked seen.
	clk.Add(20 * time.Second)
	if got, _, err := s.SessionByToken(ctx, token, idle, absolute); err != nil || !got.LastSeenAt.Equal(clk.Now()) {
		t.Fatalf("got %+v %v; want it seen now", got, err)
	}
	if s.Stats().Commits != commits+1 {
		t.Fatal("a session seen after the minute was not written")
	}

	for _, bad := range []string{"", "nonsense", token + "x", string(make([]byte, 10_000))} {
		_, _, err := s.SessionByToken(ctx, bad, idle, absolute)
		wantCode(t, "a bad token", err, model.EUnauthorized)
	}
	_, _, err = s.CreateSession(ctx, "usr_01jdq3f7k8m2n4p6r8t0v2x4z6")
	wantCode(t, "a session of nobody", err, model.ENotFound)

	// Ending it twice is harmless; then it is gone.
	for range 2 {
		if err := s.EndSession(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err = s.SessionByToken(ctx, token, idle, absolute)
	wantCode(t, "an ended session", err, model.EUnauthorized)
	if err := s.EndSession(ctx, "never issued"); err != nil {
		t.Fatal(err)
	}
}

func TestSessionTimeouts(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now})
	ctx := context.Background()
	u := mustUser(t, s, "ann@example.com", model.RoleOwner)

	// Idle: a session not seen for the idle timeout has ended.
	_, token, _ := s.CreateSession(ctx, u.ID)
	clk.Add(idle)
	_, _, err := s.SessionByToken(ctx, token, idle, absolute)
	wantCode(t, "an idle session", err, model.EUnauthorized)
	clk.Add(-idle) // and it stays ended: it was deleted
	_, _, err = s.SessionByToken(ctx, token, idle, absolute)
	wantCode(t, "an idle session, back in time", err, model.EUnauthorized)

	// Absolute: one in use all along ends all the same.
	_, token, _ = s.CreateSession(ctx, u.ID)
	for elapsed := time.Duration(0); elapsed < absolute; elapsed += idle / 2 {
		if _, _, err := s.SessionByToken(ctx, token, idle, absolute); err != nil {
			t.Fatalf("after %v: %v", elapsed, err)
		}
		clk.Add(idle / 2)
	}
	_, _, err = s.SessionByToken(ctx, token, idle, absolute)
	wantCode(t, "a session past its absolute timeout", err, model.EUnauthorized)

	// A timeout of zero ends every session.
	_, token, _ = s.CreateSession(ctx, u.ID)
	_, _, err = s.SessionByToken(ctx, token, 0, absolute)
	wantCode(t, "an idle timeout of zero", err, model.EUnauthorized)
}

// Disabling a user or changing their password ends their sessions, and
// so does "sign out everywhere"; a disabled user gets no new one.
func TestSessionsEndWithTheUser(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	mustUser(t, s, "owner@example.com", model.RoleOwner)
	u := mustUser(t, s, "ann@example.com", model.RoleManager)
	other := mustUser(t, s, "bob@example.com", model.RoleViewer)
	_, otherToken, _ := s.CreateSession(ctx, other.ID)
	live := func(tokens ...string) int {
		n := 0
		for _, tok := range tokens {
			if _, _, err := s.SessionByToken(ctx, tok, idle, absolute); err == nil {
				n++
			}
		}
		return n
	}
	newSessions := func() []string {
		var tokens []string
		for range 3 {
			_, tok, err := s.CreateSession(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, tok)
		}
		return tokens
	}
	for _, c := range []struct {
		name string
		end  func() error
	}{
		{"a new password", func() error {
			_, err := s.UpdateUser(ctx, u.ID, model.UserUpdate{Password: ptr("another long password")})
			return err
		}},
		{"sign out everywhere", func() error { return s.EndUserSessions(ctx, u.ID) }},
		{"disabling", func() error {
			_, err := s.UpdateUser(ctx, u.ID, model.UserUpdate{Disabled: ptr(true)})
			return err
		}},
	} {
		tokens := newSessions()
		if n := live(tokens...); n != 3 {
			t.Fatalf("%s: %d live sessions before, want 3", c.name, n)
		}
		if err := c.end(); err != nil {
			t.Fatal(err)
		}
		if n := live(tokens...); n != 0 {
			t.Errorf("%s: %d sessions live after, want none", c.name, n)
		}
		if live(otherToken) != 1 {
			t.Fatalf("%s ended another user's session", c.name)
		}
	}
	_, _, err := s.CreateSession(ctx, u.ID)
	wantCode(t, "a session for a disabled user", err, model.EUnauthorized)
	err = s.EndUserSessions(ctx, "usr_01jdq3f7k8m2n4p6r8t0v2x4z6")
	wantCode(t, "EndUserSessions of nobody", err, model.ENotFound)
}

// A user's sessions are bounded: a new one past the bound ends the
// oldest.
func TestSessionsPerUserAreBounded(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	u := mustUser(t, s, "ann@example.com", model.RoleOwner)
	var tokens []string
	for range 33 {
		_, tok, err := s.CreateSession(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	_, _, err := s.SessionByToken(ctx, tokens[0], idle, absolute)
	wantCode(t, "the oldest of 33 sessions", err, model.EUnauthorized)
	for i, tok := range tokens[1:] {
		if _, _, err := s.SessionByToken(ctx, tok, idle, absolute); err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
	}
}

func TestSetupToken(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now})
	ctx := context.Background()
	first := model.UserCreate{Email: "ann@example.com", Role: model.RoleViewer, Password: testPassword}

	expired, err := s.CreateSetupToken(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	_, err = s.RedeemSetupToken(ctx, expired, first)
	wantCode(t, "an expired token", err, model.EUnauthorized)

	token, err := s.CreateSetupToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := s.CreateSetupToken(ctx, time.Hour) // a second start of serve
	for _, bad := range []string{"", "nonsense", token + "x"} {
		_, err := s.RedeemSetupToken(ctx, bad, first)
		wantCode(t, "a bad token", err, model.EUnauthorized)
	}
	// Without a valid token, even a bad form is only unauthorized.
	_, err = s.RedeemSetupToken(ctx, "nonsense", model.UserCreate{Email: "nope"})
	wantCode(t, "a bad token with a bad form", err, model.EUnauthorized)
	// With one, a bad form is told, and the token still works after.
	_, err = s.RedeemSetupToken(ctx, token, model.UserCreate{Email: "nope", Password: "short"})
	wantCode(t, "a bad form", err, model.EValidation)

	u, err := s.RedeemSetupToken(ctx, token, first)
	if err != nil || u.Role != model.RoleOwner || u.Email != "ann@example.com" {
		t.Fatalf("redeem: %+v %v; want the first owner", u, err)
	}
	if _, err := s.Authenticate(ctx, "ann@example.com", testPassword); err != nil {
		t.Fatalf("the first owner cannot sign in: %v", err)
	}
	// Single use, and every other token goes with it.
	for _, tok := range []string{token, other} {
		_, err = s.RedeemSetupToken(ctx, tok, model.UserCreate{Email: "eve@example.com", Password: testPassword})
		wantCode(t, "a used token", err, model.EUnauthorized)
	}
	_, err = s.CreateSetupToken(ctx, time.Hour)
	wantCode(t, "a setup token once a user exists", err, model.EConflict)
	if n, _ := s.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
	// The first owner's making is in the audit log, by them.
	page, err := s.FindAudit(ctx, model.AuditFilter{Subject: u.ID})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("audit: %+v %v", page, err)
	}
	if e := page.Data[0]; e.Action != "user.created" || e.Actor.Kind != model.ActorUser || e.Actor.ID != u.ID {
		t.Fatalf("audit entry %+v", e)
	}
}

// A token made while no user existed cannot make a second user once one
// does (made another way, with the command line).
func TestSetupTokenAfterAUserExists(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	token, err := s.CreateSetupToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mustUser(t, s, "ann@example.com", model.RoleOwner)
	_, err = s.RedeemSetupToken(ctx, token, model.UserCreate{Email: "eve@example.com", Password: testPassword})
	wantCode(t, "a setup token once a user exists", err, model.EConflict)
}

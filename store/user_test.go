package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

const testPassword = "correct horse battery"

// mustUser creates a console user with testPassword.
func mustUser(tb testing.TB, s *store.Store, email string, role model.Role) *model.User {
	tb.Helper()
	u, err := s.CreateUser(context.Background(), model.UserCreate{Email: email, Role: role, Password: testPassword})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := model.ErrorCode(err); got != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
}

func TestCreateAndFindUsers(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	if n, err := s.CountUsers(ctx); n != 0 || err != nil {
		t.Fatalf("CountUsers on a new store: %d, %v", n, err)
	}
	_, err := s.CreateUser(ctx, model.UserCreate{Email: "nope", Role: "admin", Password: "short"})
	var me *model.Error
	if !errors.As(err, &me) || me.Code != model.EValidation || len(me.Fields) != 3 {
		t.Fatalf("bad user: got %v, want validation_failed on email, role and password", err)
	}
	owner := mustUser(t, s, " Ann@Example.COM ", model.RoleOwner)
	if owner.Email != "Ann@example.com" || owner.Role != model.RoleOwner || owner.DisabledAt != nil || owner.LastSignInAt != nil ||
		!strings.HasPrefix(owner.ID, model.PrefixUser+"_") {
		t.Fatalf("got %+v", owner)
	}
	_, err = s.CreateUser(ctx, model.UserCreate{Email: "ANN@example.com", Role: model.RoleViewer, Password: testPassword})
	wantCode(t, "the same email in another case", err, model.EConflict)
	viewer := mustUser(t, s, "vic@example.com", model.RoleViewer)

	got, err := s.FindUserByID(ctx, owner.ID)
	if err != nil || *got != *owner {
		t.Fatalf("FindUserByID: %+v %v; want %+v", got, err, owner)
	}
	_, err = s.FindUserByID(ctx, "usr_nonsense")
	wantCode(t, "unknown ID", err, model.ENotFound)
	if got, err := s.FindUserByEmail(ctx, "ann@EXAMPLE.com"); err != nil || got.ID != owner.ID {
		t.Fatalf("FindUserByEmail: %+v %v", got, err)
	}
	_, err = s.FindUserByEmail(ctx, "nobody@example.com")
	wantCode(t, "FindUserByEmail of nobody", err, model.ENotFound)

	page, err := s.FindUsers(ctx, model.ListOptions{Limit: 1})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != viewer.ID || !page.HasMore {
		t.Fatalf("first page: %+v %v; want the newest user and more", page, err)
	}
	page, err = s.FindUsers(ctx, model.ListOptions{Limit: 1, Cursor: *page.NextCursor})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != owner.ID || page.HasMore {
		t.Fatalf("second page: %+v %v", page, err)
	}
	if n, err := s.CountUsers(ctx); n != 2 || err != nil {
		t.Fatalf("CountUsers: %d, %v; want 2", n, err)
	}
}

// The file holds neither a password nor a token, only their hashes.
func TestSecretsAreNotStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	s := MustOpenStoreAt(t, path)
	ctx := context.Background()
	const pw = "a password nobody should find"
	u, err := s.CreateUser(ctx, model.UserCreate{Email: "ann@example.com", Role: model.RoleOwner, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := s.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	const newPW = "another password nobody should find"
	if _, err := s.UpdateUser(ctx, u.ID, model.UserUpdate{Password: ptr(newPW)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{pw, newPW, token} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the store file holds %q", secret)
		}
	}
	if !bytes.Contains(raw, []byte("$argon2id$v=19$m=19456,t=2,p=1$")) {
		t.Error("the store file holds no argon2id hash")
	}
}

func TestAuthenticate(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now})
	ctx := context.Background()
	mustUser(t, s, "owner@example.com", model.RoleOwner)
	u := mustUser(t, s, "Ann@example.com", model.RoleManager)
	clk.Add(time.Hour)

	got, err := s.Authenticate(ctx, "ann@EXAMPLE.com", testPassword)
	if err != nil || got.ID != u.ID || got.LastSignInAt == nil || !got.LastSignInAt.Equal(clk.Now()) {
		t.Fatalf("Authenticate: %+v %v; want the user, signed in now", got, err)
	}
	if again, _ := s.FindUserByID(ctx, u.ID); again.LastSignInAt == nil || !again.LastSignInAt.Equal(clk.Now()) {
		t.Fatalf("LastSignInAt was not kept: %+v", again)
	}

	if _, err := s.UpdateUser(ctx, u.ID, model.UserUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, c := range []struct{ name, email, pw string }{
		{"wrong password", "owner@example.com", testPassword + "!"},
		{"unknown email", "nobody@example.com", testPassword},
		{"disabled user", "ann@example.com", testPassword},
		{"empty", "", ""},
		{"oversized password", "owner@example.com", strings.Repeat("x", 5000)},
		{"oversized email", strings.Repeat("x", 400) + "@example.com", testPassword},
	} {
		_, err := s.Authenticate(ctx, c.email, c.pw)
		wantCode(t, c.name, err, model.EUnauthorized)
		msgs = append(msgs, err.Error())
	}
	if len(slices.Compact(slices.Clone(msgs))) != 1 {
		t.Errorf("the failures can be told apart: %q", msgs)
	}
}

// An unknown email costs a hash, like a wrong password: the time taken
// does not tell which emails have a user. (Without the dummy hash it
// would be thousands of times faster; the bound is loose, and the two
// are timed in turn, fastest of four, so that a busy machine cannot fail
// it.)
func TestAuthenticateCostsAlikeForUnknownEmails(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	mustUser(t, s, "ann@example.com", model.RoleOwner)
	timed := func(email string) time.Duration {
		start := time.Now()
		s.Authenticate(ctx, email, "not the password")
		return time.Since(start)
	}
	wrong, unknown := time.Hour, time.Hour
	for range 4 {
		wrong = min(wrong, timed("ann@example.com"))
		unknown = min(unknown, timed("nobody@example.com"))
	}
	if unknown < wrong/10 {
		t.Fatalf("an unknown email took %v, a wrong password %v", unknown, wrong)
	}
}

func TestUpdateUser(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	owner := mustUser(t, s, "owner@example.com", model.RoleOwner)
	mgr := mustUser(t, s, "mgr@example.com", model.RoleManager)

	_, err := s.UpdateUser(ctx, "usr_01jdq3f7k8m2n4p6r8t0v2x4z6", model.UserUpdate{Role: ptr(model.RoleViewer)})
	wantCode(t, "unknown user", err, model.ENotFound)
	_, err = s.UpdateUser(ctx, mgr.ID, model.UserUpdate{Role: ptr(model.Role("root")), Password: ptr("short")})
	wantCode(t, "bad update", err, model.EValidation)

	// The last enabled owner can be neither demoted nor disabled.
	_, err = s.UpdateUser(ctx, owner.ID, model.UserUpdate{Role: ptr(model.RoleManager)})
	wantCode(t, "demoting the last owner", err, model.EConflict)
	_, err = s.UpdateUser(ctx, owner.ID, model.UserUpdate{Disabled: ptr(true)})
	wantCode(t, "disabling the last owner", err, model.EConflict)

	// With a second owner, the first can go.
	up, err := s.UpdateUser(ctx, mgr.ID, model.UserUpdate{Role: ptr(model.RoleOwner)})
	if err != nil || up.Role != model.RoleOwner || !up.UpdatedAt.After(mgr.UpdatedAt.Time) && !up.UpdatedAt.Equal(mgr.UpdatedAt.Time) {
		t.Fatalf("promote: %+v %v", up, err)
	}
	if up, err = s.UpdateUser(ctx, owner.ID, model.UserUpdate{Disabled: ptr(true)}); err != nil || up.DisabledAt == nil {
		t.Fatalf("disable: %+v %v", up, err)
	}
	// A disabled owner is not an enabled one: the other is now the last.
	_, err = s.UpdateUser(ctx, mgr.ID, model.UserUpdate{Role: ptr(model.RoleViewer)})
	wantCode(t, "demoting the last enabled owner", err, model.EConflict)
	if up, err = s.UpdateUser(ctx, owner.ID, model.UserUpdate{Disabled: ptr(false)}); err != nil || up.DisabledAt != nil {
		t.Fatalf("enable: %+v %v", up, err)
	}
	if _, err := s.Authenticate(ctx, "owner@example.com", testPassword); err != nil {
		t.Fatalf("an enabled user again cannot sign in: %v", err)
	}

	// A new password replaces the old one.
	const newPW = "a new and longer password"
	if _, err := s.UpdateUser(ctx, owner.ID, model.UserUpdate{Password: ptr(newPW)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, "owner@example.com", testPassword)
	wantCode(t, "the old password", err, model.EUnauthorized)
	if _, err := s.Authenticate(ctx, "owner@example.com", newPW); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	// Nothing asked, nothing written.
	before, _ := s.FindUserByID(ctx, owner.ID)
	if up, err := s.UpdateUser(ctx, owner.ID, model.UserUpdate{Role: ptr(model.RoleOwner), Disabled: ptr(false)}); err != nil || !up.UpdatedAt.Equal(before.UpdatedAt.Time) {
		t.Fatalf("no-op update: %+v %v; want %+v", up, err, before)
	}
}

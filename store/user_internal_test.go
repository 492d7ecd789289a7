package store

import (
	"context"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/password"
)

// A password hashed with older (here: lower) parameters still signs in,
// and is hashed again with the current ones as it does.
func TestSignInRehashesOldHashes(t *testing.T) {
	s := openTestStore(t, Options{SweepInterval: -1})
	ctx := context.Background()
	const pw = "a long enough password"
	u, err := s.CreateUser(ctx, model.UserCreate{Email: "ann@example.com", Role: model.RoleOwner, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	old, err := password.HashWith(pw, password.Params{Memory: 8 << 10, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		var h string
		s.view(func(tx *bolt.Tx) error {
			_, h, err = getUser(tx, u.ID)
			return err
		})
		return h
	}
	err = s.update(applyOnly(func(w *wtx) error { return putUser(w.tx, u, old, false) }))
	if err != nil || stored() != old {
		t.Fatalf("could not store the old hash: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ann@example.com", pw); err != nil {
		t.Fatal(err)
	}
	if h := stored(); !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || password.NeedsRehash(h) {
		t.Fatalf("after sign-in the hash is %q; want one with the current parameters", h)
	}
	if _, err := s.Authenticate(ctx, "ann@example.com", pw); err != nil {
		t.Fatalf("the rehashed password: %v", err)
	}
}

package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// signupFixture is a store with one impression to sign people up from,
// a few emails among them, so that each email has several referrals, and
// what it has made: the referral IDs by email, newest first.
type signupFixture struct {
	s       *Store
	imp     string
	emails  int
	byEmail map[string][]string
}

func newSignupFixture(t *testing.T, path string, opt Options, emails int) *signupFixture {
	t.Helper()
	s, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	ctx := context.Background()
	p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "amb@example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	return &signupFixture{s: s, imp: imp.ID, emails: emails, byEmail: map[string][]string{}}
}

// signupIdem is the idempotency key of signup i.
func signupIdem(i int) model.Idempotency {
	return model.Idempotency{Scope: "key_test", Key: fmt.Sprintf("signup-%d", i), Fingerprint: [32]byte{byte(i), byte(i >> 8)}}
}

func (f *signupFixture) email(i int) string { return fmt.Sprintf("Person%d@Example.com", i%f.emails) }

func (f *signupFixture) signup(i int) model.ReferralCreate {
	return model.ReferralCreate{ImpressionID: f.imp, FirstName: "J", LastName: "D", Email: f.email(i)}
}

// create makes signup i, which must be new, and checks its fraud flags:
// every signup of an email after its first is a duplicate.
func (f *signupFixture) create(t *testing.T, i int) *model.Referral {
	t.Helper()
	r, replayed, err := f.s.CreateReferral(context.Background(), f.signup(i), signupIdem(i))
	if err != nil || replayed {
		t.Fatalf("create %d: %v replayed=%v", i, err, replayed)
	}
	key := model.EmailKey(r.Email)
	if dup := slices.Contains(r.Flags, model.FlagDuplicateEmail); dup != (len(f.byEmail[key]) > 0) {
		t.Fatalf("create %d: flags %v after %d referrals of %s", i, r.Flags, len(f.byEmail[key]), r.Email)
	}
	f.byEmail[key] = append([]string{r.ID}, f.byEmail[key]...)
	return r
}

// replays checks that signup i's key answers with referral id.
func (f *signupFixture) replays(t *testing.T, i int, id string) {
	t.Helper()
	r, replayed, err := f.s.CreateReferral(context.Background(), f.signup(i), signupIdem(i))
	if err != nil || !replayed || r.ID != id {
		t.Fatalf("key %d: got %v replayed=%v %v; want a replay of %s", i, r, replayed, err, id)
	}
}

// ListAllReferrals pages through the referrals f matches, limit at a time,
// following the cursors. Exported for the store_test package's tests too.
func ListAllReferrals(t *testing.T, s *Store, f model.ReferralFilter, limit int) []string {
	t.Helper()
	var ids []string
	f.Limit = limit
	for {
		p, err := s.FindReferrals(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Data {
			ids = append(ids, r.ID)
		}
		if !p.HasMore {
			return ids
		}
		f.Cursor = *p.NextCursor
	}
}

// checkLists lists the referrals of every email, three a page, and
// compares them with what was made.
func (f *signupFixture) checkLists(t *testing.T, when string) {
	t.Helper()
	for i := range f.emails {
		key := model.EmailKey(f.email(i))
		if got, want := ListAllReferrals(t, f.s, model.ReferralFilter{Email: f.email(i)}, 3), f.byEmail[key]; !slices.Equal(got, want) {
			t.Fatalf("%s: %s lists %v; want %v", when, key, got, want)
		}
	}
}

// checkIndexHoldsListed checks that the email index holds exactly the
// referrals listed, nothing of an erased one.
func (f *signupFixture) checkIndexHoldsListed(t *testing.T, when string) {
	t.Helper()
	listed := 0
	for _, ids := range f.byEmail {
		listed += len(ids)
	}
	entries := 0
	f.s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReferralsByEmail).ForEach(func(_, _ []byte) error { entries++; return nil })
	})
	if entries != listed {
		t.Fatalf("%s: the email index holds %d entries; %d referrals are listed", when, entries, listed)
	}
}

// forget takes referral id of email out of what the fixture expects.
func (f *signupFixture) forget(email, id string) {
	key := model.EmailKey(email)
	f.byEmail[key] = slices.DeleteFunc(f.byEmail[key], func(s string) bool { return s == id })
}

// TestEmailIndexListsAndFlagsEveryReferral: a list by email returns each
// referral once, newest first, page after page; the duplicate-email check
// sees every earlier signup; both hold after a restart.
func TestEmailIndexListsAndFlagsEveryReferral(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newSignupFixture(t, path, Options{SweepInterval: -1}, 7)
	for i := range 60 {
		f.create(t, i)
		if i%9 == 0 {
			f.checkLists(t, fmt.Sprintf("after %d creates", i+1))
		}
	}
	f.checkLists(t, "after 60 creates")
	f.checkIndexHoldsListed(t, "after 60 creates")
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkAndCloseAtCleanup(t, s)
	f.s = s
	f.checkLists(t, "reopened")
	for i := 60; i < 70; i++ {
		f.create(t, i)
	}
	f.checkLists(t, "after more creates")
}

// TestEraseReferralLeavesNoCopy: erasing a referral takes its email index
// entry out, so it is neither listed nor counted as an earlier signup of
// the address, and rewrites the idempotency snapshot that keeps it inline
// (as entries written before schema 4 do), so a replay no longer returns
// the person's data.
func TestEraseReferralLeavesNoCopy(t *testing.T) {
	f := newSignupFixture(t, filepath.Join(t.TempDir(), FileName), Options{SweepInterval: -1}, 2)
	ctx := context.Background()
	var ids []string
	for i := range 6 {
		ids = append(ids, f.create(t, i).ID)
	}
	keepInline(t, f.s, ids[2], signupIdem(2))
	if _, err := f.s.EraseReferral(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	f.forget(f.email(2), ids[2])
	f.checkLists(t, "erased")
	f.checkIndexHoldsListed(t, "erased")

	r, replayed, err := f.s.CreateReferral(ctx, f.signup(2), signupIdem(2))
	if err != nil || !replayed || r.ID != ids[2] || r.Email != "" || r.ErasedAt == nil {
		t.Fatalf("replay of the erased signup: %+v replayed=%v %v; want it erased", r, replayed, err)
	}
	f.s.view(func(tx *bolt.Tx) error {
		_, v := findEntry(tx, idempotencyKey(signupIdem(2)))
		if rec, ok := inlineSnapshotKey(v); !ok || model.FormatID(model.PrefixReferral, [16]byte(rec)) != ids[2] {
			t.Errorf("the entry no longer keeps the referral inline: %q", v)
		}
		if bytes.Contains(v, []byte(f.email(2))) {
			t.Errorf("the inline snapshot still holds the email: %q", v)
		}
		return nil
	})

	// create checks the duplicate-email flag against the referrals left:
	// a new signup of the email is still a duplicate of the others, and,
	// once they are all erased too, of none.
	f.create(t, 6)
	f.checkLists(t, "after a new signup")
	for _, id := range slices.Clone(f.byEmail[model.EmailKey(f.email(0))]) {
		if _, err := f.s.EraseReferral(ctx, id); err != nil {
			t.Fatal(err)
		}
		f.forget(f.email(0), id)
	}
	if r := f.create(t, 8); slices.Contains(r.Flags, model.FlagDuplicateEmail) {
		t.Fatalf("a signup after every other of its email was erased is flagged: %v", r.Flags)
	}
	f.checkIndexHoldsListed(t, "all of one email erased")
}

// keepInline makes the idempotency entry of idem keep referral id inline,
// as entries written before schema 4 do, with the way back from the
// referral to it.
func keepInline(t *testing.T, s *Store, id string, idem model.Idempotency) {
	t.Helper()
	rKey, key := keyOf(model.PrefixReferral, id), idempotencyKey(idem)
	err := s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		val := bytes.Clone(tx.Bucket(bucketReferrals).Get(rKey[:]))
		if err := tx.Bucket(bucketIdempotencyByRecord).Put(rKey[:], key[:]); err != nil {
			return err
		}
		p, old := findEntry(tx, key)
		if old == nil {
			t.Fatalf("no entry for %+v", idem)
		}
		return p.Put(key[:], append(append(bytes.Clone(old[:idemHeader]), snapInline), snapshot(rKey, val)...))
	}))
	if err != nil {
		t.Fatal(err)
	}
}

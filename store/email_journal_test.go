package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// emailFixture signs people up from a few emails, so each email has
// referrals in every part of the email index: the open generation, the
// frozen one while it is carried, the carried one kept until the next
// freeze, and the tree.
type emailFixture struct {
	journalFixture
	emails  int
	byEmail map[string][]string // referral IDs, newest first
}

func newEmailFixture(t *testing.T, path string, emails int) *emailFixture {
	f := &emailFixture{journalFixture: newJournalFixture(t, path, Options{SweepInterval: -1}),
		emails: emails, byEmail: map[string][]string{}}
	f.small()
	return f
}

// small makes the email journal freeze and carry every few creates.
func (f *emailFixture) small() { f.s.emailJournal.limit, f.s.emailJournal.carryMin = 20, 4 }

func (f *emailFixture) email(i int) string { return fmt.Sprintf("Person%d@Example.com", i%f.emails) }

func (f *emailFixture) create(t *testing.T, i int) *model.Referral {
	t.Helper()
	in := model.ReferralCreate{ImpressionID: f.imp, FirstName: "J", LastName: "D", Email: f.email(i)}
	r, _, err := f.s.CreateReferral(context.Background(), in, journalIdem(i))
	if err != nil {
		t.Fatalf("create %d: %v", i, err)
	}
	key := model.EmailKey(r.Email)
	// The fraud check reads the same index: every signup of an email
	// after its first is a duplicate.
	if dup := slices.Contains(r.Flags, model.FlagDuplicateEmail); dup != (len(f.byEmail[key]) > 0) {
		t.Fatalf("create %d: flags %v after %d referrals of %s", i, r.Flags, len(f.byEmail[key]), r.Email)
	}
	f.byEmail[key] = append([]string{r.ID}, f.byEmail[key]...)
	return r
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

// listAll lists the referrals of email, three a page.
func listAll(t *testing.T, s *Store, email string) []string {
	t.Helper()
	return ListAllReferrals(t, s, model.ReferralFilter{Email: email}, 3)
}

// checkLists lists every email and compares with what was created.
func (f *emailFixture) checkLists(t *testing.T, when string) {
	t.Helper()
	for i := range f.emails {
		key := model.EmailKey(f.email(i))
		if got, want := listAll(t, f.s, f.email(i)), f.byEmail[key]; !slices.Equal(got, want) {
			t.Fatalf("%s: %s lists %v; want %v", when, key, got, want)
		}
	}
}

// TestEmailJournalListsAndFlagsEveryReferral: while the email index's
// entries pass through its journal, a list by email returns each referral
// once, newest first, page after page, the duplicate-email check sees every
// earlier signup, and both hold after a restart.
func TestEmailJournalListsAndFlagsEveryReferral(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newEmailFixture(t, path, 7)
	sawCarrying, sawCarried := false, false
	for i := range 200 {
		f.create(t, i)
		gens, _, inTree := shapeOf(t, f.s, &emailJournal)
		sawCarrying = sawCarrying || f.s.emailJournal.carrying()
		sawCarried = sawCarried || gens == 2 && !f.s.emailJournal.carrying() && inTree > 0
		if i%9 == 0 {
			f.checkLists(t, fmt.Sprintf("after %d creates", i+1))
		}
	}
	if !sawCarrying || !sawCarried {
		t.Fatalf("the journal was never seen carrying (%v) or keeping a carried generation (%v)", sawCarrying, sawCarried)
	}
	f.checkLists(t, "after 200 creates")

	f.reopen(t, path, Options{SweepInterval: -1})
	f.small()
	f.checkLists(t, "reopened")
	for i := 200; i < 230; i++ {
		f.create(t, i)
	}
	if err := f.s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	f.checkLists(t, "settled")
}

// TestEmailJournalErasureLeavesNoEntry: erasing a referral takes its email
// entry out of whichever part of the index holds it, and a carry or a
// restart does not bring it back.
func TestEmailJournalErasureLeavesNoEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newEmailFixture(t, path, 3)
	ctx := context.Background()
	erase := func(i int) {
		t.Helper()
		key := model.EmailKey(f.email(i))
		ids := f.byEmail[key]
		id := ids[len(ids)/2]
		if _, err := f.s.EraseReferral(ctx, id); err != nil {
			t.Fatal(err)
		}
		f.byEmail[key] = slices.DeleteFunc(ids, func(s string) bool { return s == id })
	}
	places := map[string]bool{}
	for i := range 150 {
		f.create(t, i)
		if i%7 != 6 {
			continue
		}
		j := f.s.emailJournal
		switch _, _, inTree := shapeOf(t, f.s, &emailJournal); {
		case j.carrying():
			places["while carried"] = true
		case j.frozen != nil && inTree > 0:
			places["after carrying"] = true
		}
		erase(i)
		f.checkLists(t, fmt.Sprintf("erased after %d creates", i+1))
	}
	if len(places) != 2 {
		t.Fatalf("erasures only happened %v", places)
	}
	if err := f.s.settleJournals(); err != nil {
		t.Fatal(err)
	}
	f.checkLists(t, "settled")
	f.reopen(t, path, Options{SweepInterval: -1})
	f.checkLists(t, "reopened")
	f.checkIndexHoldsListed(t, "reopened")
}

// checkIndexHoldsListed checks that nothing is left anywhere for an erased
// referral: the tree and the journal hold exactly the referrals listed.
func (f *emailFixture) checkIndexHoldsListed(t *testing.T, when string) {
	t.Helper()
	listed := 0
	for _, ids := range f.byEmail {
		listed += len(ids)
	}
	var entries int
	f.s.view(func(tx *bolt.Tx) error {
		seen := map[[32]byte]bool{}
		tx.Bucket(bucketReferralsByEmail).ForEach(func(k, _ []byte) error {
			seen[[32]byte(k)] = true
			return nil
		})
		root := tx.Bucket(bucketEmailJournal)
		root.ForEachBucket(func(name []byte) error {
			return root.Bucket(name).ForEach(func(_, v []byte) error {
				seen[[32]byte(v[:32])] = true
				return nil
			})
		})
		entries = len(seen)
		return nil
	})
	if entries != listed {
		t.Fatalf("%s: the email index holds %d referrals; %d are listed", when, entries, listed)
	}
}

// TestEmailJournalCarriesAGenerationWithGaps: a restart reads back an open
// generation some of whose entries were erased, and so has gaps in its
// offsets; freezing it later carries every entry left, and no erased one.
func TestEmailJournalCarriesAGenerationWithGaps(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := newEmailFixture(t, path, 3)
	var ids []string
	for i := range 30 { // the 21st freezes the first 20
		ids = append(ids, f.create(t, i).ID)
	}
	for _, i := range []int{22, 25} {
		if _, err := f.s.EraseReferral(context.Background(), ids[i]); err != nil {
			t.Fatal(err)
		}
		key := model.EmailKey(f.email(i))
		f.byEmail[key] = slices.DeleteFunc(f.byEmail[key], func(id string) bool { return id == ids[i] })
	}
	f.reopen(t, path, Options{SweepInterval: -1})
	f.small()
	gapped := f.s.emailJournal.active
	if len(gapped.prev) == gapped.n {
		t.Fatalf("reopened: the open generation has %d entries at %d offsets; want gaps", gapped.n, len(gapped.prev))
	}
	for i := 30; i < 45; i++ {
		f.create(t, i)
		if err := f.s.settleJournals(); err != nil {
			t.Fatal(err)
		}
	}
	if f.s.emailJournal.frozen == nil || f.s.emailJournal.frozen.name != gapped.name || f.s.emailJournal.carrying() {
		t.Fatalf("the generation with gaps was not frozen and carried: frozen %+v", f.s.emailJournal.frozen)
	}
	f.s.view(func(tx *bolt.Tx) error {
		tree, n := tx.Bucket(bucketReferralsByEmail), 0
		err := tx.Bucket(bucketEmailJournal).Bucket(genName(gapped.name)).ForEach(func(k, v []byte) error {
			if n++; tree.Get(v[:32]) == nil {
				t.Errorf("entry %x was not carried into the tree", k)
			}
			return nil
		})
		if want := f.s.emailJournal.frozen.n; err != nil || n != want {
			t.Errorf("the carried generation holds %d entries (%v); want %d", n, err, want)
		}
		return nil
	})
	f.checkLists(t, "carried")
	f.checkIndexHoldsListed(t, "carried")
}

// TestEmailJournalReaderSeesItsWholeSnapshot: a read transaction that
// began before its generations were frozen, carried and dropped from
// memory still lists every referral its snapshot holds, and none after.
func TestEmailJournalReaderSeesItsWholeSnapshot(t *testing.T) {
	f := newEmailFixture(t, filepath.Join(t.TempDir(), FileName), 2)
	for i := range 30 {
		f.create(t, i)
	}
	want := slices.Clone(f.byEmail[model.EmailKey(f.email(0))])
	tx, err := f.s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	inSnapshot := func() []string {
		t.Helper()
		prefix := hashKey(model.EmailKey(f.email(0)))
		journaled, err := f.s.journaledByEmail(tx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		scanDesc(tx.Bucket(bucketReferralsByEmail), [][]byte{prefix}, journaled, nil, func(k []byte) (bool, error) {
			ids = append(ids, model.FormatID(model.PrefixReferral, [16]byte(k)))
			return true, nil
		})
		return ids
	}
	if got := inSnapshot(); !slices.Equal(got, want) {
		t.Fatalf("at first: %v; want %v", got, want)
	}
	// Two more freezes drop from memory every generation the reader's
	// snapshot knows.
	names := func() (ns []uint64) {
		j := f.s.emailJournal
		if j.frozen != nil {
			ns = append(ns, j.frozen.name)
		}
		return append(ns, j.active.name)
	}
	before := names()
	for i := 30; slices.ContainsFunc(names(), func(n uint64) bool { return slices.Contains(before, n) }); i++ {
		f.create(t, i)
		if i > 500 {
			t.Fatal("the generations never moved on")
		}
	}
	if got := inSnapshot(); !slices.Equal(got, want) {
		t.Fatalf("after its generations left memory: %v; want %v", got, want)
	}
}

// TestEmailJournalWriterSeesItsOwnEntries: within a write transaction the
// entries it has put are listed, before any map has taken them in.
func TestEmailJournalWriterSeesItsOwnEntries(t *testing.T) {
	f := newEmailFixture(t, filepath.Join(t.TempDir(), FileName), 1)
	f.create(t, 0)
	prefix := hashKey(model.EmailKey(f.email(0)))
	first := keyOf(model.PrefixReferral, f.byEmail[model.EmailKey(f.email(0))][0])
	want := [][]byte{first[:]}
	var keys [][]byte
	errRollBack := errors.New("roll back")
	err := f.s.update(applyOnly(func(w *wtx) error {
		tx := w.tx
		for i := range 2 {
			key := [16]byte{byte(i + 1)}
			if err := f.s.emailJournal.put(tx, emailIndexKey(f.email(0), key), nil); err != nil {
				return err
			}
			want = append(want, key[:])
		}
		var err error
		if keys, err = f.s.journaledByEmail(tx, prefix); err != nil {
			return err
		}
		return errRollBack // so the made-up referrals are not committed
	}))
	if !errors.Is(err, errRollBack) {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b []byte) int { return bytes.Compare(b, a) })
	if !slices.EqualFunc(keys, want, bytes.Equal) {
		t.Fatalf("the writer lists %x; want %x", keys, want)
	}
	// And, rolled back, nothing of them is left.
	if got := listAll(t, f.s, f.email(0)); len(got) != 1 {
		t.Fatalf("after the rollback the email lists %v", got)
	}
}

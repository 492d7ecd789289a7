package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// MustOpenStore opens a store in a temp dir and, at cleanup, closes it and
// runs bbolt's consistency check over the file.
func MustOpenStore(tb testing.TB, opt store.Options) *store.Store {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), store.FileName)
	s, err := store.Open(path, opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Check(); err != nil {
			tb.Errorf("consistency check: %v", err)
		}
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

type fixture struct {
	program    *model.Program
	ambassador *model.Ambassador
	impression *model.Impression
}

func mustFixture(tb testing.TB, s *store.Store, email string) fixture {
	tb.Helper()
	ctx := context.Background()
	p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com"}, model.Idempotency{})
	if err != nil {
		tb.Fatal(err)
	}
	a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "Ada", LastName: "L", Email: email, Status: model.AmbassadorActive}, model.Idempotency{})
	if err != nil {
		tb.Fatal(err)
	}
	m, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		tb.Fatal(err)
	}
	return fixture{p, a, m}
}

func idem(key, params string) model.Idempotency {
	return model.Idempotency{Scope: "key_test", Key: key, Fingerprint: sha256.Sum256([]byte(params))}
}

func TestReferralCreateFindAndEvent(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@example.com")
	r, replayed, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: f.impression.ID, FirstName: "John",
		LastName: "Doe", Email: "john@example.com", Metadata: model.Metadata(`{"a":1}`)}, model.Idempotency{})
	if err != nil || replayed {
		t.Fatalf("create: %v, replayed %v", err, replayed)
	}
	if r.ProgramID != f.program.ID || r.AmbassadorID != f.ambassador.ID || r.PlacementID != nil || r.Status != model.ReferralPending {
		t.Fatalf("got %+v, want program, ambassador from the impression and status pending", r)
	}
	got, err := s.FindReferralByID(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != r.Email || string(got.Metadata) != `{"a":1}` || !got.CreatedAt.Equal(r.CreatedAt.Time) {
		t.Fatalf("got %+v, want %+v", got, r)
	}
	events, err := s.FindEvents(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	if want := []string{model.EventAmbassadorCreated, model.EventImpressionCreated, model.EventReferralCreated}; !slices.Equal(types, want) {
		t.Fatalf("got events %v, want %v", types, want)
	}
	if _, err := s.FindReferralByID(ctx, "ref_01jdq3f7k8m2n4p6r8t0v2x4z6"); model.ErrorCode(err) != model.ENotFound {
		t.Fatalf("unknown id: got %v, want not_found", err)
	}
}

func TestReferralUnknownImpressionIsFieldError(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	_, _, err := s.CreateReferral(context.Background(), model.ReferralCreate{ImpressionID: "imp_01jdq3e0a1b2c3d4e5f6g7h8j9",
		FirstName: "J", LastName: "D", Email: "j@example.com"}, idem("k1", "a"))
	var me *model.Error
	if model.ErrorCode(err) != model.EValidation || !asError(err, &me) || me.Fields[0].Field != "impression_id" || me.Fields[0].Code != model.FNotFound {
		t.Fatalf("got %v, want validation_failed with impression_id not_found", err)
	}
}

func asError(err error, me **model.Error) bool {
	e, ok := err.(*model.Error)
	*me = e
	return ok
}

func TestIdempotency(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now, IdempotencyWindow: time.Hour, SweepInterval: -1})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@example.com")
	in := model.ReferralCreate{ImpressionID: f.impression.ID, FirstName: "J", LastName: "D", Email: "j@example.com"}

	first, replayed, err := s.CreateReferral(ctx, in, idem("k", "same"))
	if err != nil || replayed {
		t.Fatalf("first: %v %v", err, replayed)
	}
	if _, err := s.UpdateReferral(ctx, first.ID, model.ReferralUpdate{Status: ptr(model.ReferralRejected)}); err != nil {
		t.Fatal(err)
	}
	again, replayed, err := s.CreateReferral(ctx, in, idem("k", "same"))
	if err != nil || !replayed || again.ID != first.ID || again.Status != model.ReferralPending {
		t.Fatalf("replay: got %+v replayed=%v err=%v; want the original pending referral %s", again, replayed, err, first.ID)
	}
	if _, _, err := s.CreateReferral(ctx, in, idem("k", "different")); model.ErrorCode(err) != model.EIdempotencyKeyReused {
		t.Fatalf("different params: got %v, want idempotency_key_reused", err)
	}
	other := idem("k", "same")
	other.Scope = "key_other"
	if r, replayed, err := s.CreateReferral(ctx, in, other); err != nil || replayed || r.ID == first.ID {
		t.Fatalf("another client's key: got %v replayed=%v err=%v; want a new referral", r, replayed, err)
	}

	clk.Add(time.Hour)
	if n, err := s.SweepIdempotencyKeys(ctx, clk.Now()); err != nil || n != 2 {
		t.Fatalf("sweep: got %d, %v; want 2 expired keys", n, err)
	}
	after, replayed, err := s.CreateReferral(ctx, in, idem("k", "different"))
	if err != nil || replayed || after.ID == first.ID {
		t.Fatalf("after the window: got %v replayed=%v err=%v; want a new referral", after, replayed, err)
	}
}

func TestIdempotencyExpiredButNotSweptCreatesAnew(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now, IdempotencyWindow: time.Minute, SweepInterval: -1})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@example.com")
	in := model.ReferralCreate{ImpressionID: f.impression.ID, FirstName: "J", LastName: "D", Email: "j@example.com"}
	first, _, err := s.CreateReferral(ctx, in, idem("k", "x"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	second, replayed, err := s.CreateReferral(ctx, in, idem("k", "x"))
	if err != nil || replayed || second.ID == first.ID {
		t.Fatalf("got %v replayed=%v err=%v, want a new referral", second, replayed, err)
	}
	// The old entry's expiry index entry must be gone: one sweep later
	// than both windows deletes exactly the one live entry.
	clk.Add(2 * time.Minute)
	if n, err := s.SweepIdempotencyKeys(ctx, clk.Now()); err != nil || n != 1 {
		t.Fatalf("sweep: got %d, %v; want 1", n, err)
	}
}

func TestConcurrentCreatesWithOneKeyMakeOneReferral(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@example.com")
	in := model.ReferralCreate{ImpressionID: f.impression.ID, FirstName: "J", LastName: "D", Email: "j@example.com"}
	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := s.CreateReferral(ctx, in, idem("same", "p"))
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = r.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("got referrals %s and %s for one key", ids[0], id)
		}
	}
	page, err := s.FindReferrals(ctx, model.ReferralFilter{ListOptions: model.ListOptions{Limit: 100}})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("got %d referrals (%v), want 1", len(page.Data), err)
	}
}

func TestGroupCommitSharesTransactions(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@example.com")
	before := s.Stats()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := model.ReferralCreate{ImpressionID: f.impression.ID, FirstName: "J", LastName: "D", Email: fmt.Sprintf("j%d@example.com", i)}
			if _, _, err := s.CreateReferral(ctx, in, model.Idempotency{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	after := s.Stats()
	if w := after.Writes - before.Writes; w != n {
		t.Fatalf("got %d writes, want %d", w, n)
	}
	if c := after.Commits - before.Commits; c >= n {
		t.Fatalf("got %d commits for %d concurrent writes, want fewer (group commit)", c, n)
	}
}

func TestReferralListFiltersAndPaging(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	f1 := mustFixture(t, s, "a1@example.com")
	f2 := mustFixture(t, s, "a2@example.com")
	var made []*model.Referral
	for i := range 25 {
		f := f1
		if i%2 == 1 {
			f = f2
		}
		r, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: f.impression.ID, FirstName: "J", LastName: "D",
			Email: fmt.Sprintf("p%d@Example.com", i%5)}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, r)
	}
	for _, i := range []int{0, 2, 4} {
		if _, err := s.UpdateReferral(ctx, made[i].ID, model.ReferralUpdate{Status: ptr(model.ReferralConverted)}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(f model.ReferralFilter) []string {
		t.Helper()
		return store.ListAllReferrals(t, s, f, 4)
	}
	all := count(model.ReferralFilter{})
	if len(all) != 25 || all[0] != made[24].ID || all[24] != made[0].ID {
		t.Fatalf("got %d referrals from %v to %v; want 25, newest first", len(all), all[0], all[len(all)-1])
	}
	cases := []struct {
		name string
		f    model.ReferralFilter
		want int
	}{
		{"program", model.ReferralFilter{ProgramID: f1.program.ID}, 13},
		{"ambassador", model.ReferralFilter{AmbassadorID: f2.ambassador.ID}, 12},
		{"status", model.ReferralFilter{Status: model.ReferralConverted}, 3},
		{"pending", model.ReferralFilter{Status: model.ReferralPending}, 22},
		{"program+status", model.ReferralFilter{ProgramID: f1.program.ID, Status: model.ReferralConverted}, 3},
		{"ambassador+status", model.ReferralFilter{AmbassadorID: f2.ambassador.ID, Status: model.ReferralConverted}, 0},
		{"email any case", model.ReferralFilter{Email: "P0@EXAMPLE.COM"}, 5},
		{"email+program", model.ReferralFilter{Email: "p1@example.com", ProgramID: f2.program.ID}, 3},
		{"program+ambassador mismatch", model.ReferralFilter{ProgramID: f1.program.ID, AmbassadorID: f2.ambassador.ID}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := len(count(c.f)); got != c.want {
				t.Errorf("got %d, want %d", got, c.want)
			}
		})
	}
	if _, err := s.UpdateReferral(ctx, made[0].ID, model.ReferralUpdate{Status: ptr(model.ReferralRejected)}); model.ErrorCode(err) != model.EConflict {
		t.Fatalf("converted → rejected: got %v, want conflict", err)
	}
}

func TestAmbassadorEmailUnique(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	mustFixture(t, s, "ada@example.com")
	_, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "ADA@example.com", Status: model.AmbassadorActive}, model.Idempotency{})
	if model.ErrorCode(err) != model.EConflict {
		t.Fatalf("got %v, want conflict", err)
	}
}

func TestAPIKeys(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	k, token, err := s.CreateAPIKey(ctx, model.APIKeyCreate{Name: "ci", Scope: model.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.AuthenticateToken(ctx, token)
	if err != nil || got.ID != k.ID || got.Scope != model.ScopeWrite {
		t.Fatalf("got %+v, %v; want key %s", got, err, k.ID)
	}
	if _, err := s.AuthenticateToken(ctx, token+"x"); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("wrong token: got %v, want unauthorized", err)
	}
	if _, err := s.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, token); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("revoked token: got %v, want unauthorized", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := mustFixture(t, s, "ada@example.com")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateProgram(context.Background(), model.ProgramCreate{Name: "x", LandingURL: "https://x.io"}, model.Idempotency{}); model.ErrorCode(err) != model.EUnavailable {
		t.Fatalf("write after close: got %v, want unavailable", err)
	}
	s = MustOpenStoreAt(t, path)
	if _, err := s.FindImpressionByID(context.Background(), f.impression.ID); err != nil {
		t.Fatal(err)
	}
}

func MustOpenStoreAt(tb testing.TB, path string) *store.Store {
	tb.Helper()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func ptr[T any](v T) *T { return &v }

// A filter combination no index serves must still cost a bounded amount
// per page: pages may come back short (even empty) with has_more, and
// walking them all still finds every match exactly once.
func TestSparseFilterPagesAreBounded(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	f1 := mustFixture(t, s, "a1@example.com")
	// The same ambassador's impression in a second program.
	p2, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Other", LandingURL: "https://example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	imp2, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p2.ID, AmbassadorID: f1.ambassador.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	create := func(imp string, i int) string {
		r, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp, FirstName: "J", LastName: "D",
			Email: fmt.Sprintf("x%d@example.com", i)}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	want := []string{create(imp2.ID, -1)} // the oldest, far behind the crowd
	for i := range 300 {
		create(f1.impression.ID, i)
	}
	want = append([]string{create(imp2.ID, -2)}, want...)

	f := model.ReferralFilter{ListOptions: model.ListOptions{Limit: 1}, AmbassadorID: f1.ambassador.ID, ProgramID: p2.ID}
	var got []string
	pages := 0
	for {
		p, err := s.FindReferrals(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range p.Data {
			got = append(got, r.ID)
		}
		if !p.HasMore {
			break
		}
		f.Cursor = *p.NextCursor
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if pages < 3 {
		t.Fatalf("walked 302 entries in %d pages; want the budget to split the walk", pages)
	}
	// A zero limit means the default, not a panic.
	if p, err := s.FindReferrals(ctx, model.ReferralFilter{}); err != nil || len(p.Data) != model.DefaultListLimit {
		t.Fatalf("zero limit: got %d, %v; want a default page", len(p.Data), err)
	}
}

// A clock that steps back must not put new events behind older ones: a
// hook cursor past them would never deliver them.
func TestEventsStayOrderedWhenTheClockStepsBack(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@example.com")
	events, _ := s.FindEvents(ctx, "", 10)
	last := events[len(events)-1].ID
	clk.Add(-time.Hour)
	if _, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: f.program.ID, AmbassadorID: f.ambassador.ID}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	after, err := s.FindEvents(ctx, last, 10)
	if err != nil || len(after) != 1 || after[0].Type != model.EventImpressionCreated {
		t.Fatalf("events after %s: %v %v; want the new impression's", last, after, err)
	}
}

// A referral.created event keeps the referral in the store's own encoding;
// read back, its data is the JSON of the referral as created.
func TestCreatedEventCarriesTheRecordAsJSON(t *testing.T) {
	s := MustOpenStore(t, store.Options{SweepInterval: -1})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@example.com")
	in := model.ReferralCreate{ImpressionID: f.impression.ID, FirstName: "J", LastName: "D", Email: "j@example.com",
		Metadata: model.Metadata(`{"a":1}`)}
	r, _, err := s.CreateReferral(ctx, in, idem("k", "event"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(r)
	events, err := s.FindEvents(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, ev := range events {
		if ev.Type == model.EventReferralCreated {
			found = true
			if string(ev.Data) != string(want) {
				t.Fatalf("event data\n%s\nwant\n%s", ev.Data, want)
			}
		}
	}
	if !found {
		t.Fatalf("no referral.created event among %d", len(events))
	}
}

// A program's and an ambassador's referrals are listed by merging their
// per-status index ranges: every page is newest first, with no referral
// missed or repeated across pages, whatever the statuses.
func TestListReferralsByOwnerMergesStatuses(t *testing.T) {
	s := MustOpenStore(t, store.Options{SweepInterval: -1})
	ctx := context.Background()
	f := mustFixture(t, s, "ada@example.com")
	other := mustFixture(t, s, "bob@example.com")
	var want []string
	statuses := []model.ReferralStatus{model.ReferralPending, model.ReferralConverted, model.ReferralRejected}
	for i := range 11 {
		imp := f.impression
		if i%4 == 3 {
			imp = other.impression
		}
		r, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "R", LastName: "N",
			Email: fmt.Sprintf("r%d@example.com", i)}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		if st := statuses[(i*7)%3]; st != model.ReferralPending {
			if _, err := s.UpdateReferral(ctx, r.ID, model.ReferralUpdate{Status: &st}); err != nil {
				t.Fatal(err)
			}
		}
		if imp == f.impression {
			want = append([]string{r.ID}, want...)
		}
	}
	for name, filter := range map[string]model.ReferralFilter{
		"program":    {ProgramID: f.program.ID},
		"ambassador": {AmbassadorID: f.ambassador.ID},
	} {
		var got []string
		filter.Limit = 3
		for {
			p, err := s.FindReferrals(ctx, filter)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Data {
				got = append(got, r.ID)
			}
			if !p.HasMore {
				break
			}
			filter.Cursor = *p.NextCursor
		}
		if !slices.Equal(got, want) {
			t.Errorf("by %s: got %v\nwant %v", name, got, want)
		}
	}
}

// A backup file takes the place of the old one only once it checks out,
// and no temporary file is left either way.
func TestWriteBackupFile(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	mustFixture(t, s, "ada@example.com")
	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.db")
	backup := func(w io.Writer) error {
		_, err := s.Backup(context.Background(), w, func(int64) {})
		return err
	}
	sum, err := store.WriteBackupFile(dst, backup)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Programs != 1 || sum.Ambassadors != 1 || sum.Impressions != 1 || sum.Referrals != 0 {
		t.Errorf("got summary %+v, want the fixture's program, ambassador and impression", sum)
	}
	if again, err := store.Verify(dst); err != nil || again != sum {
		t.Errorf("the file at dst: got %+v, %v; want %+v", again, err, sum)
	}
	good, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}

	failed := errors.New("the server went away")
	for name, write := range map[string]func(io.Writer) error{
		"garbage": func(w io.Writer) error { _, err := io.WriteString(w, "not a store"); return err },
		"failure": func(w io.Writer) error { io.WriteString(w, "half a "); return failed },
	} {
		_, err := store.WriteBackupFile(dst, write)
		switch {
		case name == "garbage" && (err == nil || !strings.Contains(err.Error(), "the copy does not check out, "+dst+" is left as it was")):
			t.Errorf("%s: got %v, want the copy refused", name, err)
		case name == "failure" && !errors.Is(err, failed):
			t.Errorf("%s: got %v, want the writer's error", name, err)
		}
		if b, _ := os.ReadFile(dst); !bytes.Equal(b, good) {
			t.Errorf("%s: the good backup was replaced", name)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s: got %d files in the directory, want only the backup", name, len(entries))
		}
	}
}

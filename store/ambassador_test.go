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

// allAmbassadors reads every ambassador of f, page by page.
func allAmbassadors(t *testing.T, s *store.Store, f model.AmbassadorFilter) []*model.Ambassador {
	t.Helper()
	var out []*model.Ambassador
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("the list does not end")
		}
		page, err := s.FindAmbassadors(context.Background(), f)
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

func emails(as []*model.Ambassador) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Email)
	}
	return out
}

// fieldsOf lists the fields of a validation_failed error, or fails.
func fieldsOf(t *testing.T, err error) map[string]model.FieldError {
	t.Helper()
	var e *model.Error
	if model.ErrorCode(err) != model.EValidation || !asError(err, &e) {
		t.Fatalf("got %v, want validation_failed", err)
	}
	out := map[string]model.FieldError{}
	for _, f := range e.Fields {
		out[f.Field] = f
	}
	return out
}

func importRows(rows ...string) []model.AmbassadorCreate {
	var out []model.AmbassadorCreate
	for _, r := range rows {
		p := strings.Split(r, ",")
		out = append(out, model.AmbassadorCreate{FirstName: p[0], LastName: p[1], Email: p[2], School: p[3]})
	}
	return out
}

// An import creates every row, in order, each audited as a create by the
// user who imported them; a replay of its key returns the same ones.
func TestImportAmbassadorsCreatesAll(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	user := model.Actor{Kind: model.ActorUser, ID: "usr_01jdq3f7k8m2n4p6r8t0v2x4z6", Label: "ann@example.com", Audited: true}
	ctx := model.WithActor(context.Background(), user)
	rows := importRows("Ada,Lovelace,ADA@Uni.example,Maths", " Grace ,Hopper,grace@uni.example,", "Alan,Turing,alan@uni.example,King's")
	key := idem("import-1", "the file")
	made, replayed, err := s.ImportAmbassadors(ctx, rows, key)
	if err != nil || replayed || len(made) != 3 {
		t.Fatalf("got %d, replayed %v, %v; want 3 made", len(made), replayed, err)
	}
	if made[0].Email != "ADA@uni.example" || made[1].FirstName != "Grace" || made[1].School != nil || *made[2].School != "King's" ||
		made[0].Status != model.AmbassadorActive {
		t.Errorf("got %+v %+v %+v, want the rows normalized", made[0], made[1], made[2])
	}
	listed := allAmbassadors(t, s, model.AmbassadorFilter{})
	if got, want := emails(listed), []string{"alan@uni.example", "grace@uni.example", "ADA@uni.example"}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v (newest first, so in the file's order reversed)", got, want)
	}
	entries := allAudit(t, s, model.AuditFilter{})
	if len(entries) != 3 {
		t.Fatalf("got %d audit entries, want one per ambassador", len(entries))
	}
	for _, e := range entries {
		if e.Action != "ambassador.created" || e.Actor.ID != user.ID || !strings.Contains(e.Summary, "imported") {
			t.Errorf("audit entry %+v, want ambassador.created by the user, saying imported", e)
		}
	}

	again, replayed, err := s.ImportAmbassadors(ctx, rows, key)
	if err != nil || !replayed || len(again) != 3 || again[2].ID != made[2].ID {
		t.Fatalf("replay: got %d, replayed %v, %v; want the same 3", len(again), replayed, err)
	}
	if n := len(allAmbassadors(t, s, model.AmbassadorFilter{})); n != 3 {
		t.Errorf("after a replay there are %d ambassadors, want 3", n)
	}
	_, _, err = s.ImportAmbassadors(ctx, importRows("Other,One,other@uni.example,"), idem("import-1", "another file"))
	if model.ErrorCode(err) != model.EIdempotencyKeyReused {
		t.Errorf("another file under the key: got %v, want idempotency_key_reused", err)
	}
}

// One problem anywhere imports nothing, and every problem is reported at
// once, each under its row: bad values, an email twice in the file
// (whatever its case), an email an ambassador already has.
func TestImportAmbassadorsIsAllOrNothing(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := model.WithActor(context.Background(), model.Actor{Kind: model.ActorUser, ID: "usr_01jdq3f7k8m2n4p6r8t0v2x4z6", Audited: true})
	existing, _, err := s.CreateAmbassador(context.Background(), model.AmbassadorCreate{FirstName: "Old", LastName: "Timer",
		Email: "old@uni.example", Status: model.AmbassadorActive}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rows []model.AmbassadorCreate
		// want maps each field with a problem to a part of its message.
		want map[string]string
	}{
		{"a bad email", importRows("Ada,L,ada@uni.example,", "Bo,B,not-an-email,"),
			map[string]string{"rows.1.email": "valid email"}},
		{"an email twice in the file", importRows("Ada,L,ada@uni.example,", "Bo,B,bo@uni.example,", "Ada,Again,ADA@uni.example,"),
			map[string]string{"rows.2.email": "earlier row"}},
		{"an email an ambassador has", importRows("Ada,L,ada@uni.example,", "Old,Again,Old@Uni.example,"),
			map[string]string{"rows.1.email": existing.ID}},
		{"everything at once", importRows(",L,ada@uni.example,", "Bo,B,old@uni.example,", "Cy,C,ada@uni.example,"+strings.Repeat("s", 201)),
			map[string]string{"rows.0.first_name": "required", "rows.1.email": existing.ID, "rows.2.email": "earlier row",
				"rows.2.school": "at most"}},
		{"no rows", nil, map[string]string{"rows": "at least one"}},
		{"too many rows", make([]model.AmbassadorCreate, model.MaxImportAmbassadors+1), map[string]string{"rows": "at most"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.ImportAmbassadors(ctx, tt.rows, idem("k-"+tt.name, tt.name))
			got := fieldsOf(t, err)
			for field, part := range tt.want {
				if fe, ok := got[field]; !ok || !strings.Contains(fe.Message, part) {
					t.Errorf("%s: got %+v, want a problem saying %q", field, fe, part)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("got problems %v, want only %v", got, tt.want)
			}
			// The check alone says the same, and writes nothing either.
			if checked := fieldsOf(t, s.CheckAmbassadorImport(ctx, tt.rows)); len(checked) != len(got) {
				t.Errorf("CheckAmbassadorImport: got %v, want %v", checked, got)
			}
			if all := allAmbassadors(t, s, model.AmbassadorFilter{}); len(all) != 1 {
				t.Errorf("got ambassadors %v, want only the one that was there", emails(all))
			}
		})
	}
	if entries := allAudit(t, s, model.AuditFilter{}); len(entries) != 0 {
		t.Errorf("got %d audit entries, want none: nothing was imported", len(entries))
	}
	if err := s.CheckAmbassadorImport(ctx, importRows("New,One,new@uni.example,")); err != nil {
		t.Errorf("CheckAmbassadorImport of a good row: %v", err)
	}
	// The refused key was not used up: the same key with a good file imports.
	if made, _, err := s.ImportAmbassadors(ctx, importRows("Ada,L,ada@uni.example,"), idem("k-a bad email", "fixed")); err != nil || len(made) != 1 {
		t.Errorf("the fixed file: got %d, %v; want it imported", len(made), err)
	}
}

// A search finds an email through its index, and a name, email or
// school in the bounded walk; School keeps one school; both go with a
// status.
func TestFindAmbassadorsSearch(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	if _, _, err := s.ImportAmbassadors(ctx, importRows(
		"Ada,Lovelace,ada@uni.example,Trinity College",
		"Grace,Hopper,grace@navy.example,Yale",
		"Alan,Turing,alan@kings.example,King's College",
		"Adam,Smith,adam@uni.example,trinity college ",
	), model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	all := allAmbassadors(t, s, model.AmbassadorFilter{})
	if _, err := s.UpdateAmbassador(ctx, all[0].ID, model.AmbassadorUpdate{Status: ptr(model.AmbassadorPaused)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f    model.AmbassadorFilter
		want []string
	}{
		{model.AmbassadorFilter{Search: "GRACE@navy.example"}, []string{"grace@navy.example"}},
		{model.AmbassadorFilter{Search: "ada"}, []string{"adam@uni.example", "ada@uni.example"}},
		{model.AmbassadorFilter{Search: "ada lov"}, []string{"ada@uni.example"}},
		{model.AmbassadorFilter{Search: "@uni.example"}, []string{"adam@uni.example", "ada@uni.example"}},
		{model.AmbassadorFilter{Search: "college"}, []string{"adam@uni.example", "alan@kings.example", "ada@uni.example"}},
		{model.AmbassadorFilter{Search: "nobody"}, nil},
		{model.AmbassadorFilter{School: "Trinity College"}, []string{"adam@uni.example", "ada@uni.example"}},
		{model.AmbassadorFilter{School: "trinity"}, nil},
		{model.AmbassadorFilter{School: "trinity college", Status: model.AmbassadorActive}, []string{"ada@uni.example"}},
		{model.AmbassadorFilter{Search: "adam@uni.example", Status: model.AmbassadorActive}, nil},
		{model.AmbassadorFilter{Search: "adam@uni.example", Status: model.AmbassadorPaused}, []string{"adam@uni.example"}},
		{model.AmbassadorFilter{Search: "alan@kings.example", School: "Yale"}, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.f), func(t *testing.T) {
			if got := emails(allAmbassadors(t, s, tt.f)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Past the one page an email's search has, there is nothing.
	page, err := s.FindAmbassadors(ctx, model.AmbassadorFilter{Search: "ada@uni.example", ListOptions: model.ListOptions{Cursor: all[0].ID}})
	if err != nil || len(page.Data) != 0 || page.HasMore {
		t.Errorf("a later page of an email's search: got %d, has_more %v, %v; want none", len(page.Data), page.HasMore, err)
	}
}

// A search reads a bounded number of ambassadors a page: when its only
// match is far back, the first pages come back short, even empty, with a
// cursor, and paging on finds it.
func TestFindAmbassadorsSearchIsBoundedPerPage(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	rows := []model.AmbassadorCreate{{FirstName: "Needle", LastName: "Rare", Email: "needle@uni.example"}}
	for i := range 300 {
		rows = append(rows, model.AmbassadorCreate{FirstName: "Hay", LastName: fmt.Sprint(i), Email: fmt.Sprintf("hay%d@uni.example", i)})
	}
	if _, _, err := s.ImportAmbassadors(ctx, rows, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	f := model.AmbassadorFilter{Search: "needle", ListOptions: model.ListOptions{Limit: 5}}
	page, err := s.FindAmbassadors(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 0 || !page.HasMore || page.NextCursor == nil {
		t.Fatalf("first page: got %d, has_more %v; want none yet, and a cursor to look further", len(page.Data), page.HasMore)
	}
	if got := emails(allAmbassadors(t, s, f)); !slices.Equal(got, []string{"needle@uni.example"}) {
		t.Errorf("paging on: got %v, want the needle", got)
	}
}

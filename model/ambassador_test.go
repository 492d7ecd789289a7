package model

import "testing"

// An import's field names carry the row, and read back; other fields are
// the import's own.
func TestImportFieldRoundTrip(t *testing.T) {
	for _, row := range []int{0, 7, 4999} {
		got, field, ok := ParseImportField(ImportField(row, "email"))
		if !ok || got != row || field != "email" {
			t.Errorf("row %d: got %d %q %v", row, got, field, ok)
		}
	}
	for _, f := range []string{"rows", "rows.", "rows.x.email", "rows.-1.email", "rows.3", "email"} {
		if _, _, ok := ParseImportField(f); ok {
			t.Errorf("%q: read as a row's field", f)
		}
	}
}

// ValidateImport normalizes every row and names each problem by its row.
func TestValidateImport(t *testing.T) {
	ins := []AmbassadorCreate{
		{FirstName: " Ada ", LastName: "L", Email: "ada@UNI.example"},
		{FirstName: "Bo", LastName: "", Email: "bo@uni.example"},
		{FirstName: "Cy", LastName: "C", Email: "Ada@uni.example"},
	}
	fe := ValidateImport(ins)
	if ins[0].FirstName != "Ada" || ins[0].Email != "ada@uni.example" || ins[0].Status != AmbassadorActive {
		t.Errorf("row 0 not normalized: %+v", ins[0])
	}
	if len(fe) != 2 || !fe.Has("rows.1.last_name") || !fe.Has("rows.2.email") {
		t.Errorf("got %+v, want rows.1.last_name and rows.2.email", fe)
	}
}

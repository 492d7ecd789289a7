package console

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/referrald/referrald/model"
)

// The CSV import: many ambassadors from one file, all or none. The file
// is read and checked whole first; its rows go to the store in one
// ImportAmbassadors, which checks them again with the emails already
// taken and creates every one or none. Whatever is wrong is listed on
// the page by row, column and problem, so one round of fixes is enough.

// Bounds of an import: the file's size, and the problems the report
// lists (a file of the wrong kind can have one on every row).
const (
	maxImportBytes    = 1 << 20
	maxImportProblems = 200
	// importBodySlack is room in the body for the multipart framing and
	// the form's other fields.
	importBodySlack = 16 << 10
)

// importColumns are the columns a file may have, in the order the
// template has them; school may be left out.
var importColumns = []string{"first_name", "last_name", "email", "school"}

var importFields = []*field{
	{Name: "file", Label: "CSV file", Type: "file", Required: true,
		Hint:  "A .csv file of at most 1 MiB and " + formatCount(model.MaxImportAmbassadors) + " rows, with a header row.",
		Attrs: map[string]string{"accept": ".csv,text/csv"}},
	{Name: "idempotency_key", Label: "Form"},
}

// importProblem is one line of the report. Row is the file's row (the
// header is row 1); 0 is the file as a whole.
type importProblem struct {
	Row             int
	Column, Message string
}

type importView struct {
	Form     *form
	Problems []importProblem
	// Unlisted is how many problems the report leaves out.
	Unlisted int64
	// FileName and Rows are the file sent and its rows of ambassadors.
	FileName string
	Rows     int64
	Columns  []string
}

func newImportView(f *form) importView {
	return importView{Form: f, Columns: importColumns}
}

// handleAmbassadorImportForm serves GET /console/ambassadors/import.
func (s *Server) handleAmbassadorImportForm(w http.ResponseWriter, r *http.Request) error {
	f := newForm(importFields...)
	f.Set("idempotency_key", newFormKey())
	return s.render(w, r, http.StatusOK, "ambassador_import", newImportView(f))
}

// handleAmbassadorImportTemplate serves GET
// /console/ambassadors/import/template.csv: a file to fill in.
func (s *Server) handleAmbassadorImportTemplate(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="ambassadors.csv"`)
	io.WriteString(w, strings.Join(importColumns, ",")+"\r\nAda,Lovelace,ada@example.edu,Trinity College\r\n")
	return nil
}

// handleAmbassadorImport serves POST /console/ambassadors/import, a
// multipart form with the file: on success it redirects to the list;
// otherwise it shows the form again with the report, and nothing is
// imported.
func (s *Server) handleAmbassadorImport(w http.ResponseWriter, r *http.Request) error {
	allowBody(w, r, maxImportBytes+importBodySlack)
	f := newForm(importFields...)
	v := newImportView(f)
	data, name, key, err := readImportUpload(r)
	f.Set("idempotency_key", key)
	if !model.ValidIdempotencyKey(key) {
		f.Set("idempotency_key", newFormKey())
	}
	v.FileName = name
	if err != nil {
		f.AddError("file", err.Error())
		return s.renderForm(w, r, "ambassador_import", v)
	}
	rows, problems := parseImportCSV(data)
	v.Rows = int64(len(rows))
	ins := make([]model.AmbassadorCreate, len(rows))
	for i, row := range rows {
		ins[i] = row.in
	}
	if len(problems) > 0 {
		// The rows that could be read are checked too, so the report is
		// whole, but only checked: the file is not imported as it is.
		if len(ins) > 0 && len(ins) <= model.MaxImportAmbassadors {
			err := s.svc.Ambassadors.CheckAmbassadorImport(r.Context(), ins)
			var e *model.Error
			if errors.As(err, &e) && e.Code == model.EValidation {
				problems = append(problems, rowProblems(rows, e.Fields)...)
			} else if err != nil {
				return err
			}
		}
		return s.renderImportProblems(w, r, v, problems)
	}
	// The key makes a second click, or a reload of the answer, show the
	// import the first one made, not a report that every email is taken.
	idem := formIdempotency(r, "POST /console/ambassadors/import", key, ins)
	made, _, err := s.svc.Ambassadors.ImportAmbassadors(r.Context(), ins, idem)
	var e *model.Error
	switch {
	case model.ErrorCode(err) == model.EIdempotencyKeyReused:
		f.Set("idempotency_key", newFormKey())
		f.AddError("file", "is not the file this form sent before, which was imported. Check the list of ambassadors, then choose the file again to import it too")
		return s.renderForm(w, r, "ambassador_import", v)
	case model.ErrorCode(err) == model.EValidation && errors.As(err, &e):
		return s.renderImportProblems(w, r, v, rowProblems(rows, e.Fields))
	case err != nil:
		return err
	}
	msg := "Imported " + strconv.Itoa(len(made)) + " ambassadors."
	if len(made) == 1 {
		msg = "Imported 1 ambassador."
	}
	return s.redirect(w, r, "/console/ambassadors", msg)
}

// renderImportProblems shows the form again with the report: problems
// in row order, then column order, at most maxImportProblems of them.
func (s *Server) renderImportProblems(w http.ResponseWriter, r *http.Request, v importView, problems []importProblem) error {
	slices.SortStableFunc(problems, func(a, b importProblem) int {
		if a.Row != b.Row {
			return a.Row - b.Row
		}
		return slices.Index(importColumns, a.Column) - slices.Index(importColumns, b.Column)
	})
	if len(problems) > maxImportProblems {
		v.Unlisted = int64(len(problems) - maxImportProblems)
		problems = problems[:maxImportProblems]
	}
	v.Problems = problems
	n := int64(len(v.Problems)) + v.Unlisted
	if n == 1 {
		v.Form.Fail("Nothing was imported: the file has a problem. Fix it and import the whole file again.")
	} else {
		v.Form.Fail("Nothing was imported: the file has " + formatCount(n) + " problems. Fix them and import the whole file again.")
	}
	return s.renderForm(w, r, "ambassador_import", v)
}

// errImportFile is a problem with the upload itself, said as the end of
// a sentence that starts with the input's label.
type errImportFile string

func (e errImportFile) Error() string { return string(e) }

// readImportUpload reads the multipart form: the file's bytes and name,
// and the form's idempotency key. Its errors are the user's to fix.
func readImportUpload(r *http.Request) (data []byte, name, key string, err error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, "", "", errImportFile("is required: choose a .csv file")
	}
	var found bool
	// A browser sends the form's two fields; a few more are skipped.
	for range 8 {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, name, key, uploadError(err)
		}
		switch part.FormName() {
		case "idempotency_key":
			b, err := io.ReadAll(io.LimitReader(part, model.MaxIdempotencyLen+1))
			if err != nil {
				return nil, name, key, uploadError(err)
			}
			key = string(b)
		case "file":
			found, name = true, clipRunes(part.FileName(), model.MaxLabelLen)
			data, err = io.ReadAll(io.LimitReader(part, maxImportBytes+1))
			if err != nil {
				return nil, name, key, uploadError(err)
			}
			if len(data) > maxImportBytes {
				return nil, name, key, errImportFile("is larger than 1 MiB: split it into several files")
			}
		default:
			if _, err := io.Copy(io.Discard, part); err != nil {
				return nil, name, key, uploadError(err)
			}
		}
	}
	if !found || len(data) == 0 && name == "" {
		return nil, name, key, errImportFile("is required: choose a .csv file")
	}
	if len(data) == 0 {
		return nil, name, key, errImportFile("is empty: it needs a header row and a row for each ambassador")
	}
	return data, name, key, nil
}

// uploadError says what went wrong reading an upload.
func uploadError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errImportFile("is larger than 1 MiB: split it into several files")
	}
	return errImportFile("could not be read: the upload broke off. Choose the file and import it again")
}

// importRow is an ambassador of the file, and the row it is on.
type importRow struct {
	line int
	in   model.AmbassadorCreate
}

// parseImportCSV reads a file: a header row naming its columns (in any
// order, in any case, "First name" as well as first_name), then a row
// per ambassador. It returns the rows it could read and the problems of
// the file's shape; the values themselves are the model's to check.
func parseImportCSV(data []byte) ([]importRow, []importProblem) {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // spreadsheets start UTF-8 files with a BOM
	whole := func(msg string) []importProblem { return []importProblem{{Message: msg}} }
	if !utf8.Valid(data) {
		return nil, whole("The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8” and import it again.")
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1 // rows of the wrong length are reported, not fatal
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, whole("The file is empty: it needs a header row and a row for each ambassador.")
	} else if err != nil {
		return nil, whole(csvProblem(err))
	}
	col := map[string]int{}
	var problems []importProblem
	for i, h := range header {
		name := strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(h)))
		switch _, seen := col[name]; {
		case !slices.Contains(importColumns, name):
			problems = append(problems, importProblem{Row: 1, Message: fmt.Sprintf("The header names a column %q, which is not one of %s.",
				clipRunes(strings.TrimSpace(h), 40), strings.Join(importColumns, ", "))})
		case seen:
			problems = append(problems, importProblem{Row: 1, Column: name, Message: "The header names this column twice."})
		default:
			col[name] = i
		}
	}
	for _, name := range importColumns[:3] {
		if _, ok := col[name]; !ok {
			problems = append(problems, importProblem{Row: 1, Column: name, Message: "The header has no " + name + " column: the first row must name the columns, such as " +
				strings.Join(importColumns, ",") + "."})
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	cell := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}
	var rows []importRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			// A broken quote leaves the rest of the file unreadable.
			return rows, append(problems, importProblem{Row: errorLine(err), Message: csvProblem(err)})
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue // spreadsheets save empty rows as ",,,"
		}
		if len(rows)+len(problems) >= model.MaxImportAmbassadors {
			return rows, append(problems, importProblem{Message: "The file has more than " + formatCount(model.MaxImportAmbassadors) +
				" rows of ambassadors: split it into several files."})
		}
		if len(rec) != len(header) {
			problems = append(problems, importProblem{Row: line, Message: fmt.Sprintf("The row has %d cells where the header has %d columns.", len(rec), len(header))})
			continue
		}
		rows = append(rows, importRow{line: line, in: model.AmbassadorCreate{FirstName: cell(rec, "first_name"),
			LastName: cell(rec, "last_name"), Email: cell(rec, "email"), School: cell(rec, "school")}})
	}
	if len(rows) == 0 && len(problems) == 0 {
		return nil, whole("The file has a header row but no ambassadors: add a row for each one.")
	}
	return rows, problems
}

// blank reports whether every cell of rec is empty or spaces.
func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// csvProblem says what encoding/csv could not read, in words.
func csvProblem(err error) string {
	if errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrBareQuote) {
		return "A quote (\") is not closed, or stands inside a cell that is not quoted. The rows after it were not read."
	}
	return "The file could not be read as CSV. The rows after this one were not read."
}

// errorLine is the row a CSV error is on.
func errorLine(err error) int {
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		return pe.StartLine
	}
	return 0
}

// rowProblems turns the model's field errors of an import into the
// report's lines: rows.N.field is the Nth row read, on its line.
func rowProblems(rows []importRow, fields []model.FieldError) []importProblem {
	out := make([]importProblem, 0, len(fields))
	for _, fe := range fields {
		i, column, ok := model.ParseImportField(fe.Field)
		if !ok || i >= len(rows) {
			out = append(out, importProblem{Message: sentence(fe.Message)})
			continue
		}
		out = append(out, importProblem{Row: rows[i].line, Column: column, Message: sentence(fe.Message)})
	}
	return out
}

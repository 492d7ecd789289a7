package api

import (
	"bytes"
	"context"
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// Print runs: many ambassadors' posters made at once, kept so each
// sheet's scans can be followed, and printed again from what is stored.

// printRunPDFCost is how many tokens of the key's bucket a run's PDF
// spends: up to a thousand posters, each a page with a QR code, take a
// second or two to draw.
const printRunPDFCost = 10 * imageCost

// printRunView is a print run as the API answers it.
type printRunView struct {
	*model.PrintRun
	// PDFURL is where the run's posters are drawn, with the program's
	// design as it is when they are fetched.
	PDFURL string `json:"pdf_url"`
	// Sheets are the run's placements in print order, on a single run
	// (a list leaves them out: a page of runs could hold 100,000).
	Sheets []printRunSheet `json:"sheets,omitempty"`
}

// printRunSheet is one placement of a run, as it is printed.
type printRunSheet struct {
	PlacementID  string `json:"placement_id"`
	AmbassadorID string `json:"ambassador_id"`
	Code         string `json:"code"`
	ScanURL      string `json:"scan_url"`
}

func (s *Server) printRuns() (model.PrintRunService, error) {
	if s.svc.PrintRuns == nil {
		return nil, model.Errorf(model.ENotFound, "print runs are not served here")
	}
	return s.svc.PrintRuns, nil
}

func printRunOf(r *model.PrintRun) printRunView {
	return printRunView{PrintRun: r, PDFURL: "/v1/print_runs/" + r.ID + "/posters.pdf"}
}

// printRunWithSheets is run id with its sheets.
func (s *Server) printRunWithSheets(ctx context.Context, svc model.PrintRunService, id string) (printRunView, error) {
	rec, err := svc.FindPrintRunRecords(ctx, id, false)
	if err != nil {
		return printRunView{}, err
	}
	v := printRunOf(rec.Run)
	v.Sheets = make([]printRunSheet, 0, len(rec.Placements))
	for _, p := range rec.Placements {
		v.Sheets = append(v.Sheets, printRunSheet{PlacementID: p.ID, AmbassadorID: p.AmbassadorID, Code: p.Code,
			ScanURL: poster.ScanURL(s.scanBase, p.Code)})
	}
	return v, nil
}

// handlePrintRunCreate serves POST /v1/print_runs {"program_id",
// "ambassador_ids" | "school", "layout", "paper", "count", "label"}: it
// makes count placements for each ambassador and the run that holds
// them, in one transaction, and answers the run with its sheets. The
// posters are at its pdf_url.
func (s *Server) handlePrintRunCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	in := model.PrintRunCreate{ProgramID: o.str("program_id"), School: o.str("school"), Layout: o.str("layout"),
		Paper: o.str("paper"), Label: o.str("label"), Count: 1}
	if ids := o.stringsPtr("ambassador_ids"); ids != nil {
		in.AmbassadorIDs = *ids
	}
	if raw, _ := o.raw("count"); raw != nil {
		in.Count = int(o.int64("count"))
	}
	idem := idempotency(r, o, "POST /v1/print_runs", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	svc, err := s.printRuns()
	if err != nil {
		return err
	}
	run, replayed, err := svc.CreatePrintRun(r.Context(), in, idem)
	if err != nil {
		return err
	}
	v, err := s.printRunWithSheets(r.Context(), svc, run.ID)
	if err != nil {
		return err
	}
	return s.writeCreated(w, r, "/v1/print_runs/"+run.ID, v, replayed)
}

// handlePrintRunList serves GET /v1/print_runs?program_id=&limit=&cursor=.
func (s *Server) handlePrintRunList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := model.PrintRunFilter{ListOptions: q.list(model.PrefixPrintRun), ProgramID: q.id("program_id", model.PrefixProgram)}
	if err := q.finish(); err != nil {
		return err
	}
	svc, err := s.printRuns()
	if err != nil {
		return err
	}
	page, err := svc.FindPrintRuns(r.Context(), f)
	if err != nil {
		return err
	}
	out := model.Page[printRunView]{Data: make([]printRunView, 0, len(page.Data)), HasMore: page.HasMore, NextCursor: page.NextCursor}
	for _, run := range page.Data {
		out.Data = append(out.Data, printRunOf(run))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handlePrintRunGet serves GET /v1/print_runs/:id.
func (s *Server) handlePrintRunGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.printRuns()
	if err != nil {
		return err
	}
	v, err := s.printRunWithSheets(r.Context(), svc, p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// handlePrintRunPDF serves GET /v1/print_runs/:id/posters.pdf: the run's
// posters, drawn from its stored placements with the program's design as
// it is now. Nothing is made: the same codes print again. A design that
// has since started to print names, or a name changed since, that the
// posters cannot print is a conflict to fix first.
func (s *Server) handlePrintRunPDF(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.printRuns()
	if err != nil {
		return err
	}
	rec, err := svc.FindPrintRunRecords(r.Context(), p.ByName("id"), true)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := poster.PrintRunPDF(&buf, rec, s.scanBase); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Disposition", `attachment; filename="print-run-`+rec.Run.ID+`.pdf"`)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return nil
}

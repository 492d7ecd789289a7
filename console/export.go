package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/referrald/referrald/export"
	"github.com/referrald/referrald/model"
)

// CSV exports of the console's lists, written by the export package as
// the API's /v1/exports are, under the user's session: each list's
// "Export CSV" link carries its filters, by the names its form gives
// them, and the file holds every row that matches, not a page.

// handleExport serves GET /console/exports/{file}, for referrals.csv,
// earnings.csv, commissions.csv and payouts.csv. A filter that is not
// right refuses the export rather than exporting something else.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	kind, ok := strings.CutSuffix(r.PathValue("file"), ".csv")
	var f *form
	var filter export.Filter
	switch {
	case !ok:
		return model.Errorf(model.ENotFound, "")
	case kind == export.Referrals:
		f = newForm(referralFilterFields...).read(r)
		filter.Referral = readReferralFilter(f)
	case kind == export.Earnings:
		f = newForm(earningFilterFields...).read(r)
		filter.Earning = readEarningFilter(f)
	case kind == export.Commissions:
		f = newForm(commissionFilterFields...).read(r)
		filter.Commission = readCommissionFilter(f)
	case kind == export.Payouts:
		f = newForm(payoutFilterFields...).read(r)
		filter.Payout = readPayoutFilter(f)
	default:
		return model.Errorf(model.ENotFound, "")
	}
	if f.HasErrors() {
		return model.Errorf(model.EValidation, "The export’s filters are not right: %s", summaryText(f))
	}
	// An export of a large store outlasts the write timeout of an
	// ordinary response.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, kind, s.now().UTC().Format("20060102")))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	svc := export.Services{Ambassadors: s.svc.Ambassadors, Referrals: s.svc.Referrals, Earnings: s.svc.Earnings}
	rows, err := export.Write(r.Context(), svc, kind, filter, exportFlusher{w})
	if err != nil {
		// The status line is gone; a truncated file is what the browser
		// keeps, and the log says why.
		s.log.ErrorContext(r.Context(), "console export failed", "export", kind, "rows", rows, "err", err)
	}
	return nil
}

// summaryText is a form's problems as one sentence list.
func summaryText(f *form) string {
	var parts []string
	for _, p := range f.Summary() {
		parts = append(parts, p.Message)
	}
	return strings.Join(parts, "; ") + "."
}

// exportFlusher flushes the response after each page of an export, so a
// long one streams.
type exportFlusher struct{ w http.ResponseWriter }

func (f exportFlusher) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f exportFlusher) Flush()                      { http.NewResponseController(f.w).Flush() }

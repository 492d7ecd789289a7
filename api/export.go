package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/export"
)

// handleExport serves
// GET /v1/exports/{ambassadors,referrals,earnings,commissions,payouts}.csv
// with the same filters as the matching list, streamed page by page.
func (s *Server) handleExport(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
		q := newQuery(r)
		var f export.Filter
		switch kind {
		case export.Ambassadors:
			f.Ambassador = ambassadorFilter(q)
		case export.Referrals:
			f.Referral = referralFilter(q)
		case export.Earnings:
			f.Earning = earningFilter(q)
		case export.Commissions:
			f.Commission = commissionFilter(q)
		case export.Payouts:
			f.Payout = payoutFilter(q)
		}
		if err := q.finish(); err != nil {
			return err
		}
		// An export of a large store outlasts the write timeout of an
		// ordinary response.
		http.NewResponseController(w).SetWriteDeadline(time.Time{})
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, kind, s.now().UTC().Format("20060102")))
		w.WriteHeader(http.StatusOK)
		rows, err := export.Write(r.Context(), export.Services{Ambassadors: s.svc.Ambassadors, Referrals: s.svc.Referrals, Earnings: s.svc.Earnings}, kind, f, flusher{w})
		if err != nil {
			// The status line is gone; a truncated file is what the client
			// sees, and the log says why.
			s.log.ErrorContext(r.Context(), "export stream failed", "export", kind, "rows", rows, "request_id", requestIDOf(r), "err", err)
		}
		return nil
	}
}

// flusher flushes the response after each page of an export.
type flusher struct{ w http.ResponseWriter }

func (f flusher) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f flusher) Flush()                      { http.NewResponseController(f.w).Flush() }

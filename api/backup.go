package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"
)

// handleBackup serves GET /v1/admin/backup: a consistent copy of the live
// store, streamed while the service keeps serving. The copy is a bbolt
// file to put in place of referrald.db to restore.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	// A large store takes longer to send than the server's write timeout
	// allows an ordinary response.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		s.log.WarnContext(r.Context(), "backup: cannot lift the write deadline", "err", err)
	}
	started := false
	n, err := s.svc.Backup.Backup(r.Context(), w, func(size int64) {
		started = true
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="referrald-%s.db"`, s.now().UTC().Format("20060102T150405Z")))
		w.WriteHeader(http.StatusOK)
	})
	if err != nil && started {
		// The status line is gone; the short body tells the client.
		s.log.ErrorContext(r.Context(), "backup stream failed", "request_id", requestIDOf(r), "bytes", n, "err", err)
		return nil
	}
	return err
}

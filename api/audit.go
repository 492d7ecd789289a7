package api

import (
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// Bounds on the audit list's filters.
const (
	maxAuditSubjectLen = 128
)

// handleAuditList serves GET /v1/audit?actor_id=&subject=&action=: the
// audit log, newest first.
func (s *Server) handleAuditList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	var f model.AuditFilter
	if v := q.str("actor_id"); v != "" {
		if f.ActorID = model.CanonicalID(v, model.PrefixUser, model.PrefixAPIKey); f.ActorID == "" {
			q.errs.Add("actor_id", model.FInvalidValue, "must be a user's ID (%s_...) or an API key's (%s_...)", model.PrefixUser, model.PrefixAPIKey)
		}
	}
	switch f.Subject = q.str("subject"); {
	case len(f.Subject) > maxAuditSubjectLen:
		q.errs.Add("subject", model.FTooLong, "must be at most %d characters", maxAuditSubjectLen)
	case f.Subject != "":
		// Record IDs are compared in the lower case they are stored in;
		// anything else (a plugin's name) as given.
		if prefix, _, ok := strings.Cut(f.Subject, "_"); ok {
			if id := model.CanonicalID(f.Subject, prefix); id != "" {
				f.Subject = id
			}
		}
	}
	if f.Action = q.str("action"); f.Action != "" && !model.ValidAuditAction(f.Action) {
		q.errs.Add("action", model.FInvalidValue, "must be a record kind and what happened to it, like program.updated")
	}
	f.ListOptions = q.list(model.PrefixAudit)
	if err := q.finish(); err != nil {
		return err
	}
	if s.svc.Audit == nil {
		return model.Errorf(model.ENotFound, "this server keeps no audit log")
	}
	page, err := s.svc.Audit.FindAudit(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

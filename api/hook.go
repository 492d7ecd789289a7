package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// hooks returns the hook admin service, or not_found when no plugin is
// configured.
func (s *Server) hooks() (model.HookAdmin, error) {
	if s.svc.Hooks == nil {
		return nil, model.Errorf(model.ENotFound, "no hook plugins are configured")
	}
	return s.svc.Hooks, nil
}

// deadLetterStore lists and retries one consumer's dead letters.
type deadLetterStore interface {
	FindDeadLetters(ctx context.Context, plugin string, opt model.ListOptions) (model.Page[*model.DeadLetter], error)
	RetryDeadLetters(ctx context.Context, plugin string, eventIDs []string) (int, error)
}

// deadLetters is where plugin's dead letters are: the mailer's
// (model.MailConsumer) when email is sent, else a hook plugin's.
func (s *Server) deadLetters(plugin string) (deadLetterStore, error) {
	if plugin == model.MailConsumer {
		if s.svc.Mail == nil {
			return nil, model.Errorf(model.ENotFound, "no email is sent here (email.smtp.host)")
		}
		return s.svc.Mail, nil
	}
	return s.hooks()
}

// handleHookList serves GET /v1/admin/hooks: every configured plugin with
// its state and backlog.
func (s *Server) handleHookList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if err := newQuery(r).finish(); err != nil {
		return err
	}
	plugins := []model.HookPlugin{}
	if s.svc.Hooks != nil {
		var err error
		if plugins, err = s.svc.Hooks.HookPlugins(r.Context()); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": plugins})
	return nil
}

// handleDeadLetterList serves GET /v1/admin/hooks/dead-letters?plugin=.
func (s *Server) handleDeadLetterList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	opt := q.list(model.PrefixEvent)
	plugin := q.str("plugin")
	if plugin == "" {
		q.errs.Add("plugin", model.FRequired, "is required")
	}
	if err := q.finish(); err != nil {
		return err
	}
	h, err := s.deadLetters(plugin)
	if err != nil {
		return err
	}
	page, err := h.FindDeadLetters(r.Context(), plugin, opt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// handleDeadLetterRetry serves POST /v1/admin/hooks/dead-letters/retry
// {"plugin": ..., "event_ids": [...]}: the listed dead letters, or all of
// the plugin's when event_ids is absent, are delivered again.
func (s *Server) handleDeadLetterRetry(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	plugin := o.str("plugin")
	var ids []string
	raw, _ := o.raw("event_ids")
	if raw != nil && json.Unmarshal(raw, &ids) != nil {
		o.typeError("event_ids", "a list of event IDs")
	}
	fe := o.finish()
	if plugin == "" {
		fe.Add("plugin", model.FRequired, "is required")
	}
	switch {
	case raw != nil && len(ids) == 0 && !fe.Has("event_ids"):
		// An empty list retrying everything would be a nasty surprise.
		fe.Add("event_ids", model.FInvalidValue, "must list at least one ID; leave it out to retry all")
	case len(ids) > model.MaxListLimit:
		fe.Add("event_ids", model.FInvalidValue, "must list at most %d IDs; leave it out to retry all", model.MaxListLimit)
	}
	for _, id := range ids {
		if _, ok := model.ParseID(model.PrefixEvent, id); !ok {
			fe.Add("event_ids", model.FInvalidValue, "%q is not an event ID", id)
			break
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	h, err := s.deadLetters(plugin)
	if err != nil {
		return err
	}
	n, err := h.RetryDeadLetters(r.Context(), plugin, ids)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"queued": n})
	return nil
}

// handleHookResultList serves GET /v1/admin/hooks/results?plugin=&ambassador_id=&limit=:
// what plugins reported (commissions), newest first.
func (s *Server) handleHookResultList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	plugin := q.str("plugin")
	amb := q.id("ambassador_id", model.PrefixAmbassador)
	limit := q.limit("limit", model.DefaultListLimit, model.MaxListLimit)
	if err := q.finish(); err != nil {
		return err
	}
	var results []*model.HookResult
	if s.svc.Hooks != nil {
		var err error
		if results, err = s.svc.Hooks.FindHookResults(r.Context(), plugin, amb, limit); err != nil {
			return err
		}
	}
	if results == nil {
		results = []*model.HookResult{} // a list is an array, even when empty
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": results})
	return nil
}

package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
)

// Hook plugins: what each configured plugin is doing, the events it
// gave up on (dead letters) and sending them again, as the API's
// /v1/admin/hooks routes do. Owners only: a dead letter's error is the
// plugin's own words, which can say more about a system than a viewer
// needs to know. Plugins are configured in the YAML file, not here.

// hooksDocs is where the operator's guide explains configuring plugins.
const hooksDocs = "https://github.com/referrald/referrald/blob/main/docs/operations.md#hook-plugins"

// deadLettersShown is how many dead letters the plugin list shows of
// each plugin; its own page lists them all.
const deadLettersShown = 5

type hookPluginView struct {
	model.HookPlugin
	Dead     []*model.DeadLetter
	MoreDead bool
}

type hookListView struct {
	// Configured is false when the server runs no hook host at all.
	Configured bool
	Plugins    []hookPluginView
	Docs       string
}

// handleHookList serves GET /console/hooks: each plugin's state and its
// latest dead letters.
func (s *Server) handleHookList(w http.ResponseWriter, r *http.Request) error {
	v := hookListView{Configured: s.svc.Hooks != nil, Docs: hooksDocs}
	if s.svc.Hooks == nil {
		return s.render(w, r, http.StatusOK, "hooks", v)
	}
	plugins, err := s.svc.Hooks.HookPlugins(r.Context())
	if err != nil {
		return err
	}
	for _, p := range plugins {
		dead, err := s.svc.Hooks.FindDeadLetters(r.Context(), p.Name, model.ListOptions{Limit: deadLettersShown})
		if err != nil {
			return err
		}
		v.Plugins = append(v.Plugins, hookPluginView{HookPlugin: p, Dead: dead.Data, MoreDead: dead.HasMore})
	}
	return s.render(w, r, http.StatusOK, "hooks", v)
}

type hookView struct {
	Plugin model.HookPlugin
	Dead   []*model.DeadLetter
	Next   string
	// First is false on a later page of dead letters.
	First bool
}

// plugin returns the configured plugin named name, or not_found.
func (s *Server) plugin(r *http.Request, name string) (model.HookPlugin, error) {
	if s.svc.Hooks == nil {
		return model.HookPlugin{}, model.Errorf(model.ENotFound, "No hook plugins are configured.")
	}
	plugins, err := s.svc.Hooks.HookPlugins(r.Context())
	if err != nil {
		return model.HookPlugin{}, err
	}
	for _, p := range plugins {
		if p.Name == name {
			return p, nil
		}
	}
	return model.HookPlugin{}, model.Errorf(model.ENotFound, "No hook plugin of this name is configured.")
}

// handleHookGet serves GET /console/hooks/{name}?cursor=: one plugin and
// its dead letters, newest first.
func (s *Server) handleHookGet(w http.ResponseWriter, r *http.Request) error {
	p, err := s.plugin(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	opt := model.ListOptions{Limit: 50, Cursor: r.URL.Query().Get("cursor")}
	dead, err := s.svc.Hooks.FindDeadLetters(r.Context(), p.Name, opt)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		opt.Cursor = ""
		dead, err = s.svc.Hooks.FindDeadLetters(r.Context(), p.Name, opt)
	}
	if err != nil {
		return err
	}
	v := hookView{Plugin: p, Dead: dead.Data, First: opt.Cursor == ""}
	if dead.HasMore && dead.NextCursor != nil {
		v.Next = "/console/hooks/" + p.Name + "?cursor=" + *dead.NextCursor
	}
	return s.render(w, r, http.StatusOK, "hook", v)
}

// handleHookRetry serves POST /console/hooks/{name}/retry: the dead
// letter event_id, or all of the plugin's with all=yes, are queued for
// delivery again, ahead of new events.
func (s *Server) handleHookRetry(w http.ResponseWriter, r *http.Request) error {
	p, err := s.plugin(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "The form could not be read. Reload the page and try again.")
	}
	var ids []string
	switch id, all := r.PostForm.Get("event_id"), r.PostForm.Get("all") == "yes"; {
	case id != "" && !all:
		key, ok := model.ParseID(model.PrefixEvent, strings.ToLower(id))
		if !ok {
			return model.Errorf(model.EValidation, "That is not the ID of an event. Use the buttons of the dead letters list.")
		}
		ids = []string{model.FormatID(model.PrefixEvent, key)}
	case id == "" && all:
	default:
		// An empty form retrying everything would be a nasty surprise.
		return model.Errorf(model.EValidation, "Say which dead letter to retry, or retry them all, with the buttons of the dead letters list.")
	}
	back := "/console/hooks/" + p.Name
	n, err := s.svc.Hooks.RetryDeadLetters(r.Context(), p.Name, ids)
	switch {
	case model.ErrorCode(err) == model.ENotFound:
		// Retried already, by a second click or another owner.
		s.setFlash(w, r, flashInfo, "That event is no longer a dead letter: it has been retried already.")
		return s.redirect(w, r, back, "")
	case err != nil:
		return err
	case n == 0:
		s.setFlash(w, r, flashInfo, p.Name+" has no dead letters to retry.")
		return s.redirect(w, r, back, "")
	}
	what := "1 event is"
	if n != 1 {
		what = strconv.Itoa(n) + " events are"
	}
	return s.redirect(w, r, back, what+" queued for "+p.Name+" again, ahead of new events. One that fails again comes back to this list.")
}

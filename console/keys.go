package console

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/referrald/referrald/model"
)

// API keys: the list, the form that makes one, the page that shows its
// token, and revoking. Only owners see any of it: a key list says which
// systems can reach the API, and an admin key can do all an owner can.
//
// A token is shown once, in the answer to the POST that made it, and
// nowhere else: not in a URL (a redirect to the token would put it in
// the history, the logs and the Referer), not in the flash cookie, not
// in a log line. The store keeps only its hash. The answer is not a
// redirect, so it is the one page of the console that a reload would
// send again: the form's key makes that show a page that says so
// instead of making a second key.

// The key form.
var keyFields = []*field{
	{Name: "name", Label: "Name", Required: true, Hint: "What uses the key, so you know which to revoke: such as “Signup page” or “CRM sync”.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "scope", Label: "Scope"},
	{Name: "form_key", Label: "Form"},
}

// keyScope is one scope the key form offers.
type keyScope struct {
	Scope       model.Scope
	Label, Hint string
}

// keyScopes are the scopes the form offers, least first, with what each
// lets a key do.
var keyScopes = []keyScope{
	{model.ScopeRead, "Read", "lists and reads programs, ambassadors, referrals, statistics and exports"},
	{model.ScopeWrite, "Write", "also records scans, signups and purchases: for your signup page and shop"},
	{model.ScopeAdmin, "Admin", "also changes programs, pays commissions, manages keys and reads the audit log: as much as an owner"},
}

type keyListView struct {
	Keys []*model.APIKey
	Next string
}

// handleKeyList serves GET /console/keys?cursor=: every key, newest
// first, revoked ones too.
func (s *Server) handleKeyList(w http.ResponseWriter, r *http.Request) error {
	opt := model.ListOptions{Limit: 50, Cursor: r.URL.Query().Get("cursor")}
	page, err := s.svc.Keys.FindAPIKeys(r.Context(), opt)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		opt.Cursor = ""
		page, err = s.svc.Keys.FindAPIKeys(r.Context(), opt)
	}
	if err != nil {
		return err
	}
	v := keyListView{Keys: page.Data}
	if page.HasMore && page.NextCursor != nil {
		v.Next = "/console/keys?cursor=" + *page.NextCursor
	}
	return s.render(w, r, http.StatusOK, "keys", v)
}

type keyFormView struct {
	Form   *form
	Scopes []keyScope
}

// handleKeyNew serves GET /console/keys/new.
func (s *Server) handleKeyNew(w http.ResponseWriter, r *http.Request) error {
	f := newForm(keyFields...)
	f.Set("scope", string(model.ScopeRead))
	f.Set("form_key", newFormKey())
	return s.render(w, r, http.StatusOK, "key_form", keyFormView{Form: f, Scopes: keyScopes})
}

type keyCreatedView struct {
	Key   *model.APIKey
	Token string
	// Again is set when the form had already made a key: the token is
	// not shown again.
	Again bool
}

// handleKeyCreate serves POST /console/keys/new: it makes the key and
// answers with its token, the only time anyone sees it.
func (s *Server) handleKeyCreate(w http.ResponseWriter, r *http.Request) error {
	f := newForm(keyFields...).read(r)
	in := model.APIKeyCreate{Name: f.Get("name"), Scope: model.Scope(f.Get("scope"))}
	f.fromError(in.Validate().Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "key_form", keyFormView{Form: f, Scopes: keyScopes})
	}
	once := userOf(r).ID + " " + f.Get("form_key")
	if model.ValidIdempotencyKey(f.Get("form_key")) && !s.keyForms.take(once, s.now()) {
		return s.render(w, r, http.StatusOK, "key_created", keyCreatedView{Again: true})
	}
	k, token, err := s.svc.Keys.CreateAPIKey(r.Context(), in)
	if f.fromError(err) {
		s.keyForms.forget(once)
		return s.renderForm(w, r, "key_form", keyFormView{Form: f, Scopes: keyScopes})
	} else if err != nil {
		s.keyForms.forget(once)
		return err
	}
	// render sets Cache-Control: no-store, so neither the browser nor a
	// proxy keeps this page.
	return s.render(w, r, http.StatusOK, "key_created", keyCreatedView{Key: k, Token: token})
}

type keyView struct {
	Key *model.APIKey
}

// handleKeyGet serves GET /console/keys/{id}.
func (s *Server) handleKeyGet(w http.ResponseWriter, r *http.Request) error {
	k, err := s.svc.Keys.FindAPIKeyByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "key", keyView{Key: k})
}

// handleKeyRevokeConfirm serves GET /console/keys/{id}/revoke: what
// revoking does, and the button that does it.
func (s *Server) handleKeyRevokeConfirm(w http.ResponseWriter, r *http.Request) error {
	k, err := s.svc.Keys.FindAPIKeyByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if k.RevokedAt != nil {
		s.setFlash(w, r, flashInfo, "This key is already revoked.")
		return s.redirect(w, r, "/console/keys/"+k.ID, "")
	}
	return s.render(w, r, http.StatusOK, "ops_confirm", confirmView{
		Title:  "Revoke " + k.Name + "?",
		Back:   "/console/keys/" + k.ID,
		Action: "/console/keys/" + k.ID + "/revoke", Button: "Revoke the key", Danger: true,
		Lines: []string{
			"Every request with this key's token is refused from now on, with 401. Whatever uses it stops working until it is given a new key.",
			"A revoked key cannot be brought back. Make a new key first if something still needs one.",
		},
	})
}

// handleKeyRevoke serves POST /console/keys/{id}/revoke.
func (s *Server) handleKeyRevoke(w http.ResponseWriter, r *http.Request) error {
	k, err := s.svc.Keys.RevokeAPIKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/keys", k.Name+" is revoked: requests with its token are refused.")
}

// formOnce remembers which forms have been sent, for a while, so that a
// form sent twice can be told from a new one where the store cannot tell
// (a key's token cannot be replayed: it is not stored). It holds at most
// formOnceMax forms; past that, the oldest are forgotten first.
type formOnce struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const (
	formOnceTTL = time.Hour
	formOnceMax = 1000
)

// take records form as sent at now and reports whether it was new.
func (o *formOnce) take(form string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[string]time.Time{}
	}
	if at, ok := o.seen[form]; ok && now.Sub(at) < formOnceTTL {
		return false
	}
	if len(o.seen) >= formOnceMax {
		for k, at := range o.seen {
			if now.Sub(at) >= formOnceTTL {
				delete(o.seen, k)
			}
		}
		for len(o.seen) >= formOnceMax {
			var oldest string
			var oldestAt time.Time
			for k, at := range o.seen {
				if oldest == "" || at.Before(oldestAt) {
					oldest, oldestAt = k, at
				}
			}
			delete(o.seen, oldest)
		}
	}
	o.seen[form] = now
	return true
}

// forget lets form be sent again: what it asked for was not done.
func (o *formOnce) forget(form string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.seen, form)
}

package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// createdKey is an API key with its token, shown this once.
type createdKey struct {
	*model.APIKey
	Token string `json:"token"`
}

// handleKeyCreate serves POST /v1/keys. Unlike other creates it takes no
// idempotency key: replaying the answer would mean storing the token, and
// only its hash is ever stored.
func (s *Server) handleKeyCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	in := model.APIKeyCreate{Name: o.str("name"), Scope: model.Scope(o.str("scope"))}
	if _, given := r.Header["Idempotency-Key"]; given {
		o.errs.Add("Idempotency-Key", model.FInvalidValue, "API key creation is not idempotent: the token is never stored")
	}
	fe := o.finish()
	fe.Merge(in.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	k, token, err := s.svc.Keys.CreateAPIKey(r.Context(), in)
	if err != nil {
		return err
	}
	return s.writeCreated(w, r, "/v1/keys/"+k.ID, createdKey{k, token}, false)
}

// handleKeyGet serves GET /v1/keys/:id.
func (s *Server) handleKeyGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	k, err := s.svc.Keys.FindAPIKeyByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

// handleKeyList serves GET /v1/keys.
func (s *Server) handleKeyList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	opt := q.list(model.PrefixAPIKey)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Keys.FindAPIKeys(r.Context(), opt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// handleKeyRevoke serves DELETE /v1/keys/:id; the key stays listed, with
// its revocation time.
func (s *Server) handleKeyRevoke(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	k, err := s.svc.Keys.RevokeAPIKey(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

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
	o, err := readObject(w, r)
	if err != nil {
		return err
	}
	name, scope := o.str("name"), model.Scope(o.str("scope"))
	if _, given := r.Header["Idempotency-Key"]; given {
		o.errs.Add("Idempotency-Key", model.FInvalidValue, "API key creation is not idempotent: the token is never stored")
	}
	if err := o.finish().Err(); err != nil {
		return err
	}
	k, token, err := s.svc.Keys.CreateAPIKey(r.Context(), name, scope)
	if err != nil {
		return err
	}
	return writeCreated(w, "/v1/keys/"+k.ID, createdKey{k, token}, false)
}

// handleKeyList serves GET /v1/keys.
func (s *Server) handleKeyList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if err := newQuery(r).finish(); err != nil {
		return err
	}
	keys, err := s.svc.Keys.FindAPIKeys(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": keys})
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

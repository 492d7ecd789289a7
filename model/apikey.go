package model

import (
	"context"
	"io"
)

// Scope is what an API key may do. Scopes are ordered: admin can do all that
// write can, and write all that read can.
type Scope string

// Scopes.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
)

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeWrite:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s.rank() > 0 }

// Allows reports whether a key with scope s may do what needs scope need.
func (s Scope) Allows(need Scope) bool { return s.rank() >= need.rank() && s.Valid() }

// APIKey describes a bearer token. The token itself is shown once, at
// creation, and only its SHA-256 is stored.
type APIKey struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Scope     Scope  `json:"scope"`
	CreatedAt Time   `json:"created_at"`
	RevokedAt *Time  `json:"revoked_at"`
}

// APIKeyCreate is the body of POST /v1/keys.
type APIKeyCreate struct {
	Name  string
	Scope Scope
}

// Validate normalizes c in place and returns its problems.
func (c *APIKeyCreate) Validate() FieldErrors {
	var fe FieldErrors
	CheckText(&fe, "name", &c.Name, MaxLabelLen, true)
	if !c.Scope.Valid() {
		fe.Add("scope", FInvalidValue, "must be read, write or admin")
	}
	return fe
}

// Principal is who made a request: an API key, or the bootstrap admin token
// from the environment.
type Principal struct {
	// ID scopes idempotency keys: one client never sees another's replays.
	ID    string
	Scope Scope
	// Name is the key's name ("" for the admin token), for the audit log.
	Name string
}

// APIKeyService manages API keys.
type APIKeyService interface {
	// CreateAPIKey returns the key and its token, which is never shown
	// again. Errors: validation_failed, unavailable.
	CreateAPIKey(ctx context.Context, in APIKeyCreate) (*APIKey, string, error)
	// FindAPIKeyByID errors: not_found.
	FindAPIKeyByID(ctx context.Context, id string) (*APIKey, error)
	// AuthenticateToken returns the live key whose token this is. Errors:
	// unauthorized.
	AuthenticateToken(ctx context.Context, token string) (*APIKey, error)
	FindAPIKeys(ctx context.Context, opt ListOptions) (Page[*APIKey], error)
	// RevokeAPIKey errors: not_found.
	RevokeAPIKey(ctx context.Context, id string) (*APIKey, error)
}

// Idempotency names one client's idempotency key for one create, with a
// fingerprint of the request's parameters. A zero Key means none was sent.
type Idempotency struct {
	Scope       string
	Key         string
	Fingerprint [32]byte
}

// WriteHealth says whether the store takes writes now, for /readyz.
type WriteHealth interface {
	Writable() error
}

// BackupService copies the whole store consistently while it keeps
// serving.
type BackupService interface {
	// Backup calls start with the copy's size in bytes, then writes the
	// copy to w, and returns the bytes written.
	Backup(ctx context.Context, w io.Writer, start func(size int64)) (int64, error)
}

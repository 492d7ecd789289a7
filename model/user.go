package model

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Prefixes of the console's records.
const (
	PrefixUser    = "usr"
	PrefixSession = "ses"
	PrefixAudit   = "aud"
)

// Role is what a console user may do. Roles are ordered: an owner can do
// all a manager can, and a manager all a viewer can.
type Role string

// Roles.
const (
	// RoleViewer reads everything the console shows.
	RoleViewer Role = "viewer"
	// RoleManager also runs programs, ambassadors, placements, referrals
	// and money.
	RoleManager Role = "manager"
	// RoleOwner also manages console users, API keys and hooks.
	RoleOwner Role = "owner"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleManager:
		return 2
	case RoleOwner:
		return 3
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a user with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return r.Valid() && r.rank() >= need.rank() }

// User is a person who signs in to the console. Users are separate from
// API keys: a key is for a program, a user for a person.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Role  Role   `json:"role"`
	// DisabledAt, when set, means the user can no longer sign in and
	// every session of theirs has ended.
	DisabledAt   *Time `json:"disabled_at"`
	LastSignInAt *Time `json:"last_sign_in_at"`
	CreatedAt    Time  `json:"created_at"`
	UpdatedAt    Time  `json:"updated_at"`
}

// Password bounds. The upper bound keeps hashing cheap to refuse, not
// short passphrases out.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// UserCreate makes a console user.
type UserCreate struct {
	Email    string
	Role     Role
	Password string
}

// Validate normalizes c in place and returns its problems.
func (c *UserCreate) Validate() FieldErrors {
	var fe FieldErrors
	checkEmail(&fe, "email", &c.Email, true)
	if !c.Role.Valid() {
		fe.Add("role", FInvalidValue, "must be owner, manager or viewer")
	}
	checkPassword(&fe, "password", c.Password)
	return fe
}

// UserUpdate changes a console user; nil fields stay as they are.
type UserUpdate struct {
	Role     *Role
	Disabled *bool
	Password *string
}

// Validate returns u's problems.
func (u *UserUpdate) Validate() FieldErrors {
	var fe FieldErrors
	if u.Role != nil && !u.Role.Valid() {
		fe.Add("role", FInvalidValue, "must be owner, manager or viewer")
	}
	if u.Password != nil {
		checkPassword(&fe, "password", *u.Password)
	}
	return fe
}

func checkPassword(fe *FieldErrors, field, p string) {
	switch n := utf8.RuneCountInString(p); {
	case p == "":
		fe.Add(field, FRequired, "is required")
	case !utf8.ValidString(p):
		fe.Add(field, FInvalidValue, "must be UTF-8 text")
	case n < MinPasswordLen:
		fe.Add(field, FInvalidValue, "must be at least %d characters", MinPasswordLen)
	case n > MaxPasswordLen:
		fe.Add(field, FTooLong, "must be at most %d characters", MaxPasswordLen)
	}
}

// Session is a signed-in console user's session. Its token is given to
// the browser once, in a cookie; only the token's hash is stored.
type Session struct {
	ID         string `json:"id"`
	UserID     string `json:"user_id"`
	CreatedAt  Time   `json:"created_at"`
	LastSeenAt Time   `json:"last_seen_at"`
}

// UserService manages console users, their sessions and the first-run
// setup link.
type UserService interface {
	// CreateUser errors: validation_failed, conflict (email taken).
	CreateUser(ctx context.Context, in UserCreate) (*User, error)
	// FindUserByID errors: not_found.
	FindUserByID(ctx context.Context, id string) (*User, error)
	FindUsers(ctx context.Context, opt ListOptions) (Page[*User], error)
	// CountUsers counts users, disabled ones included.
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser errors: validation_failed, not_found, conflict (the last
	// enabled owner cannot be demoted or disabled). Disabling a user or
	// changing their password ends their sessions.
	UpdateUser(ctx context.Context, id string, u UserUpdate) (*User, error)
	// Authenticate returns the enabled user with this email and password.
	// It errors unauthorized alike for an unknown email, a wrong password
	// and a disabled user, and spends about the same time on each.
	Authenticate(ctx context.Context, email, password string) (*User, error)

	// CreateSession starts a session for the user and returns its token.
	// Errors: not_found, unauthorized (the user is disabled).
	CreateSession(ctx context.Context, userID string) (*Session, string, error)
	// SessionByToken returns the live session the token names and its
	// user, and marks it seen. A session idle longer than idle, or older
	// than absolute, or whose user is disabled, has ended (a timeout of
	// zero or less ends every session). It is marked seen at most about
	// once a minute, so that every page view is not a write. Errors:
	// unauthorized.
	SessionByToken(ctx context.Context, token string, idle, absolute time.Duration) (*Session, *User, error)
	// EndSession ends one session; ending an ended one is harmless.
	EndSession(ctx context.Context, token string) error
	// EndUserSessions ends every session of the user ("sign out
	// everywhere"). Errors: not_found.
	EndUserSessions(ctx context.Context, userID string) error

	// CreateSetupToken returns a single-use token that creates the first
	// owner, valid for ttl. Errors: conflict (a user exists).
	CreateSetupToken(ctx context.Context, ttl time.Duration) (string, error)
	// RedeemSetupToken creates the first owner with the token, which can
	// be used only once. Errors: unauthorized (unknown, used or expired
	// token), validation_failed, conflict (a user exists).
	RedeemSetupToken(ctx context.Context, token string, in UserCreate) (*User, error)
}

// Actor is who made a change: a console user (with their session), an API
// key, the bootstrap admin token, or an ambassador in the portal. Handlers put it in the context of the
// request; the store records it in the audit log in the same transaction
// as the change.
type Actor struct {
	// Kind is "user", "api_key", "admin_token", "cli" or "ambassador".
	Kind string `json:"kind"`
	// ID is the user's, key's or ambassador's ID ("" for the admin token).
	ID string `json:"id"`
	// Label names the actor for people: a user's email, a key's name.
	Label string `json:"label"`
	// SessionID is the console or portal session the change came from.
	SessionID string `json:"session_id,omitempty"`
	// Audited says whether the actor's changes go to the audit log: every
	// console user's and every admin-scope key's.
	Audited bool `json:"-"`
}

// Actor kinds.
const (
	ActorUser       = "user"
	ActorAPIKey     = "api_key"
	ActorAdminToken = "admin_token"
	// ActorCLI is the referrald command run on the store file (users
	// create, keys create, ...): whoever can run it on the server's
	// machine.
	ActorCLI = "cli"
	// ActorAmbassador is an ambassador signed in to the portal, changing
	// their own profile; SessionID is their portal session.
	ActorAmbassador = "ambassador"
)

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// AuditEntry is one change in the audit log.
type AuditEntry struct {
	ID    string `json:"id"`
	Actor Actor  `json:"actor"`
	// Action is the record's kind and what happened to it, like
	// "program.created" or "commission.approved".
	Action string `json:"action"`
	// Subject is the ID of the record changed.
	Subject string `json:"subject"`
	// Summary says what changed, for people, without personal data
	// beyond what the subject's own page shows.
	Summary   string `json:"summary"`
	CreatedAt Time   `json:"created_at"`
}

// MaxAuditActionLen bounds an action in a filter.
const MaxAuditActionLen = 64

// ValidAuditAction reports whether a is shaped like an action: kind.verb,
// in lower case letters and underscores.
func ValidAuditAction(a string) bool {
	kind, verb, ok := strings.Cut(a, ".")
	if !ok || len(a) > MaxAuditActionLen || kind == "" || verb == "" {
		return false
	}
	for _, c := range kind + verb {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// AuditFilter narrows the audit log.
type AuditFilter struct {
	ListOptions
	ActorID string
	Subject string
	Action  string
}

// AuditService reads the audit log, newest first.
type AuditService interface {
	FindAudit(ctx context.Context, f AuditFilter) (Page[*AuditEntry], error)
}

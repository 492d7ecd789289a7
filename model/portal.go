package model

import (
	"context"
	"net/url"
	"strings"
	"time"
)

// The ambassador portal: ambassadors sign in with a magic link (a
// single-use token sent by email or handed out through the API) and get a
// session of their own, apart from the console's users. Only the hashes
// of links and session tokens are stored.

// PrefixPortalSession is the prefix of a portal session's ID.
const PrefixPortalSession = "pss"

// PortalLinkTTL is how long a magic link works: long enough to open an
// email on a phone, short enough that a link found later is useless.
const PortalLinkTTL = 15 * time.Minute

// PortalLinkURL is the address of a magic link: opening it signs in.
func PortalLinkURL(base, token string) string {
	return strings.TrimRight(base, "/") + "/portal/signin?token=" + url.QueryEscape(token)
}

// PortalSession is a signed-in ambassador's session.
type PortalSession struct {
	ID           string `json:"id"`
	AmbassadorID string `json:"ambassador_id"`
	CreatedAt    Time   `json:"created_at"`
	LastSeenAt   Time   `json:"last_seen_at"`
}

// PortalLink is a magic link's token as made; the token is shown once.
type PortalLink struct {
	Token     string
	ExpiresAt Time
}

// CanSignIn reports whether an ambassador may sign in to the portal: a
// paused ambassador is deactivated, and their sessions end.
func (a *Ambassador) CanSignIn() bool { return a.Status == AmbassadorActive }

// PortalProfile is what an ambassador may change of themselves; nil
// fields stay as they are.
type PortalProfile struct {
	FirstName *string
	LastName  *string
	// School replaces the school; "" clears it.
	School *string
}

// Update is the ambassador update the profile makes, and nothing more.
func (p PortalProfile) Update() AmbassadorUpdate {
	return AmbassadorUpdate{FirstName: p.FirstName, LastName: p.LastName, School: p.School}
}

// PortalLinkRequestedData is the payload of a portal.link_requested event:
// someone asked for a sign-in link to be emailed to the ambassador. The
// event carries no token: the mailer makes the link when it sends, so a
// token is never written down.
type PortalLinkRequestedData struct {
	AmbassadorID string `json:"ambassador_id"`
	// Via says where the request came from: "login" (the portal's
	// sign-in page) or "console".
	Via string `json:"via"`
}

// Where a link request came from.
const (
	LinkViaLogin   = "login"
	LinkViaConsole = "console"
)

// PortalService signs ambassadors in to the portal.
type PortalService interface {
	// CreatePortalLink makes a single-use sign-in link for the
	// ambassador, valid for ttl. Errors: not_found, conflict (the
	// ambassador is deactivated).
	CreatePortalLink(ctx context.Context, ambassadorID string, ttl time.Duration) (*PortalLink, error)
	// RedeemPortalLink spends the link's token and starts a session of
	// its ambassador, whose token it returns. Errors: unauthorized alike
	// for an unknown, used or expired token and a deactivated ambassador.
	RedeemPortalLink(ctx context.Context, token string) (*PortalSession, string, error)
	// PortalSessionByToken returns the live session the token names and
	// its ambassador, and marks it seen, as UserService.SessionByToken
	// does. A session of a deactivated ambassador has ended. Errors:
	// unauthorized.
	PortalSessionByToken(ctx context.Context, token string, idle, absolute time.Duration) (*PortalSession, *Ambassador, error)
	// EndPortalSession ends one session; ending an ended one is harmless.
	EndPortalSession(ctx context.Context, token string) error
	// RequestPortalLink records a portal.link_requested event, which the
	// mailer answers with an email holding a fresh link. Errors:
	// not_found, conflict (the ambassador is deactivated).
	RequestPortalLink(ctx context.Context, ambassadorID, via string) error
}

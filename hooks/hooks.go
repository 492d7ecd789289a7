// Package hooks is the contract between referrald and hook plugins:
// separate programs that referrald starts and talks to over gRPC through
// HashiCorp go-plugin, to compute commissions, sync a CRM, or vet signups.
//
// Write a plugin in Go by implementing Hook (embed sdk.Base to skip the
// methods you do not need) and calling sdk.Serve from main. In another
// language, serve the gRPC service in hooks/internal/hookspb/hooks.proto
// behind go-plugin's handshake (hooks/README.md shows how).
//
// # What referrald promises a plugin
//
//   - Events: every outbox event of a type the plugin subscribes to is
//     delivered by OnEvent at least once, in commit order, one at a time per
//     plugin: the next event waits until this one is acknowledged or
//     dead-lettered. After a crash, a timeout or an error, the same event
//     (same ID) is delivered again, with backoff, so drop duplicates by
//     Event.ID. An event that keeps failing is moved to the dead-letter list
//     after the configured number of attempts (about a minute of retries by
//     default, while the events behind it wait); one whose error the plugin
//     marks with sdk.Permanent (gRPC INVALID_ARGUMENT) is moved there at
//     once. Delivery then goes on with the next event; an operator can send
//     a dead letter again later (then it arrives out of order).
//   - Timeouts: each OnEvent call has a deadline (5 s by default) and each
//     BeforeReferralCreate call a much shorter one (200 ms by default); the
//     context passed to the plugin carries it.
//   - Failure policy: when BeforeReferralCreate times out or the plugin is
//     down, the plugin's policy decides: fail_open (default) creates the
//     referral as if the plugin had said nothing; fail_closed answers 503.
//     A call that times out gets the process replaced, and the plugin's
//     checks are skipped for a moment meanwhile, so a hung plugin costs
//     signups one timeout rather than one each.
//   - Isolation: a plugin runs as its own process, in a process group of
//     its own on Linux, which is killed whole when the plugin is replaced
//     or stopped. If it dies, referrald restarts it with exponential
//     backoff and redelivers from where it stopped; the API keeps
//     answering meanwhile. A plugin's binary must match the SHA-256
//     configured for it, or it is not started.
//
// A business decision (reject a signup, pay a commission) is a field of a
// response; an error means the call failed and will be retried.
package hooks

import (
	"context"
	"time"

	"github.com/hashicorp/go-plugin"
)

// Event types.
const (
	EventReferralCreated       = "referral.created"
	EventReferralStatusChanged = "referral.status_changed"
	EventImpressionCreated     = "impression.created"
	EventEarningCreated        = "earning.created"
	EventEarningRefunded       = "earning.refunded"
	EventReferralErased        = "referral.erased"
	EventAmbassadorCreated     = "ambassador.created"
	EventCommissionApproved    = "commission.approved"
	EventPayoutCreated         = "payout.created"
	EventCommissionCreated     = "commission.created"
	EventCommissionPaid        = "commission.paid"
	// EventAll subscribes to every event type.
	EventAll = "*"
)

// Hook is what a plugin implements. Every call carries a context with a
// deadline.
type Hook interface {
	// Describe says who the plugin is and what it wants.
	Describe(ctx context.Context) (Description, error)
	// OnEvent handles one event. An error asks for redelivery; one marked
	// sdk.Permanent (gRPC INVALID_ARGUMENT) sends the event to the dead
	// letters at once.
	OnEvent(ctx context.Context, e Event) (EventResult, error)
	// BeforeReferralCreate vets a signup before it is written. An error
	// (or a timeout) is handled by the plugin's failure policy.
	BeforeReferralCreate(ctx context.Context, r ReferralRequest) (Decision, error)
}

// Description says who a plugin is and what it wants.
type Description struct {
	Name    string
	Version string
	// Events lists the event types to receive; EventAll for every one.
	Events []string
	// BeforeReferralCreate asks for the synchronous signup hook.
	BeforeReferralCreate bool
}

// Event is one change in referrald.
type Event struct {
	// ID is stable across redeliveries: drop duplicates by it.
	ID        string
	Type      string
	CreatedAt time.Time
	// Data is the event's JSON payload (see the event catalogue in
	// hooks/README.md).
	Data []byte
	// Attempt is 1 on first delivery to this plugin, then 2, 3, ...
	Attempt int
}

// EventResult is what a plugin tells referrald about an event.
type EventResult struct {
	// Commission, when set, is recorded against the ambassador.
	Commission *Commission
}

// Commission is money a plugin says an ambassador earned.
type Commission struct {
	AmbassadorID string
	// Amount is in the currency's minor unit.
	Amount   int64
	Currency string
	Reason   string
}

// ReferralRequest is a signup about to be written.
type ReferralRequest struct {
	ImpressionID, ProgramID, AmbassadorID, PlacementID string
	FirstName, LastName, Email, ProfilePictureURL      string
	// Metadata is the request's metadata object as JSON, or nil.
	Metadata []byte
}

// Decision is a plugin's verdict on a signup. The zero Decision lets it
// through unchanged.
type Decision struct {
	// Reject refuses the signup with a 400 that shows Reason.
	Reject bool
	Reason string
	// Field optionally names the request field the rejection is about.
	Field string
	// Flags are recorded on the referral.
	Flags []string
	// Metadata adds string values to the referral's metadata under keys
	// the request did not use.
	Metadata map[string]string
}

// Handshake is the go-plugin handshake both sides must agree on. The
// magic cookie only stops a plugin binary from being run by hand by
// mistake; it is not a secret.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "REFERRALD_HOOK_PLUGIN",
	MagicCookieValue: "f3b8c1d6-referrald-hooks-v1",
}

// PluginName is the name of the hook plugin in go-plugin's plugin set.
const PluginName = "hook"

// VersionedPlugins is the plugin set per protocol version, for the host;
// a later contract adds version 2 here beside version 1.
func VersionedPlugins(impl Hook) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{1: {PluginName: &GRPCPlugin{Impl: impl}}}
}

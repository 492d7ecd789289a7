// Package sdk is what a hook plugin written in Go imports: implement
// hooks.Hook (embedding Base for the calls you do not need) and call Serve
// from main. It pulls in nothing of the referrald server.
//
//	type crm struct{ sdk.Base }
//
//	func (crm) Describe(context.Context) (hooks.Description, error) {
//		return hooks.Description{Name: "crm", Version: "1.0.0", Events: []string{hooks.EventReferralCreated}}, nil
//	}
//
//	func (crm) OnEvent(ctx context.Context, e hooks.Event) (hooks.EventResult, error) {
//		// ... send e.Data somewhere, dropping duplicates by e.ID
//		return hooks.EventResult{}, nil
//	}
//
//	func main() { sdk.Serve(crm{}) }
//
// OnEvent returns an error to have the event delivered again, later; wrap
// it in Permanent when no redelivery can help, and the event goes to the
// dead-letter list at once.
package sdk

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/referrald/referrald/hooks"
)

// Serve runs impl as a plugin until referrald stops it. Run by hand, the
// binary says it is a plugin and exits.
func Serve(impl hooks.Hook) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hooks.Handshake,
		VersionedPlugins: hooks.VersionedPlugins(impl),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

// Base answers every call with "nothing to do"; embed it and override what
// the plugin needs. Describe must still be written: a plugin has a name.
type Base struct{}

// Describe is the one method a plugin must write itself.
func (Base) Describe(context.Context) (hooks.Description, error) {
	return hooks.Description{}, errors.New("sdk: the plugin must implement Describe")
}

// OnEvent does nothing.
func (Base) OnEvent(context.Context, hooks.Event) (hooks.EventResult, error) {
	return hooks.EventResult{}, nil
}

// BeforeReferralCreate lets every signup through.
func (Base) BeforeReferralCreate(context.Context, hooks.ReferralRequest) (hooks.Decision, error) {
	return hooks.Decision{}, nil
}

// Permanent marks err, returned by OnEvent, as a failure that delivering
// the event again cannot fix: a payload the plugin cannot use, a request
// its downstream refused for good. referrald moves the event to the
// dead-letter list at once instead of retrying it, so the events behind it
// do not wait out the retries. Return err unmarked for what may pass (a
// downstream that is down). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// GRPCStatus carries the mark to referrald: gRPC sends an error's status,
// and INVALID_ARGUMENT is the code that means "permanent" in the hook
// contract, for plugins in any language.
func (e *permanentError) GRPCStatus() *status.Status {
	return status.New(codes.InvalidArgument, e.err.Error())
}

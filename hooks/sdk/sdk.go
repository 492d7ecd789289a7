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
package sdk

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"

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

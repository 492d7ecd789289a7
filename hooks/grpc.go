package hooks

import (
	"context"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/referrald/referrald/hooks/internal/hookspb"
)

// GRPCPlugin adapts a Hook to go-plugin's gRPC transport, in both
// directions: in a plugin it serves Impl; in referrald it returns a Hook
// that calls the plugin.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Hook
}

// GRPCServer registers the plugin's Hook as the gRPC service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	hookspb.RegisterHookServer(s, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a Hook that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &grpcClient{client: hookspb.NewHookClient(conn)}, nil
}

const timeLayout = "2006-01-02T15:04:05.000Z"

// grpcServer runs in the plugin process and turns messages into Go types.
type grpcServer struct {
	hookspb.UnimplementedHookServer
	impl Hook
}

func (s *grpcServer) Describe(ctx context.Context, _ *hookspb.DescribeRequest) (*hookspb.Description, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, err
	}
	return &hookspb.Description{Name: d.Name, Version: d.Version, Events: d.Events, BeforeReferralCreate: d.BeforeReferralCreate}, nil
}

func (s *grpcServer) OnEvent(ctx context.Context, e *hookspb.Event) (*hookspb.EventResult, error) {
	created, _ := time.Parse(time.RFC3339Nano, e.GetCreatedAt())
	res, err := s.impl.OnEvent(ctx, Event{ID: e.GetId(), Type: e.GetType(), CreatedAt: created, Data: e.GetData(), Attempt: int(e.GetAttempt())})
	if err != nil {
		return nil, err
	}
	out := &hookspb.EventResult{}
	if c := res.Commission; c != nil {
		out.Commission = &hookspb.Commission{AmbassadorId: c.AmbassadorID, Amount: c.Amount, Currency: c.Currency, Reason: c.Reason}
	}
	return out, nil
}

func (s *grpcServer) BeforeReferralCreate(ctx context.Context, r *hookspb.ReferralRequest) (*hookspb.Decision, error) {
	d, err := s.impl.BeforeReferralCreate(ctx, ReferralRequest{
		ImpressionID: r.GetImpressionId(), ProgramID: r.GetProgramId(), AmbassadorID: r.GetAmbassadorId(),
		PlacementID: r.GetPlacementId(), FirstName: r.GetFirstName(), LastName: r.GetLastName(), Email: r.GetEmail(),
		ProfilePictureURL: r.GetProfilePictureUrl(), Metadata: r.GetMetadata(),
	})
	if err != nil {
		return nil, err
	}
	return &hookspb.Decision{Reject: d.Reject, Reason: d.Reason, Field: d.Field, Flags: d.Flags, Metadata: d.Metadata}, nil
}

// grpcClient runs in referrald and turns Go types into messages.
type grpcClient struct {
	client hookspb.HookClient
}

func (c *grpcClient) Describe(ctx context.Context) (Description, error) {
	d, err := c.client.Describe(ctx, &hookspb.DescribeRequest{})
	if err != nil {
		return Description{}, err
	}
	return Description{Name: d.GetName(), Version: d.GetVersion(), Events: d.GetEvents(), BeforeReferralCreate: d.GetBeforeReferralCreate()}, nil
}

func (c *grpcClient) OnEvent(ctx context.Context, e Event) (EventResult, error) {
	res, err := c.client.OnEvent(ctx, &hookspb.Event{Id: e.ID, Type: e.Type, CreatedAt: e.CreatedAt.UTC().Format(timeLayout),
		Data: e.Data, Attempt: int32(e.Attempt)})
	if err != nil {
		return EventResult{}, err
	}
	var out EventResult
	if cm := res.GetCommission(); cm != nil {
		out.Commission = &Commission{AmbassadorID: cm.GetAmbassadorId(), Amount: cm.GetAmount(), Currency: cm.GetCurrency(), Reason: cm.GetReason()}
	}
	return out, nil
}

func (c *grpcClient) BeforeReferralCreate(ctx context.Context, r ReferralRequest) (Decision, error) {
	d, err := c.client.BeforeReferralCreate(ctx, &hookspb.ReferralRequest{
		ImpressionId: r.ImpressionID, ProgramId: r.ProgramID, AmbassadorId: r.AmbassadorID, PlacementId: r.PlacementID,
		FirstName: r.FirstName, LastName: r.LastName, Email: r.Email, ProfilePictureUrl: r.ProfilePictureURL, Metadata: r.Metadata,
	})
	if err != nil {
		return Decision{}, err
	}
	return Decision{Reject: d.GetReject(), Reason: d.GetReason(), Field: d.GetField(), Flags: d.GetFlags(), Metadata: d.GetMetadata()}, nil
}

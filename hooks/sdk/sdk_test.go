package sdk_test

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/referrald/referrald/hooks/sdk"
)

// The permanent mark survives wrapping on its way to gRPC, which sends the
// status it finds in the chain, and keeps the cause for errors.Is.
func TestPermanent(t *testing.T) {
	if err := sdk.Permanent(nil); err != nil {
		t.Fatalf("Permanent(nil) = %v, want nil", err)
	}
	cause := errors.New("payload is not JSON")
	for name, err := range map[string]error{
		"bare":    sdk.Permanent(cause),
		"wrapped": fmt.Errorf("referral.created: %w", sdk.Permanent(cause)),
	} {
		if !errors.Is(err, cause) {
			t.Errorf("%s: errors.Is(%v, cause) is false", name, err)
		}
		st, ok := status.FromError(err)
		if !ok || st.Code() != codes.InvalidArgument || st.Message() != err.Error() {
			t.Errorf("%s: status %v (ok %v), want INVALID_ARGUMENT with message %q", name, st, ok, err.Error())
		}
	}
	if got := status.Code(errors.New("CRM answered 503")); got == codes.InvalidArgument {
		t.Errorf("an unmarked error has code %v", got)
	}
}

package api_test

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/hooks/host"
)

// withHooks gives e's server a hook host on e's store, with no plugins.
func withHooks(t *testing.T, e *env) *env {
	t.Helper()
	h, err := host.New(nil, e.st, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = api.New(api.Services{Programs: e.st, Ambassadors: e.st, Impressions: e.st, Placements: e.st, Referrals: e.st, Keys: e.st,
		Earnings: e.st, Stats: e.st, Backup: e.st, Hooks: h}, api.Config{AdminToken: adminToken, Now: e.clock.Now, PublicBaseURL: publicBaseURL})
	e.srv.SetReady(true)
	return e
}

// A list that matches nothing is an empty array, as every list is and as
// the document says, never null.
func TestHookResultsEmptyIsAnArray(t *testing.T) {
	e := withHooks(t, newEnv(t))
	for _, path := range []string{"/v1/admin/hooks/results", "/v1/admin/hooks/results?ambassador_id=amb_01jdq3f7k8m2n4p6r8t0v2x4z6"} {
		res := e.call(request{Method: "GET", Path: path, Token: adminToken})
		if res.Status != 200 || !bytes.Equal(res.Body, []byte(`{"data":[]}`+"\n")) {
			t.Errorf("GET %s: got %d %s, want 200 {\"data\":[]}", path, res.Status, res.Body)
		}
	}
	res := e.call(request{Method: "GET", Path: "/v1/admin/hooks", Token: adminToken})
	if res.Status != 200 || !bytes.Equal(res.Body, []byte(`{"data":[]}`+"\n")) {
		t.Errorf("GET /v1/admin/hooks: got %d %s, want 200 {\"data\":[]}", res.Status, res.Body)
	}
}

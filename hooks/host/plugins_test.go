package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/hooks/host"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// TestExamplePlugins runs the two example plugins as real processes: the
// CRM (an httptest server, the one fake here) must receive each new
// referral with the configured header and field mapping, and the
// commission plugin's bounty must be recorded against the ambassador.
func TestExamplePlugins(t *testing.T) {
	var mu sync.Mutex
	var posts []map[string]any
	var auth []string
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		posts, auth = append(posts, m), append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer crm.Close()

	dir := t.TempDir()
	crmCfg := filepath.Join(dir, "crmsync.yaml")
	os.WriteFile(crmCfg, []byte(fmt.Sprintf(`url: %s/contacts
auth_header: Authorization
auth_env: CRM_TOKEN
auth_prefix: "Bearer "
fields: {email: email, firstName: first_name, referral: id, source: "=referrald"}
state_file: %s
`, crm.URL, filepath.Join(dir, "sent"))), 0o600)
	comCfg := filepath.Join(dir, "commission.yaml")
	os.WriteFile(comCfg, []byte("default:\n  signup_bounty: {amount: 750, currency: EUR}\n"), 0o600)

	crmBin, comBin := buildPlugin(t, "./plugins/crmsync"), buildPlugin(t, "./plugins/commission")
	var h *host.Host
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{SweepInterval: -1,
		OnCommit: func(int, time.Duration) {
			if h != nil {
				h.Wake()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err = host.New([]host.Config{
		{Name: "crmsync", Path: crmBin, Args: []string{"-config", crmCfg}, Env: []string{"CRM_TOKEN=t0ken"}, SHA256: sha256File(t, crmBin)},
		{Name: "commission", Path: comBin, Args: []string{"-config", comCfg}, SHA256: sha256File(t, comBin)},
	}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.PollInterval = 50 * time.Millisecond
	h.Start()
	defer h.Stop()

	ctx := context.Background()
	p, _, _ := st.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://example.com", HoldDays: new(0)}, model.Idempotency{})
	a, _, _ := st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@example.com"}, model.Idempotency{})
	imp, _, err := st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		r, _, err := st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: fmt.Sprint("Person", i),
			LastName: "D", Email: fmt.Sprintf("p%d@example.com", i)}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	eventually(t, 30*time.Second, "three contacts in the CRM and three bounties", func() bool {
		mu.Lock()
		n := len(posts)
		mu.Unlock()
		res, _ := st.FindHookResults(ctx, "commission", a.ID, 10)
		return n == 3 && len(res) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	for i, m := range posts {
		if m["email"] != fmt.Sprintf("p%d@example.com", i) || m["firstName"] != fmt.Sprint("Person", i) ||
			m["referral"] != ids[i] || m["source"] != "referrald" || len(m) != 4 || auth[i] != "Bearer t0ken" {
			t.Fatalf("contact %d: got %v with Authorization %q", i, m, auth[i])
		}
	}
	res, _ := st.FindHookResults(ctx, "commission", a.ID, 10)
	if c := res[0].Commission; c.Amount != 750 || c.Currency != "EUR" || c.AmbassadorID != a.ID {
		t.Fatalf("got commission %+v, want 750 EUR for %s", c, a.ID)
	}
	bal, err := st.AmbassadorBalance(ctx, a.ID)
	if err != nil || len(bal) != 1 || bal[0].Currency != "EUR" || bal[0].Approved != 3*750 {
		t.Fatalf("balance: %+v %v; want the three bounties approved (no hold)", bal, err)
	}
}

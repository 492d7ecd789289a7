package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

const adminToken = "test-admin-token-0123456789"

// publicBaseURL is where the tests' posters point unless a test says
// otherwise: scan URLs are absolute, as a configured server's are.
const publicBaseURL = "https://go.example.edu"

// env is a server on a real store in a temp dir, driven through the real
// router.
type env struct {
	t          testing.TB
	srv        *api.Server
	st         *store.Store
	clock      *clock
	writeToken string
	readToken  string
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	clk := &clock{t: time.Now().UTC()}
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName),
		store.Options{Now: clk.Now, IdempotencyWindow: time.Hour, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	srv := api.New(api.Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Referrals: st, Keys: st, Earnings: st, Stats: st, Backup: st, Users: st, Audit: st, Portal: st, Webhooks: st, Mail: st, Designs: st},
		api.Config{AdminToken: adminToken, Metrics: metrics.New(func() float64 { return float64(st.Stats().FileSize) }),
			ServeMetrics: true, Now: clk.Now, PublicBaseURL: publicBaseURL})
	srv.SetReady(true)
	e := &env{t: t, srv: srv, st: st, clock: clk}
	_, e.writeToken, err = st.CreateAPIKey(context.Background(), model.APIKeyCreate{Name: "writer", Scope: model.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	_, e.readToken, err = st.CreateAPIKey(context.Background(), model.APIKeyCreate{Name: "reader", Scope: model.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return m
}

// request describes one call. Body is sent as is when it is a string or
// []byte, else as its JSON.
type request struct {
	Method, Path, Token string
	Body                any
	Header              map[string]string
	// RemoteAddr is the peer; httptest's 192.0.2.1:1234 when empty.
	RemoteAddr string
}

func (e *env) call(req request) response {
	e.t.Helper()
	var body []byte
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	r := httptest.NewRequest(req.Method, req.Path, bytes.NewReader(body))
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		r.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	if req.RemoteAddr != "" {
		r.RemoteAddr = req.RemoteAddr
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	res := response{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
	for _, err := range checkContract(r, res) {
		e.t.Errorf("openapi.json: %v", err)
	}
	return res
}

// post sends body as the admin, for setting up fixtures.
func (e *env) post(path string, body any) map[string]any {
	e.t.Helper()
	res := e.call(request{Method: "POST", Path: path, Token: adminToken, Body: body})
	if res.Status != http.StatusCreated {
		e.t.Fatalf("POST %s: got %d %s, want 201", path, res.Status, res.Body)
	}
	return res.JSON(e.t)
}

// impression makes a program, an ambassador and an impression of theirs.
func (e *env) impression() (programID, ambassadorID, impressionID string) {
	e.t.Helper()
	p := e.post("/v1/programs", map[string]any{"name": "Spring 2027", "landing_url": "https://example.com/join"})
	a := e.post("/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "Lovelace",
		"email": fmt.Sprintf("ada-%d@uni.example", time.Now().UnixNano())})
	i := e.post("/v1/impressions", map[string]any{"program_id": p["id"], "ambassador_id": a["id"]})
	return p["id"].(string), a["id"].(string), i["id"].(string)
}

// wantProblem checks a problem+json answer and returns its field errors
// as field → code.
func wantProblem(t *testing.T, res response, status int, code string) map[string]string {
	t.Helper()
	if res.Status != status {
		t.Fatalf("got status %d %s, want %d", res.Status, res.Body, status)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("got Content-Type %q, want application/problem+json", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Code   string `json:"code"`
		Detail string `json:"detail"`
		Errors []model.FieldError
	}
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != code || p.Status != status || p.Type != "https://referrald.dev/problems/"+code || p.Title == "" || p.Detail == "" {
		t.Fatalf("got problem %+v, want code %s status %d with type, title and detail", p, code, status)
	}
	fields := map[string]string{}
	for _, f := range p.Errors {
		if f.Message == "" {
			t.Errorf("field error %+v has no message", f)
		}
		fields[f.Field] = f.Code
	}
	return fields
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		header string
		status int
	}{
		{"missing", "", 401},
		{"not bearer", "Basic " + adminToken, 401},
		{"unknown token", "Bearer rfd_nope", 401},
		{"empty bearer", "Bearer ", 401},
		{"admin token", "Bearer " + adminToken, 200},
		{"scheme in any case", "bearer " + adminToken, 200},
		{"read key", "Bearer " + e.readToken, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.call(request{Method: "GET", Path: "/v1/referrals", Header: map[string]string{"Authorization": c.header}})
			if res.Status != c.status {
				t.Fatalf("got %d %s, want %d", res.Status, res.Body, c.status)
			}
			if c.status == 401 {
				wantProblem(t, res, 401, "unauthorized")
				if res.Header.Get("WWW-Authenticate") != "Bearer" {
					t.Fatalf("got WWW-Authenticate %q, want Bearer", res.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestScopes(t *testing.T) {
	e := newEnv(t)
	_, _, imp := e.impression()
	referral := map[string]any{"impression_id": imp, "first_name": "J", "last_name": "D", "email": "j@example.com"}
	program := map[string]any{"name": "P", "landing_url": "https://example.com"}
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"read cannot create referrals", "POST", "/v1/referrals", e.readToken, referral, 403},
		{"write creates referrals", "POST", "/v1/referrals", e.writeToken, referral, 201},
		{"write reads", "GET", "/v1/referrals", e.writeToken, nil, 200},
		{"write cannot create programs", "POST", "/v1/programs", e.writeToken, program, 403},
		{"admin creates programs", "POST", "/v1/programs", adminToken, program, 201},
		{"write cannot list keys", "GET", "/v1/keys", e.writeToken, nil, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.call(request{Method: c.method, Path: c.path, Token: c.token, Body: c.body})
			if res.Status != c.status {
				t.Fatalf("got %d %s, want %d", res.Status, res.Body, c.status)
			}
			if c.status == 403 {
				wantProblem(t, res, 403, "forbidden")
			}
		})
	}
}

func TestKeysThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	res := e.call(request{Method: "POST", Path: "/v1/keys", Token: adminToken, Body: map[string]any{"name": "crm", "scope": "write"}})
	if res.Status != 201 {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
	k := res.JSON(t)
	token := k["token"].(string)
	if res := e.call(request{Method: "GET", Path: "/v1/referrals", Token: token}); res.Status != 200 {
		t.Fatalf("new key: got %d, want 200", res.Status)
	}
	list := e.call(request{Method: "GET", Path: "/v1/keys", Token: adminToken})
	if bytes.Contains(list.Body, []byte(token)) || !bytes.Contains(list.Body, []byte(k["id"].(string))) {
		t.Fatalf("key list must name the key and never show its token: %s", list.Body)
	}
	if res := e.call(request{Method: "DELETE", Path: "/v1/keys/" + k["id"].(string), Token: adminToken}); res.Status != 200 {
		t.Fatalf("revoke: got %d %s", res.Status, res.Body)
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/referrals", Token: token}), 401, "unauthorized")
}

func TestRoutingErrorsAreProblems(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/nothing", Token: adminToken}), 404, "not_found")
	res := e.call(request{Method: "PUT", Path: "/v1/referrals", Token: adminToken})
	wantProblem(t, res, 405, "method_not_allowed")
	if !strings.Contains(res.Header.Get("Allow"), "POST") {
		t.Fatalf("got Allow %q, want it to list POST", res.Header.Get("Allow"))
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	if res := e.call(request{Method: "GET", Path: "/healthz"}); res.Status != 200 {
		t.Fatalf("healthz: got %d", res.Status)
	}
	if res := e.call(request{Method: "GET", Path: "/readyz"}); res.Status != 200 {
		t.Fatalf("readyz: got %d", res.Status)
	}
	e.srv.SetReady(false)
	wantProblem(t, e.call(request{Method: "GET", Path: "/readyz"}), 503, "unavailable")
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	res := e.call(request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-Id": "abc-123"}})
	if got := res.Header.Get("X-Request-Id"); got != "abc-123" {
		t.Fatalf("got X-Request-Id %q, want the client's abc-123", got)
	}
	res = e.call(request{Method: "GET", Path: "/healthz"})
	if got := res.Header.Get("X-Request-Id"); len(got) < 16 {
		t.Fatalf("got X-Request-Id %q, want a generated one", got)
	}
}

func TestProgramsAndAmbassadors(t *testing.T) {
	e := newEnv(t)
	p := e.post("/v1/programs", map[string]any{"name": " Spring ", "landing_url": "https://example.com/a?b=c",
		"commission": map[string]any{"type": "percent", "basis_points": 1000}, "metadata": map[string]any{"k": "v"}})
	if p["name"] != "Spring" || p["commission"].(map[string]any)["basis_points"] != 1000.0 {
		t.Fatalf("got %v", p)
	}
	// Without hold_days a program holds commissions for a refund window;
	// an explicit 0 is kept.
	if p["hold_days"] != 30.0 {
		t.Errorf("got hold_days %v, want the default 30", p["hold_days"])
	}
	if p := e.post("/v1/programs", map[string]any{"name": "Now", "landing_url": "https://example.com", "hold_days": 0}); p["hold_days"] != 0.0 {
		t.Errorf("got hold_days %v, want 0 as given", p["hold_days"])
	}
	bad := e.call(request{Method: "POST", Path: "/v1/programs", Token: adminToken, Body: map[string]any{
		"landing_url": "ftp://x", "commission": map[string]any{"type": "flat", "amount": -1, "currency": "usd", "bogus": 1}}})
	fields := wantProblem(t, bad, 400, "validation_failed")
	want := map[string]string{"name": "required", "landing_url": "invalid_url", "commission.amount": "invalid_value",
		"commission.currency": "invalid_value", "commission.bogus": "unknown_field"}
	for f, code := range want {
		if fields[f] != code {
			t.Errorf("field %s: got %q, want %q (all: %v)", f, fields[f], code, fields)
		}
	}
	noCurrency := e.call(request{Method: "POST", Path: "/v1/programs", Token: adminToken, Body: map[string]any{
		"name": "Flat", "landing_url": "https://example.com", "commission": map[string]any{"type": "flat", "amount": 500}}})
	if fields := wantProblem(t, noCurrency, 400, "validation_failed"); fields["commission.currency"] != "required" || len(fields) != 1 {
		t.Errorf("a flat commission without a currency: got %v, want commission.currency required", fields)
	}
	id := p["id"].(string)
	res := e.call(request{Method: "PATCH", Path: "/v1/programs/" + id, Token: adminToken, Body: map[string]any{"name": "Fall", "commission": nil}})
	if got := res.JSON(t); res.Status != 200 || got["name"] != "Fall" || got["commission"] != nil || got["landing_url"] != "https://example.com/a?b=c" {
		t.Fatalf("PATCH: got %d %v", res.Status, got)
	}
	wantProblem(t, e.call(request{Method: "PATCH", Path: "/v1/programs/prg_01jdq3f7k8m2n4p6r8t0v2x4z6", Token: adminToken, Body: map[string]any{"name": "x"}}), 404, "not_found")

	a := e.post("/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "L", "email": "Ada@Uni.Example", "school": "MIT"})
	if a["email"] != "Ada@uni.example" || a["status"] != "active" || a["school"] != "MIT" {
		t.Fatalf("got %v", a)
	}
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/ambassadors", Token: adminToken,
		Body: map[string]any{"first_name": "B", "last_name": "L", "email": "ada@uni.example"}}), 409, "conflict")
	res = e.call(request{Method: "PATCH", Path: "/v1/ambassadors/" + a["id"].(string), Token: adminToken, Body: map[string]any{"status": "paused", "school": nil}})
	if got := res.JSON(t); res.Status != 200 || got["status"] != "paused" || got["school"] != nil {
		t.Fatalf("PATCH: got %d %v", res.Status, got)
	}
	list := e.call(request{Method: "GET", Path: "/v1/ambassadors?status=paused", Token: e.readToken}).JSON(t)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("paused ambassadors: got %d, want 1", n)
	}
}

// A program is active until archived; lists filter by status, and an
// archived program takes no new placements.
func TestProgramStatus(t *testing.T) {
	e := newEnv(t)
	p := e.post("/v1/programs", map[string]any{"name": "Spring", "landing_url": "https://example.com"})
	if p["status"] != "active" {
		t.Fatalf("got status %v, want active", p["status"])
	}
	old := e.post("/v1/programs", map[string]any{"name": "Fall", "landing_url": "https://example.com", "status": "archived"})
	if old["status"] != "archived" {
		t.Fatalf("got status %v, want archived as given", old["status"])
	}
	bad := e.call(request{Method: "POST", Path: "/v1/programs", Token: adminToken, Body: map[string]any{
		"name": "X", "landing_url": "https://example.com", "status": "ended"}})
	if fields := wantProblem(t, bad, 400, "validation_failed"); fields["status"] != "invalid_value" {
		t.Errorf("status ended: got %v, want status invalid_value", fields)
	}
	id := p["id"].(string)
	res := e.call(request{Method: "PATCH", Path: "/v1/programs/" + id, Token: adminToken, Body: map[string]any{"status": "archived"}})
	if got := res.JSON(t); res.Status != 200 || got["status"] != "archived" || got["name"] != "Spring" {
		t.Fatalf("PATCH: got %d %v", res.Status, got)
	}
	for query, want := range map[string]int{"": 2, "?status=archived": 2, "?status=active": 0} {
		list := e.call(request{Method: "GET", Path: "/v1/programs" + query, Token: e.readToken}).JSON(t)
		if n := len(list["data"].([]any)); n != want {
			t.Errorf("GET /v1/programs%s: got %d programs, want %d", query, n, want)
		}
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/programs?status=ended", Token: e.readToken}), 400, "validation_failed")
	a := e.post("/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "L", "email": "ada@uni.example"})
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/placements", Token: adminToken,
		Body: map[string]any{"program_id": id, "ambassador_id": a["id"]}}), 409, "conflict")
	e.call(request{Method: "PATCH", Path: "/v1/programs/" + id, Token: adminToken, Body: map[string]any{"status": "active"}})
	e.post("/v1/placements", map[string]any{"program_id": id, "ambassador_id": a["id"]})
}

func TestImpressions(t *testing.T) {
	e := newEnv(t)
	prg, amb, imp := e.impression()
	got := e.call(request{Method: "GET", Path: "/v1/impressions/" + imp, Token: e.readToken}).JSON(t)
	if got["program_id"] != prg || got["ambassador_id"] != amb || got["placement_id"] != nil {
		t.Fatalf("got %v", got)
	}
	fields := wantProblem(t, e.call(request{Method: "POST", Path: "/v1/impressions", Token: e.writeToken,
		Body: map[string]any{"program_id": "prg_01jdq3f7k8m2n4p6r8t0v2x4z6"}}), 400, "validation_failed")
	if fields["ambassador_id"] != "required" {
		t.Fatalf("got %v, want ambassador_id required", fields)
	}
	fields = wantProblem(t, e.call(request{Method: "POST", Path: "/v1/impressions", Token: e.writeToken,
		Body: map[string]any{"program_id": "prg_01jdq3f7k8m2n4p6r8t0v2x4z6", "ambassador_id": amb}}), 400, "validation_failed")
	if fields["program_id"] != "not_found" {
		t.Fatalf("got %v, want program_id not_found", fields)
	}
	e.post("/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb, "user_agent": "Mozilla/5.0"})
	list := e.call(request{Method: "GET", Path: "/v1/impressions?program_id=" + prg + "&ambassador_id=" + amb, Token: e.readToken}).JSON(t)
	if n := len(list["data"].([]any)); n != 2 {
		t.Fatalf("got %d impressions, want 2", n)
	}
}

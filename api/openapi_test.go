package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/metrics"
)

// openAPIURL is where the document is registered as a schema resource, so
// that "#/components/schemas/..." refs inside it resolve.
const openAPIURL = "https://referrald.dev/openapi.json"

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// spec is api/openapi.json, both as plain JSON for walking and compiled
// on demand for validating responses.
type spec struct {
	t        *testing.T
	raw      []byte
	doc      map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	s := &spec{t: t, raw: raw, schemas: map[string]*jsonschema.Schema{}}
	if err := json.Unmarshal(raw, &s.doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	res, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	s.compiler = jsonschema.NewCompiler()
	s.compiler.DefaultDraft(jsonschema.Draft2020)
	// Formats (date-time, email, uri) are only annotations in 2020-12;
	// asserting them makes the check worth more.
	s.compiler.AssertFormat()
	if err := s.compiler.AddResource(openAPIURL, res); err != nil {
		t.Fatal(err)
	}
	return s
}

// schema compiles the schema at a JSON pointer into the document.
func (s *spec) schema(ptr string) *jsonschema.Schema {
	s.t.Helper()
	if sch, ok := s.schemas[ptr]; ok {
		return sch
	}
	sch, err := s.compiler.Compile(openAPIURL + "#" + ptr)
	if err != nil {
		s.t.Fatalf("compile schema %s: %v", ptr, err)
	}
	s.schemas[ptr] = sch
	return sch
}

// resolve returns the value at a JSON pointer, or false.
func (s *spec) resolve(ptr string) (any, bool) {
	var v any = s.doc
	if ptr == "" {
		return v, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

// deref follows a local $ref, returning the object and its pointer.
func (s *spec) deref(ptr string, v any) (map[string]any, string) {
	s.t.Helper()
	m, _ := v.(map[string]any)
	if r, ok := m["$ref"].(string); ok {
		target, ok := s.resolve(strings.TrimPrefix(r, "#"))
		if !ok {
			s.t.Fatalf("%s: $ref %s does not resolve", ptr, r)
		}
		return s.deref(strings.TrimPrefix(r, "#"), target)
	}
	return m, ptr
}

func escapePtr(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// operations returns the pointer of every operation, keyed "METHOD /path".
func (s *spec) operations() map[string]string {
	ops := map[string]string{}
	paths, _ := s.doc["paths"].(map[string]any)
	for path, item := range paths {
		item, _ := item.(map[string]any)
		for _, m := range httpMethods {
			if _, ok := item[m]; ok {
				ops[strings.ToUpper(m)+" "+path] = "/paths/" + escapePtr(path) + "/" + m
			}
		}
	}
	return ops
}

// openAPIPath turns an httprouter pattern into an OpenAPI path template.
func openAPIPath(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
			segs[i] = "{" + seg[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if s.doc["openapi"] != "3.1.0" {
		t.Errorf("got openapi %v, want 3.1.0", s.doc["openapi"])
	}
	if d := s.doc["jsonSchemaDialect"]; d != nil && d != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("got jsonSchemaDialect %v, want 2020-12", d)
	}

	ops := s.operations()
	if len(ops) == 0 {
		t.Fatal("no operations")
	}
	seen := map[string]string{}
	for name, ptr := range ops {
		op, _ := s.resolve(ptr)
		o := op.(map[string]any)
		id, _ := o["operationId"].(string)
		switch {
		case id == "":
			t.Errorf("%s has no operationId", name)
		case seen[id] != "":
			t.Errorf("operationId %s is used by %s and %s", id, seen[id], name)
		}
		seen[id] = name
		if _, ok := o["security"]; !ok {
			t.Errorf("%s states no security requirement", name)
		}
		method, path, _ := strings.Cut(name, " ")
		responses, _ := o["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s documents no responses", name)
		}
		if sec, _ := o["security"].([]any); len(sec) > 0 {
			for _, status := range []string{"401", "403", "429"} {
				if _, ok := responses[status]; !ok {
					t.Errorf("%s is authenticated but does not document %s", name, status)
				}
			}
		}
		if body, ok := o["requestBody"].(map[string]any); ok {
			content, _ := body["content"].(map[string]any)
			for media, m := range content {
				schema, _ := m.(map[string]any)["schema"]
				sch, _ := s.deref(ptr+"/requestBody", schema)
				switch {
				case media == "application/json" && sch["additionalProperties"] != false:
					t.Errorf("%s: the request body schema must forbid unknown fields", name)
				case media != "application/json" && (!strings.HasPrefix(media, "image/") || sch["format"] != "binary"):
					// The one body that is not JSON is an uploaded image.
					t.Errorf("%s: a request body of %s, want application/json or an image/* as binary", name, media)
				}
			}
		}
		// Every create takes an idempotency key, except key creation: its
		// answer holds a token that is never stored, so it cannot replay.
		hasIdem := false
		// Every {param} in the path needs a path parameter, and back.
		want := map[string]bool{}
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				want[strings.Trim(seg, "{}")] = true
			}
		}
		params, _ := o["parameters"].([]any)
		for i, p := range params {
			p, _ := s.deref(fmt.Sprintf("%s/parameters/%d", ptr, i), p)
			if p["in"] == "header" && p["name"] == "Idempotency-Key" {
				hasIdem = true
			}
			if p["in"] != "path" {
				continue
			}
			if !want[p["name"].(string)] {
				t.Errorf("%s: path parameter %v is not in the path", name, p["name"])
			}
			delete(want, p["name"].(string))
		}
		for p := range want {
			t.Errorf("%s: {%s} has no path parameter", name, p)
		}
		// Creates take idempotency keys; key creation cannot (its token is
		// never stored); retrying dead letters and approving a commission are
		// actions, harmless to repeat; a portal link, like a key, holds a
		// token that is never stored, and a webhook endpoint's answer its
		// secret, shown once; its other POSTs are actions. Stripe's events are
		// keyed by their own event ID.
		notCreates := map[string]bool{"/v1/keys": true, "/v1/ambassadors/{id}/portal_links": true,
			"/v1/webhook_endpoints": true, "/v1/webhook_endpoints/{id}/rotate_secret": true,
			"/v1/webhook_endpoints/{id}/messages/{event_id}/retry": true, "/v1/webhook_endpoints/{id}/recover": true, "/v1/admin/hooks/dead-letters/retry": true, "/v1/commissions/{id}/approve": true,
			"/v1/commissions/{id}/hold": true, "/v1/commissions/{id}/release": true, "/v1/integrations/stripe/events": true}
		if wantIdem := method == "POST" && !notCreates[path]; hasIdem != wantIdem {
			t.Errorf("%s: got Idempotency-Key parameter %v, want %v", name, hasIdem, wantIdem)
		}
	}

	// Every $ref must resolve inside the document.
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				if !strings.HasPrefix(r, "#") {
					t.Errorf("%s: $ref %s leaves the document", ptr, r)
				} else if _, ok := s.resolve(r[1:]); !ok {
					t.Errorf("%s: $ref %s does not resolve", ptr, r)
				}
			}
			for k, e := range v {
				walk(ptr+"/"+escapePtr(k), e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s/%d", ptr, i), e)
			}
		}
	}
	walk("", s.doc)

	// Every component schema must compile (bad patterns, bad refs).
	schemas, _ := s.doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range schemas {
		s.schema("/components/schemas/" + escapePtr(name))
	}
}

// fullEnv is e with a server on the same store that has every optional
// route switched on (backup, /metrics), so the document is held against
// all the server can serve, not only what newEnv wires.
func fullEnv(e *env, cfg api.Config) *env {
	e.t.Helper()
	cfg.AdminToken = adminToken
	cfg.PublicBaseURL = publicBaseURL
	cfg.Metrics = metrics.New(func() float64 { return 0 })
	cfg.ServeMetrics = true
	srv := api.New(api.Services{Programs: e.st, Ambassadors: e.st, Impressions: e.st, Placements: e.st, Referrals: e.st, Keys: e.st, Earnings: e.st, Stats: e.st, Backup: e.st, Users: e.st, Audit: e.st, Designs: e.st}, cfg)
	srv.SetReady(true)
	f := *e
	f.srv = srv
	return &f
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	s := loadSpec(t)
	e := fullEnv(newEnv(t), api.Config{})
	ops := s.operations()
	registered := map[string]bool{}
	var missing []string
	for _, r := range e.srv.Routes() {
		name := r.Method + " " + openAPIPath(r.Pattern)
		registered[name] = true
		ptr, ok := ops[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		// The documented scope must be the one the route enforces.
		op, _ := s.resolve(ptr)
		var want any = []any{}
		if r.Scope != "" {
			want = []any{map[string]any{"bearerAuth": []any{string(r.Scope)}}}
		}
		if got := op.(map[string]any)["security"]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got security %v, want %v", name, got, want)
		}
	}
	var extra []string
	for name := range ops {
		if !registered[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("documented operations that are not registered:\n  %s", strings.Join(extra, "\n  "))
	}
}

func TestOpenAPIResponsesMatchSchemas(t *testing.T) {
	s := loadSpec(t)
	e := fullEnv(newEnv(t), api.Config{})

	// do sends req and checks its status; e.call holds the answer against
	// the document.
	do := func(path string, req request, status int) response {
		t.Helper()
		res := e.call(req)
		if res.Status != status {
			t.Errorf("%s %s (%s): got %d %s, want %d", req.Method, req.Path, path, res.Status, res.Body, status)
		}
		return res
	}
	idOf := func(res response) string {
		t.Helper()
		var v struct{ ID string }
		if err := json.Unmarshal(res.Body, &v); err != nil || v.ID == "" {
			t.Fatalf("no id in %s", res.Body)
		}
		return v.ID
	}
	admin, write, read := adminToken, e.writeToken, e.readToken

	do("/healthz", request{Method: "GET", Path: "/healthz"}, 200)
	do("/readyz", request{Method: "GET", Path: "/readyz"}, 200)

	// Programs.
	prg := idOf(do("/v1/programs", request{Method: "POST", Path: "/v1/programs", Token: admin, Body: map[string]any{
		"name": "Spring 2027", "landing_url": "https://example.com/join",
		"commission": map[string]any{"type": "flat", "amount": 500, "currency": "USD"}, "metadata": map[string]any{"k": []int{1}}}}, 201))
	do("/v1/programs", request{Method: "POST", Path: "/v1/programs", Token: admin, Body: map[string]any{
		"name": "Fall", "landing_url": "https://example.com/fall", "commission": map[string]any{"type": "percent", "basis_points": 1000}}}, 201)
	do("/v1/programs/{id}", request{Method: "GET", Path: "/v1/programs/" + prg, Token: read}, 200)
	do("/v1/programs", request{Method: "GET", Path: "/v1/programs?limit=1", Token: read}, 200)
	do("/v1/programs/{id}", request{Method: "PATCH", Path: "/v1/programs/" + prg, Token: admin, Body: map[string]any{"commission": nil}}, 200)
	do("/v1/programs", request{Method: "GET", Path: "/v1/programs?limit=0", Token: read}, 400)

	// Ambassadors.
	amb := idOf(do("/v1/ambassadors", request{Method: "POST", Path: "/v1/ambassadors", Token: admin, Body: map[string]any{
		"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Uni.Example", "school": "MIT"}}, 201))
	do("/v1/ambassadors", request{Method: "POST", Path: "/v1/ambassadors", Token: admin, Body: map[string]any{
		"first_name": "Ada", "last_name": "Again", "email": "ada@uni.example"}}, 409)
	do("/v1/ambassadors/{id}", request{Method: "GET", Path: "/v1/ambassadors/" + amb, Token: read}, 200)
	do("/v1/ambassadors", request{Method: "GET", Path: "/v1/ambassadors?status=active", Token: read}, 200)
	do("/v1/ambassadors/{id}", request{Method: "PATCH", Path: "/v1/ambassadors/" + amb, Token: admin, Body: map[string]any{"school": nil, "status": "paused"}}, 200)

	// Impressions.
	imp := idOf(do("/v1/impressions", request{Method: "POST", Path: "/v1/impressions", Token: write, Body: map[string]any{
		"program_id": prg, "ambassador_id": amb, "user_agent": "Mozilla/5.0", "referrer": "https://instagram.com/"}}, 201))
	do("/v1/impressions/{id}", request{Method: "GET", Path: "/v1/impressions/" + imp, Token: read}, 200)
	do("/v1/impressions", request{Method: "GET", Path: "/v1/impressions?program_id=" + prg + "&ambassador_id=" + amb, Token: read}, 200)

	// Referrals, with an idempotent replay and a reused key.
	referral := map[string]any{"impression_id": imp, "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com",
		"profile_picture_url": "https://example.com/john.jpg", "metadata": map[string]any{"source": "instagram"}}
	idem := map[string]string{"Idempotency-Key": "signup-42"}
	created := do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: write, Body: referral, Header: idem}, 201)
	ref := idOf(created)
	replay := do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: write, Body: referral, Header: idem}, 201)
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: got Idempotent-Replayed %q, want true", replay.Header.Get("Idempotent-Replayed"))
	}
	other := maps.Clone(referral)
	other["first_name"] = "Jane"
	do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: write, Body: other, Header: idem}, 422)
	plain := idOf(do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: write, Body: map[string]any{
		"impression_id": imp, "first_name": "Max", "last_name": "Mustermann", "email": "max@example.de"}}, 201))
	do("/v1/referrals/{id}", request{Method: "GET", Path: "/v1/referrals/" + ref, Token: read}, 200)
	do("/v1/referrals", request{Method: "GET", Path: "/v1/referrals?status=pending&email=JOHN.DOE@example.com&program_id=" + prg, Token: read}, 200)
	do("/v1/referrals", request{Method: "GET", Path: "/v1/referrals?status=converted", Token: read}, 200)
	do("/v1/referrals", request{Method: "GET", Path: "/v1/referrals?flagged=true&from=2020-01-01T00:00:00Z&to=2099-01-01T00:00:00Z", Token: read}, 200)
	do("/v1/referrals/{id}", request{Method: "PATCH", Path: "/v1/referrals/" + ref, Token: write, Body: map[string]any{"status": "converted"}}, 200)
	do("/v1/referrals/{id}", request{Method: "PATCH", Path: "/v1/referrals/" + ref, Token: write, Body: map[string]any{"status": "rejected"}}, 409)
	do("/v1/referrals/{id}", request{Method: "PATCH", Path: "/v1/referrals/" + plain, Token: write, Body: map[string]any{"metadata": nil}}, 200)

	// Money: the program's flat rule pays a commission per earning.
	do("/v1/programs/{id}", request{Method: "PATCH", Path: "/v1/programs/" + prg, Token: admin, Body: map[string]any{
		"commission": map[string]any{"type": "percent", "basis_points": 1000, "caps": map[string]any{"USD": 150}}, "hold_days": 7}}, 200)
	ern := idOf(do("/v1/earnings", request{Method: "POST", Path: "/v1/earnings", Token: write, Body: map[string]any{
		"referral_id": plain, "amount": 1999, "currency": "USD", "external_id": "order-1", "idempotency_key": "e1"}}, 201))
	do("/v1/earnings", request{Method: "POST", Path: "/v1/earnings", Token: write, Body: map[string]any{
		"referral_id": plain, "amount": 1999, "currency": "USD", "external_id": "order-1"}}, 409)
	do("/v1/earnings/{id}", request{Method: "GET", Path: "/v1/earnings/" + ern, Token: read}, 200)
	do("/v1/earnings", request{Method: "GET", Path: "/v1/earnings?referral_id=" + plain + "&from=2020-01-01T00:00:00Z", Token: read}, 200)
	do("/v1/earnings/{id}/refund", request{Method: "POST", Path: "/v1/earnings/" + ern + "/refund", Token: write, Body: map[string]any{"amount": 999}}, 200)
	do("/v1/earnings/{id}/refund", request{Method: "POST", Path: "/v1/earnings/" + ern + "/refund", Token: write, Body: map[string]any{"amount": 5000}}, 400)
	var commissions struct{ Data []struct{ ID string } }
	json.Unmarshal(do("/v1/commissions", request{Method: "GET", Path: "/v1/commissions?earning_id=" + ern, Token: read}, 200).Body, &commissions)
	if len(commissions.Data) != 2 {
		t.Fatalf("got %d commissions, want the earning's and the refund's clawback", len(commissions.Data))
	}
	comID := commissions.Data[1].ID // newest first: the earning's own
	do("/v1/commissions/{id}", request{Method: "GET", Path: "/v1/commissions/" + comID, Token: read}, 200)
	do("/v1/commissions/{id}/hold", request{Method: "POST", Path: "/v1/commissions/" + comID + "/hold", Token: admin}, 200)
	do("/v1/commissions/{id}/hold", request{Method: "POST", Path: "/v1/commissions/" + commissions.Data[0].ID + "/hold", Token: admin}, 409)
	do("/v1/commissions/{id}/release", request{Method: "POST", Path: "/v1/commissions/" + comID + "/release", Token: admin}, 200)
	do("/v1/commissions/{id}/approve", request{Method: "POST", Path: "/v1/commissions/" + comID + "/approve", Token: admin}, 200)
	do("/v1/ambassadors/{id}/balance", request{Method: "GET", Path: "/v1/ambassadors/" + amb + "/balance", Token: read}, 200)
	pay := idOf(do("/v1/payouts", request{Method: "POST", Path: "/v1/payouts", Token: admin, Body: map[string]any{
		"ambassador_id": amb, "currency": "USD", "external_reference": "bank-1"}}, 201))
	do("/v1/payouts", request{Method: "GET", Path: "/v1/payouts?ambassador_id=" + amb + "&currency=USD&from=2020-01-01T00:00:00Z", Token: read}, 200)
	do("/v1/payouts", request{Method: "GET", Path: "/v1/payouts?currency=usd", Token: read}, 400)
	do("/v1/payouts/{id}", request{Method: "GET", Path: "/v1/payouts/" + pay, Token: read}, 200)
	do("/v1/payouts/{id}", request{Method: "GET", Path: "/v1/payouts/pay_01jdq3f7k8m2n4p6r8t0v2x4z6", Token: read}, 404)
	do("/v1/commissions", request{Method: "GET", Path: "/v1/commissions?payout_id=" + pay, Token: read}, 200)
	do("/v1/payouts", request{Method: "POST", Path: "/v1/payouts", Token: admin, Body: map[string]any{
		"ambassador_id": amb, "currency": "USD", "external_reference": "bank-2"}}, 409)

	do("/v1/stats/funnel", request{Method: "GET", Path: "/v1/stats/funnel?program_id=" + prg + "&exclude_flagged=true", Token: read}, 200)
	do("/v1/stats/funnel", request{Method: "GET", Path: "/v1/stats/funnel?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", Token: read}, 400)
	do("/v1/stats/leaderboard", request{Method: "GET", Path: "/v1/stats/leaderboard?limit=5", Token: read}, 200)

	// Errors.
	bad := do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: write, Body: map[string]any{
		"impression_id": "imp_nope", "first_name": "", "email": "not-an-email", "emial": "x"}}, 400)
	if !bytes.Contains(bad.Body, []byte(`"errors"`)) {
		t.Errorf("validation error without field errors: %s", bad.Body)
	}
	do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: write, Body: "[1]"}, 400)
	do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: write, Body: "{}",
		Header: map[string]string{"Content-Type": "text/plain"}}, 415)
	do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: write,
		Body: `{"first_name":"` + strings.Repeat("x", 70<<10) + `"}`}, 413)
	do("/v1/referrals", request{Method: "GET", Path: "/v1/referrals"}, 401)
	do("/v1/referrals", request{Method: "POST", Path: "/v1/referrals", Token: read, Body: referral}, 403)
	do("/v1/referrals/{id}", request{Method: "GET", Path: "/v1/referrals/ref_01jdq3f7k8m2n4p6r8t0v2x4z6", Token: read}, 404)
	do("/v1/referrals/{id}", request{Method: "GET", Path: "/v1/referrals/nonsense", Token: read}, 404)

	// Keys.
	key := idOf(do("/v1/keys", request{Method: "POST", Path: "/v1/keys", Token: admin, Body: map[string]any{"name": "crm", "scope": "write"}}, 201))
	do("/v1/keys", request{Method: "POST", Path: "/v1/keys", Token: admin, Body: map[string]any{"name": "crm", "scope": "write"}, Header: idem}, 400)
	do("/v1/keys", request{Method: "GET", Path: "/v1/keys", Token: admin}, 200)
	do("/v1/keys/{id}", request{Method: "DELETE", Path: "/v1/keys/" + key, Token: admin}, 200)
	do("/v1/keys/{id}", request{Method: "DELETE", Path: "/v1/keys/key_01jdq3f7k8m2n4p6r8t0v2x4z6", Token: admin}, 404)

	// The audit log: the admin token's changes above are in it.
	do("/v1/audit", request{Method: "GET", Path: "/v1/audit?limit=100", Token: admin}, 200)
	do("/v1/audit", request{Method: "GET", Path: "/v1/audit?subject=" + prg + "&action=program.updated", Token: admin}, 200)
	do("/v1/audit", request{Method: "GET", Path: "/v1/audit?actor_id=" + key, Token: admin}, 200)
	do("/v1/audit", request{Method: "GET", Path: "/v1/audit?action=drop+table", Token: admin}, 400)

	// Operations.
	doc := do("/openapi.json", request{Method: "GET", Path: "/openapi.json"}, 200)
	if !bytes.Equal(doc.Body, s.raw) {
		t.Error("GET /openapi.json does not serve api/openapi.json")
	}
	do("/metrics", request{Method: "GET", Path: "/metrics"}, 200)
	do("/v1/admin/backup", request{Method: "GET", Path: "/v1/admin/backup", Token: admin}, 200)
	do("/v1/admin/backup", request{Method: "GET", Path: "/v1/admin/backup", Token: write}, 403)

	// Rate limits: a bucket of one token answers the second call with 429.
	limited := fullEnv(e, api.Config{KeyRateLimit: api.Bucket{Rate: 0.01, Burst: 1}, IPRateLimit: api.Bucket{Rate: 0.01, Burst: 1}})
	for _, status := range []int{200, 429} {
		for path, req := range map[string]request{
			"/v1/referrals": {Method: "GET", Path: "/v1/referrals", Token: read},
			"/openapi.json": {Method: "GET", Path: "/openapi.json"},
		} {
			if res := limited.call(req); res.Status != status {
				t.Errorf("rate limit: GET %s: got %d, want %d", path, res.Status, status)
			}
		}
	}

	e.srv.SetReady(false)
	do("/readyz", request{Method: "GET", Path: "/readyz"}, 503)

	// A check that passes everything is worth nothing: each of these
	// answers breaks the document and must fail it.
	got := do("/v1/referrals/{id}", request{Method: "GET", Path: "/v1/referrals/" + ref, Token: read}, 200)
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	getRef := httptest.NewRequest("GET", "/v1/referrals/"+ref, nil)
	withBody := func(mutate func(map[string]any)) response {
		m := maps.Clone(body)
		mutate(m)
		b, _ := json.Marshal(m)
		return response{Status: 200, Header: got.Header, Body: b}
	}
	withHeader := func(res response, name, value string) response {
		res.Header = res.Header.Clone()
		if value == "" {
			res.Header.Del(name)
		} else {
			res.Header.Set(name, value)
		}
		return res
	}
	for name, c := range map[string]struct {
		req *http.Request
		res response
	}{
		"a 201 without Location":      {httptest.NewRequest("POST", "/v1/referrals", nil), withHeader(created, "Location", "")},
		"a referral without its id":   {getRef, withBody(func(m map[string]any) { delete(m, "id") })},
		"an unknown status":           {getRef, withBody(func(m map[string]any) { m["status"] = "approved" })},
		"an extra field":              {getRef, withBody(func(m map[string]any) { m["emial"] = "x" })},
		"a bad timestamp":             {getRef, withBody(func(m map[string]any) { m["created_at"] = "yesterday" })},
		"a bad email":                 {getRef, withBody(func(m map[string]any) { m["email"] = "not an email" })},
		"an undocumented header":      {getRef, withHeader(got, "X-Debug", "1")},
		"an undocumented status":      {getRef, response{Status: 418, Header: got.Header, Body: got.Body}},
		"an undocumented media type":  {getRef, withHeader(got, "Content-Type", "text/plain")},
		"a missing rate-limit header": {getRef, withHeader(got, "X-RateLimit-Remaining", "")},
		"a problem of an unknown code": {getRef, withHeader(response{Status: 404, Header: got.Header,
			Body: []byte(`{"type":"https://referrald.dev/problems/nope","title":"x","status":404,"code":"nope","detail":"x"}`)},
			"Content-Type", "application/problem+json")},
		"a 200 on a path the document lacks": {httptest.NewRequest("GET", "/v1/nothing", nil), got},
		"a list whose data is null": {httptest.NewRequest("GET", "/v1/referrals", nil),
			response{Status: 200, Header: got.Header, Body: []byte(`{"data":null,"has_more":false,"next_cursor":null}`)}},
	} {
		if len(checkContract(c.req, c.res)) == 0 {
			t.Errorf("%s passes the check", name)
		}
	}
	if errs := checkContract(getRef, got); len(errs) > 0 {
		t.Errorf("the unchanged answer fails the check: %v", errs)
	}
}

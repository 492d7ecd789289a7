package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/hooks/sdk"
)

// crm is a fake CRM: the real one is outside our control.
type crm struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   []map[string]any
	statuses []int // answered in turn; then 201
}

func (c *crm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	c.requests, c.bodies = append(c.requests, r), append(c.bodies, m)
	status := http.StatusCreated
	if len(c.statuses) > 0 {
		status, c.statuses = c.statuses[0], c.statuses[1:]
	}
	w.WriteHeader(status)
}

func newTestSync(t *testing.T, url string) *crmsync {
	t.Helper()
	s, err := newCRMSync(Config{URL: url, AuthHeader: "X-Api-Key", AuthEnv: "CRM_TOKEN", Retries: 2,
		Fields:    map[string]string{"email": "email", "name": "first_name", "campaign": "metadata.campaign", "source": "=referrald"},
		StateFile: filepath.Join(t.TempDir(), "sent")},
		func(k string) string { return map[string]string{"CRM_TOKEN": "s3cret"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var referral = hooks.Event{ID: "evt_01", Type: hooks.EventReferralCreated,
	Data: []byte(`{"id":"ref_1","email":"j@example.com","first_name":"J","metadata":{"campaign":"spring"}}`)}

func TestRetriesServerErrorsAndSendsOnce(t *testing.T) {
	fake := &crm{statuses: []int{503, 502}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newTestSync(t, srv.URL)
	ctx := context.Background()
	if _, err := s.OnEvent(ctx, referral); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OnEvent(ctx, referral); err != nil { // a redelivery
		t.Fatal(err)
	}
	if len(fake.requests) != 3 {
		t.Fatalf("got %d requests, want 2 failures and 1 success, and nothing for the redelivery", len(fake.requests))
	}
	want := map[string]any{"email": "j@example.com", "name": "J", "campaign": "spring", "source": "referrald"}
	for k, v := range want {
		if fake.bodies[2][k] != v {
			t.Errorf("body %s: got %v, want %v", k, fake.bodies[2][k], v)
		}
	}
	r := fake.requests[2]
	if r.Header.Get("X-Api-Key") != "s3cret" || r.Header.Get("Idempotency-Key") != "evt_01" || r.Method != "POST" {
		t.Fatalf("headers: %v", r.Header)
	}
	// A restarted plugin remembers what it sent.
	again, err := newCRMSync(s.cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.OnEvent(ctx, referral); err != nil || len(fake.requests) != 3 {
		t.Fatalf("after a restart: %v, %d requests; want no new request", err, len(fake.requests))
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	fake := &crm{statuses: []int{400}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	if _, err := newTestSync(t, srv.URL).OnEvent(context.Background(), referral); err == nil || len(fake.requests) != 1 {
		t.Fatalf("got %v after %d requests, want an error after one", err, len(fake.requests))
	} else if !sdk.IsPermanent(err) {
		t.Errorf("a refusal by the CRM: got %v, want it marked permanent so it is dead-lettered at once", err)
	}
	bad := hooks.Event{ID: "evt_bad", Type: hooks.EventReferralCreated, Data: []byte(`{"id": 1e999}`)}
	if _, err := newTestSync(t, srv.URL).OnEvent(context.Background(), bad); !sdk.IsPermanent(err) {
		t.Errorf("an undecodable payload: got %v, want a permanent error", err)
	}
	fake = &crm{statuses: []int{409}}
	srv2 := httptest.NewServer(fake)
	defer srv2.Close()
	if _, err := newTestSync(t, srv2.URL).OnEvent(context.Background(), referral); err != nil {
		t.Fatalf("409: got %v, want it counted as already sent", err)
	}
}

var erased = hooks.Event{ID: "evt_02", Type: hooks.EventReferralErased,
	Data: []byte(`{"id":"ref_1","erased_at":"2026-11-30T09:12:44.100Z"}`)}

func TestErasureDeletesTheContact(t *testing.T) {
	fake := &crm{statuses: []int{201, 503}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newTestSync(t, srv.URL+"/contacts")
	s.cfg.EraseURL = srv.URL + "/contacts/by-ref/{id}"
	ctx := context.Background()
	if d, _ := s.Describe(ctx); !slices.Equal(d.Events, []string{hooks.EventReferralCreated, hooks.EventReferralErased}) {
		t.Fatalf("subscribes to %v, want the creations and erasures", d.Events)
	}
	for _, e := range []hooks.Event{referral, erased, erased} { // the last is a redelivery
		if _, err := s.OnEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if len(fake.requests) != 3 {
		t.Fatalf("got %d requests, want the contact, a failed deletion and its retry", len(fake.requests))
	}
	del := fake.requests[2]
	if del.Method != "DELETE" || del.URL.Path != "/contacts/by-ref/ref_1" || del.Header.Get("X-Api-Key") != "s3cret" ||
		del.Header.Get("Idempotency-Key") != "evt_02" {
		t.Fatalf("deletion: %s %s %v", del.Method, del.URL.Path, del.Header)
	}
}

func TestErasureOfAnUnknownContactIsDone(t *testing.T) {
	for _, status := range []int{404, 410} {
		fake := &crm{statuses: []int{status}}
		srv := httptest.NewServer(fake)
		s := newTestSync(t, srv.URL)
		s.cfg.EraseURL = srv.URL + "/contacts/{id}"
		if _, err := s.OnEvent(context.Background(), erased); err != nil || len(fake.requests) != 1 {
			t.Errorf("%d: got %v after %d requests, want the erasure counted as done", status, err, len(fake.requests))
		}
		srv.Close()
	}
	fake := &crm{statuses: []int{403}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newTestSync(t, srv.URL)
	s.cfg.EraseURL = srv.URL + "/contacts/{id}"
	if _, err := s.OnEvent(context.Background(), erased); err == nil {
		t.Errorf("403: want an error, so the event is retried and dead-lettered")
	}
}

func TestErasureIsIgnoredWithoutEraseURL(t *testing.T) {
	fake := &crm{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newTestSync(t, srv.URL)
	if d, _ := s.Describe(context.Background()); !slices.Equal(d.Events, []string{hooks.EventReferralCreated}) {
		t.Fatalf("subscribes to %v, want only referral.created", d.Events)
	}
	if _, err := s.OnEvent(context.Background(), erased); err != nil || len(fake.requests) != 0 {
		t.Fatalf("got %v and %d requests, want nothing sent", err, len(fake.requests))
	}
}

func TestConfigEraseURL(t *testing.T) {
	dir := t.TempDir()
	for body, ok := range map[string]bool{
		"erase_url: https://crm.example.com/contacts/{id}\n": true,
		"erase_url: https://crm.example.com/contacts\n":      false,
		"erase_url: ftp://crm.example.com/{id}\n":            false,
	} {
		path := filepath.Join(dir, "crmsync.yaml")
		if err := os.WriteFile(path, []byte("url: https://crm.example.com/contacts\nfields:\n  email: email\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(path); (err == nil) != ok {
			t.Errorf("%q: got %v, want ok=%v", body, err, ok)
		}
	}
}

func TestAnErasedReferralIsNotSentAgain(t *testing.T) {
	fake := &crm{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newTestSync(t, srv.URL)
	// A referral.created delivered late (a retried dead letter) after the
	// referral was erased carries the anonymised record.
	late := hooks.Event{ID: "evt_03", Type: hooks.EventReferralCreated,
		Data: []byte(`{"id":"ref_1","email":"","first_name":"","metadata":{},"erased_at":"2026-11-30T09:12:44.100Z"}`)}
	if _, err := s.OnEvent(context.Background(), late); err != nil || len(fake.requests) != 0 {
		t.Fatalf("got %v and %d requests, want nothing sent for an erased referral", err, len(fake.requests))
	}
}

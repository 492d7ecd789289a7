package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// receiver is a webhook receiver: it records what arrives, answers as
// told, and verifies each signature its own way, written from the
// Standard Webhooks text rather than with referrald's code.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	status int
	// secret is the endpoint's, set once it is made.
	secret  string
	arrived chan struct{}
}

type delivery struct {
	id, typ  string
	verified bool
	at       time.Time
	body     map[string]any
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK, arrived: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var v map[string]any
		json.Unmarshal(body, &v)
		r.mu.Lock()
		status := r.status
		if status == http.StatusOK {
			typ, _ := v["type"].(string)
			r.got = append(r.got, delivery{id: req.Header.Get("webhook-id"), typ: typ, at: time.Now(), body: v,
				verified: r.verify(req.Header, body)})
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		if status == http.StatusOK {
			r.arrived <- struct{}{}
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// verify checks a delivery's signature; r.mu is held.
func (r *receiver) verify(h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return false
	}
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Split(h.Get("webhook-signature"), " ") {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

// waitFor blocks until n deliveries have arrived, or fails the test.
func (r *receiver) waitFor(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for len(r.deliveries()) < n {
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("%d deliveries arrived within %s, want %d", len(r.deliveries()), timeout, n)
		}
	}
}

var webhookEnv = []string{"REFERRALD_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true", "REFERRALD_WEBHOOKS_ALLOW_HTTP=true"}

func addEndpoint(t *testing.T, srv *server, r *receiver, events ...string) string {
	t.Helper()
	status, _, b, err := call(context.Background(), "POST", srv.url+"/v1/webhook_endpoints",
		map[string]any{"url": r.srv.URL + "/hooks", "events": events}, nil)
	if err != nil || status != 201 {
		t.Fatalf("add endpoint: %d %s %v", status, b, err)
	}
	var e struct{ ID, Secret string }
	json.Unmarshal(b, &e)
	r.mu.Lock()
	r.secret = e.Secret
	r.mu.Unlock()
	return e.ID
}

// The bar: with an endpoint on a local receiver, creating a referral
// delivers one referral.created whose signature verifies with the secret
// the API returned. How soon is logged: the bar is within 2 s.
func TestWebhookDeliversASignedReferral(t *testing.T) {
	srv := startServer(t, t.TempDir(), webhookEnv...)
	rcv := newReceiver(t)
	addEndpoint(t, srv, rcv, "referral.created")
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})
	created := time.Now()
	ref := mustCreate(t, srv.url+"/v1/referrals", map[string]any{"impression_id": imp, "first_name": "J", "last_name": "D", "email": "j@example.com"})
	rcv.waitFor(t, 1, 30*time.Second)
	d := rcv.deliveries()[0]
	t.Logf("referral.created arrived %s after the create was answered", d.at.Sub(created).Round(time.Millisecond))
	data, _ := d.body["data"].(map[string]any)
	if d.typ != "referral.created" || !d.verified || data["id"] != ref || !strings.HasPrefix(d.id, "evt_") {
		t.Fatalf("got %+v", d)
	}
	// Nothing else came: the next referral's event is the second delivery.
	mustCreate(t, srv.url+"/v1/referrals", map[string]any{"impression_id": imp, "first_name": "K", "last_name": "D", "email": "k@example.com"})
	rcv.waitFor(t, 2, 30*time.Second)
	if got := rcv.deliveries(); len(got) != 2 || got[1].id == got[0].id {
		t.Fatalf("deliveries %+v", got)
	}
}

// Deliveries pending when the server is killed are all made after the
// restart: none is lost.
func TestWebhookDeliveriesSurviveAKill(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, webhookEnv...)
	rcv := newReceiver(t)
	rcv.setStatus(http.StatusServiceUnavailable)
	addEndpoint(t, srv, rcv, "referral.created")
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})
	want := map[string]bool{}
	for i := range 5 {
		want[mustCreate(t, srv.url+"/v1/referrals", map[string]any{"impression_id": imp, "first_name": "J", "last_name": "D",
			"email": fmt.Sprintf("j%d@example.com", i)})] = true
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done
	rcv.setStatus(http.StatusOK)
	startServer(t, dataDir, webhookEnv...)
	rcv.waitFor(t, len(want), 60*time.Second)
	for _, d := range rcv.deliveries() {
		data, _ := d.body["data"].(map[string]any)
		id, _ := data["id"].(string)
		if !want[id] || !d.verified {
			t.Errorf("unexpected or unverified delivery %+v", d)
		}
		delete(want, id)
	}
	if len(want) > 0 {
		t.Fatalf("never delivered: %v", want)
	}
}

package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// request is what the fake server was asked.
type request struct {
	method, path, query, auth, contentType, body string
}

// fakeServer answers every request with status and body, and records the
// last request it was asked.
func fakeServer(t *testing.T, status int, body string) (*Client, *request) {
	t.Helper()
	var got request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		if status != http.StatusOK {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return &Client{BaseURL: srv.URL, Token: "secret"}, &got
}

func TestFindDeadLetters(t *testing.T) {
	c, got := fakeServer(t, http.StatusOK,
		`{"data":[{"event_id":"evt_1","event_type":"referral.created","attempts":3}],"has_more":true,"next_cursor":"c2"}`)
	page, err := c.FindDeadLetters(context.Background(), "crm sync", model.ListOptions{Limit: 50, Cursor: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != "GET" || got.path != "/v1/admin/hooks/dead-letters" || got.auth != "Bearer secret" {
		t.Errorf("got %s %s with %q, want GET /v1/admin/hooks/dead-letters with the token", got.method, got.path, got.auth)
	}
	if q, _ := url.ParseQuery(got.query); q.Get("plugin") != "crm sync" || q.Get("limit") != "50" || q.Get("cursor") != "c1" {
		t.Errorf("got query %q, want the plugin, limit and cursor", got.query)
	}
	if len(page.Data) != 1 || page.Data[0].EventID != "evt_1" || page.Data[0].Attempts != 3 || !page.HasMore || *page.NextCursor != "c2" {
		t.Errorf("got page %+v, want the one dead letter and the next cursor", page)
	}
}

func TestRetryDeadLetters(t *testing.T) {
	for _, c := range []struct {
		ids  []string
		want string
	}{
		{nil, `{"plugin":"crmsync"}`},
		{[]string{"evt_1", "evt_2"}, `{"event_ids":["evt_1","evt_2"],"plugin":"crmsync"}`},
	} {
		client, got := fakeServer(t, http.StatusOK, `{"queued":2}`)
		n, err := client.RetryDeadLetters(context.Background(), "crmsync", c.ids)
		if err != nil || n != 2 {
			t.Fatalf("got %d, %v; want 2 queued", n, err)
		}
		if got.method != "POST" || got.path != "/v1/admin/hooks/dead-letters/retry" || got.contentType != "application/json" {
			t.Errorf("got %s %s (%s), want a JSON POST to the retry route", got.method, got.path, got.contentType)
		}
		// Through a map, so that the comparison does not depend on key order.
		var body map[string]any
		json.Unmarshal([]byte(got.body), &body)
		if b, _ := json.Marshal(body); string(b) != c.want {
			t.Errorf("ids %v: got body %s, want %s", c.ids, got.body, c.want)
		}
	}
}

func TestBackupAndExportStream(t *testing.T) {
	c, got := fakeServer(t, http.StatusOK, "id,email\n")
	var buf bytes.Buffer
	if err := c.Export(context.Background(), "referrals", url.Values{"program_id": {"prg_1"}}, &buf); err != nil {
		t.Fatal(err)
	}
	if got.path != "/v1/exports/referrals.csv" || got.query != "program_id=prg_1" || buf.String() != "id,email\n" {
		t.Errorf("export: got %s?%s and %q", got.path, got.query, buf.String())
	}
	buf.Reset()
	if err := c.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if got.path != "/v1/admin/backup" || buf.String() != "id,email\n" {
		t.Errorf("backup: got %s and %q", got.path, buf.String())
	}
}

// A copy cut short is an error even though the transfer itself ended
// cleanly, since a backup or export missing its end is no good.
func TestCopyNoticesAShortBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "12345")
		// Taking the connection ends the response after five bytes.
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "secret"}
	if err := c.Backup(context.Background(), io.Discard); err == nil {
		t.Fatal("got no error for 5 of 10 bytes")
	}
}

func TestErrors(t *testing.T) {
	c, _ := fakeServer(t, http.StatusForbidden, `{"title":"Forbidden","status":403,"detail":"this key's scope is read"}`)
	err := c.Backup(context.Background(), io.Discard)
	if err == nil || err.Error() != "the server answered 403 Forbidden: this key's scope is read" {
		t.Errorf("403 with a problem: got %v, want the status and the detail", err)
	}
	if _, ok := errors.AsType[*NoAnswerError](err); ok {
		t.Errorf("an answer was taken for no answer: %v", err)
	}

	c, _ = fakeServer(t, http.StatusBadGateway, "upstream down")
	if err := c.Backup(context.Background(), io.Discard); err == nil || err.Error() != "the server answered 502 Bad Gateway: upstream down" {
		t.Errorf("502 without a problem: got %v, want the status and the body", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	c = &Client{BaseURL: closed, Token: "secret"}
	_, err = c.RetryDeadLetters(context.Background(), "crmsync", nil)
	if _, ok := errors.AsType[*NoAnswerError](err); !ok || !strings.HasPrefix(err.Error(), "asking the server failed: ") {
		t.Errorf("closed port: got %v, want a NoAnswerError", err)
	}
}

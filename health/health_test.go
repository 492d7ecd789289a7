package health

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The address asked is -url's when given, else the listen address's,
// with a wildcard host replaced by loopback.
func TestReadyURL(t *testing.T) {
	for _, c := range []struct {
		base, listen string
		want         string // "" for an error
	}{
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080/readyz"},
		{"", "0.0.0.0:8080", "http://127.0.0.1:8080/readyz"},
		{"", "[::]:8080", "http://127.0.0.1:8080/readyz"},
		{"", ":8080", "http://127.0.0.1:8080/readyz"},
		{"", "[::1]:9000", "http://[::1]:9000/readyz"},
		{"", "referrald.internal:80", "http://referrald.internal:80/readyz"},
		{"http://10.0.0.7:8080", "127.0.0.1:8080", "http://10.0.0.7:8080/readyz"},
		{"https://referrald.example.edu/", "0.0.0.0:8080", "https://referrald.example.edu/readyz"},
		{"http://gateway/referrald", "", "http://gateway/referrald/readyz"},
		{"127.0.0.1:8080", "", ""},
		{"ftp://example.com", "", ""},
		{"http://", "", ""},
		{"http://x/?a=b", "", ""},
		{"", "no-port", ""},
	} {
		got, err := ReadyURL(c.base, c.listen)
		if c.want == "" && err == nil || c.want != "" && (err != nil || got != c.want) {
			t.Errorf("ReadyURL(%q, %q): got %q, %v; want %q", c.base, c.listen, got, err, c.want)
		}
	}
}

// Check is nil on 200 only, and otherwise says what came back: the
// status, the problem's detail on one line, or why nothing did.
func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ready/readyz":
			w.Write([]byte("ok"))
		case "/draining/readyz":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":503,"detail":"shutting down:\n  requests in flight finish"}`))
		case "/moved/readyz":
			http.Redirect(w, r, "/ready/readyz", http.StatusFound)
		case "/slow/readyz":
			time.Sleep(time.Second)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/readyz"
	l.Close()
	for _, c := range []struct {
		target, want string // want "" for nil, else a substring
	}{
		{srv.URL + "/ready/readyz", ""},
		{srv.URL + "/draining/readyz", "503 Service Unavailable: shutting down: requests in flight finish"},
		{srv.URL + "/moved/readyz", "302 Found"},
		{srv.URL + "/gone/readyz", "404 Not Found"},
		{srv.URL + "/slow/readyz", "Timeout"},
		{closed, "connection refused"},
	} {
		err := Check(c.target, 200*time.Millisecond)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Check(%s): got %v, want %q", c.target, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), c.target) {
			t.Errorf("Check(%s): got %v, which repeats the URL its caller names", c.target, err)
		}
	}
}

package api_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/referrald/referrald/api"
)

// A Limiter spends a token per Take, refuses once the bucket is empty,
// and takes a returned token back.
func TestLimiterTakeAndReturn(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	l := api.NewLimiter(api.Bucket{Rate: 0.1, Burst: 2}, func() time.Time { return now })
	for i := range 2 {
		if ok, _ := l.Take("a"); !ok {
			t.Fatalf("take %d: refused, want allowed", i+1)
		}
	}
	ok, wait := l.Take("a")
	if ok || wait != 10*time.Second {
		t.Fatalf("third take: got %v, retry after %v; want refused for 10s", ok, wait)
	}
	if ok, _ := l.Take("b"); !ok {
		t.Fatal("another key's bucket is its own: refused, want allowed")
	}
	l.Return("a")
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("after a Return: refused, want allowed")
	}
	l.Return("a")
	l.Return("a")
	l.Return("a")
	for i := range 2 {
		if ok, _ := l.Take("a"); !ok {
			t.Fatalf("after Returns, take %d: refused, want allowed", i+1)
		}
	}
	if ok, _ := l.Take("a"); ok {
		t.Fatal("Return filled the bucket past its burst")
	}
	now = now.Add(10 * time.Second)
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("after the refill: refused, want allowed")
	}
}

// ClientKey reads a trusted proxy's header, and keys an IPv6 client by
// its /64.
func TestClientKey(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		peer, header, value, want string
	}{
		{"192.0.2.7:1234", "forwarded", "for=198.51.100.1", "192.0.2.7"},
		{"10.0.0.2:1234", "forwarded", "for=198.51.100.1", "198.51.100.1"},
		{"10.0.0.2:1234", "x-forwarded-for", "198.51.100.2", "198.51.100.2"},
		{"[2001:db8:1:2:3::4]:1234", "forwarded", "", "2001:db8:1:2::/64"},
	} {
		r := httptest.NewRequest("GET", "/console/login", nil)
		r.RemoteAddr = tc.peer
		if tc.header == "forwarded" {
			r.Header.Set("Forwarded", tc.value)
		} else {
			r.Header.Set("X-Forwarded-For", tc.value)
		}
		if got := api.ClientKey(r, proxy, tc.header); got != tc.want {
			t.Errorf("%s with %s %q: got %q, want %q", tc.peer, tc.header, tc.value, got, tc.want)
		}
	}
}

package webhooks

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr string
		kind string // "" when allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.254", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:192.168.1.1", "private"},
		{"100.64.0.1", "CGNAT"},
		{"100.127.255.254", "CGNAT"},
		{"169.254.169.254", "link-local"},
		{"::ffff:169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fc00::1", "unique-local"},
		{"fd12:3456::1", "unique-local"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"64:ff9b::7f00:1", "loopback"},
		{"64:ff9b::a00:1", "private"},
		// Public addresses pass.
		{"93.184.216.34", ""},
		{"8.8.8.8", ""},
		{"100.63.255.255", ""},
		{"100.128.0.1", ""},
		{"172.32.0.1", ""},
		{"::ffff:8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"64:ff9b::808:808", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := checkAddress(netip.MustParseAddr(tt.addr))
			if tt.kind == "" {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			var refused *RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tt.kind) ||
				!strings.Contains(err.Error(), "webhooks.allow_private_networks") {
				t.Fatalf("got %v, want refused as %s", err, tt.kind)
			}
		})
	}
	want := "refused: 127.0.0.1 is a loopback address; set webhooks.allow_private_networks to deliver on-prem"
	if got := checkAddress(netip.MustParseAddr("127.0.0.1")).Error(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestClipUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"héllo", 2, "h"}, // é cut in half is dropped
		{"héllo", 3, "hé"},
		{"a\xffb", 10, "a\uFFFDb"},
		{"日本", 5, "日"},
	}
	for _, tt := range tests {
		if got := clipUTF8([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("clipUTF8(%q, %d): got %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		status int
		value  string
		want   time.Duration
		ok     bool
	}{
		{429, "1", time.Second, true},
		{503, " 120 ", 2 * time.Minute, true},
		{429, now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{429, now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{429, "999999999999", MaxRetryAfter, true},
		{429, "-1", 0, false},
		{429, "soon", 0, false},
		{429, "", 0, false},
		{500, "1", 0, false},
	}
	for _, tt := range tests {
		r := result{status: tt.status, header: http.Header{"Retry-After": {tt.value}}}
		if got, ok := r.retryAfter(now); got != tt.want || ok != tt.ok {
			t.Errorf("%d Retry-After %q: got %s %v, want %s %v", tt.status, tt.value, got, ok, tt.want, tt.ok)
		}
	}
	// The wait is what was asked, within [the schedule's step, MaxRetryAfter].
	for _, tt := range []struct{ ra, step, want time.Duration }{
		{time.Second, 0, time.Second},
		{time.Second, time.Minute, time.Minute},
		{48 * time.Hour, time.Minute, MaxRetryAfter},
	} {
		if got := retryAfterWait(tt.ra, tt.step); got != tt.want {
			t.Errorf("retryAfterWait(%s, %s): got %s, want %s", tt.ra, tt.step, got, tt.want)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	var st Store // nil
	if _, err := New(Config{}, st, nil, nil); err == nil {
		t.Error("no store: got no error")
	}
	s := struct{ Store }{} // a non-nil Store that New never calls
	for _, cfg := range []Config{
		{Schedule: []time.Duration{}},
		{Schedule: []time.Duration{0, -time.Second}},
		{Jitter: 1},
		{Timeout: -time.Second},
	} {
		if _, err := New(cfg, s, nil, nil); err == nil {
			t.Errorf("%+v: got no error", cfg)
		}
	}
	d, err := New(Config{}, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.cfg.Timeout != DefaultTimeout || len(d.cfg.Schedule) != 10 || d.cfg.PollInterval != DefaultPollInterval ||
		d.cfg.UserAgent != "referrald" || d.cfg.Now == nil || d.cfg.Jitter != DefaultJitter {
		t.Errorf("defaults %+v", d.cfg)
	}
	d.Stop() // never started: returns at once
	if d, _ := New(Config{Jitter: -1}, s, nil, nil); d.cfg.Jitter != 0 || d.jitter(time.Second) != time.Second {
		t.Errorf("negative jitter: got %g, want none", d.cfg.Jitter)
	}
	d, _ = New(Config{}, s, nil, nil)
	for range 100 {
		if w := d.jitter(time.Second); w < 900*time.Millisecond || w > 1100*time.Millisecond {
			t.Fatalf("jitter of 1s: %s, want within ±10%%", w)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/referrald/referrald/store"
)

// smallFS mounts a tmpfs of size bytes on a temporary folder for the test.
// It needs root (CI has it); elsewhere the test says why it cannot run, and
// under CI it fails instead, so the check is never quietly lost.
func smallFS(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a %d-byte tmpfs: %v (the disk-full test needs root)", size, err)
		}
		t.Skipf("mount a %d-byte tmpfs: %v; run as root (CI does) to fill a disk", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// When the disk fills up, writes answer 503 unavailable, reads go on,
// nothing half-written is left behind, and writes resume once there is room
// again, the refused request included.
func TestDiskFull(t *testing.T) {
	dataDir := smallFS(t, 48<<20)
	srv := startServer(t, dataDir, "REFERRALD_RATE_LIMITS_PER_KEY_RATE=1000000", "REFERRALD_RATE_LIMITS_PER_KEY_BURST=1000000")
	prg := mustCreate(t, srv.url+"/v1/programs", map[string]any{"name": "Full", "landing_url": "https://example.com"})
	amb := mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "a@example.com"})
	imp := mustCreate(t, srv.url+"/v1/impressions", map[string]any{"program_id": prg, "ambassador_id": amb})

	signup := func(key string) (int, map[string]any, bool) {
		t.Helper()
		status, h, b, err := call(context.Background(), "POST", srv.url+"/v1/referrals", map[string]any{
			"impression_id": imp, "first_name": "F", "last_name": "D", "email": key + "@example.com", "idempotency_key": key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.Unmarshal(b, &body)
		return status, body, h.Get("Idempotent-Replayed") == "true"
	}
	var acked []string
	for i := range 50 {
		status, body, _ := signup(fmt.Sprintf("before-%d", i))
		if status != 201 {
			t.Fatalf("before the disk is full: got %d %v", status, body)
		}
		acked = append(acked, body["id"].(string))
	}

	// Take every free byte.
	ballast := filepath.Join(dataDir, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()

	// bbolt may first reuse pages it freed earlier; new ones need room.
	var refusedKey string
	for i := 0; refusedKey == "" && i < 100000; i++ {
		key := fmt.Sprintf("full-%d", i)
		switch status, body, _ := signup(key); status {
		case 201:
			acked = append(acked, body["id"].(string))
		case 503:
			if body["code"] != "unavailable" {
				t.Fatalf("disk full: got %v, want code unavailable", body)
			}
			refusedKey = key
		default:
			t.Fatalf("disk full: got %d %v, want 201 or 503", status, body)
		}
	}
	if refusedKey == "" {
		t.Fatal("the disk never filled up")
	}
	t.Logf("%d referrals made before the disk was full", len(acked)-50)

	// Reads keep working, the refused write stays refused, and /readyz
	// says the store is not writable.
	for _, path := range []string{"/v1/referrals/" + acked[len(acked)-1], "/v1/referrals?limit=5", "/v1/stats/funnel"} {
		if status, _, b, err := call(context.Background(), "GET", srv.url+path, nil, nil); err != nil || status != 200 {
			t.Fatalf("GET %s with the disk full: %d %s %v", path, status, b, err)
		}
	}
	if status, body, _ := signup(refusedKey); status != 503 {
		t.Fatalf("the refused signup again, disk still full: got %d %v", status, body)
	}
	// More refused writes add no log lines: the condition is logged once
	// when it starts (and summed up each minute while it lasts).
	for i := range 20 {
		if status, body, _ := signup(fmt.Sprintf("refused-%d", i)); status != 503 {
			t.Fatalf("a signup with the disk full: got %d %v", status, body)
		}
	}
	if n := strings.Count(srv.log(), "store commits are failing"); n != 1 {
		t.Errorf("the full disk was logged %d times, want once:\n%s", n, srv.log())
	}
	// A backup needs room for its temporary copy: without it, the answer
	// is that the service cannot now, not that it broke.
	status, h, b, err := call(context.Background(), "GET", srv.url+"/v1/admin/backup", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var problem map[string]any
	json.Unmarshal(b, &problem)
	if status != 503 || problem["code"] != "unavailable" || h.Get("Retry-After") == "" ||
		!strings.Contains(fmt.Sprint(problem["detail"]), "no room for the backup") {
		t.Fatalf("a backup with the disk full: got %d %s (Retry-After %q), want 503 unavailable saying why", status, b, h.Get("Retry-After"))
	}
	readyz := func() (int, string) {
		t.Helper()
		status, _, b, err := call(context.Background(), "GET", srv.url+"/readyz", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.Unmarshal(b, &body)
		code, _ := body["code"].(string)
		return status, code
	}
	if status, code := readyz(); status != 503 || code != "unavailable" {
		t.Fatalf("/readyz with the disk full: %d %q, want 503 unavailable", status, code)
	}

	// Room again: the refused request goes through as new, and so does the
	// next one.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	status, body, replayed := signup(refusedKey)
	if status != 201 || replayed {
		t.Fatalf("the refused signup once there is room: got %d %v replayed=%v, want a new referral", status, body, replayed)
	}
	acked = append(acked, body["id"].(string))
	if status, body, _ := signup("after-full"); status != 201 {
		t.Fatalf("a new signup once there is room: got %d %v", status, body)
	}
	if status, code := readyz(); status != 200 {
		t.Fatalf("/readyz once writes succeed again: %d %q, want 200", status, code)
	}
	if !strings.Contains(srv.log(), "store commits succeed again") {
		t.Errorf("the log does not say the disk trouble cleared:\n%s", srv.log())
	}

	// Nothing half-written: every acknowledged referral, and only those
	// plus the last one, with their events; the file passes bbolt's check.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	path := filepath.Join(dataDir, store.FileName)
	sum, err := store.Verify(path)
	if err != nil {
		t.Fatalf("consistency check after the disk filled: %v", err)
	}
	// Each referral's event, the impression's and the ambassador's.
	if want := len(acked) + 1; sum.Referrals != want || sum.Events != want+2 {
		t.Fatalf("after the disk filled: %d referrals and %d events, want %d and %d", sum.Referrals, sum.Events, want, want+2)
	}
	st, err := store.Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.VerifyCounters(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range acked {
		if _, err := st.FindReferralByID(ctx, id); err != nil {
			t.Fatalf("acknowledged referral %s: %v", id, err)
		}
	}
}

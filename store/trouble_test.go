package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A run of failing commits is logged when it starts, summed up once a
// minute while it lasts, and logged when it clears: not a line a write.
func TestTroubleLogSumsUpInsteadOfFlooding(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var tl troubleLog
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	full := errors.Join(errors.New("write"), syscall.ENOSPC)
	for i := range 600 { // ten a second for a minute
		tl.failed(log, full, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	tl.failed(log, full, t0.Add(time.Minute)) // the 601st, a minute in
	tl.cleared(log, t0.Add(90*time.Second))
	tl.cleared(log, t0.Add(91*time.Second)) // nothing to clear any more
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want start, summary and clear:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"store commits are failing", "refused_writes=600", "refused_writes=601"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s, want it to contain %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[2], "failed_for=1m30s") {
		t.Errorf("the clearing line does not say how long it lasted: %s", lines[2])
	}
}

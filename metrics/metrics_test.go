package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// Until the API says how to tell, the service is not ready; the scan
// counters are there, at 0, before the first scan.
func TestNewSeries(t *testing.T) {
	m := New(func() float64 { return 0 })
	body := serve(t, m)
	for _, line := range []string{"referrald_ready 0", `referrald_scans_total{bot="false"} 0`, `referrald_scans_total{bot="true"} 0`} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("no line %q in:\n%s", line, body)
		}
	}
	ready := true
	m.SetReadiness(func() bool { return ready })
	m.Scanned(true)
	if body := serve(t, m); !strings.Contains(body, "\nreferrald_ready 1\n") || !strings.Contains(body, "\nreferrald_scans_total{bot=\"true\"} 1\n") {
		t.Errorf("after SetReadiness and a bot's scan:\n%s", body)
	}
	ready = false
	if body := serve(t, m); !strings.Contains(body, "\nreferrald_ready 0\n") {
		t.Errorf("the gauge did not follow the readiness check:\n%s", body)
	}
}

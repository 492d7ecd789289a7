// Package metrics defines referrald's Prometheus metrics on a registry of
// its own (no global state), for the API and main to record into.
//
// Names follow Prometheus conventions: referrald_<subsystem>_<name>_<unit>,
// _total for counters, and no label whose values grow with the data (no
// IDs, emails or raw paths; HTTP requests are labelled with the route
// pattern).
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every series referrald exports.
type Metrics struct {
	registry *prometheus.Registry

	httpRequests      *prometheus.CounterVec
	httpDuration      *prometheus.HistogramVec
	referralsCreated  prometheus.Counter
	idempotentReplays *prometheus.CounterVec
	rateLimited       *prometheus.CounterVec
	commitDuration    prometheus.Histogram
	commitWrites      prometheus.Histogram
	scans             *prometheus.CounterVec
	// ready answers what /readyz would; nil until the API says how.
	ready atomic.Pointer[func() bool]
}

// New registers the metrics, the Go and process collectors, and a gauge
// of the store file's size read from storeSize at scrape time.
func New(storeSize func() float64) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referrald_http_requests_total",
			Help: "HTTP requests by route pattern, method and status class (2xx, 4xx, ...).",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "referrald_http_request_duration_seconds",
			Help:    "Time from request to response by route pattern, method and status class.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "code"}),
		referralsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "referrald_referrals_created_total",
			Help: "Referrals created (replays not counted).",
		}),
		idempotentReplays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referrald_idempotent_replays_total",
			Help: "Creates answered by replaying an earlier response for the same idempotency key.",
		}, []string{"route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referrald_http_rate_limited_total",
			Help: "Requests refused with 429, by which limit refused them (key or ip).",
		}, []string{"limit"}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "referrald_store_commit_duration_seconds",
			Help:    "Time to run and fsync one store write transaction (a group commit).",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}),
		commitWrites: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "referrald_store_commit_writes",
			Help:    "Writes carried by one store transaction (group commit batch size).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referrald_scans_total",
			Help: "Poster scans (GET /s/{code}) that recorded an impression, repeats included, by whether the client was a bot.",
		}, []string{"bot"}),
	}
	// Both series from the start, so a rate over a fresh counter works.
	m.scans.WithLabelValues("false")
	m.scans.WithLabelValues("true")
	m.registry.MustRegister(m.httpRequests, m.httpDuration, m.referralsCreated, m.idempotentReplays,
		m.rateLimited, m.commitDuration, m.commitWrites, m.scans,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "referrald_store_file_size_bytes",
			Help: "Size of the bbolt file.",
		}, storeSize),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "referrald_ready",
			Help: "1 while GET /readyz answers 200 (serving, and the store takes writes), else 0.",
		}, m.readiness),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registerer lets other parts (the hook host) add their own series.
func (m *Metrics) Registerer() prometheus.Registerer { return m.registry }

// SetReadiness tells the ready gauge how to know whether the service is
// ready: the API passes the check /readyz makes, so the two never differ.
// Until it is called the gauge says 0.
func (m *Metrics) SetReadiness(ready func() bool) {
	if m != nil {
		m.ready.Store(&ready)
	}
}

func (m *Metrics) readiness() float64 {
	if ready := m.ready.Load(); ready != nil && (*ready)() {
		return 1
	}
	return 0
}

// ObserveRequest records one HTTP request. A nil *Metrics records nothing,
// so tests and tools can run without metrics.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	class := statusClass(status)
	m.httpRequests.WithLabelValues(route, method, class).Inc()
	m.httpDuration.WithLabelValues(route, method, class).Observe(d.Seconds())
}

// ReferralCreated counts a new referral.
func (m *Metrics) ReferralCreated() {
	if m != nil {
		m.referralsCreated.Inc()
	}
}

// IdempotentReplay counts a replayed create on route.
func (m *Metrics) IdempotentReplay(route string) {
	if m != nil {
		m.idempotentReplays.WithLabelValues(route).Inc()
	}
}

// RateLimited counts a 429 from the named limit ("key" or "ip").
func (m *Metrics) RateLimited(limit string) {
	if m != nil {
		m.rateLimited.WithLabelValues(limit).Inc()
	}
}

// Scanned counts a poster scan that recorded an impression.
func (m *Metrics) Scanned(bot bool) {
	if m != nil {
		m.scans.WithLabelValues(strconv.FormatBool(bot)).Inc()
	}
}

// StoreCommit records one store transaction carrying writes writes.
func (m *Metrics) StoreCommit(writes int, d time.Duration) {
	if m != nil {
		m.commitDuration.Observe(d.Seconds())
		m.commitWrites.Observe(float64(writes))
	}
}

func statusClass(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	case status >= 200:
		return "2xx"
	}
	return "1xx"
}

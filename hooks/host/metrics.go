package host

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the hook series. A nil *Metrics records nothing.
type Metrics struct {
	deliveries          *prometheus.CounterVec
	deadLetters         *prometheus.CounterVec
	restarts            *prometheus.CounterVec
	refused             *prometheus.GaugeVec
	beforeCreateSeconds *prometheus.HistogramVec
}

// NewMetrics registers the hook series on reg. Outbox depth and lag are
// added by the Dispatcher, which knows the cursors.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referrald_hook_deliveries_total",
			Help: "OnEvent calls by plugin, event type and result (ok, error).",
		}, []string{"plugin", "event_type", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referrald_hook_dead_letters_total",
			Help: "Events moved to the dead-letter list after their last attempt failed.",
		}, []string{"plugin"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referrald_hook_plugin_restarts_total",
			Help: "Plugin processes started again after one ended.",
		}, []string{"plugin"}),
		refused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "referrald_hook_plugin_refused",
			Help: "1 while a plugin is refused because its binary is missing or does not match its configured sha256.",
		}, []string{"plugin"}),
		beforeCreateSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "referrald_hook_before_referral_create_duration_seconds",
			Help:    "BeforeReferralCreate latency by plugin and result (ok, error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .2, .5, 1},
		}, []string{"plugin", "result"}),
	}
	reg.MustRegister(m.deliveries, m.deadLetters, m.restarts, m.refused, m.beforeCreateSeconds)
	return m
}

// track starts a plugin's counters of failures at 0, so that an
// increase() over them sees the first dead letter or restart; a series
// that appears already at 1 has no increase Prometheus can see.
func (m *Metrics) track(plugin string) {
	if m != nil {
		m.deadLetters.WithLabelValues(plugin)
		m.restarts.WithLabelValues(plugin)
	}
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (m *Metrics) delivered(plugin, typ string, err error) {
	if m != nil {
		m.deliveries.WithLabelValues(plugin, typ, result(err)).Inc()
	}
}

func (m *Metrics) deadLettered(plugin string) {
	if m != nil {
		m.deadLetters.WithLabelValues(plugin).Inc()
	}
}

func (m *Metrics) restarted(plugin string) {
	if m != nil {
		m.restarts.WithLabelValues(plugin).Inc()
	}
}

func (m *Metrics) setRefused(plugin string, refused bool) {
	if m != nil {
		v := 0.0
		if refused {
			v = 1
		}
		m.refused.WithLabelValues(plugin).Set(v)
	}
}

func (m *Metrics) beforeCreate(plugin string, d time.Duration, err error) {
	if m != nil {
		m.beforeCreateSeconds.WithLabelValues(plugin, result(err)).Observe(d.Seconds())
	}
}

package mail

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the mailer's Prometheus metrics; a nil *metrics counts
// nothing.
type metrics struct {
	sent *prometheus.CounterVec
}

// Outcomes of referrald_email_sent_total.
var outcomes = []string{"sent", "retry", "failed", "skipped"}

var oldestDesc = prometheus.NewDesc("referrald_email_outbox_oldest_age_seconds",
	"Age of the oldest outbox event the mailer has not passed yet; 0 when caught up.", nil, nil)

func newMetrics(reg prometheus.Registerer, m *Mailer) *metrics {
	mt := &metrics{sent: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "referrald_email_sent_total",
		Help: "Emails by template and outcome: sent, retry (a temporary failure, tried again), failed (refused for good, dead-lettered) or skipped (nothing to send any more).",
	}, []string{"template", "outcome"})}
	// Every series from the start, so a rate over a fresh counter works.
	for _, t := range templateNames {
		for _, o := range outcomes {
			mt.sent.WithLabelValues(t, o)
		}
	}
	reg.MustRegister(mt.sent, oldestCollector{m})
	return mt
}

func (mt *metrics) count(template, outcome string) {
	if mt == nil || template == "" {
		return
	}
	mt.sent.WithLabelValues(template, outcome).Inc()
}

// oldestCollector measures the mailer's backlog at scrape time.
type oldestCollector struct{ m *Mailer }

func (c oldestCollector) Describe(ch chan<- *prometheus.Desc) { ch <- oldestDesc }

func (c oldestCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cursor, err := c.m.store.HookCursor(ctx, Consumer)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(oldestDesc, err)
		return
	}
	events, err := c.m.store.FindEvents(ctx, cursor, 1)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(oldestDesc, err)
		return
	}
	age := 0.0
	if len(events) > 0 {
		age = max(0, c.m.now().Sub(events[0].CreatedAt.Time).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}

package webhooks

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referrald/referrald/model"
)

// metrics are the webhook metrics; a nil *metrics records nothing.
type metrics struct {
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
}

// Outcomes of referrald_webhook_deliveries_total: each attempt counts
// once as success, failure (any answer but 2xx, a timeout, a connection
// error) or refused (a private address); each message that failed on
// every attempt counts once more as failed.
const (
	outcomeSuccess = "success"
	outcomeFailure = "failure"
	outcomeFailed  = "failed"
	outcomeRefused = "refused"
)

var (
	ageDesc = prometheus.NewDesc("referrald_webhook_oldest_undelivered_age_seconds",
		"Age of the oldest event the enabled endpoint has not passed yet; 0 when caught up.", []string{"endpoint"}, nil)
	disabledDesc = prometheus.NewDesc("referrald_webhook_endpoint_disabled",
		"1 while the endpoint is disabled (by hand, by a 410 Gone or after failing too long), else 0.", []string{"endpoint"}, nil)
)

func newMetrics(d *Dispatcher, reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "referrald_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (success, failure, refused), and messages failed on every attempt (failed)."},
			[]string{"endpoint", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "referrald_webhook_delivery_duration_seconds",
			Help:    "How long webhook delivery attempts took, until the answer was read.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}}, []string{"endpoint"}),
	}
	reg.MustRegister(m.deliveries, m.duration, collector{d})
	return m
}

// track starts an endpoint's delivery counters at 0, so that an
// increase() over them sees its first failure; a series that appears
// already at 1 has no increase Prometheus can see.
func (m *metrics) track(endpoint string) {
	if m != nil {
		for _, o := range []string{outcomeSuccess, outcomeFailure, outcomeFailed, outcomeRefused} {
			m.deliveries.WithLabelValues(endpoint, o)
		}
	}
}

func (m *metrics) attempt(endpoint string, r result) {
	if m == nil {
		return
	}
	outcome := outcomeFailure
	switch {
	case r.ok():
		outcome = outcomeSuccess
	case r.refused:
		outcome = outcomeRefused
	}
	m.deliveries.WithLabelValues(endpoint, outcome).Inc()
	m.duration.WithLabelValues(endpoint).Observe(r.dur.Seconds())
}

func (m *metrics) failed(endpoint string) {
	if m != nil {
		m.deliveries.WithLabelValues(endpoint, outcomeFailed).Inc()
	}
}

// forget drops the series of a deleted endpoint.
func (m *metrics) forget(endpoint string) {
	if m != nil {
		m.deliveries.DeletePartialMatch(prometheus.Labels{"endpoint": endpoint})
		m.duration.DeleteLabelValues(endpoint)
	}
}

// collector reports, at scrape time, each endpoint's backlog and whether
// it is disabled.
type collector struct{ d *Dispatcher }

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- ageDesc; ch <- disabledDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx := context.Background()
	eps, err := c.d.endpoints(ctx)
	if err != nil {
		return
	}
	now := c.d.cfg.Now()
	for _, e := range eps {
		disabled := 0.0
		if e.Disabled {
			disabled = 1
		}
		ch <- prometheus.MustNewConstMetric(disabledDesc, prometheus.GaugeValue, disabled, e.ID)
		if e.Disabled {
			continue
		}
		lag, err := c.d.store.HookLag(ctx, model.WebhookConsumer(e.ID), 1)
		if err != nil {
			continue
		}
		age := 0.0
		if !lag.Oldest.IsZero() {
			age = max(now.Sub(lag.Oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, e.ID)
	}
}

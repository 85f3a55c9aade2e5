package handler

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
)

// Outcomes of a delivery, the outcome label of orderflow_deliveries_total.
const (
	OutcomeHandled   = "handled"   // reacted to and committed, or a query answered
	OutcomeDuplicate = "duplicate" // a redelivery of an event already handled: nothing done
	OutcomeIgnored   = "ignored"   // a type the function drops on purpose
	OutcomeRefused   = "refused"   // a 4xx: dead-lettered by the dispatcher (409 and 429 are retried)
	OutcomeFailed    = "failed"    // a 5xx: retried by the dispatcher
)

// metrics is one function's registry: every series carries the function's
// name as a constant label, so a scrape of several functions (or replicas
// behind one Service) adds up by function.
type metrics struct {
	reg        *prometheus.Registry
	handler    http.Handler // serves reg at /metrics
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	txDuration prometheus.Histogram
	published  *prometheus.CounterVec
	pubFailed  *prometheus.CounterVec
	pruned     *prometheus.CounterVec
	dupes      *prometheus.CounterVec
}

// Delivery and transaction times span an SQLite commit (~0.1 ms) to a
// PostgreSQL failover (seconds).
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(function string) *metrics {
	reg := prometheus.NewRegistry()
	fn := prometheus.Labels{"function": function}
	m := &metrics{
		reg: reg,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_deliveries_total", ConstLabels: fn,
			Help: "CloudEvents delivered to the function, by type, outcome (handled, duplicate, ignored, refused, failed) and the HTTP status it answered."},
			[]string{"cloudevents_type", "outcome", "http_response_status_code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orderflow_delivery_duration_seconds", ConstLabels: fn,
			Help: "Time from a delivery's request being decoded to its answer, by event type.", Buckets: durationBuckets},
			[]string{"cloudevents_type"}),
		txDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderflow_store_transaction_duration_seconds", ConstLabels: fn,
			Help: "Time of a delivery's store transaction (dedupe, reaction, outbox), waiting for a shared group commit included.", Buckets: durationBuckets}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_events_published_total", ConstLabels: fn,
			Help: "Events the outbox relay published to K_SINK (the KafkaSink acknowledged them), by type."},
			[]string{"cloudevents_type"}),
		pubFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_publish_failures_total", ConstLabels: fn,
			Help: "Publishes K_SINK did not acknowledge (the event stays in the outbox and is sent again), by HTTP status (0: no answer)."},
			[]string{"http_response_status_code"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_store_pruned_rows_total", ConstLabels: fn,
			Help: "Rows deleted past ORDERFLOW_RETENTION: processed ids (processed_events) and published events (outbox)."},
			[]string{"table"}),
		dupes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_outbox_possible_duplicates_total", ConstLabels: fn,
			Help: "Events the outbox relay may send twice (consumers drop the second copy): acknowledged by K_SINK but not marked sent (reason unmarked), or in flight or unmarked when the relay lost its lease to another replica (reason lease_lost; an upper bound)."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.deliveries, m.duration, m.txDuration, m.published, m.pubFailed, m.pruned, m.dupes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// storeCollector reads the store's own counters at each scrape.
type storeCollector struct{ a *App }

var roundTripsDesc = prometheus.NewDesc("orderflow_store_round_trips_total",
	"Requests sent to PostgreSQL and waited for: a statement outside a transaction, or a pipeline of a transaction's statements (0 on SQLite, which runs in-process).", []string{"function"}, nil)

var lockLossesDesc = prometheus.NewDesc("orderflow_store_lock_losses_total",
	"Transactions group commit ran again because they lost a row lock to another process on the same PostgreSQL (a deadlock, or a wait past the shared batch's lock_timeout): replicas contending for hot rows.", []string{"function"}, nil)

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- roundTripsDesc
	ch <- lockLossesDesc
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.a.ready.Load() {
		return // not started (or stopping): no store to read
	}
	ch <- prometheus.MustNewConstMetric(roundTripsDesc, prometheus.CounterValue, float64(c.a.db.RoundTrips()), c.a.name)
	ch <- prometheus.MustNewConstMetric(lockLossesDesc, prometheus.CounterValue, float64(c.a.db.LockLosses()), c.a.name)
}

// typeLabel keeps the cloudevents_type label to the catalog's types:
// anyone can POST a made-up type, and a series per made-up type would grow
// without end.
func typeLabel(typ string) string {
	if _, ok := events.Lookup(typ); ok {
		return typ
	}
	return unknownType
}

// unknownType is the cloudevents_type label of any type outside the catalog.
const unknownType = "unknown"

func outcomeOf(status int) string {
	switch {
	case status >= 500:
		return OutcomeFailed
	case status >= 400:
		return OutcomeRefused
	default:
		return OutcomeHandled
	}
}

// delivered counts one delivery; typ is already a label (typeLabel).
func (m *metrics) delivered(typ, outcome string, status int, took time.Duration) {
	m.deliveries.WithLabelValues(typ, outcome, strconv.Itoa(status)).Inc()
	if took > 0 {
		m.duration.WithLabelValues(typ).Observe(took.Seconds())
	}
}

// outboxCollector reads the outbox's backlog on each scrape.
type outboxCollector struct{ a *App }

var (
	backlogDesc = prometheus.NewDesc("orderflow_outbox_backlog", "Events committed and not yet published.", []string{"function"}, nil)
	ageDesc     = prometheus.NewDesc("orderflow_outbox_oldest_age_seconds", "How long the oldest unpublished event has waited in the outbox (0: none waits).", []string{"function"}, nil)
)

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc; ch <- ageDesc }

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.a.ready.Load() {
		return // not started (or stopping): no store to read
	}
	db := c.a.db
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := db.OutboxBacklog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n), c.a.name)
	ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, c.a.name)
}

// Registry is the function's metrics registry, for what only it counts
// (saga outcomes in order, stalled sagas in analytics): register there and
// the series are served at /metrics with the others.
func (a *App) Registry() prometheus.Registerer { return a.metrics.reg }

// serveMetrics answers GET /metrics in Prometheus' text format.
func (a *App) serveMetrics(w http.ResponseWriter, r *http.Request) {
	a.metrics.handler.ServeHTTP(w, r)
}

// possibleDuplicates counts events the relay may send twice.
func (m *metrics) possibleDuplicates(reason string, n int) {
	m.dupes.WithLabelValues(reason).Add(float64(n))
}

// publishedOne counts one publish by the outbox relay.
func (m *metrics) publishedOne(typ string, err error) {
	if err == nil {
		m.published.WithLabelValues(typeLabel(typ)).Inc()
		return
	}
	status := 0
	if rej, ok := errorsAs[*ce.RejectedError](err); ok {
		status = rej.Status
	}
	m.pubFailed.WithLabelValues(strconv.Itoa(status)).Inc()
}

// OnCommitted registers what the function does once a delivery's
// transaction has committed, with the events it enqueued: counting what
// only it decides (saga outcomes, stalled sagas), which must not count a
// transaction that rolled back.
func OnCommitted(a *App, fn func(cause event.Event, emitted []event.Event)) {
	a.onCommitted = append(a.onCommitted, fn)
}

// CountEmitted adds the counter name to the function's metrics: once a
// delivery's transaction commits, each event it emitted is counted under
// the label values values returns (nil: not counted). Only committed
// decisions count, and functions need no metrics library of their own.
func CountEmitted(a *App, name, help string, labels []string, values func(e event.Event) []string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"function": a.name}}, labels)
	a.metrics.reg.MustRegister(c)
	OnCommitted(a, func(_ event.Event, emitted []event.Event) {
		for _, e := range emitted {
			if v := values(e); v != nil {
				c.WithLabelValues(v...).Inc()
			}
		}
	})
}

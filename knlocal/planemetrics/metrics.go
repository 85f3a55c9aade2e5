// Package planemetrics is the local plane's Prometheus metrics: what its
// KafkaSources dispatch, what they dead-letter, what its KafkaSink ingress
// writes, and consumer lag read from Kafka on every scrape.
//
// Names follow Knative's Kafka data plane where it has one for the same
// thing (http_events_sent_total; kn_eventing_dispatch_latency, here in
// seconds, Prometheus' base unit, where Micrometer renders Knative's in
// milliseconds; attributes kn.source.name, cloudevents.type,
// http.response.status_code as labels with '_'), and Strimzi's Kafka
// Exporter for lag (kafka_consumergroup_lag and its offsets), so that one
// alert rule reads the same series here and on a cluster.
package planemetrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"orderflow.dev/knlocal"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/knlocal/source"
)

// Metrics is one plane's registry and instruments.
type Metrics struct {
	reg        *prometheus.Registry
	functionOf map[string]string // "namespace/name" of a KafkaSource -> its subscriber
	types      *bounded

	sent        *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	spooled     *prometheus.CounterVec
	held        *prometheus.CounterVec
	sinkWrites  *prometheus.CounterVec
	sinkLatency *prometheus.HistogramVec
}

// maxEventTypes bounds the cloudevents_type label: records come from any
// producer, and a label value per made-up type would grow the series
// without end. Types past the bound are counted as "other".
const maxEventTypes = 100

// Dispatch latencies span a loopback call (~0.2 ms) to a timed-out one
// (delivery.timeout, seconds).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New builds the metrics of a plane whose KafkaSources (by "namespace/name")
// deliver to the functions in functionOf.
//
// Metrics Knative's data plane has a name for keep it; the plane's own
// are named under naming's MetricPrefix (orderflow_dead_letters_total).
func New(functionOf map[string]string, naming knlocal.Naming) *Metrics {
	own := naming.Metric
	m := &Metrics{reg: prometheus.NewRegistry(), functionOf: functionOf, types: newBounded(maxEventTypes)}
	src := []string{"kn_source_namespace", "kn_source_name"}
	m.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_events_sent_total",
		Help: "HTTP requests a KafkaSource made: to its subscriber, or (dead_letter=\"true\") to its dead-letter sink; status 0 is no response."},
		append(src, "cloudevents_type", "http_response_status_code", "dead_letter"))
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kn_eventing_dispatch_latency_seconds",
		Help: "Time from sending a KafkaSource's request to its answer.", Buckets: latencyBuckets},
		append(src, "dead_letter"))
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: own("dispatch_retries_total"),
		Help: "Failed attempts that a KafkaSource retried after its backoff."}, src)
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{Name: own("dead_letters_total"),
		Help: "Events a dead-letter sink took, by subscriber and reason: refused (a 4xx Knative does not retry), retries_exhausted (5xx, 404, 408, 409, 429 every time), no_response."},
		append(src, "function", "reason"))
	m.spooled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: own("dead_letters_spooled_total"),
		Help: "Dead letters no dead-letter sink took, kept in the plane's spool to be offered again."},
		append(src, "function"))
	m.held = prometheus.NewCounterVec(prometheus.CounterOpts{Name: own("dispatch_holds_total"),
		Help: "Times a record held its partition because it could not be settled yet (dead-letter sink failing transiently)."},
		append(src, "function"))
	m.sinkWrites = prometheus.NewCounterVec(prometheus.CounterOpts{Name: own("sink_requests_total"),
		Help: "Requests to the KafkaSink ingress by sink and answer: 202 written to Kafka, 4xx refused, 503 Kafka did not acknowledge."},
		[]string{"kn_sink_name", "http_response_status_code"})
	m.sinkLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: own("sink_request_duration_seconds"),
		Help: "Time the KafkaSink ingress took to answer, Kafka's acknowledgement included.", Buckets: latencyBuckets},
		[]string{"kn_sink_name"})
	m.reg.MustRegister(m.sent, m.latency, m.retries, m.deadLetters, m.spooled, m.held, m.sinkWrites, m.sinkLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors (the lag collector) to the plane's registry.
func (m *Metrics) Register(c ...prometheus.Collector) { m.reg.MustRegister(c...) }

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the plane's registry, for tests and embedding.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observer counts what the KafkaSources do; give it to each source.
func (m *Metrics) Observer() source.Observer { return observer{m} }

type observer struct{ m *Metrics }

func splitSource(s string) (ns, name string) {
	if ns, name, ok := strings.Cut(s, "/"); ok {
		return ns, name
	}
	return "", s
}

func (o observer) Attempted(a source.Attempt) {
	ns, name := splitSource(a.Source)
	dl := strconv.FormatBool(a.DeadLetter)
	o.m.sent.WithLabelValues(ns, name, o.m.types.value(a.EventType), strconv.Itoa(a.Status), dl).Inc()
	o.m.latency.WithLabelValues(ns, name, dl).Observe(a.Took.Seconds())
	if a.Retry && !a.DeadLetter {
		o.m.retries.WithLabelValues(ns, name).Inc()
	}
}

func (o observer) Delivered(source.Outcome) {}

func (o observer) DeadLettered(out source.Outcome) {
	ns, name := splitSource(out.Source)
	o.m.deadLetters.WithLabelValues(ns, name, o.m.functionOf[out.Source], Reason(out.Status)).Inc()
}

func (o observer) Held(out source.Outcome) {
	ns, name := splitSource(out.Source)
	o.m.held.WithLabelValues(ns, name, o.m.functionOf[out.Source]).Inc()
}

func (o observer) Spooled(out source.Outcome) {
	ns, name := splitSource(out.Source)
	o.m.spooled.WithLabelValues(ns, name, o.m.functionOf[out.Source]).Inc()
}

// Reason names why an event was dead-lettered, from the subscriber's last
// answer: the reason label of orderflow_dead_letters_total.
func Reason(status int) string {
	switch {
	case status == 0:
		return "no_response"
	case source.Retryable(status):
		return "retries_exhausted"
	default:
		return "refused"
	}
}

// Ingress wraps the KafkaSink ingress: every request is counted by the sink
// its path names (paths maps a sink's path to its name; any other path is
// counted as "-", so made-up paths add no series) and the answer's status.
func (m *Metrics) Ingress(h http.Handler, paths map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := paths[r.URL.Path]
		if !ok {
			name = "-"
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		t0 := time.Now()
		h.ServeHTTP(rec, r)
		m.sinkLatency.WithLabelValues(name).Observe(time.Since(t0).Seconds())
		m.sinkWrites.WithLabelValues(name, strconv.Itoa(rec.status)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

// Unwrap lets http.ResponseController reach the connection through the
// recorder (the ingress sets a read deadline on it).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// bounded hands out label values for at most max distinct inputs.
type bounded struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newBounded(max int) *bounded { return &bounded{max: max, seen: map[string]bool{}} }

func (b *bounded) value(v string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= b.max {
		return "other"
	}
	b.seen[v] = true
	return v
}

// LagCollector reads consumer lag from Kafka on every scrape (no reading
// between scrapes), as Kafka Exporter's series: kafka_consumergroup_lag,
// kafka_consumergroup_current_offset, and per topic partition
// kafka_topic_partition_current_offset and _oldest_offset; and whether
// the read succeeded, <MetricPrefix>_lag_read_success.
func LagCollector(client sarama.Client, groups []lag.Group, timeout time.Duration, naming knlocal.Naming) prometheus.Collector {
	up := prometheus.NewDesc(naming.Metric("lag_read_success"),
		"1 when the last scrape read every group's offsets from Kafka, 0 when it failed (the lag series are then missing).", nil, nil)
	return &lagCollector{client: client, groups: groups, timeout: timeout, upDesc: up}
}

type lagCollector struct {
	client  sarama.Client
	groups  []lag.Group
	timeout time.Duration
	upDesc  *prometheus.Desc
}

var (
	lagDesc = prometheus.NewDesc("kafka_consumergroup_lag",
		"Records a consumer group has still to read on a partition: end offset minus committed offset (everything still in the partition when nothing is committed).",
		[]string{"consumergroup", "topic", "partition"}, nil)
	committedDesc = prometheus.NewDesc("kafka_consumergroup_current_offset",
		"The consumer group's committed offset on a partition (-1: none).", []string{"consumergroup", "topic", "partition"}, nil)
	endDesc = prometheus.NewDesc("kafka_topic_partition_current_offset",
		"The offset the next record of the partition will get.", []string{"topic", "partition"}, nil)
	startDesc = prometheus.NewDesc("kafka_topic_partition_oldest_offset",
		"The first offset still in the partition.", []string{"topic", "partition"}, nil)
)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- committedDesc
	ch <- endDesc
	ch <- startDesc
	ch <- c.upDesc
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	parts, err := lag.Read(ctx, c.client, c.groups)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.upDesc, prometheus.GaugeValue, 1)
	topics := map[string]bool{}
	for _, p := range parts {
		part := strconv.Itoa(int(p.Partition))
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(p.Lag), p.Group, p.Topic, part)
		ch <- prometheus.MustNewConstMetric(committedDesc, prometheus.GaugeValue, float64(p.Committed), p.Group, p.Topic, part)
		key := p.Topic + "/" + part
		if !topics[key] {
			topics[key] = true
			ch <- prometheus.MustNewConstMetric(endDesc, prometheus.GaugeValue, float64(p.End), p.Topic, part)
			ch <- prometheus.MustNewConstMetric(startDesc, prometheus.GaugeValue, float64(p.Start), p.Topic, part)
		}
	}
}

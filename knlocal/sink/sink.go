// Package sink emulates Knative's KafkaSink ingress: an HTTP endpoint per
// KafkaSink that accepts a CloudEvent and writes it as a record to the
// sink's topic, answering only once Kafka has acknowledged it.
//
// It follows the kafka-sink-receiver of knative-extensions/eventing-kafka-broker
// (IngressRequestHandlerImpl): the path is /<namespace>/<sink-name>; a
// request that is not a valid CloudEvent gets 400; a record written gets
// 202 Accepted; a failed write gets 503, so senders retry, unless a retry
// cannot help (ProduceStatus: 413 too large, 422 refused by Kafka, 403 not
// authorised). Methods other than POST get 405 and unknown paths 404
// (Knative data-plane contract).
package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"orderflow.dev/knlocal/cedecode"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/tracing"
)

// Path is the ingress path of a KafkaSink, the shape of the real
// kafka-sink-ingress URL (http://kafka-sink-ingress.knative-eventing.svc/<ns>/<name>).
func Path(namespace, name string) string { return "/" + namespace + "/" + name }

// URL is the ingress URL of a KafkaSink under base (e.g. "http://127.0.0.1:8090").
func URL(base, namespace, name string) string {
	return strings.TrimRight(base, "/") + Path(namespace, name)
}

// Option tunes a Handler.
type Option func(*Handler)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithTopicProducer writes the records of topic through p instead of the
// default producer: for topics that take larger records (a dead-letter
// topic's max.message.bytes), whose producer allows them, without letting
// the default producer build batches larger than other topics accept.
func WithTopicProducer(topic string, p sarama.SyncProducer) Option {
	return func(h *Handler) { h.byTopic[topic] = p }
}

// WithMaxBodyBytes bounds the request body (default 8 MiB, above any
// topic's max.message.bytes here); larger bodies are refused with 413
// rather than buffered.
func WithMaxBodyBytes(n int64) Option { return func(h *Handler) { h.maxBody = n } }

// Counters are a sink's (or all sinks') request outcomes.
type Counters struct {
	Accepted uint64 // written and acknowledged: 202
	Rejected uint64 // not a valid CloudEvent, or unknown path / method: 4xx
	Failed   uint64 // Kafka did not acknowledge: 503
}

type counters struct{ accepted, rejected, failed atomic.Uint64 }

func (c *counters) snapshot() Counters {
	return Counters{c.accepted.Load(), c.rejected.Load(), c.failed.Load()}
}

type route struct {
	sink     manifests.KafkaSink
	counters counters
}

// Handler serves every KafkaSink of the manifests.
type Handler struct {
	producer sarama.SyncProducer
	byTopic  map[string]sarama.SyncProducer
	routes   map[string]*route // by Path
	total    counters          // includes requests that matched no route
	log      *slog.Logger
	maxBody  int64
}

// New returns the ingress for sinks, writing through producer. The
// producer must be built from broker.SaramaConfig (acks=all, idempotent,
// Return.Successes) so that 202 means the record is durable.
func New(producer sarama.SyncProducer, sinks []manifests.KafkaSink, opts ...Option) *Handler {
	h := &Handler{producer: producer, byTopic: map[string]sarama.SyncProducer{}, routes: map[string]*route{}, log: slog.Default(), maxBody: 8 << 20}
	for _, s := range sinks {
		h.routes[Path(s.Namespace, s.Name)] = &route{sink: s}
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Paths lists the served paths, sorted.
func (h *Handler) Paths() []string {
	out := make([]string, 0, len(h.routes))
	for p := range h.routes {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Stats returns the counters of all requests.
func (h *Handler) Stats() Counters { return h.total.snapshot() }

// SinkStats returns the counters of one sink.
func (h *Handler) SinkStats(namespace, name string) (Counters, bool) {
	r, ok := h.routes[Path(namespace, name)]
	if !ok {
		return Counters{}, false
	}
	return r.counters.snapshot(), true
}

// problem is the JSON body of every 4xx/5xx answer: what is wrong and, when
// one attribute is to blame, which.
type problem struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// bodyReadTimeout bounds how long a request's body may take to arrive,
// as a function's own server (func-go) bounds it. A variable for tests.
var bodyReadTimeout = 30 * time.Second

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := h.routes[strings.TrimRight(r.URL.Path, "/")]
	if !ok {
		h.refuse(w, nil, http.StatusNotFound, problem{Error: fmt.Sprintf("no KafkaSink at %s (have %s)", r.URL.Path, strings.Join(h.Paths(), ", "))})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, rt, http.StatusMethodNotAllowed, problem{Error: "only POST is accepted"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)

	// A client gets bodyReadTimeout to send its event: one trickling a
	// body would otherwise hold its connection and goroutine for ever.
	// Cleared once read, so that the wait for Kafka's answer is not cut.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	e, prob, status := readEvent(r)
	_ = rc.SetReadDeadline(time.Time{})
	if prob != nil {
		h.refuse(w, rt, status, *prob)
		return
	}

	msg, err := ProducerMessage(r.Context(), e, rt.sink)
	if err != nil {
		h.refuse(w, rt, http.StatusBadRequest, problem{Error: "cannot encode the event as a Kafka record: " + err.Error()})
		return
	}
	producer := h.producer
	if p, ok := h.byTopic[rt.sink.Topic]; ok {
		producer = p
	}
	span := writeSpan(r, e, rt.sink)
	partition, offset, err := producer.SendMessage(msg)
	endWriteSpan(span, partition, offset, err)
	if err != nil {
		status := ProduceStatus(err)
		if status == http.StatusServiceUnavailable {
			rt.counters.failed.Add(1)
			h.total.failed.Add(1)
			h.log.Warn("kafka sink: failed to produce record", "sink", rt.sink.Name, "topic", rt.sink.Topic, "id", e.ID(), "err", err)
		} else {
			h.log.Warn("kafka sink: Kafka refused the record", "sink", rt.sink.Name, "topic", rt.sink.Topic, "id", e.ID(), "status", status, "err", err)
			rt.counters.rejected.Add(1)
			h.total.rejected.Add(1)
		}
		writeJSON(w, status, problem{Error: "failed to write to topic " + rt.sink.Topic + ": " + err.Error()})
		return
	}
	rt.counters.accepted.Add(1)
	h.total.accepted.Add(1)
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) refuse(w http.ResponseWriter, rt *route, status int, p problem) {
	if rt != nil {
		rt.counters.rejected.Add(1)
	}
	h.total.rejected.Add(1)
	writeJSON(w, status, p)
}

// ProduceStatus is the answer to a record Kafka did not take, chosen by
// whether sending the same event again could ever succeed (senders retry
// 5xx, 408, 429 and dead-letter other 4xx at once):
//
//	413  the record is larger than the producer or the topic allows
//	422  Kafka refuses the record itself (invalid record, a policy, a bad
//	     timestamp): the same bytes will be refused again
//	403  the principal may not write the topic: nothing changes until an
//	     operator grants it
//	503  everything else (no leader, broker down, timeouts): retry
func ProduceStatus(err error) int {
	var cfgErr sarama.ConfigurationError
	switch {
	case errors.Is(err, sarama.ErrMessageSizeTooLarge), errors.Is(err, sarama.ErrMessageSetSizeTooLarge),
		errors.As(err, &cfgErr) && strings.Contains(string(cfgErr), "MaxMessageBytes"):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, sarama.ErrInvalidRecord),
		errors.Is(err, sarama.ErrInvalidTimestamp), errors.Is(err, sarama.ErrPolicyViolation):
		return http.StatusUnprocessableEntity
	case errors.Is(err, sarama.ErrTopicAuthorizationFailed), errors.Is(err, sarama.ErrClusterAuthorizationFailed):
		return http.StatusForbidden
	}
	return http.StatusServiceUnavailable
}

// readEvent decodes the request as a CloudEvent in binary or structured
// mode and validates it. On failure it returns the problem and status.
func readEvent(r *http.Request) (*event.Event, *problem, int) {
	if enc := cedecode.ContentEncoding(r.Header); enc != "" {
		// Knative's receiver would write the compressed bytes as the
		// event's data, for every consumer to fail on; this says so now.
		return nil, &problem{Error: fmt.Sprintf("content-encoding %q is not read here: send the event uncompressed", enc), Field: "content-encoding"}, http.StatusUnsupportedMediaType
	}
	structured, err := cedecode.StructuredBody(r)
	if err != nil {
		return bodyProblem(err)
	}
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer msg.Finish(nil)
	if msg.ReadEncoding() == binding.EncodingBatch {
		// Knative's KafkaSink takes one event a request, as this one does.
		return nil, &problem{Error: "a batch of CloudEvents (application/cloudevents-batch+json) is not accepted: send one event a request, binary or structured", Field: "content-type"}, http.StatusBadRequest
	}
	if msg.ReadEncoding() == binding.EncodingUnknown {
		if p := cedecode.UnsupportedSpecVersion(r.Header); p != "" {
			return nil, &problem{Error: p, Field: "specversion"}, http.StatusBadRequest
		}
		return nil, &problem{
			Error: "not a CloudEvent: no ce-specversion header (binary mode) and content-type is not application/cloudevents+json (structured mode)",
			Field: "specversion",
		}, http.StatusBadRequest
	}
	e, err := cedecode.ToEvent(r.Context(), msg)
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		if errors.As(err, &mbe) || (errors.As(err, &ne) && ne.Timeout()) {
			return bodyProblem(err)
		}
		if field, reason := cedecode.EnvelopeProblem(r.Header, structured); field != "" {
			return nil, &problem{Error: "invalid CloudEvent: " + field + ": " + reason, Field: field}, http.StatusBadRequest
		}
		p := validationProblem(err)
		p.Error = "invalid CloudEvent: " + p.Error
		return nil, &p, http.StatusBadRequest
	}
	if err := e.Validate(); err != nil {
		p := validationProblem(err)
		p.Error = "invalid CloudEvent: " + p.Error
		return nil, &p, http.StatusBadRequest
	}
	if field, reason := cedecode.Ambiguity(r.Header, structured); field != "" {
		return nil, &problem{Error: "invalid CloudEvent: " + field + ": " + reason, Field: field}, http.StatusBadRequest
	}
	return e, nil, 0
}

// validationProblem names the first offending attribute of a CloudEvents
// validation error (sorted, so the answer is stable).
func validationProblem(err error) problem {
	var ve event.ValidationError
	if errors.As(err, &ve) && len(ve) > 0 {
		fields := make([]string, 0, len(ve))
		for f := range ve {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		msgs := make([]string, 0, len(fields))
		for _, f := range fields {
			msgs = append(msgs, f+": "+ve[f].Error())
		}
		return problem{Error: strings.Join(msgs, "; "), Field: fields[0]}
	}
	return problem{Error: err.Error()}
}

// PartitionKeyExtension is the CloudEvents partitioning extension: the
// key of the record a KafkaSink writes.
const PartitionKeyExtension = "partitionkey"

// ProducerMessage encodes e as the record a KafkaSink writes: binary mode
// (ce_ headers, data as value) or structured mode (JSON event as value),
// per the sink's contentMode, keyed by the partitionkey extension (no
// key when absent), as the CloudEvents Kafka binding does.
func ProducerMessage(ctx context.Context, e *event.Event, s manifests.KafkaSink) (*sarama.ProducerMessage, error) {
	enc := binding.EncodingBinary
	if s.ContentMode == manifests.ContentModeStructured {
		enc = binding.EncodingStructured
	}
	ctx = binding.WithPreferredEventEncoding(ctx, enc)
	pm := &sarama.ProducerMessage{Topic: s.Topic}
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(e), pm); err != nil {
		return nil, err
	}
	return pm, nil
}

// Produce writes e to s's topic as the KafkaSink would (ProducerMessage)
// and returns once Kafka acknowledged it: for writers that reach Kafka
// without an ingress (a replay to its topic, `orderflow place --brokers`).
func Produce(ctx context.Context, producer sarama.SyncProducer, e *event.Event, s manifests.KafkaSink) error {
	msg, err := ProducerMessage(ctx, e, s)
	if err != nil {
		return err
	}
	if _, _, err := producer.SendMessage(msg); err != nil {
		return fmt.Errorf("writing %s to %s: %w", e.Type(), s.Topic, err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeSpan is the write to Kafka as a span (while tracing): a PRODUCER
// "send <topic>" after the messaging conventions (semconv v1.43.0, see
// shared/tracing), the Kafka client's send of the record, as Kafka client
// instrumentations record every send. It is a child of the publisher's
// span (the request's traceparent header), else of the span that produced
// the event, and links to the message's creation context, the event's
// traceparent, where that is not its parent already. It leaves the
// event's traceparent as it is: an intermediary must not change it, so
// the event's consumers descend from whoever created it.
func writeSpan(r *http.Request, e *event.Event, k manifests.KafkaSink) trace.Span {
	if !tracing.Enabled() {
		return nil
	}
	_, span := tracing.Start(tracing.ParentOf(r.Context(), r.Header, tracing.CreationOf(*e)), tracing.Send, sendRecord(e, k), *e,
		attribute.String("kn.sink.name", k.Name))
	return span
}

// sendRecord is the record as the send span records it at its start: the
// sink's topic, and the key KafkaSink takes from the partitionkey.
func sendRecord(e *event.Event, k manifests.KafkaSink) tracing.Record {
	r := tracing.Record{Topic: k.Topic}
	if v, ok := e.Extensions()[PartitionKeyExtension]; ok {
		r.Key, _ = types.Format(v)
		r.HasKey = true
	}
	return r
}

// bodyProblem answers a body that could not be read: too large (413), or
// cut off.
func bodyProblem(err error) (*event.Event, *problem, int) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &problem{Error: err.Error()}, http.StatusRequestEntityTooLarge
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// 408: the sender may try again, sending faster.
		return nil, &problem{Error: fmt.Sprintf("the event's body did not arrive within %s", bodyReadTimeout), Field: "data"}, http.StatusRequestTimeout
	}
	return nil, &problem{Error: "the request's body could not be read: " + err.Error()}, http.StatusBadRequest
}

// endWriteSpan adds where Kafka put the record, known only once written,
// or why it did not take it.
func endWriteSpan(span trace.Span, partition int32, offset int64, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(ProduceStatus(err))))
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(semconv.MessagingDestinationPartitionID(tracing.PartitionID(partition)), semconv.MessagingKafkaOffsetKey.Int64(offset))
	}
	span.End()
}

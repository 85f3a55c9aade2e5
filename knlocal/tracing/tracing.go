// Package tracing is the data plane's OpenTelemetry tracing: the span of
// each KafkaSink write and of each record a KafkaSource settles, after the
// messaging conventions for Kafka (semconv v1.43.0), joined to the
// functions' spans only through what travels with each event, as with
// Knative's own data plane: the W3C traceparent header of each request
// and the CloudEvents distributed-tracing extension (traceparent). It
// shares no code with the functions' tracing, as Knative's dispatcher
// shares none with a function.
//
// Spans are exported with OTLP over HTTP when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// set, and not at all otherwise: then every call here is a no-op.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Instrumentation is the tracer name the data plane's spans are recorded
// under.
const Instrumentation = "orderflow.dev/knlocal/tracing"

// TraceparentExtension is the CloudEvents distributed-tracing extension:
// the context in which an event was created.
const TraceparentExtension = "traceparent"

var (
	enabled      atomic.Bool
	conversation atomic.Pointer[string]
	w3c          = propagation.TraceContext{}
)

// Configured reports whether the environment asks for export.
func Configured() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the process's tracer provider, exporting as service when
// the environment asks for it (Configured), and returns what flushes and
// stops it. The resource is service.name, the SDK and the host, and then
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which win.
func Setup(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	if !Configured() || os.Getenv("OTEL_SDK_DISABLED") == "true" {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(service)), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithFromEnv()) // last, so that it wins
	if err != nil {
		return nil, fmt.Errorf("tracing: the resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	Use(tp)
	return func(ctx context.Context) error {
		enabled.Store(false)
		return tp.Shutdown(ctx)
	}, nil
}

// Use makes tp the provider spans go to (tests record them in memory with
// it); nil turns tracing off again.
func Use(tp trace.TracerProvider) {
	if tp != nil {
		otel.SetTracerProvider(tp)
	}
	enabled.Store(tp != nil)
}

// Enabled reports whether spans are being recorded.
func Enabled() bool { return enabled.Load() }

// SetConversation names the CloudEvents extension whose value is an
// event's conversation, messaging.message.conversation_id on its spans
// (orderflow: correlationid, the saga's id); "" records none, as Knative's
// dispatcher records none.
func SetConversation(extension string) { conversation.Store(&extension) }

func conversationOf(e event.Event) string {
	if ext := conversation.Load(); ext != nil && *ext != "" {
		return stringExtension(e, *ext)
	}
	return ""
}

// CreationOf is the context e was created in: its traceparent extension.
func CreationOf(e event.Event) string { return stringExtension(e, TraceparentExtension) }

func stringExtension(e event.Event, name string) string {
	s, _ := e.Extensions()[name].(string)
	return s
}

// WithParent returns ctx holding the remote parent the W3C traceparent
// names; an invalid or empty one leaves ctx as it is.
func WithParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" || !enabled.Load() {
		return ctx
	}
	return w3c.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// ParentOf returns ctx holding the caller's span: the request's
// traceparent header when it names one, else the event's creation context.
func ParentOf(ctx context.Context, h http.Header, creation string) context.Context {
	if tp := h.Get("traceparent"); tp != "" && enabled.Load() {
		if c := WithParent(ctx, tp); trace.SpanContextFromContext(c).IsValid() {
			return c
		}
	}
	return WithParent(ctx, creation)
}

// Operation is a Kafka operation as the messaging conventions name it.
type Operation string

const (
	// Send writes one record to Kafka: a PRODUCER span.
	Send Operation = "send"
	// Process acts on one record read from Kafka: a CONSUMER span.
	Process Operation = "process"
)

// Record is one Kafka record as a messaging span describes it; empty
// fields are unknown and left out.
type Record struct {
	Topic         string
	Partition     int32 // with HasPosition
	Offset        int64 // with HasPosition
	HasPosition   bool
	Key           string // with HasKey: a null key is not recorded
	HasKey        bool
	ConsumerGroup string
	ClientID      string
}

// Attributes are the messaging attributes of op on r carrying e, and the
// span's name: "<op> <topic>", or "<op>" when the topic is unknown.
func (r Record) Attributes(op Operation, e event.Event) (name string, attrs []attribute.KeyValue) {
	opType := semconv.MessagingOperationTypeProcess
	if op == Send {
		opType = semconv.MessagingOperationTypeSend
	}
	name = string(op)
	attrs = []attribute.KeyValue{semconv.MessagingSystemKafka, opType, semconv.MessagingOperationName(string(op)),
		semconv.MessagingMessageID(e.ID())}
	if r.Topic != "" {
		name += " " + r.Topic
		attrs = append(attrs, semconv.MessagingDestinationName(r.Topic))
	}
	if r.HasPosition {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(PartitionID(r.Partition)), semconv.MessagingKafkaOffsetKey.Int64(r.Offset))
	}
	if r.HasKey {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(r.Key))
	}
	if c := conversationOf(e); c != "" {
		attrs = append(attrs, semconv.MessagingMessageConversationID(c))
	}
	if r.ConsumerGroup != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(r.ConsumerGroup))
	}
	if r.ClientID != "" {
		attrs = append(attrs, semconv.MessagingClientID(r.ClientID))
	}
	attrs = append(attrs, semconv.CloudEventsEventID(e.ID()), semconv.CloudEventsEventSource(e.Source()),
		semconv.CloudEventsEventType(e.Type()), semconv.CloudEventsEventSpecVersion(e.SpecVersion()))
	if s := e.Subject(); s != "" {
		attrs = append(attrs, semconv.CloudEventsEventSubject(s))
	}
	return name, attrs
}

// PartitionID is a partition number as messaging.destination.partition.id
// wants it: a string.
func PartitionID(p int32) string { return strconv.FormatInt(int64(p), 10) }

// Start begins the span of op on r carrying e, a child of ctx's span,
// linked to e's creation context unless that is the parent already (a
// link to the parent makes Jaeger's OTLP translation turn the parent
// reference into FOLLOWS_FROM, and the span loses its place in the tree).
// extra are more attributes. While tracing is off it is a no-op.
func Start(ctx context.Context, op Operation, r Record, e event.Event, extra ...attribute.KeyValue) (context.Context, trace.Span) {
	if !enabled.Load() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	kind := trace.SpanKindConsumer
	if op == Send {
		kind = trace.SpanKindProducer
	}
	name, attrs := r.Attributes(op, e)
	opts := []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(append(attrs, extra...)...)}
	parent := trace.SpanContextFromContext(ctx)
	if creation := trace.SpanContextFromContext(WithParent(context.Background(), CreationOf(e))); creation.IsValid() &&
		(creation.TraceID() != parent.TraceID() || creation.SpanID() != parent.SpanID()) {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: creation}))
	}
	return otel.Tracer(Instrumentation, trace.WithSchemaURL(semconv.SchemaURL)).Start(ctx, name, opts...)
}

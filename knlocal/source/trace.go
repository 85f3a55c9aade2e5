package source

import (
	"context"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/tracing"
)

// How a KafkaSource's work is traced, after OpenTelemetry's messaging
// conventions (semconv v1.43.0, see package tracing). The dispatcher is the
// record's Kafka consumer: it reads records (a pull whose spans the
// conventions leave out for records fetched ahead, as these are) and then
// acts on each by pushing it to the subscriber. That acting is the
// "process" operation, a CONSUMER span "process <topic>" per record,
// covering every attempt, the dead letter and the spool. Its parent is the
// message's creation context (the event's traceparent), as the
// conventions allow for one message processed outside any other span (so
// no link repeats it: tracing.Start). Under it, each HTTP attempt is a CLIENT span made by
// otelhttp, whose context the request's traceparent header carries to the
// subscriber; a retry's says how many went before it in
// http.request.resend_count.

// instrument returns c sending through otelhttp while tracing.
func instrument(c *http.Client) *http.Client {
	inst := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	inst.Transport = otelhttp.NewTransport(resendCounter{base},
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithFilter(func(*http.Request) bool { return tracing.Enabled() }),
		// The HTTP conventions name a client span by its method alone.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
	return &inst
}

type resendKey struct{}

// withResendCount marks ctx's request as the n-th resend of one event
// (0: its first attempt).
func withResendCount(ctx context.Context, n int) context.Context {
	if n <= 0 || !tracing.Enabled() {
		return ctx
	}
	return context.WithValue(ctx, resendKey{}, n)
}

// resendCounter puts http.request.resend_count on the CLIENT span otelhttp
// started for the request, which is in the request's context by now.
type resendCounter struct{ base http.RoundTripper }

func (rt resendCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if n, ok := r.Context().Value(resendKey{}).(int); ok {
		trace.SpanFromContext(r.Context()).SetAttributes(semconv.HTTPRequestResendCount(n))
	}
	return rt.base.RoundTrip(r)
}

// processRecord is the record as the process span records it: where it
// was read, its key (only when it has a string form: the conventions leave
// out a key that has none), and who read it.
func processRecord(spec manifests.KafkaSource, clientID string, msg *sarama.ConsumerMessage) tracing.Record {
	r := tracing.Record{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, HasPosition: true,
		ConsumerGroup: spec.ConsumerGroup, ClientID: clientID}
	if msg.Key != nil && utf8.Valid(msg.Key) {
		r.Key, r.HasKey = string(msg.Key), true
	}
	return r
}

// processSpan starts the span of one record's settling (see above).
func (s *Source) processSpan(ctx context.Context, msg *sarama.ConsumerMessage, e event.Event) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return tracing.Start(tracing.WithParent(ctx, tracing.CreationOf(e)), tracing.Process, processRecord(s.spec, s.clientID, msg), e,
		attribute.String("kn.source.name", s.id))
}

// OutcomeAttribute says on a record's process span how it was settled.
const OutcomeAttribute = "kn.source.outcome"

// Outcomes of a record's settling.
const (
	outcomeDelivered    = "delivered"
	outcomeDeadLettered = "dead-lettered"
	outcomeSpooled      = "spooled"
)

// noteOutcome records on ctx's process span how the record was settled. A
// record the subscriber did not take failed: error.type is the
// subscriber's last status (_OTHER for no answer), the status says why.
func noteOutcome(ctx context.Context, outcome string, status int, why string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String(OutcomeAttribute, outcome))
	if outcome == outcomeDelivered {
		return
	}
	errType := semconv.ErrorTypeOther
	if status != 0 {
		errType = semconv.ErrorTypeKey.String(strconv.Itoa(status))
	}
	span.SetAttributes(errType)
	span.SetStatus(codes.Error, outcome+": "+why)
}

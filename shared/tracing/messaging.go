package tracing

import (
	"context"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Operation is a Kafka operation as the messaging conventions name it: a
// span of it is named "<operation> <topic>" and carries it as both
// messaging.operation.name and messaging.operation.type (Kafka's names are
// the conventions' types).
type Operation string

const (
	// Send hands one record to Kafka, or to the KafkaSink that writes it:
	// a PRODUCER span.
	Send Operation = "send"
	// Process acts on one record read from Kafka (pushed to the code that
	// handles it, not pulled by it): a CONSUMER span.
	Process Operation = "process"
)

// Kind is the span kind the conventions give the operation.
func (op Operation) Kind() trace.SpanKind {
	if op == Send {
		return trace.SpanKindProducer
	}
	return trace.SpanKindConsumer
}

func (op Operation) typeAttr() attribute.KeyValue {
	if op == Send {
		return semconv.MessagingOperationTypeSend
	}
	return semconv.MessagingOperationTypeProcess
}

// Message is one Kafka record as a messaging span describes it. Empty
// fields are unknown to the span's recorder and left out.
type Message struct {
	Topic         string // messaging.destination.name
	Partition     string // messaging.destination.partition.id, a string as the conventions type it
	Offset        int64  // messaging.kafka.offset, when HasOffset
	HasOffset     bool
	Key           string // messaging.kafka.message.key, when HasKey (a null key is not recorded)
	HasKey        bool
	ID            string // messaging.message.id: the CloudEvent id
	Conversation  string // messaging.message.conversation_id: the saga's correlation id
	ConsumerGroup string // messaging.consumer.group.name
	ClientID      string // messaging.client.id
}

// PartitionID is a partition number as messaging.destination.partition.id
// wants it.
func PartitionID(p int32) string { return strconv.FormatInt(int64(p), 10) }

// Span returns the name and the attributes of a span of op on m:
// "<op> <topic>", or "<op>" alone when the topic is unknown (the
// conventions leave out a destination that is not known).
func (m Message) Span(op Operation) (name string, attrs []attribute.KeyValue) {
	name = string(op)
	attrs = append(make([]attribute.KeyValue, 0, 12), semconv.MessagingSystemKafka, op.typeAttr(), semconv.MessagingOperationName(string(op)))
	if m.Topic != "" {
		name += " " + m.Topic
		attrs = append(attrs, semconv.MessagingDestinationName(m.Topic))
	}
	if m.Partition != "" {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(m.Partition))
	}
	if m.HasOffset {
		attrs = append(attrs, semconv.MessagingKafkaOffsetKey.Int64(m.Offset))
	}
	if m.HasKey {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(m.Key))
	}
	if m.ID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(m.ID))
	}
	if m.Conversation != "" {
		attrs = append(attrs, semconv.MessagingMessageConversationID(m.Conversation))
	}
	if m.ConsumerGroup != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(m.ConsumerGroup))
	}
	if m.ClientID != "" {
		attrs = append(attrs, semconv.MessagingClientID(m.ClientID))
	}
	return name, attrs
}

// StartMessaging begins the span of op on m as a child of ctx's span,
// linked to the message's creation context (creation, the traceparent the
// event carries; "" for none), as the conventions want of a span that
// handles a message someone else created. extra are more attributes.
func StartMessaging(ctx context.Context, op Operation, m Message, creation string, extra ...attribute.KeyValue) (context.Context, trace.Span) {
	if !enabled.Load() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	name, attrs := m.Span(op)
	return StartLinked(ctx, name, op.Kind(), creation, append(attrs, extra...)...)
}

// StartLinked begins a span as a child of ctx's span, linked to the span
// the traceparent link names: none when it names none, or names the
// parent, which already says it. (Jaeger's OTLP translation turns a link
// to the parent into a FOLLOWS_FROM reference in place of the CHILD_OF,
// and the span would lose its place in the tree.)
func StartLinked(ctx context.Context, name string, kind trace.SpanKind, link string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !enabled.Load() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(attrs...)}
	parent := trace.SpanContextFromContext(ctx)
	if sc := SpanContextOf(link); sc.IsValid() && (sc.TraceID() != parent.TraceID() || sc.SpanID() != parent.SpanID()) {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return tracer().Start(ctx, name, opts...)
}

// SpanContextOf is the span a W3C traceparent names; not valid when it
// names none.
func SpanContextOf(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(w3c.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent}))
}

// CloudEvent is the CloudEvents conventions' attributes of e.
func CloudEvent(e event.Event) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.CloudEventsEventID(e.ID()), semconv.CloudEventsEventSource(e.Source()),
		semconv.CloudEventsEventType(e.Type()), semconv.CloudEventsEventSpecVersion(e.SpecVersion())}
	if s := e.Subject(); s != "" {
		attrs = append(attrs, semconv.CloudEventsEventSubject(s))
	}
	return attrs
}

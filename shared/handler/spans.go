package handler

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/tracing"
)

// CorrelationAttr is the attribute `orderflow trace` finds an order's
// deliveries by (the saga's correlation id, also recorded as
// messaging.message.conversation_id).
const CorrelationAttr = attribute.Key("orderflow.correlation_id")

// invocation is how one request to the function is recorded, after the
// FaaS conventions (semconv v1.43.0, see shared/tracing): a span per
// invocation carrying faas.trigger, the function's own faas.* being on the
// resource (tracing.FaaS).
type invocation struct {
	name  string
	kind  trace.SpanKind
	attrs []attribute.KeyValue
	// creation is the message's creation context for a pubsub invocation
	// (the event's traceparent), which its span links to.
	creation string
}

// invocationOf says how e's delivery is recorded:
//
//   - an event from a KafkaSource is a "pubsub" invocation, whose span the
//     FaaS conventions leave to the messaging ones: a CONSUMER span
//     "process <topic>", the topic being where the event was read. Knative's
//     dispatcher names it only for a plain record (the source's
//     "#<topic>"); for a CloudEvent record it adds the partition and
//     offset but no topic, so the function takes the topic the catalog
//     puts the event's type on, which deploy/validate holds the manifests
//     to (each producer's K_SINK writes that topic, each consumer's
//     KafkaSource reads it). An event of no known topic gets "process".
//   - a PingSource's tick is a "timer" invocation, a query an "http" one:
//     SERVER spans named after the function, as the FaaS conventions name
//     invocation spans.
func (a *App) invocationOf(e event.Event) invocation {
	base := append(tracing.CloudEvent(e), CorrelationAttr.String(ce.String(e, ce.CorrelationID)))
	if _, query := a.queries[e.Type()]; query {
		return invocation{name: a.name, kind: trace.SpanKindServer,
			attrs: append(base, semconv.FaaSTriggerHTTP, semconv.HTTPRequestMethodPost)}
	}
	if e.Type() == events.Tick {
		attrs := append(base, semconv.FaaSTriggerTimer)
		if !e.Time().IsZero() {
			attrs = append(attrs, semconv.FaaSTime(e.Time().UTC().Format(time.RFC3339Nano)))
		}
		return invocation{name: a.name, kind: trace.SpanKindServer, attrs: attrs}
	}
	m := ce.Delivered(e)
	if m.Topic == "" {
		if spec, ok := events.Lookup(e.Type()); ok {
			m.Topic = spec.Topic
		}
	}
	name, attrs := m.Span(tracing.Process)
	return invocation{name: name, kind: tracing.Process.Kind(), attrs: append(append(attrs, base...), semconv.FaaSTriggerPubSub),
		creation: ce.String(e, ce.Traceparent)}
}

// deliverySpan starts the invocation's span, a child of the caller's span
// in ctx (the dispatcher's HTTP request) or else of the event's
// traceparent. With tracing off it builds nothing: this runs on every
// delivery.
func (a *App) deliverySpan(ctx context.Context, e event.Event) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = tracing.WithParent(ctx, ce.String(e, ce.Traceparent))
	}
	inv := a.invocationOf(e)
	inv.attrs = append(inv.attrs, semconv.FaaSInvocationID(uuid.NewString()), semconv.FaaSColdstart(!a.invoked.Swap(true)))
	return tracing.StartLinked(ctx, inv.name, inv.kind, inv.creation, inv.attrs...)
}

// endDeliverySpan records how the delivery ended: its outcome, the status
// the function answered, and for a failure error.type, the outcome.
func endDeliverySpan(span trace.Span, outcome string, status int, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("orderflow.outcome", outcome), semconv.HTTPResponseStatusCode(status))
	if status >= http.StatusBadRequest {
		span.SetAttributes(semconv.ErrorTypeKey.String(outcome))
		span.SetStatus(codes.Error, fmt.Sprint(err))
	}
	span.End()
}

// sendSpan starts the relay's PRODUCER span "send <topic>" for e, a child
// of the span that emitted it (its traceparent as the outbox holds it).
// Its context becomes the event's traceparent, the message's creation
// context its consumers link to, so it links to nothing itself. The topic
// is the catalog's for e's type: the one the function's K_SINK writes.
func sendSpan(ctx context.Context, e event.Event) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	m := ce.Message(e)
	if spec, ok := events.Lookup(e.Type()); ok {
		m.Topic = spec.Topic
	}
	return tracing.StartMessaging(tracing.WithParent(ctx, ce.String(e, ce.Traceparent)), tracing.Send, m, "", tracing.CloudEvent(e)...)
}

// endSendSpan records a failed send: error.type is the sink's status when
// it answered, else _OTHER.
func endSendSpan(span trace.Span, err error) {
	if !span.IsRecording() {
		return
	}
	if err != nil {
		errType := semconv.ErrorTypeOther
		if rej, ok := errorsAs[*ce.RejectedError](err); ok {
			errType = semconv.ErrorTypeKey.String(strconv.Itoa(rej.Status))
		}
		span.SetAttributes(errType)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

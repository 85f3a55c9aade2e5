package handler

import (
	"context"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store"
)

func attrMap(attrs []attribute.KeyValue) map[attribute.Key]string {
	m := make(map[attribute.Key]string, len(attrs))
	for _, a := range attrs {
		m[a.Key] = a.Value.Emit()
	}
	return m
}

func testEvent(typ, source string, ext map[string]any) event.Event {
	e := event.New()
	e.SetID("ev-1")
	e.SetType(typ)
	e.SetSource(source)
	e.SetTime(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	for k, v := range ext {
		e.SetExtension(k, v)
	}
	return e
}

// Each kind of request is recorded as the FaaS conventions say: a
// KafkaSource delivery by the messaging conventions (process <topic>, its
// topic from the source of a plain record, else from the catalog), a tick
// as a timer and a query as http.
func TestInvocationFollowsTheFaaSAndMessagingConventions(t *testing.T) {
	a := New("probe")
	OnQuery(a, events.OrderQuery, events.OrderView, func(context.Context, *store.DB, In[events.OrderQueryData]) (any, error) { return nil, nil })
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name     string
		e        event.Event
		span     string
		kind     trace.SpanKind
		want     map[attribute.Key]string
		absent   []attribute.Key
		creation string
	}{
		{
			name: "a CloudEvent record: topic from the catalog, position from Knative's extensions",
			e: testEvent(events.PlaceOrder, "orderflow/client", map[string]any{ce.CorrelationID: "ord-1", ce.PartitionKey: "ord-1",
				ce.KafkaPartition: "3", ce.KafkaOffset: "42", ce.Traceparent: tp}),
			span: "process " + events.TopicCommands, kind: trace.SpanKindConsumer,
			want: map[attribute.Key]string{
				semconv.MessagingSystemKey: "kafka", semconv.MessagingOperationTypeKey: "process", semconv.MessagingOperationNameKey: "process",
				semconv.MessagingDestinationNameKey: events.TopicCommands, semconv.MessagingDestinationPartitionIDKey: "3",
				semconv.MessagingKafkaOffsetKey: "42", semconv.MessagingKafkaMessageKeyKey: "ord-1", semconv.MessagingMessageIDKey: "ev-1",
				semconv.MessagingMessageConversationIDKey: "ord-1", semconv.FaaSTriggerKey: "pubsub",
				semconv.CloudEventsEventIDKey: "ev-1", semconv.CloudEventsEventTypeKey: events.PlaceOrder, CorrelationAttr: "ord-1",
			},
			absent:   []attribute.Key{semconv.FaaSNameKey, semconv.MessagingConsumerGroupNameKey},
			creation: tp,
		},
		{
			name: "an older version travels where its family does",
			e:    testEvent(events.OrderCreatedV1, "orderflow/order", nil),
			span: "process " + events.TopicOrders, kind: trace.SpanKindConsumer,
			want:   map[attribute.Key]string{semconv.MessagingDestinationNameKey: events.TopicOrders},
			absent: []attribute.Key{semconv.MessagingDestinationPartitionIDKey, semconv.MessagingKafkaOffsetKey, semconv.MessagingKafkaMessageKeyKey},
		},
		{
			name: "a plain record: topic from the source Knative gives it",
			e: testEvent(ce.PlainKafkaType, "/apis/v1/namespaces/orderflow/kafkasources/order#legacy.orders",
				map[string]any{ce.KafkaKey: "k", ce.PartitionKey: "k", ce.KafkaPartition: "0", ce.KafkaOffset: "7"}),
			span: "process legacy.orders", kind: trace.SpanKindConsumer,
			want: map[attribute.Key]string{semconv.MessagingDestinationNameKey: "legacy.orders", semconv.MessagingDestinationPartitionIDKey: "0",
				semconv.MessagingKafkaOffsetKey: "7", semconv.MessagingKafkaMessageKeyKey: "k"},
		},
		{
			name: "a type of no known topic: the destination left out",
			e:    testEvent("com.example.unknown.v1", "x", map[string]any{ce.KafkaPartition: "not a number"}),
			span: "process", kind: trace.SpanKindConsumer,
			want:   map[attribute.Key]string{semconv.MessagingSystemKey: "kafka", semconv.FaaSTriggerKey: "pubsub"},
			absent: []attribute.Key{semconv.MessagingDestinationNameKey, semconv.MessagingDestinationPartitionIDKey},
		},
		{
			name: "a PingSource's tick: a timer invocation",
			e:    testEvent(events.Tick, "/apis/v1/namespaces/orderflow/pingsources/sweep", nil),
			span: "probe", kind: trace.SpanKindServer,
			want:   map[attribute.Key]string{semconv.FaaSTriggerKey: "timer", semconv.FaaSTimeKey: "2026-12-03T10:00:00Z"},
			absent: []attribute.Key{semconv.MessagingSystemKey},
		},
		{
			name: "a query: an http invocation",
			e:    testEvent(events.OrderQuery, "orderflow/cli", nil),
			span: "probe", kind: trace.SpanKindServer,
			want:   map[attribute.Key]string{semconv.FaaSTriggerKey: "http", semconv.HTTPRequestMethodKey: "POST"},
			absent: []attribute.Key{semconv.MessagingSystemKey},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := a.invocationOf(tt.e)
			if inv.name != tt.span || inv.kind != tt.kind {
				t.Errorf("span %q %v, want %q %v", inv.name, inv.kind, tt.span, tt.kind)
			}
			got := attrMap(inv.attrs)
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %q, want it left out", k, v)
				}
			}
			if inv.creation != tt.creation {
				t.Errorf("creation context %q, want %q", inv.creation, tt.creation)
			}
		})
	}
}

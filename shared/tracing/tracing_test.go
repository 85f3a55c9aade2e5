package tracing_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"orderflow.dev/shared/tracing"
)

const (
	eventTP  = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	headerTP = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
)

func TestOffRecordsNothing(t *testing.T) {
	tracing.Use(nil)
	ctx := tracing.ParentOf(context.Background(), http.Header{}, eventTP)
	ctx, span := tracing.Start(ctx, "x", trace.SpanKindServer)
	defer span.End()
	if tp, ok := tracing.Traceparent(ctx); ok {
		t.Errorf("off: %s, want none (the caller keeps its own)", tp)
	}
}

func TestOnSpansContinueTheCallerAndEventsCarryTheSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer tracing.Use(nil)

	// The request's traceparent header (the hop that sent it) wins over the
	// event's own.
	h := http.Header{}
	h.Set("traceparent", headerTP)
	ctx, span := tracing.Start(tracing.ParentOf(context.Background(), h, eventTP), "deliver", trace.SpanKindServer)
	out, _ := tracing.Traceparent(ctx)
	span.End()
	// Without a header, or with a broken one, the event's.
	h.Set("traceparent", "garbage")
	_, span2 := tracing.Start(tracing.ParentOf(context.Background(), h, eventTP), "deliver2", trace.SpanKindServer)
	span2.End()

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	if p := spans[0].Parent().SpanID().String(); p != "00f067aa0ba902b7" {
		t.Errorf("parent %s, want the header's span 00f067aa0ba902b7", p)
	}
	if p := spans[1].Parent().SpanID().String(); p != "b7ad6b7169203331" {
		t.Errorf("with a broken header: parent %s, want the event's span b7ad6b7169203331", p)
	}
	want := "00-0af7651916cd43dd8448eb211c80319c-" + spans[0].SpanContext().SpanID().String() + "-01"
	if out != want {
		t.Errorf("an event produced in the span carries %s, want the span itself %s", out, want)
	}
	req := http.Header{}
	tracing.Inject(ctx, req)
	if req.Get("traceparent") != want {
		t.Errorf("injected %q, want %q", req.Get("traceparent"), want)
	}
}

// The resource names the service, lets the environment override it
// (OTEL_SERVICE_NAME over OTEL_RESOURCE_ATTRIBUTES over the code's), and
// carries a function's faas.* attributes.
func TestResourceHonoursTheEnvironment(t *testing.T) {
	for _, tt := range []struct {
		name, serviceName, resourceAttrs string
		wantService, wantNamespace       string
	}{
		{name: "the code's name", wantService: "order"},
		{name: "OTEL_RESOURCE_ATTRIBUTES", resourceAttrs: "service.name=from-attrs,service.namespace=shop", wantService: "from-attrs", wantNamespace: "shop"},
		{name: "OTEL_SERVICE_NAME wins", serviceName: "from-env", resourceAttrs: "service.name=from-attrs", wantService: "from-env"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_SERVICE_NAME", tt.serviceName)
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", tt.resourceAttrs)
			res, err := tracing.Resource(context.Background(), "order", tracing.FaaS("order")...)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, kv := range res.Attributes() {
				got[string(kv.Key)] = kv.Value.Emit()
			}
			if got["service.name"] != tt.wantService || got["service.namespace"] != tt.wantNamespace {
				t.Errorf("service.name %q, service.namespace %q; want %q, %q", got["service.name"], got["service.namespace"], tt.wantService, tt.wantNamespace)
			}
			if got["faas.name"] != "order" || got["faas.instance"] == "" || got["telemetry.sdk.language"] != "go" || got["host.name"] == "" {
				t.Errorf("resource %v: want faas.name, faas.instance, the SDK and the host", got)
			}
			if res.SchemaURL() != semconv.SchemaURL {
				t.Errorf("schema %q, want %q", res.SchemaURL(), semconv.SchemaURL)
			}
		})
	}
}

// A malformed OTEL_RESOURCE_ATTRIBUTES is an error that names it, not a
// resource silently short of what was asked.
func TestResourceRefusesMalformedAttributes(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.namespace")
	_, err := tracing.Resource(context.Background(), "order")
	if err == nil || !strings.Contains(err.Error(), "OTEL_RESOURCE_ATTRIBUTES") {
		t.Errorf("err %v, want one naming OTEL_RESOURCE_ATTRIBUTES", err)
	}
}

// Each operation's span is named and attributed as the Kafka messaging
// conventions say; what is not known is left out.
func TestMessageSpans(t *testing.T) {
	full := tracing.Message{Topic: "orderflow.orders", Partition: tracing.PartitionID(4), Offset: 99, HasOffset: true, Key: "", HasKey: true,
		ID: "ev-1", Conversation: "ord-1", ConsumerGroup: "knative-kafka-source-orderflow-inventory", ClientID: "orderflow-source-inventory"}
	for _, tt := range []struct {
		op     tracing.Operation
		m      tracing.Message
		name   string
		kind   trace.SpanKind
		want   map[string]string
		absent []string
	}{
		{op: tracing.Process, m: full, name: "process orderflow.orders", kind: trace.SpanKindConsumer, want: map[string]string{
			"messaging.system": "kafka", "messaging.operation.type": "process", "messaging.operation.name": "process",
			"messaging.destination.name": "orderflow.orders", "messaging.destination.partition.id": "4", "messaging.kafka.offset": "99",
			"messaging.kafka.message.key": "", "messaging.message.id": "ev-1", "messaging.message.conversation_id": "ord-1",
			"messaging.consumer.group.name": "knative-kafka-source-orderflow-inventory", "messaging.client.id": "orderflow-source-inventory"}},
		{op: tracing.Send, m: tracing.Message{Topic: "orderflow.payments", ID: "ev-2"}, name: "send orderflow.payments", kind: trace.SpanKindProducer,
			want: map[string]string{"messaging.system": "kafka", "messaging.operation.type": "send", "messaging.operation.name": "send",
				"messaging.destination.name": "orderflow.payments", "messaging.message.id": "ev-2"},
			absent: []string{"messaging.destination.partition.id", "messaging.kafka.offset", "messaging.kafka.message.key", "messaging.consumer.group.name"}},
		{op: tracing.Process, m: tracing.Message{}, name: "process", kind: trace.SpanKindConsumer,
			want: map[string]string{"messaging.system": "kafka"}, absent: []string{"messaging.destination.name", "messaging.message.id"}},
	} {
		name, attrs := tt.m.Span(tt.op)
		if name != tt.name || tt.op.Kind() != tt.kind {
			t.Errorf("%s: span %q %v, want %q %v", tt.name, name, tt.op.Kind(), tt.name, tt.kind)
		}
		got := map[string]attribute.Value{}
		for _, kv := range attrs {
			got[string(kv.Key)] = kv.Value
		}
		for k, v := range tt.want {
			if g, ok := got[k]; !ok || g.Emit() != v {
				t.Errorf("%s: %s = %q (present %v), want %q", tt.name, k, g.Emit(), ok, v)
			}
		}
		for _, k := range tt.absent {
			if _, ok := got[k]; ok {
				t.Errorf("%s: %s set, want it left out", tt.name, k)
			}
		}
		if p, ok := got["messaging.destination.partition.id"]; ok && p.Type() != attribute.STRING {
			t.Errorf("%s: partition id is %v, want a string", tt.name, p.Type())
		}
	}
}

// A span links to the message's creation context unless that is already
// its parent.
func TestStartLinkedLinksAnythingButTheParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer tracing.Use(nil)
	_, s1 := tracing.StartLinked(tracing.WithParent(context.Background(), headerTP), "other parent", trace.SpanKindConsumer, eventTP)
	s1.End()
	_, s2 := tracing.StartLinked(tracing.WithParent(context.Background(), eventTP), "parent is the link", trace.SpanKindConsumer, eventTP)
	s2.End()
	_, s3 := tracing.StartLinked(context.Background(), "no link", trace.SpanKindConsumer, "garbage")
	s3.End()
	spans := rec.Ended()
	if l := spans[0].Links(); len(l) != 1 || l[0].SpanContext.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("with another parent: links %v, want the event's span", l)
	}
	if l := spans[1].Links(); len(l) != 0 || spans[1].Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("parented by the event's span: links %v, parent %s; want no link", l, spans[1].Parent().SpanID())
	}
	if l := spans[2].Links(); len(l) != 0 {
		t.Errorf("with a broken traceparent: links %v, want none", l)
	}
}

package tracing

import (
	"context"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func attrs(e event.Event, r Record, op Operation) (string, map[string]string) {
	n, kvs := r.Attributes(op, e)
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return n, m
}

// The conversation id is whatever extension the plane is told to read,
// and none unless told: Knative's dispatcher records none.
func TestConversationIsTheNamedExtension(t *testing.T) {
	e := event.New()
	e.SetID("e1")
	e.SetExtension("correlationid", "order-1")
	defer SetConversation("")
	for _, tt := range []struct{ ext, want string }{{"", ""}, {"correlationid", "order-1"}, {"sagaid", ""}} {
		SetConversation(tt.ext)
		_, m := attrs(e, Record{Topic: "t"}, Send)
		if m["messaging.message.conversation_id"] != tt.want {
			t.Errorf("conversation extension %q: conversation_id %q, want %q", tt.ext, m["messaging.message.conversation_id"], tt.want)
		}
	}
}

// A span links to the event's creation context, unless that context is
// its parent already; with tracing off nothing is recorded.
func TestStartLinksTheCreationContextOnlyWhenItIsNotTheParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	e := event.New()
	e.SetID("e1")
	const creation = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	e.SetExtension(TraceparentExtension, creation)

	_, span := Start(context.Background(), Process, Record{Topic: "t"}, e)
	span.End()
	if len(rec.Ended()) != 0 {
		t.Fatal("a span recorded while tracing is off")
	}

	Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer Use(nil)
	_, child := Start(WithParent(context.Background(), CreationOf(e)), Process, Record{Topic: "t"}, e)
	child.End()
	_, other := Start(context.Background(), Send, Record{Topic: "t"}, e)
	other.End()
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	if spans[0].Name() != "process t" || len(spans[0].Links()) != 0 || spans[0].Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("child of the creation context: %q, parent %s, links %v", spans[0].Name(), spans[0].Parent().SpanID(), spans[0].Links())
	}
	if l := spans[1].Links(); spans[1].Name() != "send t" || len(l) != 1 || l[0].SpanContext.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("span elsewhere: %q, links %v, want one to the creation context", spans[1].Name(), l)
	}
}

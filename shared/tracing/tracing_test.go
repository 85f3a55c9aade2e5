package tracing_test

import (
	"context"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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

// Package tracing is orderflow's OpenTelemetry tracing: one span per
// delivery, per publish and per plane hop, joined into one trace per order
// through the W3C traceparent every event carries (the CloudEvents
// distributed-tracing extension) and the traceparent HTTP header of each
// request.
//
// Spans are exported with OTLP over HTTP when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// set, and not at all otherwise: then every call here is a no-op on the
// delivery path, and events still carry a traceparent per hop.
//
// Spans and the resource follow OpenTelemetry's semantic conventions as
// semconv v1.43.0 states them (go.opentelemetry.io/otel/semconv/v1.43.0,
// the newest the otel v1.47.0 module ships, the one its SDK's resource
// detectors and otelhttp v0.72.0 use too, so schema URLs agree): the
// messaging conventions for Kafka (messaging.go) and the FaaS ones for the
// functions (faas.go). docs/tracing.md says which span is which.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Instrumentation is the tracer name spans are recorded under.
const Instrumentation = "orderflow.dev/shared/tracing"

var (
	enabled atomic.Bool
	w3c     = propagation.TraceContext{}
)

// Configured reports whether the environment asks for export.
func Configured() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the process's tracer provider, exporting as service when
// the environment asks for it (Configured). It returns the function that
// flushes and stops it; with nothing configured, both are no-ops. attrs
// are more resource attributes (a function's faas.*, FaaS).
func Setup(ctx context.Context, service string, attrs ...attribute.KeyValue) (shutdown func(context.Context) error, err error) {
	if !Configured() || os.Getenv("OTEL_SDK_DISABLED") == "true" {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := Resource(ctx, service, attrs...)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	enabled.Store(true)
	return func(ctx context.Context) error {
		enabled.Store(false)
		return tp.Shutdown(ctx)
	}, nil
}

// Resource describes the process that records the spans: service.name
// (service), attrs, the SDK and the host, and then what the environment
// says, which wins: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, as the
// SDK's environment detector reads them.
func Resource(ctx context.Context, service string, attrs ...attribute.KeyValue) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(append([]attribute.KeyValue{semconv.ServiceName(service)}, attrs...)...),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithFromEnv(), // last, so that it wins
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: the resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME): %w", err)
	}
	return res, nil
}

// Use makes tp the provider spans go to (tests record them in memory with
// it); nil turns tracing off again.
func Use(tp trace.TracerProvider) {
	if tp == nil {
		enabled.Store(false)
		return
	}
	otel.SetTracerProvider(tp)
	enabled.Store(true)
}

// Enabled reports whether spans are being recorded and exported.
func Enabled() bool { return enabled.Load() }

// Start begins a span as a child of whatever parent ctx holds.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !enabled.Load() {
		return ctx, trace.SpanFromContext(context.Background()) // a no-op span
	}
	return tracer().Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

func tracer() trace.Tracer {
	return otel.Tracer(Instrumentation, trace.WithSchemaURL(semconv.SchemaURL))
}

// WithParent returns ctx holding the remote parent named by traceparent,
// a W3C traceparent value; an invalid or empty one leaves ctx as it is.
func WithParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" || !enabled.Load() {
		return ctx
	}
	return w3c.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// ParentOf returns ctx holding the caller's span: the request's
// traceparent header when it has one (the hop that sent it, such as the
// plane's dispatch span), else the event's own traceparent (the span that
// produced the event).
func ParentOf(ctx context.Context, h http.Header, eventTraceparent string) context.Context {
	if !enabled.Load() {
		return ctx
	}
	if tp := h.Get("traceparent"); tp != "" {
		if c := WithParent(ctx, tp); trace.SpanContextFromContext(c).IsValid() {
			return c
		}
	}
	return WithParent(ctx, eventTraceparent)
}

// Inject sets the traceparent header of an outgoing request to ctx's span.
func Inject(ctx context.Context, h http.Header) {
	if enabled.Load() {
		w3c.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// Traceparent is the traceparent of ctx's span while tracing: set on an
// event produced under that span, so its consumers continue it. ok is false
// when nothing is recorded; the caller then keeps the traceparent it has
// (ce.ChildTraceparent), so every hop still has an id of its own.
func Traceparent(ctx context.Context) (tp string, ok bool) {
	if sc := trace.SpanContextFromContext(ctx); !enabled.Load() || !sc.IsValid() {
		return "", false
	}
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	tp = c["traceparent"]
	return tp, tp != ""
}

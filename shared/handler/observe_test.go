package handler_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/tracing"
)

// scrape reads the function's /metrics into "name{labels}" -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsCountEveryOutcome(t *testing.T) {
	p := newProbe()
	h := handlertest.Start(t, p, nil)
	first := handlertest.Event(t, events.PlaceOrder, placeData("o-1"), nil)
	h.Send(t, first)
	h.Send(t, first)                                                                                   // duplicate
	h.Send(t, handlertest.Event(t, events.OrderCreated, events.OrderCreatedData{OrderID: "o-1"}, nil)) // ignored
	p.reactWith(func() ([]saga.Emit, error) { return nil, saga.Unprocessable("orderId", "no") })
	h.Send(t, handlertest.Event(t, events.PlaceOrder, placeData("o-2"), nil)) // refused
	p.reactWith(func() ([]saga.Emit, error) { return nil, saga.Retry("later") })
	h.Send(t, handlertest.Event(t, events.PlaceOrder, placeData("o-3"), nil)) // failed
	made := handlertest.Event(t, events.PlaceOrder, placeData("o-4"), nil)
	made.SetType("com.example.made.up.v1")
	h.Send(t, made)                                                        // refused, its type not a label of its own
	h.Post(t, map[string]string{"content-type": "application/json"}, `{}`) // not a CloudEvent
	h.Flush(t)

	m := scrape(t, h.URL)
	place := `cloudevents_type="` + events.PlaceOrder + `",function="probe"`
	for series, want := range map[string]float64{
		`orderflow_deliveries_total{` + place + `,http_response_status_code="200",outcome="handled"}`:                                                   1,
		`orderflow_deliveries_total{` + place + `,http_response_status_code="200",outcome="duplicate"}`:                                                 1,
		`orderflow_deliveries_total{cloudevents_type="` + events.OrderCreated + `",function="probe",http_response_status_code="200",outcome="ignored"}`: 1,
		`orderflow_deliveries_total{` + place + `,http_response_status_code="422",outcome="refused"}`:                                                   1,
		`orderflow_deliveries_total{` + place + `,http_response_status_code="503",outcome="failed"}`:                                                    1,
		`orderflow_deliveries_total{cloudevents_type="unknown",function="probe",http_response_status_code="400",outcome="refused"}`:                     2,
		`orderflow_events_published_total{cloudevents_type="` + events.OrderCreated + `",function="probe"}`:                                             1,
		`orderflow_outbox_backlog{function="probe"}`:                                                                                                    0,
		`orderflow_outbox_oldest_age_seconds{function="probe"}`:                                                                                         0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if m[`orderflow_store_transaction_duration_seconds_count{function="probe"}`] < 3 {
		t.Errorf("store transactions counted %v, want at least 3", m[`orderflow_store_transaction_duration_seconds_count{function="probe"}`])
	}

	// The sink refuses: the failure is counted and the event waits.
	h.Sink.Answer(http.StatusServiceUnavailable)
	p.react.Store(nil)
	h.Send(t, handlertest.Event(t, events.PlaceOrder, placeData("o-5"), nil))
	h.F.App().Flush(context.Background())
	m = scrape(t, h.URL)
	if m[`orderflow_publish_failures_total{function="probe",http_response_status_code="503"}`] < 1 || m[`orderflow_outbox_backlog{function="probe"}`] != 1 {
		t.Errorf("after a refused publish: failures %v, backlog %v; want at least 1 and 1",
			m[`orderflow_publish_failures_total{function="probe",http_response_status_code="503"}`], m[`orderflow_outbox_backlog{function="probe"}`])
	}
}

// A delivery is a CONSUMER span "process <topic>" under the hop that sent
// it, linked to the event's creation context; what it emits is sent under
// a PRODUCER span "send <topic>", its child, which the event then carries,
// so the next function's delivery descends from the send.
func TestDeliverySpanParentsWhatItEmits(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer tracing.Use(nil)
	h := handlertest.Start(t, newProbe(), nil)
	const dispatcher = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	e := handlertest.Event(t, events.PlaceOrder, placeData("o-t"), nil)
	r := h.Post(t, map[string]string{"ce-specversion": "1.0", "ce-id": e.ID(), "ce-source": e.Source(), "ce-type": e.Type(),
		"ce-traceparent": ce.String(e, ce.Traceparent), "ce-correlationid": "o-t", "ce-partitionkey": "o-t",
		"ce-knativekafkapartition": "2", "ce-knativekafkaoffset": "17",
		"content-type": "application/json", "traceparent": dispatcher}, string(e.Data()))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	out := h.Flush(t)
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = s
	}
	process, send := byName["process "+events.TopicCommands], byName["send "+events.TopicOrders]
	if process == nil || send == nil {
		t.Fatalf("spans %v, want process %s and send %s", keys(byName), events.TopicCommands, events.TopicOrders)
	}
	if got := process.Parent().SpanID().String(); got != "00f067aa0ba902b7" || process.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("delivery span's parent %s in trace %s, want the dispatcher's span", got, process.SpanContext().TraceID())
	}
	if links := process.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != tracing.SpanContextOf(ce.String(e, ce.Traceparent)).SpanID() {
		t.Errorf("delivery span links %v, want the event's creation context %s", links, ce.String(e, ce.Traceparent))
	}
	if process.SpanKind() != trace.SpanKindConsumer || send.SpanKind() != trace.SpanKindProducer {
		t.Errorf("kinds %v and %v, want CONSUMER and PRODUCER", process.SpanKind(), send.SpanKind())
	}
	if send.Parent().SpanID() != process.SpanContext().SpanID() {
		t.Errorf("send span's parent %s, want the delivery %s", send.Parent().SpanID(), process.SpanContext().SpanID())
	}
	p, s := attrs(process.Attributes()), attrs(send.Attributes())
	for k, want := range map[string]string{"messaging.system": "kafka", "messaging.operation.type": "process",
		"messaging.destination.name": events.TopicCommands, "messaging.destination.partition.id": "2", "messaging.kafka.offset": "17",
		"messaging.kafka.message.key": "o-t", "messaging.message.id": e.ID(), "faas.trigger": "pubsub", "faas.coldstart": "true",
		"orderflow.outcome": "handled", "http.response.status_code": "200"} {
		if p[k] != want {
			t.Errorf("delivery span: %s = %q, want %q", k, p[k], want)
		}
	}
	if p["faas.invocation_id"] == "" {
		t.Error("delivery span has no faas.invocation_id")
	}
	for k, want := range map[string]string{"messaging.system": "kafka", "messaging.operation.type": "send", "messaging.operation.name": "send",
		"messaging.destination.name": events.TopicOrders, "messaging.kafka.message.key": "o-t", "messaging.message.id": out[0].ID(),
		"cloudevents.event_type": events.OrderCreated} {
		if s[k] != want {
			t.Errorf("send span: %s = %q, want %q", k, s[k], want)
		}
	}
	want := fmt.Sprintf("00-%s-%s-01", send.SpanContext().TraceID(), send.SpanContext().SpanID())
	if len(out) != 1 || ce.String(out[0], ce.Traceparent) != want {
		t.Fatalf("emitted %d event(s), traceparent %q; want the send span %s", len(out), ce.String(out[0], ce.Traceparent), want)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// dataschema names the schema the payload follows: another one is refused
// naming it (so the dispatcher dead-letters it once), none is accepted.
func TestDataschemaMustBeTheCatalogs(t *testing.T) {
	h := handlertest.Start(t, newProbe(), nil)
	for i, tt := range []struct {
		schema string
		status int
	}{
		{"", 200},
		{"urn:orderflow:schema:" + events.PlaceOrder + ".json", 200},
		{"urn:orderflow:schema:" + events.OrderCreated + ".json", 400},
		{"https://example.com/schemas/place-order-v7.json", 400},
	} {
		e := handlertest.Event(t, events.PlaceOrder, placeData(fmt.Sprintf("o-ds-%d", i)), nil)
		e.SetDataSchema(tt.schema)
		r := h.Send(t, e)
		if r.Status != tt.status {
			t.Errorf("dataschema %q: status %d, want %d: %s", tt.schema, r.Status, tt.status, r.Body)
		}
		if tt.status == 400 && r.Error().Field != "dataschema" {
			t.Errorf("dataschema %q: refusal names %q, want dataschema", tt.schema, r.Error().Field)
		}
	}
}

// A send the sink refuses ends its span in error, error.type its status.
func TestRefusedSendSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer tracing.Use(nil)
	h := handlertest.Start(t, newProbe(), nil)
	h.Sink.Answer(http.StatusServiceUnavailable)
	h.Send(t, handlertest.Event(t, events.PlaceOrder, placeData("o-r"), nil))
	h.F.App().Flush(context.Background())
	var send sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "send "+events.TopicOrders {
			send = s
		}
	}
	if send == nil {
		t.Fatalf("no send span among %d", len(rec.Ended()))
	}
	if a := attrs(send.Attributes()); a["error.type"] != "503" || send.Status().Code != codes.Error {
		t.Errorf("refused send: error.type %q, status %v; want 503 and Error", a["error.type"], send.Status())
	}
}

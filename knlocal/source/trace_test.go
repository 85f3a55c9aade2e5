package source

import (
	"context"
	"strconv"
	"testing"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"orderflow.dev/knlocal/tracing"
)

// record is e as the binary record a KafkaSink writes.
func record(t *testing.T, e event.Event, topic string, partition int32, offset int64, key []byte) *sarama.ConsumerMessage {
	t.Helper()
	msg := &sarama.ConsumerMessage{Topic: topic, Partition: partition, Offset: offset, Key: key}
	headers := map[string]string{"ce_specversion": "1.0", "ce_id": e.ID(), "ce_type": e.Type(), "ce_source": e.Source(), "content-type": "application/json"}
	for k, v := range e.Extensions() {
		headers["ce_"+k] = v.(string)
	}
	for k, v := range headers {
		msg.Headers = append(msg.Headers, &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	msg.Value = e.Data()
	return msg
}

func attrsOf(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// One record's settling is a CONSUMER span "process <topic>" carrying what
// the Kafka conventions ask of it, a child of the event's creation context;
// each HTTP attempt a CLIENT span under it, a retry's
// saying how many went before, whose context the subscriber receives.
func TestRecordIsAProcessSpanWithAClientSpanPerAttempt(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer tracing.Use(nil)
	tracing.SetConversation("correlationid") // as orderflow's plane names it
	defer tracing.SetConversation("")

	for _, tt := range []struct {
		name    string
		script  []int
		key     []byte
		outcome string
		errType string
	}{
		{name: "delivered on the third attempt", script: []int{503, 429, 200}, key: []byte("order-1"), outcome: outcomeDelivered},
		{name: "refused, dead-lettered", script: []int{422}, key: []byte{0xff, 0xfe}, outcome: outcomeDeadLettered, errType: "422"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec.Reset()
			sub := &recorder{script: tt.script}
			dlq := &recorder{script: []int{202}}
			spec := testSpec(5, true)
			spec.ConsumerGroup = "knative-kafka-source-ns-src"
			s, _ := newTestSource(t, spec, map[string]string{"sub": serve(t, sub), "dlq": serve(t, dlq)})
			const creation = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
			e := testEvent()
			e.SetExtension(tracing.TraceparentExtension, creation)
			e.SetExtension("correlationid", "order-1")
			if !s.Dispatch(context.Background(), record(t, e, "orderflow.orders", 7, 1234, tt.key)) {
				t.Fatal("not settled")
			}

			var process sdktrace.ReadOnlySpan
			var clients []sdktrace.ReadOnlySpan
			for _, sp := range rec.Ended() {
				switch sp.SpanKind() {
				case trace.SpanKindConsumer:
					process = sp
				case trace.SpanKindClient:
					clients = append(clients, sp)
				default:
					t.Errorf("span %q of kind %v", sp.Name(), sp.SpanKind())
				}
			}
			if process == nil || process.Name() != "process orderflow.orders" {
				t.Fatalf("no process span among %d", len(rec.Ended()))
			}
			if process.Parent().SpanID().String() != "b7ad6b7169203331" || process.SpanContext().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
				t.Errorf("process span's parent %s, want the creation context", process.Parent().SpanID())
			}
			if l := process.Links(); len(l) != 0 {
				t.Errorf("process span's links %v, want none: its parent is the creation context", l)
			}
			p := attrsOf(process)
			want := map[string]string{"messaging.system": "kafka", "messaging.operation.type": "process", "messaging.operation.name": "process",
				"messaging.destination.name": "orderflow.orders", "messaging.destination.partition.id": "7", "messaging.kafka.offset": "1234",
				"messaging.consumer.group.name": "knative-kafka-source-ns-src", "messaging.message.id": "e1",
				"messaging.message.conversation_id": "order-1", "messaging.client.id": s.clientID,
				"cloudevents.event_type": "dev.orderflow.order.created.v1", OutcomeAttribute: tt.outcome}
			if utf8Key := tt.key[0] != 0xff; utf8Key {
				want["messaging.kafka.message.key"] = string(tt.key)
			}
			for k, v := range want {
				if p[k] != v {
					t.Errorf("process span: %s = %q, want %q", k, p[k], v)
				}
			}
			if _, ok := p["messaging.kafka.message.key"]; ok && tt.key[0] == 0xff {
				t.Error("a key with no string form is recorded, want it left out")
			}
			if p["error.type"] != tt.errType {
				t.Errorf("error.type %q, want %q", p["error.type"], tt.errType)
			}

			attempts := len(tt.script)
			if tt.outcome == outcomeDeadLettered {
				attempts++ // the dead letter's
			}
			if len(clients) != attempts {
				t.Fatalf("%d CLIENT spans, want %d", len(clients), attempts)
			}
			for i, c := range clients {
				a := attrsOf(c)
				if c.Name() != "POST" || c.Parent().SpanID() != process.SpanContext().SpanID() {
					t.Errorf("CLIENT span %d: %q under %s, want POST under the process span", i, c.Name(), c.Parent().SpanID())
				}
				wantResend := ""
				if i > 0 && i < len(tt.script) {
					wantResend = strconv.Itoa(i)
				}
				if a["http.request.resend_count"] != wantResend {
					t.Errorf("CLIENT span %d: resend_count %q, want %q", i, a["http.request.resend_count"], wantResend)
				}
				if a["http.request.method"] != "POST" || a["url.full"] == "" || a["http.response.status_code"] == "" {
					t.Errorf("CLIENT span %d: %v, want the HTTP client conventions' attributes", i, a)
				}
			}
			for i, req := range sub.requests {
				want := "00-" + clients[i].SpanContext().TraceID().String() + "-" + clients[i].SpanContext().SpanID().String() + "-01"
				if got := req.Header.Get("traceparent"); got != want {
					t.Errorf("attempt %d carried traceparent %q, want its CLIENT span %s", i, got, want)
				}
			}
		})
	}
}

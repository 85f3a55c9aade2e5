package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/broker/brokertest"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/tracing"
)

type env struct {
	servers []string
	cfg     *sarama.Config
	srv     *httptest.Server
	h       *Handler
	admin   sarama.ClusterAdmin
}

// setup runs an embedded broker with topic "t-bin" and "t-struct" (one
// partition each, so records can be read back in order) and serves three
// sinks: binary, structured, and one whose topic was never created.
func setup(t *testing.T) *env {
	t.Helper()
	k := brokertest.Start(t,
		manifests.KafkaTopic{Name: "t-bin", TopicName: "t-bin", Partitions: 1, Replicas: 1},
		manifests.KafkaTopic{Name: "t-struct", TopicName: "t-struct", Partitions: 1, Replicas: 1})
	// Fail fast on the undeclared topic instead of retrying for long.
	k.Config.Producer.Retry.Max = 1
	k.Config.Producer.Retry.Backoff = 10 * time.Millisecond
	k.Config.Metadata.Retry.Max = 1
	k.Config.Metadata.Retry.Backoff = 10 * time.Millisecond
	producer := k.Producer(t)
	sinks := []manifests.KafkaSink{
		{Name: "bin", Namespace: "ns", Topic: "t-bin", ContentMode: manifests.ContentModeBinary},
		{Name: "struct", Namespace: "ns", Topic: "t-struct", ContentMode: manifests.ContentModeStructured},
		{Name: "broken", Namespace: "ns", Topic: "never-declared", ContentMode: manifests.ContentModeBinary},
	}
	h := New(producer, sinks, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{servers: k.Servers, cfg: k.Config, srv: srv, h: h, admin: k.Admin}
}

// readRecords reads n records from partition 0 of topic.
func (e *env) readRecords(t *testing.T, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	consumer, err := sarama.NewConsumer(e.servers, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case <-timeout:
			t.Fatalf("read %d of %d records from %s", len(out), n, topic)
		}
	}
	return out
}

func post(t *testing.T, url string, header map[string]string, body string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p map[string]string
	b, _ := io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("body %q is not JSON: %v", b, err)
		}
	}
	return resp.StatusCode, p
}

func binaryHeaders(id string) map[string]string {
	return map[string]string{
		"Ce-Specversion": "1.0", "Ce-Id": id, "Ce-Type": "dev.orderflow.order.created.v1",
		"Ce-Source": "/orderflow/order", "Ce-Partitionkey": "order-42", "Ce-Correlationid": "order-42",
		"Content-Type": "application/json",
	}
}

func headerMap(m *sarama.ConsumerMessage) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[string(h.Key)] = string(h.Value)
	}
	return out
}

func TestSinkWritesRecords(t *testing.T) {
	e := setup(t)
	if got := e.h.Paths(); strings.Join(got, " ") != "/ns/bin /ns/broken /ns/struct" {
		t.Errorf("paths = %v", got)
	}

	// Binary in, binary record out, keyed by partitionkey.
	status, _ := post(t, URL(e.srv.URL, "ns", "bin"), binaryHeaders("e1"), `{"orderId":"order-42"}`)
	if status != http.StatusAccepted {
		t.Fatalf("binary: status %d", status)
	}
	// Structured in, binary record out, no partitionkey: no key.
	status, _ = post(t, URL(e.srv.URL, "ns", "bin"), map[string]string{"Content-Type": "application/cloudevents+json"},
		`{"specversion":"1.0","id":"e2","type":"t","source":"/s","datacontenttype":"text/plain","data":"hello"}`)
	if status != http.StatusAccepted {
		t.Fatalf("structured: status %d", status)
	}
	recs := e.readRecords(t, "t-bin", 2)
	h := headerMap(recs[0])
	if string(recs[0].Key) != "order-42" || h["ce_id"] != "e1" || h["ce_type"] != "dev.orderflow.order.created.v1" ||
		h["ce_partitionkey"] != "order-42" || h["ce_correlationid"] != "order-42" || h["content-type"] != "application/json" ||
		string(recs[0].Value) != `{"orderId":"order-42"}` {
		t.Errorf("binary record: key %q headers %v value %q", recs[0].Key, h, recs[0].Value)
	}
	if recs[1].Key != nil {
		t.Errorf("record without partitionkey has key %q", recs[1].Key)
	}
	if h := headerMap(recs[1]); h["ce_id"] != "e2" || string(recs[1].Value) != "hello" {
		t.Errorf("second record: headers %v value %q", h, recs[1].Value)
	}

	// Structured sink: the JSON event is the value.
	status, _ = post(t, URL(e.srv.URL, "ns", "struct"), binaryHeaders("e3"), `{"orderId":"order-42"}`)
	if status != http.StatusAccepted {
		t.Fatalf("to structured sink: status %d", status)
	}
	rec := e.readRecords(t, "t-struct", 1)[0]
	if ct := headerMap(rec)["content-type"]; ct != "application/cloudevents+json" {
		t.Errorf("structured record content-type %q", ct)
	}
	var ev map[string]any
	if err := json.Unmarshal(rec.Value, &ev); err != nil {
		t.Fatal(err)
	}
	if ev["id"] != "e3" || ev["partitionkey"] != "order-42" || string(rec.Key) != "order-42" {
		t.Errorf("structured record: key %q value %s", rec.Key, rec.Value)
	}
	if data, _ := ev["data"].(map[string]any); data["orderId"] != "order-42" {
		t.Errorf("structured data = %v", ev["data"])
	}

	if st := e.h.Stats(); st.Accepted != 3 || st.Rejected != 0 || st.Failed != 0 {
		t.Errorf("stats = %+v", st)
	}
	if st, _ := e.h.SinkStats("ns", "bin"); st.Accepted != 2 {
		t.Errorf("bin stats = %+v", st)
	}
}

func TestSinkRefuses(t *testing.T) {
	e := setup(t)
	bin := URL(e.srv.URL, "ns", "bin")
	noID := binaryHeaders("")
	delete(noID, "Ce-Id")
	cases := []struct {
		name   string
		method string
		url    string
		header map[string]string
		body   string
		status int
		field  string
		msg    string
	}{
		{"plain JSON", "POST", bin, map[string]string{"Content-Type": "application/json"}, `{"a":1}`, 400, "specversion", "not a CloudEvent"},
		{"specversion nobody reads", "POST", bin, map[string]string{"Ce-Specversion": "9.9", "Ce-Id": "1", "Ce-Source": "/x", "Ce-Type": "t"}, `{}`, 400, "specversion", `unsupported CloudEvents specversion "9.9"`},
		{"missing id", "POST", bin, noID, `{}`, 400, "id", "invalid CloudEvent: id:"},
		{"bad structured JSON", "POST", bin, map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0",`, 400, "event", "the body is not a JSON object"},
		// The SDK's own errors for these name no attribute ("cannot parse
		// uri ref: ", a JSON decoder's byte offset), or it panics
		// (data_base64 not a string): the answer names the attribute.
		{"structured, empty source", "POST", bin, map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"x","source":"","type":"t"}`, 400, "source", "invalid CloudEvent: source:"},
		{"structured, time not a timestamp", "POST", bin, map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"x","source":"/s","type":"t","time":"yesterday"}`, 400, "time", "RFC 3339"},
		{"structured, datacontenttype a number", "POST", bin, map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"x","source":"/s","type":"t","datacontenttype":7}`, 400, "datacontenttype", "must be a JSON string"},
		{"structured, data_base64 a number", "POST", bin, map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"x","source":"/s","type":"t","data_base64":5}`, 400, "data_base64", "must be a JSON string of base64"},
		{"structured, data beside data_base64", "POST", bin, map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"x","source":"/s","type":"t","data":{"a":1},"data_base64":"e30="}`, 400, "data_base64", "given beside data"},
		{"structured, data_base64 null", "POST", bin, map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"x","source":"/s","type":"t","data_base64":null}`, 400, "data_base64", "leave data_base64 out"},
		{"compressed", "POST", bin, map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "/x", "Ce-Type": "t", "Content-Type": "application/json", "Content-Encoding": "gzip"}, "\x1f\x8b", 415, "content-encoding", `content-encoding "gzip" is not read here`},
		{"a batch", "POST", bin, map[string]string{"Content-Type": "application/cloudevents-batch+json"}, `[{"specversion":"1.0","id":"b","source":"/b","type":"t"}]`, 400, "content-type", "a batch of CloudEvents"},
		{"binary, time not a timestamp", "POST", bin, map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "/x", "Ce-Type": "t", "Ce-Time": "yesterday"}, `{}`, 400, "time", "RFC 3339"},
		{"structured without type", "POST", bin, map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"x","source":"/s"}`, 400, "type", "type:"},
		{"GET", "GET", bin, nil, "", 405, "", "only POST"},
		{"unknown sink", "POST", URL(e.srv.URL, "ns", "nope"), binaryHeaders("x"), `{}`, 404, "", "no KafkaSink at /ns/nope"},
		{"other namespace", "POST", URL(e.srv.URL, "other", "bin"), binaryHeaders("x"), `{}`, 404, "", "no KafkaSink"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var p problem
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status || p.Field != c.field || !strings.Contains(p.Error, c.msg) {
				t.Errorf("got %d %+v; want %d field %q error containing %q", resp.StatusCode, p, c.status, c.field, c.msg)
			}
			if c.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
	if st := e.h.Stats(); st.Rejected != uint64(len(cases)) || st.Accepted != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// A ce- header given twice is refused, naming it: the SDK would take the
// first value and drop the other without a word.
func TestSinkRefusesAHeaderGivenTwice(t *testing.T) {
	e := setup(t)
	req, _ := http.NewRequest("POST", URL(e.srv.URL, "ns", "bin"), strings.NewReader(`{}`))
	for k, v := range binaryHeaders("first") {
		req.Header.Set(k, v)
	}
	req.Header.Add("Ce-Id", "second")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || p.Field != "id" || !strings.Contains(p.Error, "the ce-id header is given 2 times") {
		t.Errorf("got %d %+v; want 400 naming ce-id given twice", resp.StatusCode, p)
	}
	if st := e.h.Stats(); st.Accepted != 0 {
		t.Errorf("stats = %+v: the event was written", st)
	}
}

// A write Kafka does not acknowledge (here: the topic does not exist and
// is never auto-created) is a 503, so the sender retries.
func TestSinkProducerFailure(t *testing.T) {
	e := setup(t)
	status, p := post(t, URL(e.srv.URL, "ns", "broken"), binaryHeaders("x"), `{}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(p["error"], "never-declared") {
		t.Fatalf("got %d %v", status, p)
	}
	if st, _ := e.h.SinkStats("ns", "broken"); st.Failed != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// An event too large for Kafka can never be written: 413, which senders
// do not retry (a 503 here once held a partition forever). Two sizes: one
// over the producer's limit (refused before it leaves), one over the
// broker's own max.message.bytes on the topic (refused by Kafka).
func TestSinkTooLargeIs413(t *testing.T) {
	e := setup(t)
	big := `{"blob":"` + strings.Repeat("x", 1_100_000) + `"}` // > Producer.MaxMessageBytes (1,000,000)
	status, p := post(t, URL(e.srv.URL, "ns", "bin"), binaryHeaders("big"), big)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(p["error"], "t-bin") {
		t.Fatalf("got %d %v, want 413 naming the topic", status, p)
	}
	if st, _ := e.h.SinkStats("ns", "bin"); st.Rejected != 1 || st.Failed != 0 {
		t.Errorf("stats = %+v: a refusal, not a failure", st)
	}

	// The broker's limit: a topic with max.message.bytes 2048 and a
	// producer that would send anything.
	small := []manifests.KafkaTopic{{Name: "t-small", TopicName: "t-small", Partitions: 1, Replicas: 1, Config: map[string]string{"max.message.bytes": "2048"}}}
	if _, err := broker.EnsureTopics(context.Background(), e.admin, small); err != nil {
		t.Fatal(err)
	}
	cfg := *e.cfg
	cfg.Producer.MaxMessageBytes = 10 << 20
	producer, err := sarama.NewSyncProducer(e.servers, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	srv := httptest.NewServer(New(producer, []manifests.KafkaSink{{Name: "small", Namespace: "ns", Topic: "t-small"}}, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))))
	defer srv.Close()
	status, p = post(t, URL(srv.URL, "ns", "small"), binaryHeaders("medium"), `{"blob":"`+strings.Repeat("x", 4096)+`"}`)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the topic's max.message.bytes: got %d %v, want 413", status, p)
	}
}

func TestProduceStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{sarama.ErrMessageSizeTooLarge, 413},
		{sarama.ErrMessageSetSizeTooLarge, 413},
		{sarama.ConfigurationError("Attempt to produce message larger than configured Producer.MaxMessageBytes: 2 > 1"), 413},
		{sarama.ErrInvalidRecord, 422},
		{sarama.ErrInvalidTimestamp, 422},
		{sarama.ErrPolicyViolation, 422},
		{sarama.ErrTopicAuthorizationFailed, 403},
		{sarama.ErrClusterAuthorizationFailed, 403},
		{sarama.ErrNotEnoughReplicas, 503},
		{sarama.ErrLeaderNotAvailable, 503},
		{sarama.ErrUnknownTopicOrPartition, 503},
		{sarama.ErrOutOfBrokers, 503},
		{sarama.ErrInvalidMessage, 503}, // corrupt on the way: a resend may pass
	} {
		if got := ProduceStatus(c.err); got != c.want {
			t.Errorf("ProduceStatus(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// A write is a PRODUCER span "send <topic>" under the publisher's span,
// linked to the event's creation context, carrying what the Kafka
// conventions ask (the partition as a string, where Kafka put the record);
// a failed write says why in error.type.
func TestSinkWriteIsASendSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer tracing.Use(nil)
	tracing.SetConversation("correlationid") // as orderflow's plane names it
	defer tracing.SetConversation("")
	e := setup(t)
	const (
		publisher = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		creation  = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"
	)
	h := binaryHeaders("e1")
	h["traceparent"], h["Ce-Traceparent"] = publisher, creation
	if status, _ := post(t, URL(e.srv.URL, "ns", "bin"), h, `{"orderId":"order-42"}`); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	h = binaryHeaders("e2")
	if status, _ := post(t, URL(e.srv.URL, "ns", "broken"), h, `{}`); status != http.StatusServiceUnavailable {
		t.Fatalf("broken sink: status %d", status)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	sent, failed := spans[0], spans[1]
	if sent.Name() != "send t-bin" || sent.SpanKind() != trace.SpanKindProducer || failed.Name() != "send never-declared" {
		t.Errorf("spans %q %v and %q, want PRODUCER send t-bin and send never-declared", sent.Name(), sent.SpanKind(), failed.Name())
	}
	if sent.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("parent %s, want the publisher's span", sent.Parent().SpanID())
	}
	if l := sent.Links(); len(l) != 1 || l[0].SpanContext.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("links %v, want the creation context", l)
	}
	got := map[string]attribute.Value{}
	for _, kv := range sent.Attributes() {
		got[string(kv.Key)] = kv.Value
	}
	for k, want := range map[string]string{"messaging.system": "kafka", "messaging.operation.type": "send", "messaging.operation.name": "send",
		"messaging.destination.name": "t-bin", "messaging.destination.partition.id": "0", "messaging.kafka.offset": "0",
		"messaging.kafka.message.key": "order-42", "messaging.message.id": "e1", "messaging.message.conversation_id": "order-42",
		"kn.sink.name": "bin"} {
		if got[k].Emit() != want {
			t.Errorf("%s = %q, want %q", k, got[k].Emit(), want)
		}
	}
	if got["messaging.destination.partition.id"].Type() != attribute.STRING {
		t.Errorf("partition id is %v, want a string", got["messaging.destination.partition.id"].Type())
	}
	errType := ""
	for _, kv := range failed.Attributes() {
		if kv.Key == "error.type" {
			errType = kv.Value.Emit()
		}
	}
	if errType != "503" {
		t.Errorf("failed write's error.type %q, want 503", errType)
	}
	if failed.Status().Code != codes.Error {
		t.Errorf("failed write's status %v, want Error", failed.Status())
	}
}

// A client that sends its headers and then trickles the body is cut off
// once bodyReadTimeout has passed, with a 408 (it may send again), and
// nothing is written.
func TestSinkCutsOffATricklingBody(t *testing.T) {
	e := setup(t)
	defer func(d time.Duration) { bodyReadTimeout = d }(bodyReadTimeout)
	bodyReadTimeout = 300 * time.Millisecond
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /ns/bin HTTP/1.1\r\nHost: x\r\nCe-Specversion: 1.0\r\nCe-Id: slow\r\nCe-Source: /s\r\nCe-Type: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickling body after %s: %v", time.Since(start), err)
	}
	defer resp.Body.Close()
	var p problem
	_ = json.NewDecoder(resp.Body).Decode(&p)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(p.Error, "did not arrive within 300ms") {
		t.Errorf("%d %+v, want 408 saying the body did not arrive in time", resp.StatusCode, p)
	}
	if st := e.h.Stats(); st.Accepted != 0 {
		t.Errorf("stats %+v: the event was written", st)
	}
}

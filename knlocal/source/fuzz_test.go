package source_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker/brokertest"
	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/sink"
	"orderflow.dev/knlocal/source"
)

// FuzzRecordAlwaysSettles is the proof that no record can wedge a
// partition: whatever a producer wrote (any key, any value, any headers,
// content-type and ce_* included), a subscriber that refuses it (with a
// status the fuzzer picks) leads to a dead letter that the real KafkaSink
// ingress (package sink, over HTTP, writing to a real embedded Kafka)
// accepts, that reads back from the topic as a dead letter saying where
// and why delivery failed, and, when it carries the record, as the very
// record written. Never held, never spooled.
//
// Run it longer with
//
//	go test -run XXX -fuzz FuzzRecordAlwaysSettles -fuzztime 10m ./knlocal/source/
//
// CI replays the seeds below and the corpus in testdata/fuzz.
func FuzzRecordAlwaysSettles(f *testing.F) {
	ce := func(kv ...string) []byte {
		var pairs [][2][]byte
		for i := 0; i+1 < len(kv); i += 2 {
			pairs = append(pairs, [2][]byte{[]byte(kv[i]), []byte(kv[i+1])})
		}
		return encodeHeaders(pairs)
	}
	binaryCE := []string{"ce_specversion", "1.0", "ce_id", "x1", "ce_source", "/kcat", "ce_type", "dev.orderflow.order.place.v1"}
	seeds := []struct {
		key, value []byte
		headers    []byte
		status     uint8
	}{
		// The record of the issue: a structured CloudEvent a function refuses.
		{[]byte("k1"), []byte(`{"specversion":"1.0","id":"x1","source":"/kcat","type":"dev.orderflow.order.place.v1","data":{"bogus":1}}`),
			ce("content-type", "application/cloudevents+json"), 0},
		// Structured content type, body that is no CloudEvent at all.
		{[]byte("k2"), []byte(`{"note":"not a cloudevent"}`), ce("content-type", "application/cloudevents+json"), 1},
		{nil, []byte(`[{"specversion":"1.0"}]`), ce("content-type", "application/cloudevents-batch+json"), 2},
		// An id with a newline: a CloudEvent that cannot be an HTTP header.
		{[]byte("k3"), []byte(`{"specversion":"1.0","id":"a\nb","source":"/s","type":"t","data":1}`), ce("content-type", "application/cloudevents+json"), 3},
		// data_base64 not a string: the SDK's structured reader panics on it
		// (sdk-go v2.16.2, event.consumeDataAsBytes).
		{[]byte("k11"), []byte(`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":5}`), ce("content-type", "application/cloudevents+json"), 0},
		// Binary CloudEvents with hostile header values.
		{[]byte("k4"), []byte(`{}`), ce(append(binaryCE, "ce_partitionkey", "line\r\nbreak", "content-type", "application/json")...), 4},
		{[]byte("k5"), []byte(`{}`), ce(append(binaryCE, "ce_note", " padded ", "ce_UPPER", "x")...), 5},
		{[]byte("k6"), []byte{0xff, 0xfe}, ce("ce_specversion", "1.0", "ce_id", "\x00", "ce_source", "/", "ce_type", "t"), 6},
		{[]byte("k7"), []byte(`{}`), ce("ce_specversion", "2.0", "ce_id", "x", "ce_source", "/", "ce_type", "t"), 7},
		// Plain records: invalid UTF-8 key, odd content types, clashing headers.
		{[]byte{0xc3, 0x28, 0x00}, []byte("plain"), ce("content-type", "]]not a media type[["), 0},
		{[]byte("k8"), []byte("plain"), ce("X-A", "1", "x_a", "2", "", "empty name", "ÜberHeader", "ü"), 1},
		{[]byte(""), nil, nil, 2},
		{[]byte("k9"), []byte("x"), ce("Content-Type", "text/plain", "content-type", "application/cloudevents+json"), 3},
		{[]byte("k10"), []byte("x"), ce("content-type", "application/json; charset=\"utf-8\"", "kafkaheaderx", "\t"), 4},
	}
	for _, s := range seeds {
		f.Add(s.key, s.key == nil, s.value, s.value == nil, s.headers, s.status)
	}

	rig := newFuzzRig(f)
	f.Fuzz(func(t *testing.T, key []byte, nilKey bool, value []byte, nilValue bool, headerBlob []byte, status uint8) {
		msg := &sarama.ConsumerMessage{Topic: "e2e.orders", Partition: 1, Offset: rig.offset.Add(1),
			Timestamp: time.Unix(1_780_000_000, 0), Key: key, Value: value}
		if nilKey {
			msg.Key = nil
		}
		if nilValue {
			msg.Value = nil
		}
		for _, h := range decodeHeaders(headerBlob) {
			msg.Headers = append(msg.Headers, &sarama.RecordHeader{Key: h[0], Value: h[1]})
		}
		rig.check(t, msg, refusals[int(status)%len(refusals)])
	})
}

// refusals are the answers of the refusing subscriber: permanent ones go
// to the dead-letter sink at once, the others after the (one) retry.
var refusals = []int{400, 413, 422, 415, 404, 409, 429, 500, 503, 0}

type fuzzRig struct {
	src      *source.Source
	obs      *tally
	status   atomic.Int64
	offset   atomic.Int64
	produced chan *sarama.ProducerMessage
}

func newFuzzRig(f *testing.F) *fuzzRig {
	rig := &fuzzRig{obs: &tally{}, produced: make(chan *sarama.ProducerMessage, 16)}
	k := brokertest.Start(f, manifests.KafkaTopic{Name: "dlq", TopicName: "e2e.dlq", Partitions: 1, Replicas: 1})
	producer := k.Producer(f)
	ingress := httptest.NewServer(sink.New(tap{producer, rig.produced},
		[]manifests.KafkaSink{{Name: "dlq", Namespace: "orderflow", Topic: "e2e.dlq", ContentMode: manifests.ContentModeBinary}},
		sink.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))))
	f.Cleanup(ingress.Close)

	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		st := int(rig.status.Load())
		if st == 0 { // no answer at all: drop the connection
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			st = 502
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		_, _ = io.WriteString(w, `{"error":"refused by the fuzz subscriber"}`)
	}))
	f.Cleanup(sub.Close)

	spec := manifests.KafkaSource{Name: "fuzz", Namespace: "orderflow", Topics: []string{"e2e.orders"}, ConsumerGroup: "fuzz",
		Ordering: manifests.OrderingOrdered,
		Sink:     manifests.Destination{Ref: &manifests.KReference{Kind: manifests.KindService, Name: "sub", Namespace: "orderflow"}},
		Delivery: manifests.Delivery{Retry: 1, BackoffPolicy: manifests.BackoffLinear, BackoffDelay: time.Millisecond, Timeout: 5 * time.Second,
			DeadLetterSink: &manifests.Destination{Ref: &manifests.KReference{Kind: manifests.KindKafkaSink, Name: "dlq", Namespace: "orderflow"}}},
	}
	resolve := func(_ context.Context, d manifests.Destination) (string, error) {
		if d.Ref.Kind == manifests.KindKafkaSink {
			return sink.URL(ingress.URL, d.Ref.Namespace, d.Ref.Name), nil
		}
		return sub.URL, nil
	}
	// A hold would block; a short limit turns it into a spool, which the
	// checks below then report.
	var err error
	rig.src, err = source.New(spec, k.Servers, resolve, source.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		source.WithObserver(rig.obs), source.WithHoldLimit(50*time.Millisecond), source.WithHoldBackoffCap(5*time.Millisecond))
	if err != nil {
		f.Fatal(err)
	}
	return rig
}

func (rig *fuzzRig) check(t *testing.T, msg *sarama.ConsumerMessage, status int) {
	rig.status.Store(int64(status))
	before := rig.obs.snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !rig.src.Dispatch(ctx, msg) {
		t.Fatalf("record not settled within 30s: %s", describe(msg))
	}
	got := rig.obs.snapshot()
	if got.held != before.held || got.spooled != before.spooled || got.dead != before.dead+1 {
		t.Fatalf("record %s with subscriber status %d: held %d, spooled %d, dead-lettered %d times (want 0, 0, 1); last: %v",
			describe(msg), status, got.held-before.held, got.spooled-before.spooled, got.dead-before.dead, got.last)
	}
	var pm *sarama.ProducerMessage
	select {
	case pm = <-rig.produced:
	default:
		t.Fatalf("dead-lettered, but nothing reached Kafka: %s", describe(msg))
	}
	// Read it back as a dead-letter reader does.
	cm := &sarama.ConsumerMessage{Topic: pm.Topic, Partition: 0, Offset: pm.Offset, Timestamp: time.Now()}
	if pm.Key != nil {
		cm.Key, _ = pm.Key.Encode()
	}
	if pm.Value != nil {
		cm.Value, _ = pm.Value.Encode()
	}
	for i := range pm.Headers {
		cm.Headers = append(cm.Headers, &pm.Headers[i])
	}
	e := kafkalog.Decode(cm)
	if e == nil {
		t.Fatalf("the dead letter of %s is not a CloudEvent on the topic", describe(msg))
	}
	ext := e.Extensions()
	if ext[source.ErrorDestExtension] == nil {
		t.Fatalf("dead letter of %s does not say where delivery failed: %s", describe(msg), e)
	}
	if ext[source.ErrorCodeExtension] == nil && ext[source.ErrorExtension] == nil {
		t.Errorf("dead letter of %s says neither the status (%d) nor what the plane saw", describe(msg), status)
	}
	if _, carried := ext[source.RecordExtension]; !carried {
		return // carried as the event it was; nothing more to compare
	}
	o, err := source.OriginalOf(*e)
	if err != nil {
		t.Fatalf("record form of %s: %v", describe(msg), err)
	}
	if o.Topic != msg.Topic || !sameBytes(o.Key, msg.Key) || !sameBytes(o.Value, msg.Value) || len(o.Headers) != len(nonNil(msg.Headers)) {
		t.Fatalf("record form of %s does not give back the record: %+v", describe(msg), o)
	}
	for i, h := range nonNil(msg.Headers) {
		if !bytes.Equal(o.Headers[i].Key, h.Key) || !bytes.Equal(o.Headers[i].Value, h.Value) {
			t.Fatalf("header %d of %s came back as %q=%q", i, describe(msg), o.Headers[i].Key, o.Headers[i].Value)
		}
	}
}

// sameBytes tells nil from empty: a tombstone is not an empty value.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func nonNil(hs []*sarama.RecordHeader) []*sarama.RecordHeader {
	var out []*sarama.RecordHeader
	for _, h := range hs {
		if h != nil {
			out = append(out, h)
		}
	}
	return out
}

func describe(msg *sarama.ConsumerMessage) string {
	var b bytes.Buffer
	b.WriteString("key=")
	if msg.Key == nil {
		b.WriteString("<nil>")
	} else {
		b.WriteString(quote(msg.Key))
	}
	b.WriteString(" value=")
	b.WriteString(quote(msg.Value))
	for _, h := range msg.Headers {
		b.WriteString(" " + quote(h.Key) + ":" + quote(h.Value))
	}
	return b.String()
}

func quote(b []byte) string {
	const max = 120
	s := []byte(b)
	if len(s) > max {
		s = s[:max]
	}
	return strconv.Quote(string(s))
}

// tap passes every record to Kafka and hands a copy to the test.
type tap struct {
	sarama.SyncProducer
	out chan<- *sarama.ProducerMessage
}

func (t tap) SendMessage(m *sarama.ProducerMessage) (int32, int64, error) {
	p, o, err := t.SyncProducer.SendMessage(m)
	if err == nil {
		select {
		case t.out <- m:
		default:
		}
	}
	return p, o, err
}

type tally struct {
	source.NopObserver
	mu                  sync.Mutex
	held, spooled, dead int
	last                string
}

type tallySnapshot struct {
	held, spooled, dead int
	last                string
}

func (c *tally) snapshot() tallySnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return tallySnapshot{c.held, c.spooled, c.dead, c.last}
}

func (c *tally) Held(o source.Outcome) {
	c.mu.Lock()
	c.held++
	c.last = "held: " + errText(o.Err)
	c.mu.Unlock()
}

func (c *tally) Spooled(o source.Outcome) {
	c.mu.Lock()
	c.spooled++
	c.last = "spooled: " + errText(o.Err)
	c.mu.Unlock()
}

func (c *tally) DeadLettered(source.Outcome) {
	c.mu.Lock()
	c.dead++
	c.mu.Unlock()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// encodeHeaders and decodeHeaders turn a header list into fuzzer bytes and
// back: each header is <name length><name><value length, 2 bytes><value>.
// Any byte string decodes to some header list.
func encodeHeaders(hs [][2][]byte) []byte {
	var b []byte
	for _, h := range hs {
		b = append(b, byte(len(h[0])))
		b = append(b, h[0]...)
		b = append(b, byte(len(h[1])>>8), byte(len(h[1])))
		b = append(b, h[1]...)
	}
	return b
}

func decodeHeaders(b []byte) [][2][]byte {
	var out [][2][]byte
	take := func(n int) []byte {
		n = min(n, len(b))
		v := b[:n:n]
		b = b[n:]
		return v
	}
	for len(b) > 0 {
		name := take(int(take(1)[0]))
		var vl int
		if l := take(2); len(l) == 2 {
			vl = int(l[0])<<8 | int(l[1])
		} else if len(l) == 1 {
			vl = int(l[0])
		}
		out = append(out, [2][]byte{append([]byte(nil), name...), append([]byte(nil), take(vl)...)})
	}
	return out
}

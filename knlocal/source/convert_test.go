package source

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/manifests"
)

func hdr(k, v string) *sarama.RecordHeader {
	return &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)}
}

func TestPlainRecordConversion(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.FixedZone("x", 3600))
	msg := &sarama.ConsumerMessage{
		Topic: "orderflow.orders", Partition: 3, Offset: 42, Timestamp: ts,
		Key:   []byte("order-7"),
		Value: []byte(`{"legacy":true}`),
		Headers: []*sarama.RecordHeader{
			hdr("Content-Type", "Application/JSON"),
			hdr("X-Trace_Id", "abc"),
			hdr("retry.count", "2"),
			hdr("ÜberHeader9", "u"),
		},
	}
	e, pass := ToEvent(msg, "orderflow", "analytics")
	if pass {
		t.Fatal("plain record taken for a CloudEvent")
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"id":              {e.ID(), "partition:3/offset:42"},
		"type":            {e.Type(), "dev.knative.kafka.event"},
		"source":          {e.Source(), "/apis/v1/namespaces/orderflow/kafkasources/analytics#orderflow.orders"},
		"subject":         {e.Subject(), "partition:3#42"},
		"time":            {e.Time().Format(time.RFC3339Nano), "2026-03-04T04:06:07.008Z"},
		"datacontenttype": {e.DataContentType(), "application/json"},
		"data":            {string(e.Data()), `{"legacy":true}`},
		"specversion":     {e.SpecVersion(), "1.0"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	wantExt := map[string]any{
		"key": "order-7", "partitionkey": "order-7",
		"kafkaheaderxtraceid": "abc", "kafkaheaderretrycount": "2", "kafkaheaderberheader9": "u",
	}
	if len(e.Extensions()) != len(wantExt) {
		t.Errorf("extensions = %v", e.Extensions())
	}
	for k, v := range wantExt {
		if e.Extensions()[k] != v {
			t.Errorf("extension %s = %v, want %v", k, e.Extensions()[k], v)
		}
	}
}

func TestPlainRecordWithoutKeyOrTimestamp(t *testing.T) {
	e, _ := ToEvent(&sarama.ConsumerMessage{Topic: "t", Partition: 0, Offset: 0, Value: []byte("x")}, "ns", "src")
	if len(e.Extensions()) != 0 || !e.Time().IsZero() || e.DataContentType() != "" || string(e.Data()) != "x" {
		t.Errorf("event = %v", e)
	}
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
}

func TestHeaderExtensionName(t *testing.T) {
	for in, want := range map[string]string{
		"traceparent": "kafkaheadertraceparent", "X-B3-TraceId": "kafkaheaderxb3traceid",
		"a.b_c-d e": "kafkaheaderabcde", "---": "kafkaheader", "ÄÖ1": "kafkaheader1",
	} {
		if got := HeaderExtensionName(in); got != want {
			t.Errorf("HeaderExtensionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPassThroughBinary(t *testing.T) {
	msg := &sarama.ConsumerMessage{
		Topic: "t", Partition: 1, Offset: 9, Key: []byte("order-1"), Value: []byte(`{"a":1}`),
		Headers: []*sarama.RecordHeader{
			hdr("ce_specversion", "1.0"), hdr("ce_id", "evt-1"), hdr("ce_type", "dev.orderflow.order.created.v1"),
			hdr("ce_source", "/orderflow/order"), hdr("ce_time", "2026-01-02T03:04:05Z"),
			hdr("ce_partitionkey", "order-1"), hdr("ce_correlationid", "order-1"),
			hdr("content-type", "application/json"), hdr("unrelated", "ignored"),
		},
	}
	e, pass := ToEvent(msg, "ns", "src")
	if !pass {
		t.Fatal("binary CloudEvent not passed through")
	}
	if e.ID() != "evt-1" || e.Type() != "dev.orderflow.order.created.v1" || e.Source() != "/orderflow/order" ||
		e.DataContentType() != "application/json" || string(e.Data()) != `{"a":1}` || e.Time().Year() != 2026 {
		t.Errorf("event = %v", e)
	}
	want := map[string]any{"partitionkey": "order-1", "correlationid": "order-1"}
	if len(e.Extensions()) != len(want) {
		t.Errorf("extensions = %v (no kafka* extensions may be added)", e.Extensions())
	}
	for k, v := range want {
		if e.Extensions()[k] != v {
			t.Errorf("extension %s = %v", k, e.Extensions()[k])
		}
	}
}

func TestPassThroughStructured(t *testing.T) {
	msg := &sarama.ConsumerMessage{
		Topic: "t", Value: []byte(`{"specversion":"1.0","id":"s-1","type":"ty","source":"/s","correlationid":"c","data":{"x":2}}`),
		Headers: []*sarama.RecordHeader{hdr("content-type", "application/cloudevents+json; charset=utf-8")},
	}
	e, pass := ToEvent(msg, "ns", "src")
	if !pass || e.ID() != "s-1" || e.Extensions()["correlationid"] != "c" || string(e.Data()) != `{"x":2}` {
		t.Errorf("pass=%v event=%v", pass, e)
	}
}

func TestInvalidCloudEventBecomesPlain(t *testing.T) {
	cases := map[string]*sarama.ConsumerMessage{
		"binary without id": {Topic: "t", Offset: 5, Value: []byte("v"), Headers: []*sarama.RecordHeader{
			hdr("ce_specversion", "1.0"), hdr("ce_type", "x"), hdr("ce_source", "/s")}},
		"structured, bad JSON": {Topic: "t", Offset: 5, Value: []byte(`{"specversion":`), Headers: []*sarama.RecordHeader{
			hdr("content-type", "application/cloudevents+json")}},
		"structured, no source": {Topic: "t", Offset: 5, Value: []byte(`{"specversion":"1.0","id":"x","type":"t"}`), Headers: []*sarama.RecordHeader{
			hdr("content-type", "application/cloudevents+json")}},
	}
	for name, msg := range cases {
		e, pass := ToEvent(msg, "ns", "src")
		if pass || e.ID() != "partition:0/offset:5" || e.Type() != PlainEventType || string(e.Data()) != string(msg.Value) {
			t.Errorf("%s: pass=%v event=%v", name, pass, e)
		}
		// Its ce_ headers become kafkaheaderce* extensions, as in Knative.
		if name == "binary without id" && e.Extensions()["kafkaheadercespecversion"] != "1.0" {
			t.Errorf("%s: extensions %v", name, e.Extensions())
		}
	}
}

func TestRetryable(t *testing.T) {
	retry := []int{0, 404, 408, 409, 429, 500, 501, 502, 503, 504, 599}
	final := []int{200, 201, 202, 204, 299, 100, 300, 301, 304, 400, 401, 403, 405, 410, 413, 415, 422}
	for _, s := range retry {
		if !Retryable(s) {
			t.Errorf("%d should be retried", s)
		}
	}
	for _, s := range final {
		if Retryable(s) {
			t.Errorf("%d should not be retried", s)
		}
	}
	for _, s := range []int{200, 201, 202, 204, 299} {
		if !Success(s) {
			t.Errorf("%d is a success", s)
		}
	}
	for _, s := range []int{0, 100, 199, 300, 400, 404, 500} {
		if Success(s) {
			t.Errorf("%d is not a success", s)
		}
	}
}

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		policy string
		delay  time.Duration
		n      int
		want   time.Duration
	}{
		{"linear", 200 * ms, 1, 200 * ms},
		{"linear", 200 * ms, 2, 400 * ms},
		{"linear", 200 * ms, 5, time.Second},
		{"exponential", 200 * ms, 1, 400 * ms},
		{"exponential", 200 * ms, 2, 800 * ms},
		{"exponential", 200 * ms, 3, 1600 * ms},
		{"exponential", 300 * ms, 10, 307200 * ms}, // the defaults' last wait
		{"exponential", 200 * ms, 0, 0},
		{"linear", 0, 3, 0},
		{"exponential", time.Second, 200, time.Duration(1<<63 - 1)}, // saturates
	}
	for _, c := range cases {
		if got := Backoff(c.policy, c.delay, c.n); got != c.want {
			t.Errorf("Backoff(%s, %v, %d) = %v, want %v", c.policy, c.delay, c.n, got, c.want)
		}
	}
	p := PolicyFor(manifests.Delivery{Retry: 5, BackoffPolicy: "exponential", BackoffDelay: 200 * ms, Timeout: time.Second})
	if p.Attempts != 6 || p.Wait(1) != 400*ms {
		t.Errorf("policy = %+v", p)
	}
}

func TestDeadLetterExtensions(t *testing.T) {
	orig := event.New()
	orig.SetID("e1")
	orig.SetType("t")
	orig.SetSource("/s")
	orig.SetExtension("partitionkey", "k")
	_ = orig.SetData("application/json", map[string]int{"a": 1})

	body := func(n int) []byte { return []byte(strings.Repeat("x", n-1) + "y") }
	b64 := base64.StdEncoding.EncodeToString
	cases := []struct {
		name     string
		last     Response
		wantCode any
		wantData any
	}{
		{"1023 bytes", Response{Status: 400, Body: body(1023)}, "400", b64(body(1023))},
		{"exactly 1024", Response{Status: 422, Body: body(1024)}, "422", b64(body(1024))},
		{"1025 bytes cut to 1024", Response{Status: 500, Body: body(1025)}, "500", b64(body(1025)[:1024])},
		{"empty body", Response{Status: 503}, "503", nil},
	}
	for _, c := range cases {
		dl := DeadLetter(orig, "http://sub/", c.last, 3)
		ext := dl.Extensions()
		if ext[ErrorDestExtension] != "http://sub/" || ext[ErrorCodeExtension] != c.wantCode || ext[ErrorDataExtension] != c.wantData {
			t.Errorf("%s: extensions %v", c.name, ext)
		}
		if ext[AttemptsExtension] != int32(3) || ext["partitionkey"] != "k" {
			t.Errorf("%s: extensions %v", c.name, ext)
		}
		if dl.ID() != "e1" || string(dl.Data()) != `{"a":1}` {
			t.Errorf("%s: original event changed: %v", c.name, dl)
		}
		if err := dl.Validate(); err != nil {
			t.Error(err)
		}
	}
	// The body as the subscriber sent it, not only what send() kept.
	if got := DeadLetter(orig, "d", Response{Status: 400, Body: body(5000)}, 1).Extensions()[ErrorDataExtension]; got != b64(body(5000)[:1024]) {
		t.Error("long body not cut to 1024 bytes")
	}

	// No response at all: only the destination (and our attempts count).
	dl := DeadLetter(orig, "http://sub/", Response{Err: http.ErrHandlerTimeout}, 6)
	ext := dl.Extensions()
	if ext[ErrorDestExtension] != "http://sub/" || ext[ErrorCodeExtension] != nil || ext[ErrorDataExtension] != nil || ext[AttemptsExtension] != int32(6) {
		t.Errorf("no response: %v", ext)
	}
	if _, ok := orig.Extensions()[ErrorDestExtension]; ok {
		t.Error("DeadLetter modified the original event")
	}

	// Kne-* response headers become extensions; ours cannot be overwritten.
	h := http.Header{}
	h.Set("Kne-Reason", "out of stock")
	h.Set("Kne-Knativeerrorcode", "999")
	h.Set("Kne-Bad_Name", "x")
	ext = DeadLetter(orig, "d", Response{Status: 409, Header: h}, 1).Extensions()
	if ext["reason"] != "out of stock" || ext[ErrorCodeExtension] != "409" || ext["bad_name"] != nil {
		t.Errorf("kne headers: %v", ext)
	}
}

func TestOffsetWindow(t *testing.T) {
	w := newOffsetWindow()
	var commits []int64
	commit := func(n int64) { commits = append(commits, n) }
	for _, o := range []int64{10, 11, 12, 14} { // 13 is a gap (e.g. compacted away)
		w.start(o)
	}
	w.finish(11, commit) // 10 unfinished: nothing to commit
	w.finish(12, commit)
	if len(commits) != 0 {
		t.Fatalf("committed past an unfinished offset: %v", commits)
	}
	w.finish(10, commit) // 10,11,12 done: the lowest unfinished is 14
	w.finish(14, commit) // all done: last + 1
	if len(commits) != 2 || commits[0] != 14 || commits[1] != 15 {
		t.Fatalf("commits = %v, want [14 15]", commits)
	}
}

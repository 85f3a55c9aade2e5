package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/knlocal/manifests"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder is an HTTP endpoint that answers with the statuses of a
// script (the last one repeating) and keeps what it received.
type recorder struct {
	mu       sync.Mutex
	script   []int
	body     string
	events   []event.Event
	requests []*http.Request
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	e, err := binding.ToEvent(req.Context(), cehttp.NewMessageFromHttpRequest(req))
	r.mu.Lock()
	n := len(r.requests)
	r.requests = append(r.requests, req)
	if err == nil {
		r.events = append(r.events, *e)
	}
	status := r.script[min(n, len(r.script)-1)]
	r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, r.body)
}

func (r *recorder) got() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

// counting counts Observer calls.
type counting struct {
	NopObserver
	attempts, delivered, dead, held, spooled atomic.Int64
}

func (c *counting) Attempted(Attempt)    { c.attempts.Add(1) }
func (c *counting) Delivered(Outcome)    { c.delivered.Add(1) }
func (c *counting) DeadLettered(Outcome) { c.dead.Add(1) }
func (c *counting) Held(Outcome)         { c.held.Add(1) }
func (c *counting) Spooled(Outcome)      { c.spooled.Add(1) }

func testSpec(retry int, dls bool) manifests.KafkaSource {
	s := manifests.KafkaSource{Name: "src", Namespace: "ns", Topics: []string{"t"}, Ordering: manifests.OrderingOrdered,
		Sink:     manifests.Destination{Ref: &manifests.KReference{Kind: "Service", Name: "sub", Namespace: "ns"}},
		Delivery: manifests.Delivery{Retry: retry, BackoffPolicy: manifests.BackoffLinear, BackoffDelay: time.Millisecond, Timeout: 5 * time.Second}}
	if dls {
		s.Delivery.DeadLetterSink = &manifests.Destination{Ref: &manifests.KReference{Kind: "KafkaSink", Name: "dlq", Namespace: "ns"}}
	}
	return s
}

func resolverFor(urls map[string]string) Resolver {
	return func(_ context.Context, d manifests.Destination) (string, error) {
		if u, ok := urls[d.Ref.Name]; ok {
			return u, nil
		}
		return "", errors.New("unknown " + d.Ref.Name)
	}
}

func testEvent() event.Event {
	e := event.New()
	e.SetID("e1")
	e.SetType("dev.orderflow.order.created.v1")
	e.SetSource("/orderflow/order")
	e.SetExtension("partitionkey", "order-1")
	_ = e.SetData("application/json", map[string]string{"orderId": "order-1"})
	return e
}

func newTestSource(t *testing.T, spec manifests.KafkaSource, urls map[string]string, opts ...Option) (*Source, *counting) {
	t.Helper()
	obs := &counting{}
	s, err := New(spec, []string{"127.0.0.1:1"}, resolverFor(urls), append([]Option{WithLogger(quiet), WithObserver(obs)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, obs
}

func TestRetriesThenSuccess(t *testing.T) {
	sub := &recorder{script: []int{503, 429, 404, 408, 409, 500, 200}}
	s, obs := newTestSource(t, testSpec(10, false), map[string]string{"sub": serve(t, sub)})
	e := testEvent()
	if !s.settle(context.Background(), &delivery{}, &e) {
		t.Fatal("not settled")
	}
	if got := len(sub.got()); got != 7 {
		t.Errorf("attempts = %d, want 7", got)
	}
	if obs.attempts.Load() != 7 || obs.delivered.Load() != 1 || obs.dead.Load() != 0 {
		t.Errorf("observer = %d attempts, %d delivered, %d dead", obs.attempts.Load(), obs.delivered.Load(), obs.dead.Load())
	}
	if st := s.Stats(); st.Retried != 6 || st.Delivered != 1 {
		t.Errorf("stats = %+v", st)
	}
	for _, got := range sub.got() {
		if got.ID() != "e1" || got.Extensions()["partitionkey"] != "order-1" || string(got.Data()) != `{"orderId":"order-1"}` {
			t.Errorf("delivered %v", got)
		}
	}
	// Binary content mode.
	if ct := sub.requests[0].Header.Get("Content-Type"); ct != "application/json" || sub.requests[0].Header.Get("Ce-Id") != "e1" {
		t.Errorf("not binary mode: %v", sub.requests[0].Header)
	}
}

func TestNonRetryableGoesToDeadLetter(t *testing.T) {
	for _, status := range []int{400, 401, 403, 413, 415, 422} {
		sub := &recorder{script: []int{status}, body: `{"error":"no","field":"orderId"}`}
		dlq := &recorder{script: []int{202}}
		s, obs := newTestSource(t, testSpec(5, true), map[string]string{"sub": serve(t, sub), "dlq": serve(t, dlq)})
		e := testEvent()
		if !s.settle(context.Background(), &delivery{}, &e) {
			t.Fatal("not settled")
		}
		if n := len(sub.got()); n != 1 {
			t.Errorf("%d: %d attempts, want 1", status, n)
		}
		dl := dlq.got()
		if len(dl) != 1 || obs.dead.Load() != 1 || obs.delivered.Load() != 0 {
			t.Fatalf("%d: dead letters %d, observer dead %d", status, len(dl), obs.dead.Load())
		}
		ext := dl[0].Extensions()
		if ext[ErrorCodeExtension] != itoa(status) || ext[ErrorDestExtension] == nil || ext[ErrorDataExtension] != "eyJlcnJvciI6Im5vIiwiZmllbGQiOiJvcmRlcklkIn0=" {
			t.Errorf("%d: extensions %v", status, ext)
		}
		if ext[AttemptsExtension] != "1" { // a string once it crossed HTTP
			t.Errorf("%d: attempts extension %v", status, ext[AttemptsExtension])
		}
	}
}

func TestRetriesExhaustedGoToDeadLetter(t *testing.T) {
	sub := &recorder{script: []int{503}}
	dlq := &recorder{script: []int{202}}
	s, _ := newTestSource(t, testSpec(2, true), map[string]string{"sub": serve(t, sub), "dlq": serve(t, dlq)})
	e := testEvent()
	s.settle(context.Background(), &delivery{}, &e)
	if len(sub.got()) != 3 || len(dlq.got()) != 1 || dlq.got()[0].Extensions()[ErrorCodeExtension] != "503" {
		t.Errorf("attempts %d, dead letters %v", len(sub.got()), dlq.got())
	}
}

// No response at all (the subscriber hangs past the per-attempt timeout):
// retried, then dead-lettered with only knativeerrordest.
func TestNoResponseDeadLetter(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	hang := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.ReadAll(r.Body) // so the server notices the client hanging up
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	dlq := &recorder{script: []int{202}}
	spec := testSpec(1, true)
	// Long enough for each attempt to reach the handler on a loaded
	// machine (at 20 ms one sometimes timed out on the way, and the
	// subscriber saw one call of the two).
	spec.Delivery.Timeout = 250 * time.Millisecond
	s, _ := newTestSource(t, spec, map[string]string{"sub": hang, "dlq": serve(t, dlq)})
	e := testEvent()
	s.settle(context.Background(), &delivery{}, &e)
	dl := dlq.got()
	if calls.Load() != 2 || len(dl) != 1 {
		t.Fatalf("calls %d, dead letters %d", calls.Load(), len(dl))
	}
	ext := dl[0].Extensions()
	if ext[ErrorDestExtension] != hang || ext[ErrorCodeExtension] != nil || ext[ErrorDataExtension] != nil {
		t.Errorf("extensions %v", ext)
	}
}

// Our departure from Knative: a failing dead-letter sink holds the event
// (retried with backoff) instead of dropping it.
func TestFailingDeadLetterSinkHolds(t *testing.T) {
	sub := &recorder{script: []int{400}}
	dlq := &recorder{script: []int{500, 500, 500, 500, 202}} // 2 rounds of 2 attempts fail
	spec := testSpec(1, true)
	s, obs := newTestSource(t, spec, map[string]string{"sub": serve(t, sub), "dlq": serve(t, dlq)}, WithHoldBackoffCap(time.Millisecond))
	e := testEvent()
	if !s.settle(context.Background(), &delivery{}, &e) {
		t.Fatal("not settled")
	}
	if len(sub.got()) != 1 || len(dlq.got()) != 5 || obs.held.Load() != 2 || obs.dead.Load() != 1 {
		t.Errorf("sub %d, dlq %d, held %d, dead %d", len(sub.got()), len(dlq.got()), obs.held.Load(), obs.dead.Load())
	}
}

// No dead-letter sink: Knative drops the event; we put it in the spool,
// and the partition moves on.
func TestNoDeadLetterSinkSpools(t *testing.T) {
	sub := &recorder{script: []int{400}}
	spool := NewMemorySpool()
	s, obs := newTestSource(t, testSpec(0, false), map[string]string{"sub": serve(t, sub)}, WithSpool(spool, "test"))
	e := testEvent()
	if !s.settle(context.Background(), &delivery{Record: Record{Topic: "t", Offset: 7}, copy: 1}, &e) {
		t.Fatal("not settled")
	}
	letters, _ := spool.List(s.id)
	if len(sub.got()) != 1 || obs.held.Load() != 0 || obs.spooled.Load() != 1 || len(letters) != 1 {
		t.Fatalf("attempts %d, held %d, spooled %d, letters %d", len(sub.got()), obs.held.Load(), obs.spooled.Load(), len(letters))
	}
	got, err := letters[0].Event.Event()
	if err != nil || got.ID() != "e1" || got.Extensions()[ErrorCodeExtension] != "400" || letters[0].ID != "t/0/7" {
		t.Errorf("spooled %+v (%v)", letters[0], err)
	}
}

// An unresolvable subscriber (function not up yet) holds too.
func TestUnresolvableSinkHolds(t *testing.T) {
	var n atomic.Int64
	sub := &recorder{script: []int{200}}
	url := serve(t, sub)
	resolve := func(_ context.Context, d manifests.Destination) (string, error) {
		if n.Add(1) < 3 {
			return "", errors.New("function order is not running")
		}
		return url, nil
	}
	s, err := New(testSpec(0, false), []string{"x"}, resolve, WithLogger(quiet), WithHoldBackoffCap(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	e := testEvent()
	if !s.settle(context.Background(), &delivery{}, &e) || len(sub.got()) != 1 || s.Stats().Held != 2 {
		t.Errorf("delivered %d, stats %+v", len(sub.got()), s.Stats())
	}
}

// Cancelling abandons the delivery: settle reports false (no commit).
func TestCancelAbandons(t *testing.T) {
	sub := &recorder{script: []int{503}}
	spec := testSpec(100, false)
	spec.Delivery.BackoffDelay = time.Hour
	s, _ := newTestSource(t, spec, map[string]string{"sub": serve(t, sub)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	e := testEvent()
	go func() { done <- s.settle(ctx, &delivery{}, &e) }()
	for len(sub.got()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if <-done {
		t.Error("a cancelled delivery reported settled")
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(testSpec(1, false), nil, nil); err == nil {
		t.Error("nil resolver accepted")
	}
	spec := testSpec(1, false)
	spec.Delivery.Timeout = 0
	if _, err := New(spec, nil, resolverFor(nil)); err == nil {
		t.Error("zero timeout accepted")
	}
}

func itoa(n int) string {
	return string(rune('0'+n/100)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}

// A dead-letter sink that refuses the event for good (4xx) gets the
// original record next; it is never a reason to hold.
func TestRefusingDeadLetterSinkGetsTheRecord(t *testing.T) {
	sub := &recorder{script: []int{400}}
	dlq := &recorder{script: []int{400, 202}}
	s, obs := newTestSource(t, testSpec(3, true), map[string]string{"sub": serve(t, sub), "dlq": serve(t, dlq)})
	e := testEvent()
	msg := &sarama.ConsumerMessage{Topic: "t", Partition: 2, Offset: 9, Key: []byte("order-1"), Value: []byte("raw"),
		Headers: []*sarama.RecordHeader{{Key: []byte("X-Hdr"), Value: []byte("v")}}}
	if !s.settle(context.Background(), &delivery{Record: Record{Topic: "t", Partition: 2, Offset: 9}, msg: msg, copy: 1}, &e) {
		t.Fatal("not settled")
	}
	got := dlq.got()
	if len(got) != 2 || obs.held.Load() != 0 || obs.dead.Load() != 1 || obs.spooled.Load() != 0 {
		t.Fatalf("dead-letter attempts %d, held %d, dead %d, spooled %d", len(got), obs.held.Load(), obs.dead.Load(), obs.spooled.Load())
	}
	first, second := got[0], got[1]
	if first.ID() != "e1" || second.ID() != "partition:2/offset:9" || second.Type() != PlainEventType || string(second.Data()) != "raw" {
		t.Errorf("first %s %s, then %s %s %q", first.ID(), first.Type(), second.ID(), second.Type(), second.Data())
	}
	ext := second.Extensions()
	if ext["kafkaheaderxhdr"] != "v" || ext[ErrorCodeExtension] != "400" || !strings.Contains(fmt.Sprint(ext[AsRecordExtension]), "refused the event (HTTP 400)") ||
		ext[RecordExtension] != `{"key":"b3JkZXItMQ==","headers":[["WC1IZHI=","dg=="]]}` {
		t.Errorf("record form extensions %v", ext)
	}
}

// Refused in both forms: spooled, the partition moves on at once.
func TestDeadLetterSinkRefusingEverythingSpools(t *testing.T) {
	sub := &recorder{script: []int{422}}
	dlq := &recorder{script: []int{403}}
	spool := NewMemorySpool()
	s, obs := newTestSource(t, testSpec(3, true), map[string]string{"sub": serve(t, sub), "dlq": serve(t, dlq)}, WithSpool(spool, "test"))
	e := testEvent()
	if !s.settle(context.Background(), &delivery{Record: Record{Topic: "t", Offset: 1}, copy: 1}, &e) {
		t.Fatal("not settled")
	}
	letters, _ := spool.List(s.id)
	if len(dlq.got()) != 2 || obs.held.Load() != 0 || obs.spooled.Load() != 1 || len(letters) != 1 {
		t.Fatalf("dead-letter attempts %d, held %d, spooled %d, in spool %d", len(dlq.got()), obs.held.Load(), obs.spooled.Load(), len(letters))
	}
	if !strings.Contains(letters[0].Reason, "HTTP 403") || !strings.Contains(letters[0].Reason, "permanent") {
		t.Errorf("reason %q", letters[0].Reason)
	}
}

// A dead-letter sink down for longer than the hold limit: the record
// holds its partition, visibly (Holds), until the limit; then its letter
// goes to the spool, and once the sink is back the spool empties into it.
func TestHoldIsBoundedAndVisible(t *testing.T) {
	sub := &recorder{script: []int{400}}
	var down atomic.Bool
	down.Store(true)
	dlq := &recorder{script: []int{202}}
	dlqURL := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		dlq.ServeHTTP(w, r)
	}))
	spool := NewMemorySpool()
	s, obs := newTestSource(t, testSpec(0, true), map[string]string{"sub": serve(t, sub), "dlq": dlqURL},
		WithSpool(spool, "test"), WithHoldLimit(300*time.Millisecond), WithHoldBackoffCap(20*time.Millisecond), WithSpoolRetry(20*time.Millisecond))
	e := testEvent()
	ts := time.Now().Add(-time.Minute)
	msg := &sarama.ConsumerMessage{Topic: "t", Partition: 4, Offset: 11, Timestamp: ts}
	done := make(chan bool)
	go func() {
		done <- s.settle(context.Background(), &delivery{Record: Record{Topic: "t", Partition: 4, Offset: 11, EventID: "e1"}, msg: msg, copy: 1}, &e)
	}()

	var seen []Hold
	for deadline := time.Now().Add(5 * time.Second); len(seen) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		seen = s.Stats().Holds
	}
	if len(seen) != 1 || seen[0].Partition != 4 || seen[0].Offset != 11 || !seen[0].RecordTime.Equal(ts) || !strings.Contains(seen[0].Reason, "HTTP 503") {
		t.Fatalf("holds while the dead-letter sink is down: %+v", seen)
	}
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("not settled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held past the limit")
	}
	if n := len(s.Holds()); n != 0 || obs.spooled.Load() != 1 || obs.held.Load() < 2 || s.Stats().Unsent != 1 {
		t.Fatalf("after the limit: holds %d, spooled %d, held rounds %d, unsent %d", n, obs.spooled.Load(), obs.held.Load(), s.Stats().Unsent)
	}

	// The sink comes back: offerSpooled delivers the letter and empties the spool.
	down.Store(false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.offerSpooled(ctx)
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Unsent != 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if got := dlq.got(); s.Stats().Unsent != 0 || len(got) != 1 || got[0].ID() != "e1" || got[0].Extensions()[ErrorCodeExtension] != "400" {
		t.Fatalf("spool after the sink came back: unsent %d, dead letters %v", s.Stats().Unsent, got)
	}
}

// An event that cannot be put in an HTTP request is not retried: it is
// dead-lettered at once, as the record, saying why.
func TestUnsendableEventIsDeadLetteredAtOnce(t *testing.T) {
	sub := &recorder{script: []int{200}}
	dlq := &recorder{script: []int{202}}
	s, obs := newTestSource(t, testSpec(5, true), map[string]string{"sub": serve(t, sub), "dlq": serve(t, dlq)})
	e := testEvent()
	e.SetID("line\nbreak")
	if !s.settle(context.Background(), &delivery{Record: Record{Topic: "t"}, msg: &sarama.ConsumerMessage{Topic: "t", Value: []byte("v")}, copy: 1}, &e) {
		t.Fatal("not settled")
	}
	got := dlq.got()
	if len(sub.got()) != 0 || obs.attempts.Load() != 2 || len(got) != 1 {
		t.Fatalf("subscriber got %d, attempts %d, dead letters %d", len(sub.got()), obs.attempts.Load(), len(got))
	}
	ext := got[0].Extensions()
	if got[0].Type() != PlainEventType || ext[ErrorCodeExtension] != nil || !strings.Contains(fmt.Sprint(ext[ErrorExtension]), "control character") {
		t.Errorf("dead letter %v", got[0])
	}
}

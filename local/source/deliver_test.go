package source

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/local/manifests"
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
	attempts, delivered, dead, held atomic.Int64
}

func (c *counting) Attempted(Attempt)    { c.attempts.Add(1) }
func (c *counting) Delivered(Outcome)    { c.delivered.Add(1) }
func (c *counting) DeadLettered(Outcome) { c.dead.Add(1) }
func (c *counting) Held(Outcome)         { c.held.Add(1) }

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
	if !s.settle(context.Background(), Record{}, &e) {
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
		if !s.settle(context.Background(), Record{}, &e) {
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
	s.settle(context.Background(), Record{}, &e)
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
	spec.Delivery.Timeout = 20 * time.Millisecond
	s, _ := newTestSource(t, spec, map[string]string{"sub": hang, "dlq": serve(t, dlq)})
	e := testEvent()
	s.settle(context.Background(), Record{}, &e)
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
	if !s.settle(context.Background(), Record{}, &e) {
		t.Fatal("not settled")
	}
	if len(sub.got()) != 1 || len(dlq.got()) != 5 || obs.held.Load() != 2 || obs.dead.Load() != 1 {
		t.Errorf("sub %d, dlq %d, held %d, dead %d", len(sub.got()), len(dlq.got()), obs.held.Load(), obs.dead.Load())
	}
}

// No dead-letter sink: Knative drops the event; we deliver it again until
// it is accepted.
func TestNoDeadLetterSinkRetriesForever(t *testing.T) {
	sub := &recorder{script: []int{400, 400, 400, 200}}
	s, obs := newTestSource(t, testSpec(0, false), map[string]string{"sub": serve(t, sub)}, WithHoldBackoffCap(time.Millisecond))
	e := testEvent()
	if !s.settle(context.Background(), Record{}, &e) {
		t.Fatal("not settled")
	}
	if len(sub.got()) != 4 || obs.held.Load() != 3 || obs.delivered.Load() != 1 {
		t.Errorf("attempts %d, held %d", len(sub.got()), obs.held.Load())
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
	if !s.settle(context.Background(), Record{}, &e) || len(sub.got()) != 1 || s.Stats().Held != 2 {
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
	go func() { done <- s.settle(ctx, Record{}, &e) }()
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

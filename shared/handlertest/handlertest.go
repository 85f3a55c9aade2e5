// Package handlertest runs an orderflow function the way func-go serves it
// (its real HTTP mux, health endpoints included) against a real database
// and a real HTTP sink that records what the function publishes. Function
// tests use it to exercise the whole edge with real I/O and no Kafka.
//
// The database is a fresh SQLite file per test, or, when
// ORDERFLOW_TEST_POSTGRES_URL is set, a fresh schema of its own in that
// PostgreSQL database (dropped after the test):
//
//	ORDERFLOW_TEST_POSTGRES_URL=$(scripts/postgres.sh url) go test ./...
package handlertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	fn "knative.dev/func-go/http"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/store/storetest"
)

// Function is what every orderflow function implements.
type Function interface {
	Start(context.Context, map[string]string) error
	Stop(context.Context) error
	Handle(http.ResponseWriter, *http.Request)
	App() *handler.App
}

// Sink is a K_SINK that records every CloudEvent it accepts, in the order
// it answered them.
type Sink struct {
	*httptest.Server
	mu     sync.Mutex
	events []event.Event
	status int                   // answer; 202 unless set
	answer func(event.Event) int // when set, decides each answer instead
}

// NewSink starts a recording sink.
func NewSink(t testing.TB) *Sink {
	s := &Sink{status: http.StatusAccepted}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		status, answer := s.status, s.answer
		s.mu.Unlock()
		if answer != nil {
			status = answer(*e)
		}
		s.mu.Lock()
		if status < 300 {
			s.events = append(s.events, *e)
		}
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

// Answer makes the sink answer status from now on (503 to simulate an outage).
func (s *Sink) Answer(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// AnswerWith makes the sink answer each event with the status answer
// returns, from now on (nil: back to Answer's status). answer runs on each
// request's goroutine, so concurrently, and may sleep to play a slow sink;
// an event is recorded once answer accepted it, before the reply leaves.
func (s *Sink) AnswerWith(answer func(e event.Event) int) {
	s.mu.Lock()
	s.answer = answer
	s.mu.Unlock()
}

// Events returns what was published, optionally only of some types.
func (s *Sink) Events(types ...string) []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []event.Event
	for _, e := range s.events {
		if len(types) == 0 || contains(types, e.Type()) {
			out = append(out, e)
		}
	}
	return out
}

// Reset forgets what was recorded.
func (s *Sink) Reset() {
	s.mu.Lock()
	s.events = nil
	s.mu.Unlock()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// OnPostgres reports whether the tests run on PostgreSQL
// (ORDERFLOW_TEST_POSTGRES_URL is set).
func OnPostgres() bool { return storetest.OnPostgres() }

// NewDatabase returns the URL of a fresh, empty database for the test, of
// the same kind the harness gives a function: for a second database a
// function needs (payment's gateway ledger), or one to restart a function
// on. name only labels it.
func NewDatabase(t testing.TB, name string) string {
	t.Helper()
	return storetest.URL(t, name)
}

// Harness is one started function behind func-go's HTTP handler.
type Harness struct {
	F    Function
	URL  string
	Sink *Sink
	// DBURL is the function's ORDERFLOW_DATABASE_URL: start another
	// function on it to restart on the same state.
	DBURL string
	// DB is the path of its SQLite file; "" on PostgreSQL.
	DB string

	cursor int // events of the sink already returned by Flush
}

// Start configures the function through its environment (as func run does),
// starts it and serves it. env adds or overrides variables.
func Start(t testing.TB, f Function, env map[string]string) *Harness {
	t.Helper()
	sink := NewSink(t)
	base := map[string]string{
		"K_SINK":                   sink.URL,
		"ORDERFLOW_RELAY_INTERVAL": "1h", // tests flush explicitly
		"ORDERFLOW_LOG_LEVEL":      "error",
	}
	for k, v := range env {
		base[k] = v
	}
	dbURL, given := base["ORDERFLOW_DATABASE_URL"]
	if !given {
		dbURL = NewDatabase(t, f.App().Name())
		base["ORDERFLOW_DATABASE_URL"] = dbURL
	}
	dbPath := ""
	if p, ok := strings.CutPrefix(dbURL, "sqlite://"); ok {
		dbPath = p
	}
	for k, v := range base {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	if err := f.Start(ctx, nil); err != nil {
		t.Fatalf("start: %v", err)
	}
	srv := httptest.NewServer(fn.New(f).Handler)
	t.Cleanup(func() {
		srv.Close()
		_ = f.Stop(context.Background())
	})
	return &Harness{F: f, URL: srv.URL, Sink: sink, DBURL: dbURL, DB: dbPath}
}

// Event builds a catalog event as a client or upstream function would.
func Event(t testing.TB, typ string, data any, cause *event.Event) event.Event {
	t.Helper()
	e, err := events.New(typ, data, cause, "/test")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Reply is the function's answer to one delivery.
type Reply struct {
	Status int
	Event  *event.Event
	Body   []byte
}

// Error decodes the JSON error body of a refusal.
func (r Reply) Error() events.ErrorData {
	var d events.ErrorData
	_ = json.Unmarshal(r.Body, &d)
	return d
}

// Send delivers e in binary mode, as the KafkaSource dispatcher does.
func (h *Harness) Send(t testing.TB, e event.Event) Reply {
	t.Helper()
	req, err := h.request(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return h.do(t, req)
}

// request is e as a binary-mode POST to the function.
func (h *Harness) request(ctx context.Context, e event.Event) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, nil)
	if err != nil {
		return nil, err
	}
	return req, cehttp.WriteRequest(ctx, binding.ToMessage(&e), req)
}

// SendWithTimeout delivers e as Send does, giving up after timeout (a
// dispatcher's per-attempt timeout); safe to call from many goroutines.
func (h *Harness) SendWithTimeout(e event.Event, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := h.request(ctx, e)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// Post sends raw HTTP, for malformed input.
func (h *Harness) Post(t testing.TB, headers map[string]string, body string) Reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.URL, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return h.do(t, req)
}

func (h *Harness) do(t testing.TB, req *http.Request) Reply {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := Reply{Status: resp.StatusCode, Body: body}
	if len(body) > 0 && resp.Header.Get("Ce-Type") != "" {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if e, err := binding.ToEvent(context.Background(), cehttp.NewMessageFromHttpResponse(resp)); err == nil {
			r.Event = e
		}
	}
	return r
}

// Flush publishes the outbox now and returns what reached the sink since
// the previous Flush.
func (h *Harness) Flush(t testing.TB) []event.Event {
	t.Helper()
	if _, err := h.F.App().Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	// The function's own relay may have published some of them already;
	// return everything that reached the sink since the previous Flush.
	all := h.Sink.Events()
	out := all[h.cursor:]
	h.cursor = len(all)
	return out
}

// Query sends a query event and decodes the reply's data into out.
func (h *Harness) Query(t testing.TB, typ string, data any, out any) {
	t.Helper()
	r := h.Send(t, Event(t, typ, data, nil))
	if r.Status != http.StatusOK || r.Event == nil {
		t.Fatalf("query %s: status %d body %s", typ, r.Status, r.Body)
	}
	if err := r.Event.DataAs(out); err != nil {
		t.Fatal(err)
	}
}

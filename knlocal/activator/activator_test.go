package activator

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A function's readiness endpoint, as func-go serves it, that a test
// turns on and off.
type function struct {
	srv   *httptest.Server
	ready atomic.Bool
	why   atomic.Value
}

func newFunction(t *testing.T) *function {
	f := &function{}
	f.ready.Store(true)
	f.why.Store("")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/readiness" {
			http.NotFound(w, r)
			return
		}
		if f.ready.Load() {
			w.Write([]byte("READY"))
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("error checking readiness: " + f.why.Load().(string)))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *function) set(ready bool, why string) {
	f.why.Store(why)
	f.ready.Store(ready)
}

type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDeliveriesWaitAtTheGateUntilTheFunctionIsReady(t *testing.T) {
	f := newFunction(t)
	progress := &lines{}
	g := New("inventory", HTTPProbe(func() string { return f.srv.URL }, time.Second), slog.New(slog.NewTextHandler(&lines{}, nil)), progress)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx, 40*time.Millisecond)

	if err := g.Wait(ctx, time.Second); err != nil {
		t.Fatalf("a ready function: %v", err)
	}
	const why = "store cannot write (disk full): database or disk is full; on /state/db (0 B free of 30.0 MiB)"
	f.set(false, why)
	if g.Check(ctx) {
		t.Fatal("Check says ready; the function is not")
	}
	if s := g.State(); s.Ready || s.Reason != why {
		t.Fatalf("state %+v, want not ready because %q", s, why)
	}
	// A bounded wait ends, saying why.
	var nr *NotReadyError
	if err := g.Wait(ctx, 100*time.Millisecond); !errors.As(err, &nr) || nr.Reason != why || nr.Function != "inventory" {
		t.Fatalf("a wait past its bound: %v", err)
	}
	// Deliveries wait, counted, and go on when the function is back.
	const waiting = 5
	released := make(chan error, waiting)
	for range waiting {
		go func() { released <- g.Wait(ctx, time.Minute) }()
	}
	for g.State().Held != waiting {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-released:
		t.Fatalf("a delivery went on while the function was not ready: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	f.set(true, "")
	for range waiting {
		select {
		case err := <-released:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("held deliveries not released once the function was ready")
		}
	}
	out := progress.String()
	if strings.Count(out, "NOT READY") != 1 || !strings.Contains(out, "function inventory NOT READY: "+why) ||
		strings.Count(out, "ready again") != 1 || !strings.Contains(out, "(5 deliveries were held)") {
		t.Fatalf("progress lines:\n%s\nwant one line when it stopped being ready, naming why, and one when it was back", out)
	}
}

func TestAProbeWithoutAnAnswerIsNotReady(t *testing.T) {
	f := newFunction(t)
	url := f.srv.URL
	f.srv.Close()
	g := New("payment", HTTPProbe(func() string { return url }, time.Second), slog.New(slog.NewTextHandler(&lines{}, nil)), nil)
	if g.Check(context.Background()) {
		t.Fatal("a function that does not answer is ready")
	}
	if r := g.State().Reason; !strings.Contains(r, "no answer to its readiness probe") || !strings.Contains(r, "connection refused") {
		t.Fatalf("reason %q", r)
	}
}

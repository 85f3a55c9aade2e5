package source

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"orderflow.dev/knlocal/activator"
)

// notReadyFunction answers deliveries 503 and its readiness probe 500,
// saying why, while it is not ready (a function whose disk is full).
type notReadyFunction struct {
	ready      atomic.Bool
	deliveries atomic.Int64
}

func (f *notReadyFunction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health/readiness" {
		if f.ready.Load() {
			io.WriteString(w, "READY")
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "error checking readiness: store cannot write (disk full)")
		return
	}
	f.deliveries.Add(1)
	if !f.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// gatedSource is a source whose subscriber, not ready at first, sits
// behind a real activator gate probing it, and whose dead-letter sink
// takes everything.
func gatedSource(t *testing.T, limit time.Duration) (*notReadyFunction, *activator.Gate, *recorder, *Source, *counting) {
	fn := &notReadyFunction{}
	url := serve(t, fn)
	dlq := &recorder{script: []int{202}}
	gate := activator.New("sub", activator.HTTPProbe(func() string { return url }, time.Second), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go gate.Run(ctx, 20*time.Millisecond)
	s, obs := newTestSource(t, testSpec(2, true), map[string]string{"sub": url, "dlq": serve(t, dlq)}, WithGate(gate, limit))
	return fn, gate, dlq, s, obs
}

// A subscriber that is not ready holds its deliveries at the gate instead
// of spending their retries: the failed attempt that found it not ready is
// not counted, the next waits at the gate, and the event is delivered once
// the subscriber is ready. (Before, its two retries failed within
// milliseconds and the event was dead-lettered.)
func TestDeliveriesWaitForANotReadySubscriberInsteadOfSpendingRetries(t *testing.T) {
	fn, gate, dlq, s, obs := gatedSource(t, time.Minute)
	notReadyFor := 500 * time.Millisecond // 25 times the retries' whole backoff
	go func() {
		for gate.State().Held == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(notReadyFor)
		fn.ready.Store(true)
	}()
	e := testEvent()
	if !s.settle(context.Background(), &delivery{}, &e) {
		t.Fatal("not settled")
	}
	if obs.delivered.Load() != 1 || len(dlq.got()) != 0 {
		t.Fatalf("delivered %d, dead letters %d: want it delivered once its subscriber was ready", obs.delivered.Load(), len(dlq.got()))
	}
	if st := s.Stats(); st.Gated < 1 || st.Retried > 1 {
		t.Fatalf("stats %+v: want the failed attempt while not ready not counted (Gated), then the event delivered", st)
	}
}

// The wait is bounded: a subscriber that stays not ready past the gate
// limit gets its counted attempts, and the event is dead-lettered.
func TestTheGateLimitBoundsTheWait(t *testing.T) {
	_, _, dlq, s, _ := gatedSource(t, 300*time.Millisecond)
	e := testEvent()
	if !s.settle(context.Background(), &delivery{}, &e) {
		t.Fatal("not settled")
	}
	if len(dlq.got()) != 1 {
		t.Fatalf("dead letters %d, want the event dead-lettered once the gate limit passed", len(dlq.got()))
	}
}

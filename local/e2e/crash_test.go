package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/shared/events"
)

// The order function dies right after the transaction that accepted a
// place-order command commits (order created, order.created in the outbox)
// and before it publishes anything or answers. The dispatcher sees the
// connection drop and retries; the plane restarts the function as a
// kubelet would; the new process publishes the committed outbox on start,
// and the redelivered command is recognised as already processed. No
// event is lost and the saga completes with the invariants intact.
func TestCrashBetweenCommitAndPublishLosesNothing(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "crashed")
	p := up(t, func(o *plane.Options) {
		if o.Env == nil {
			o.Env = map[string]string{}
		}
		o.Env["order/ORDERFLOW_FAULT_CRASH_AFTER_COMMIT"] = events.PlaceOrder
		o.Env["order/ORDERFLOW_FAULT_MARKER"] = marker
	})
	first := p.Process("order")
	res := runDemo(t, p, 40, 21)
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the fault never fired: the test did not crash the function")
	}
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first order process is still running")
	}
	if p.Restarts()["order"] < 1 {
		t.Fatalf("restarts %v, want order restarted", p.Restarts())
	}
	expectSplit(t, res, 40)
}

// The same with a kill from outside in the middle of a run (the crash
// lands wherever it lands: mid-transaction, mid-publish or idle).
func TestFunctionsKilledMidRunLoseNothing(t *testing.T) {
	p := up(t, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(1500 * time.Millisecond)
		for _, fn := range []string{"inventory", "payment", "order"} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := p.Kill(ctx, fn); err != nil {
				t.Errorf("kill %s: %v", fn, err)
			}
			cancel()
			time.Sleep(500 * time.Millisecond)
		}
	}()
	res := runDemo(t, p, 200, 22)
	<-done
	if r := p.Restarts(); r["order"] != 1 || r["inventory"] != 1 || r["payment"] != 1 {
		t.Fatalf("restarts %v", r)
	}
	expectSplit(t, res, 200)
}

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/demo"
)

// kill -9 of `orderflow up` in the middle of a burst of orders, driven by
// `demo --attach` as a user would, then `up --keep-state` on the same state
// directory: every order the ingress accepted ends, and the invariants
// hold. On the embedded broker the broker's log is in the state directory,
// written to its log file before the ingress answers 202 (before, it was in memory: 823 of
// 1,000 accepted orders were gone after the restart); on Apache Kafka the
// topics outlive the plane anyway. The demo itself lives through it: its
// follower of the orders topic reconnects (before, it panicked on the
// closed channel of its partition consumer) and it finds the restarted
// plane's new ports in endpoints.json.
func TestUpKilledMidBurstKeepsEveryAcceptedOrder(t *testing.T) {
	const orders = 600
	state := filepath.Join(t.TempDir(), "state")
	args := upArgs(t)
	if b := brokers(); b != nil {
		resetKafka(t, plane.Options{Manifests: filepath.Join(root, "knative", "base"), Brokers: b})
	}
	first := startUp(t, state, args...)
	ep := first.waitUp(t, state)
	results := filepath.Join(t.TempDir(), "results.json")
	run := startDemo(t, state, "--orders", "600", "--rate", "60", "--concurrency", "8", "--seed", "41", "--results", results, "--timeout", "4m")
	// The kill lands mid-burst: once the order function has taken a
	// hundred commands, with most of the run still to be placed.
	waitDelivered(t, ep, "order", 100)
	first.kill(t)

	second := startUp(t, state, append([]string{"--keep-state"}, args...)...)
	second.waitUp(t, state)
	// The killed run's logs are kept, the record of what happened.
	if fi, err := os.Stat(filepath.Join(state, "logs.1", "order.log")); err != nil || fi.Size() == 0 {
		t.Errorf("the killed run's logs were not kept in logs.1: %v", err)
	}

	if err := run.wait(t, 6*time.Minute); err != nil {
		t.Fatalf("demo --attach across the crash: %v", err)
	}
	if strings.Contains(run.output(), "panic:") {
		t.Fatalf("the demo panicked:\n%s", run.output())
	}
	raw, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	var res demo.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if res.Placed != orders || res.NotAccepted != 0 || !res.Check.OK() || len(res.Unexpected) != 0 {
		t.Fatalf("after the crash: placed %d of %d, not accepted %d, check %+v, unexpected %d", res.Placed, orders, res.NotAccepted, res.Check, len(res.Unexpected))
	}
	for outcome, n := range res.Outcomes {
		if outcome != "confirmed" && !strings.HasPrefix(outcome, "cancelled") {
			t.Errorf("%d orders ended %q", n, outcome)
		}
	}
	if res.Check.Confirmed+res.Check.Cancelled != orders {
		t.Errorf("%d confirmed and %d cancelled of %d accepted", res.Check.Confirmed, res.Check.Cancelled, orders)
	}
}

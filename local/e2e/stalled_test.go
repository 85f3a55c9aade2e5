package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/demo"
)

// Payment is down until every saga has ended: sagas stop at
// inventory.reserved. Analytics, ticked by its PingSource, reports them
// stalled; order cancels them (saga_timeout); inventory releases the
// stock. When payment comes back it finds the cancellations (and whatever
// deliveries survived their retries) and charges nothing for good: no
// order is left hanging, and the invariants hold.
func TestStalledSagasAreCancelledAndCompensated(t *testing.T) {
	p := up(t, func(o *plane.Options) {
		o.PingEvery = 300 * time.Millisecond
		if o.Env == nil {
			o.Env = map[string]string{}
		}
		o.Env["analytics/ANALYTICS_STALL_AFTER"] = "2s"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := p.Pause("payment"); err != nil {
		t.Fatal(err)
	}
	// Payment comes back only once every order has ended (each cancelled
	// by the stall, or refused): then none can have been confirmed, however
	// slowly the orders went in, and payment still meets the deliveries
	// its KafkaSource is retrying (a minute of retries against seconds of
	// stall).
	resumed := make(chan error, 1)
	var once sync.Once
	resume := func() {
		once.Do(func() { go func() { resumed <- p.Resume(ctx, "payment") }() })
	}
	const orders = 60
	res, err := demo.Run(ctx, target(t, p), demo.Config{Orders: orders, Concurrency: 8, Seed: 31, RunID: "stall",
		Timeout: 2 * time.Minute, Settle: time.Minute, Progress: func(pr demo.Progress) {
			if pr.Total > 0 && pr.Finished == pr.Total {
				resume() // Progress is called under the run's lock: resume from elsewhere
			}
		}})
	resume() // if the run ended without every order finishing, payment still comes back
	if err != nil {
		t.Fatal(err)
	}
	if err := <-resumed; err != nil {
		t.Fatal(err)
	}
	if !res.Check.OK() || res.Check.Open != 0 {
		t.Fatalf("invariants:\n%s", res.Check)
	}
	if res.Outcomes["confirmed"] != 0 {
		t.Fatalf("outcomes %v: nothing can be confirmed while payment is down", res.Outcomes)
	}
	plan := demo.Plan(orders, 0, "x")
	unstocked := 0
	for _, pl := range plan {
		if pl.Kind == demo.UnknownSKU {
			unstocked++
		}
	}
	if res.Outcomes["cancelled:saga_timeout"] != orders-unstocked || res.Outcomes["cancelled:unknown_sku"] != unstocked {
		t.Fatalf("outcomes %v, want %d saga_timeout and %d unknown_sku", res.Outcomes, orders-unstocked, unstocked)
	}
	if p.Pings() == 0 {
		t.Fatal("no PingSource tick was delivered")
	}
}

// Package function is the notify step of the orderflow saga, a Knative
// Function (func-go http runtime; it receives CloudEvents over HTTP).
//
//	order.confirmed -> tell the customer -> notification.sent (or .failed: the channel refused for good)
//	order.cancelled -> tell the customer -> notification.sent (or .failed)
//
// A transient channel failure (network, timeout, 5xx, 408, 429) is answered
// 503: the dispatcher retries and, once retries run out, dead-letters the
// event. The saga is already decided; notify only reports its outcome, once.
package function

import (
	"context"
	"fmt"
	"io"
	"os"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Function is the notify function.
type Function struct {
	handler.Lifecycle
	channel Channel
	// stdout is where the log channel writes; tests replace it.
	stdout io.Writer
	step   handler.Step[Notification, Status, Decision]
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	app := handler.New("notify", handler.Publishes(), handler.WithMigrations(migrations...))
	f := &Function{Lifecycle: app.Lifecycle(), stdout: os.Stdout}
	// Every step loads what was recorded for the (order, outcome) under its
	// lock, decides, delivers, and records the final answer, so the
	// customer is told at most once per (order, outcome), whatever event id
	// the outcome arrives under.
	f.step = handler.Step[Notification, Status, Decision]{Load: loadStatus, Act: f.deliver, Save: f.record, Emits: Decision.emitted}
	handler.On(app, events.OrderConfirmed, f.confirmed)
	handler.On(app, events.OrderCancelled, f.cancelled)
	// The orders topic also carries the place command and order.created:
	// nothing to tell the customer until the order is decided.
	app.Ignore(events.PlaceOrder, events.OrderCreated, events.SagaStalled)
	return f
}

// Start builds the notification channel from NOTIFY_* and starts the shared
// edge. A channel that cannot work is a start error, not a stream of 503s.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	var own Config
	if err := handler.ReadConfig(&own); err != nil {
		return fmt.Errorf("notify: bad configuration: %w", err)
	}
	ch, err := NewChannel(own, f.stdout)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	f.channel = ch
	return f.Lifecycle.Start(ctx, cfg)
}

func (f *Function) confirmed(ctx context.Context, tx *store.Tx, in handler.In[events.OrderConfirmedData]) ([]saga.Emit, error) {
	n := ComposeConfirmed(in.Data)
	return f.step.Run(ctx, tx, n, func(prior Status) (Decision, error) { return DecideSend(prior, n, f.channel.Name()), nil })
}

func (f *Function) cancelled(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCancelledData]) ([]saga.Emit, error) {
	n := ComposeCancelled(in.Data)
	return f.step.Run(ctx, tx, n, func(prior Status) (Decision, error) { return DecideSend(prior, n, f.channel.Name()), nil })
}

// deliver hands the notification to the channel when the decision says so,
// and decides on its answer.
//
// The delivery runs inside the edge's transaction, on purpose: the
// recorded status, the processed event id and notification.sent in the
// outbox then commit together, and a transient failure rolls all of them
// back so the redelivery tries again. The one gap, a crash between the
// channel's 2xx and the commit, sends the notification again on
// redelivery; the webhook carries the notification id as Idempotency-Key
// so the receiver can drop the repeat. The price is that the transaction
// stays open for up to NOTIFY_WEBHOOK_TIMEOUT (with SQLite's single
// connection, the readiness ping waits that long too).
func (f *Function) deliver(ctx context.Context, n Notification, _ Status, d Decision) (Decision, error) {
	if !d.Deliver {
		return d, nil
	}
	return DecideDelivered(n, f.channel.Name(), f.channel.Deliver(ctx, n))
}

// record keeps a final answer; an outcome told already has none to keep.
func (f *Function) record(ctx context.Context, tx *store.Tx, n Notification, _ Status, d Decision) error {
	if d.Status == StatusNone {
		return nil
	}
	return saveStatus(ctx, tx, n, f.channel.Name(), d)
}

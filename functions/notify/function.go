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
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	app := handler.New("notify", handler.Publishes(), handler.WithMigrations(migrations...))
	f := &Function{Lifecycle: app.Lifecycle(), stdout: os.Stdout}
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
	if err := handler.ReadEnv(&own); err != nil {
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
	return f.react(ctx, tx, ComposeConfirmed(in.Data))
}

func (f *Function) cancelled(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCancelledData]) ([]saga.Emit, error) {
	return f.react(ctx, tx, ComposeCancelled(in.Data))
}

// react is the shape of every notify step: load what was recorded for the
// (order, outcome), decide, deliver and record the answer, so the customer
// is told at most once per (order, outcome), whatever event id the outcome
// arrives under.
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
func (f *Function) react(ctx context.Context, tx *store.Tx, n Notification) ([]saga.Emit, error) {
	prior, err := loadStatus(ctx, tx, n.OrderID, n.Outcome)
	if err != nil {
		return nil, err
	}
	d := DecideSend(prior, n, f.channel.Name())
	if d.Deliver {
		if d, err = DecideDelivered(n, f.channel.Name(), f.channel.Deliver(ctx, n)); err != nil {
			return nil, err
		}
	}
	if d.Status == StatusNone {
		return nil, nil
	}
	return d.Emits, saveStatus(ctx, tx, n, f.channel.Name(), d)
}

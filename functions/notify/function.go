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
	"net/http"
	"os"

	"github.com/kelseyhightower/envconfig"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Function is the notify function.
type Function struct {
	app     *handler.App
	channel Channel
	// stdout is where the log channel writes; tests replace it.
	stdout io.Writer
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	f := &Function{
		app:    handler.New("notify", handler.Publishes(), handler.WithMigrations(migrations...)),
		stdout: os.Stdout,
	}
	handler.On(f.app, events.OrderConfirmed, f.confirmed)
	handler.On(f.app, events.OrderCancelled, f.cancelled)
	// The orders topic also carries the place command and order.created:
	// nothing to tell the customer until the order is decided.
	f.app.Ignore(events.PlaceOrder, events.OrderCreated, events.SagaStalled)
	return f
}

// Start builds the notification channel from NOTIFY_* and starts the shared
// edge. A channel that cannot work is a start error, not a stream of 503s.
func (f *Function) Start(ctx context.Context, _ map[string]string) error {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return fmt.Errorf("notify: bad configuration: %w", err)
	}
	ch, err := NewChannel(cfg, f.stdout)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	f.channel = ch
	return f.app.Start(ctx)
}

// Handle receives each delivery: a CloudEvent over HTTP, decoded by the
// shared edge (see handler.App.ServeHTTP for why not func-go's CloudEvents
// runtime).
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.app.ServeHTTP(w, r) }
func (f *Function) Stop(ctx context.Context) error                { return f.app.Stop(ctx) }
func (f *Function) Ready(ctx context.Context) (bool, error)       { return f.app.Ready(ctx) }
func (f *Function) Alive(ctx context.Context) (bool, error)       { return f.app.Alive(ctx) }
func (f *Function) App() *handler.App                             { return f.app }

func (f *Function) confirmed(ctx context.Context, tx *store.Tx, in handler.In[events.OrderConfirmedData]) ([]saga.Emit, error) {
	return f.notify(ctx, tx, ComposeConfirmed(in.Data))
}

func (f *Function) cancelled(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCancelledData]) ([]saga.Emit, error) {
	return f.notify(ctx, tx, ComposeCancelled(in.Data))
}

// notify tells the customer at most once per (order, outcome), whatever
// event id the outcome arrives under.
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
func (f *Function) notify(ctx context.Context, tx *store.Tx, n Notification) ([]saga.Emit, error) {
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

// Package function is the payment step of the orderflow saga, a Knative
// Function (func-go http runtime; it receives CloudEvents over HTTP).
//
//	order.created      -> amount and card token remembered
//	inventory.reserved -> charge: payment.completed or payment.failed
//	order.cancelled    -> refund of a charged order: payment.refunded
//	payment query      -> money moved per order, from the gateway's ledger
//
// A confirmed order is charged exactly once; a cancelled one ends with no
// net charge.
package function

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kelseyhightower/envconfig"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Function is the payment function.
type Function struct {
	app     *handler.App
	gateway Gateway
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	f := &Function{app: handler.New("payment", handler.Publishes(), handler.WithMigrations(migrations...))}
	handler.On(f.app, events.OrderCreated, f.created)
	handler.On(f.app, events.InventoryReserved, f.reserved)
	handler.On(f.app, events.OrderCancelled, f.cancelled)
	handler.OnQuery(f.app, events.PaymentQuery, events.PaymentView, f.query)
	// Also on its topics (orders, inventory), and none of its business.
	f.app.Ignore(events.PlaceOrder, events.OrderConfirmed, events.InventoryRejected, events.InventoryReleased, events.SagaStalled)
	return f
}

// Start opens the payment gateway, then the shared edge (store, outbox
// relay).
func (f *Function) Start(ctx context.Context, _ map[string]string) error {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return fmt.Errorf("payment: bad configuration: %w", err)
	}
	dbURL, derived, declineAbove, declineTokens, err := gatewaySettings(cfg)
	if err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	// Before the edge starts, so that no event is handled without it.
	gw, err := OpenSimulator(ctx, "PAYMENT_GATEWAY_DATABASE_URL", dbURL, declineAbove, declineTokens)
	if err != nil {
		return fmt.Errorf("payment: simulated payment gateway: %w", err)
	}
	f.gateway = gw
	if err := f.app.Start(ctx); err != nil {
		_ = gw.Close()
		return err
	}
	f.app.Log().Info("payment gateway: built-in simulator", "ledger", dbURL, "derived", derived,
		"declineAboveCents", declineAbove, "declineTokens", declineTokens)
	return nil
}

// Handle receives each delivery: a CloudEvent over HTTP, decoded by the
// shared edge (see handler.App.ServeHTTP for why not func-go's CloudEvents
// runtime).
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.app.ServeHTTP(w, r) }

func (f *Function) Stop(ctx context.Context) error {
	err := f.app.Stop(ctx)
	if f.gateway != nil {
		if cerr := f.gateway.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
func (f *Function) Ready(ctx context.Context) (bool, error) { return f.app.Ready(ctx) }
func (f *Function) Alive(ctx context.Context) (bool, error) { return f.app.Alive(ctx) }
func (f *Function) App() *handler.App                       { return f.app }

func (f *Function) created(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCreatedData]) ([]saga.Emit, error) {
	p, err := loadPayment(ctx, tx, in.Data.OrderID)
	if err != nil {
		return nil, err
	}
	return f.run(ctx, tx, p, DecideCreated(p, in.Data))
}

func (f *Function) reserved(ctx context.Context, tx *store.Tx, in handler.In[events.InventoryReservedData]) ([]saga.Emit, error) {
	p, err := loadPayment(ctx, tx, in.Data.OrderID)
	if err != nil {
		return nil, err
	}
	d, err := DecideReserved(p, in.Data)
	if err != nil {
		return nil, err
	}
	return f.run(ctx, tx, p, d)
}

func (f *Function) cancelled(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCancelledData]) ([]saga.Emit, error) {
	p, err := loadPayment(ctx, tx, in.Data.OrderID)
	if err != nil {
		return nil, err
	}
	return f.run(ctx, tx, p, DecideCancelled(p, in.Data))
}

func (f *Function) query(ctx context.Context, _ *store.DB, in handler.In[events.PaymentQueryData]) (any, error) {
	ledger, err := f.gateway.Ledger(ctx, in.Data.OrderIDs)
	if err != nil {
		return nil, err
	}
	return events.PaymentViewData{Ledger: ledger}, nil
}

// run makes the gateway call a decision asks for, folds its outcome and
// writes the result, all inside the event's transaction.
//
// The call cannot be part of that transaction: the gateway is another
// system. So the process may die, or the commit fail, after the gateway
// moved money and before the row, the processed-event id and the outbox
// entry are committed. Nothing of the handling is then kept: the row is
// still awaiting_stock (or charged), the event is redelivered and decided
// again, and the same call is made again. Its idempotency key comes from the
// order alone (ChargeKey, RefundKey), so the gateway recognises the call and
// answers with the charge or refund it already made, or the decline it
// already gave, instead of moving money twice; the retry then commits what
// the first attempt would have. The same holds when the gateway's answer is
// lost on the way: the call fails, the transaction rolls back, and the retry
// asks again under the same key.
func (f *Function) run(ctx context.Context, tx *store.Tx, p Payment, d Decision) ([]saga.Emit, error) {
	var err error
	prev := p
	if d.Next != nil {
		// The call acts on the row as the decision leaves it (a creation
		// arriving after the reservation brings the amount to charge).
		p = *d.Next
	}
	switch d.Call {
	case ChargeCall:
		chargeID, cerr := f.gateway.Charge(ctx, ChargeKey(p.OrderID), p.OrderID, p.AmountCents, p.Currency, p.Token)
		d, err = Charged(p, chargeID, cerr)
	case RefundCall:
		refundID, rerr := f.gateway.Refund(ctx, RefundKey(p.OrderID), p.ChargeID, p.AmountCents)
		if rerr == nil {
			f.app.Log().Info("refunded", "correlationid", p.OrderID, "charge", p.ChargeID, "refund", refundID)
		}
		d, err = Refunded(p, rerr)
	}
	if err != nil {
		return nil, err
	}
	if err := savePayment(ctx, tx, prev, d.Next); err != nil {
		return nil, err
	}
	return d.Emits, nil
}

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

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Function is the payment function.
type Function struct {
	handler.Lifecycle
	gateway Gateway
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	app := handler.New("payment", handler.Publishes(), handler.WithMigrations(migrations...))
	f := &Function{Lifecycle: app.Lifecycle()}
	handler.On(app, events.OrderCreated, f.created)
	handler.On(app, events.InventoryReserved, f.reserved)
	handler.On(app, events.OrderCancelled, f.cancelled)
	handler.OnQuery(app, events.PaymentQuery, events.PaymentView, f.query)
	// Also on its topics (orders, inventory), and none of its business.
	app.Ignore(events.PlaceOrder, events.OrderConfirmed, events.InventoryRejected, events.InventoryReleased, events.SagaStalled)
	return f
}

// Start opens the payment gateway, then the shared edge (store, outbox
// relay).
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	var own Config
	if err := handler.ReadEnv(&own); err != nil {
		return fmt.Errorf("payment: bad configuration: %w", err)
	}
	dbURL, derived, declineAbove, declineTokens, err := gatewaySettings(own)
	if err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	// Before the edge starts, so that no event is handled without it.
	gw, err := OpenSimulator(ctx, "PAYMENT_GATEWAY_DATABASE_URL", dbURL, declineAbove, declineTokens)
	if err != nil {
		return fmt.Errorf("payment: simulated payment gateway: %w", err)
	}
	f.gateway = gw
	if err := f.Lifecycle.Start(ctx, cfg); err != nil {
		_ = gw.Close()
		return err
	}
	f.App().Log().Info("payment gateway: built-in simulator", "ledger", dbURL, "derived", derived,
		"declineAboveCents", declineAbove, "declineTokens", declineTokens)
	return nil
}

// Stop stops the shared edge, then closes the gateway.
func (f *Function) Stop(ctx context.Context) error {
	err := f.Lifecycle.Stop(ctx)
	if f.gateway != nil {
		if cerr := f.gateway.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (f *Function) created(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCreatedData]) ([]saga.Emit, error) {
	return f.react(ctx, tx, in.Data.OrderID, func(p Payment) (Decision, error) { return DecideCreated(p, in.Data), nil })
}

func (f *Function) reserved(ctx context.Context, tx *store.Tx, in handler.In[events.InventoryReservedData]) ([]saga.Emit, error) {
	return f.react(ctx, tx, in.Data.OrderID, func(p Payment) (Decision, error) { return DecideReserved(p, in.Data) })
}

func (f *Function) cancelled(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCancelledData]) ([]saga.Emit, error) {
	return f.react(ctx, tx, in.Data.OrderID, func(p Payment) (Decision, error) { return DecideCancelled(p, in.Data), nil })
}

func (f *Function) query(ctx context.Context, _ *store.DB, in handler.In[events.PaymentQueryData]) (any, error) {
	ledger, err := f.gateway.Ledger(ctx, in.Data.OrderIDs)
	if err != nil {
		return nil, err
	}
	return events.PaymentViewData{Ledger: ledger}, nil
}

// react is the shape of every payment step: load the order's payment,
// decide, make the gateway call the decision asks for, fold its outcome
// and write the result, all inside the event's transaction.
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
func (f *Function) react(ctx context.Context, tx *store.Tx, orderID string, decide func(Payment) (Decision, error)) ([]saga.Emit, error) {
	p, err := loadPayment(ctx, tx, orderID)
	if err != nil {
		return nil, err
	}
	d, err := decide(p)
	if err != nil {
		return nil, err
	}
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
			f.App().Log().Info("refunded", "correlationid", p.OrderID, "charge", p.ChargeID, "refund", refundID)
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

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

	"orderflow.dev/functions/payment/gateway"
	"orderflow.dev/functions/payment/gateway/sim"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Function is the payment function.
type Function struct {
	handler.Lifecycle
	gateway gateway.Gateway
	step    handler.Step[string, Payment, Decision]
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	app := handler.New("payment", handler.Publishes(), handler.WithMigrations(migrations...))
	f := &Function{Lifecycle: app.Lifecycle()}
	// Every step loads the order's payment under its lock, decides, makes
	// the gateway call the decision asks for, and writes the row only from
	// the state it was read in.
	f.step = handler.Step[string, Payment, Decision]{Load: loadPayment, Act: f.callGateway, Save: savePayment, Emits: Decision.emitted}
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
	if err := handler.ReadConfig(&own); err != nil {
		return fmt.Errorf("payment: bad configuration: %w", err)
	}
	simCfg, derived, err := own.simulator()
	if err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	// Before the edge starts, so that no event is handled without it.
	gw, err := sim.Open(ctx, simCfg)
	if err != nil {
		return fmt.Errorf("payment: simulated payment gateway: %w", err)
	}
	f.gateway = gw
	if err := f.Lifecycle.Start(ctx, cfg); err != nil {
		_ = gw.Close()
		return err
	}
	f.App().Log().Info("payment gateway: built-in simulator", "ledger", simCfg.LedgerURL, "derived", derived,
		"declineAboveCents", simCfg.DeclineAboveCents, "declineTokens", simCfg.DeclineTokens)
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
	return f.step.Run(ctx, tx, in.Data.OrderID, func(p Payment) (Decision, error) { return DecideCreated(p, in.Data), nil })
}

func (f *Function) reserved(ctx context.Context, tx *store.Tx, in handler.In[events.InventoryReservedData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, in.Data.OrderID, func(p Payment) (Decision, error) { return DecideReserved(p, in.Data) })
}

func (f *Function) cancelled(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCancelledData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, in.Data.OrderID, func(p Payment) (Decision, error) { return DecideCancelled(p, in.Data), nil })
}

func (f *Function) query(ctx context.Context, _ *store.DB, in handler.In[events.PaymentQueryData]) (any, error) {
	ledger, err := f.gateway.Ledger(ctx, in.Data.OrderIDs)
	if err != nil {
		return nil, err
	}
	return events.PaymentViewData{Ledger: ledger}, nil
}

// callGateway is the side effect of every payment step (see handler.Step):
// the gateway call the decision asks for, its outcome folded by Charged or
// Refunded.
//
// The call cannot be part of the step's transaction: the gateway is
// another system. So the process may die, or the commit fail, after the
// gateway moved money and before the row, the processed-event id and the
// outbox entry are committed. Nothing of the handling is then kept: the row
// is still awaiting_stock (or charged), the event is redelivered and decided
// again, and the same call is made again. Its idempotency key comes from the
// order alone (ChargeKey, RefundKey), so the gateway recognises the call and
// answers with the charge or refund it already made, or the decline it
// already gave, instead of moving money twice; the retry then commits what
// the first attempt would have. The same holds when the gateway's answer is
// lost on the way: the call fails, the transaction rolls back, and the retry
// asks again under the same key.
func (f *Function) callGateway(ctx context.Context, _ string, p Payment, d Decision) (Decision, error) {
	if d.Next != nil {
		// The call acts on the row as the decision leaves it (a creation
		// arriving after the reservation brings the amount to charge).
		p = *d.Next
	}
	switch d.Call {
	case ChargeCall:
		chargeID, err := f.gateway.Charge(ctx, gateway.ChargeRequest{
			IdempotencyKey: ChargeKey(p.OrderID), OrderID: p.OrderID, AmountCents: p.AmountCents, Currency: p.Currency, Token: p.Token,
		})
		return Charged(p, chargeID, err)
	case RefundCall:
		refundID, err := f.gateway.Refund(ctx, gateway.RefundRequest{IdempotencyKey: RefundKey(p.OrderID), ChargeID: p.ChargeID, AmountCents: p.AmountCents})
		if err == nil {
			f.App().Log().Info("refunded", "correlationid", p.OrderID, "charge", p.ChargeID, "refund", refundID)
		}
		return Refunded(p, err)
	}
	return d, nil
}

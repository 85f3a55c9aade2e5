// Package function is the inventory step of the orderflow saga, a Knative
// Function (func-go http runtime; it receives CloudEvents over HTTP).
//
//	order.created   -> inventory.reserved (every line held) or inventory.rejected (nothing held)
//	order.confirmed -> the held stock is sold
//	order.cancelled -> inventory.released (held stock back to available)
//	inventory query -> stock levels per SKU
//
// Stock is conserved: for every SKU, initial = available + reserved + sold.
package function

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Function is the inventory function.
type Function struct {
	handler.Lifecycle
	// stock and stockSetting are read by Start before the edge starts; the
	// edge's start hook seeds them, so the function only reports ready (and
	// only handles events) once every configured SKU is in the store.
	stock        map[string]int
	stockSetting string
	step         handler.Step[string, Reservation, Decision]
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	f := &Function{}
	app := handler.New("inventory", handler.Publishes(), handler.WithMigrations(migrations...), handler.WithStartHook(f.seed))
	f.Lifecycle = app.Lifecycle()
	// Every step loads the order's reservation under its lock, decides,
	// warns the operator of what it found wrong, and writes the decision
	// with guarded updates.
	f.step = handler.Step[string, Reservation, Decision]{Load: loadReservation, Act: f.warn, Save: saveDecision, Emits: Decision.emitted}
	handler.On(app, events.OrderCreated, f.created)
	handler.On(app, events.OrderConfirmed, f.confirmed)
	handler.On(app, events.OrderCancelled, f.cancelled)
	handler.OnQuery(app, events.InventoryQuery, events.InventoryView, f.query)
	// A plain GET answers the stock levels as JSON.
	app.ServeGet(events.InventoryQuery, func(*http.Request) any { return events.InventoryQueryData{} })
	// The place-order command shares the orders topic; it is the order
	// function's to answer.
	app.Ignore(events.PlaceOrder, events.SagaStalled)
	return f
}

// Start reads the stock setting and starts the shared edge (store, outbox
// relay), which seeds the SKUs the store does not have yet.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	var own Config
	if err := handler.ReadConfig(&own); err != nil {
		return fmt.Errorf("inventory: bad configuration: %w", err)
	}
	// Checked before the store opens, so a bad setting fails fast and
	// touches nothing.
	stock, setting, err := initialStock(own)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	f.stock, f.stockSetting = stock, setting
	return f.Lifecycle.Start(ctx, cfg)
}

// seed inserts the configured SKUs the store does not have yet; restarts
// never reset stock.
func (f *Function) seed(ctx context.Context, db *store.DB) error {
	added, err := seedStock(ctx, db, f.stock)
	if err != nil {
		return fmt.Errorf("seeding stock from %s: %w", f.stockSetting, err)
	}
	if len(added) > 0 {
		f.App().Log().Info("stock seeded", "from", f.stockSetting, "skus", strings.Join(added, ","))
	}
	return nil
}

func (f *Function) created(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCreatedData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, in.Data.OrderID, func(r Reservation) (Decision, error) {
		var stock Stock
		if r.State == StateNone { // decided already otherwise: lock no stock for nothing
			var err error
			if stock, err = loadStock(ctx, tx, skusOf(in.Data.Lines)); err != nil {
				return Decision{}, err
			}
		}
		return DecideCreated(r, stock, in.Data), nil
	})
}

func (f *Function) confirmed(ctx context.Context, tx *store.Tx, in handler.In[events.OrderConfirmedData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, in.Data.OrderID, func(r Reservation) (Decision, error) { return DecideConfirmed(r, in.Data) })
}

func (f *Function) cancelled(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCancelledData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, in.Data.OrderID, func(r Reservation) (Decision, error) { return DecideCancelled(r, in.Data), nil })
}

func (f *Function) query(ctx context.Context, db *store.DB, _ handler.In[events.InventoryQueryData]) (any, error) {
	return readView(ctx, db)
}

// warn tells the operator what a decision found wrong although nothing is
// left to do about it (a confirmation of stock that is not held).
func (f *Function) warn(_ context.Context, orderID string, _ Reservation, d Decision) (Decision, error) {
	if d.Warning != "" {
		f.App().Log().Warn(d.Warning, "correlationid", orderID)
	}
	return d, nil
}

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

	"github.com/kelseyhightower/envconfig"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Function is the inventory function.
type Function struct {
	app *handler.App
	// stock and stockSetting are read by Start before the edge starts; the
	// edge's start hook seeds them, so the function only reports ready (and
	// only handles events) once every configured SKU is in the store.
	stock        map[string]int
	stockSetting string
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	f := &Function{}
	f.app = handler.New("inventory", handler.Publishes(), handler.WithMigrations(migrations...), handler.WithStartHook(f.seed))
	handler.On(f.app, events.OrderCreated, f.created)
	handler.On(f.app, events.OrderConfirmed, f.confirmed)
	handler.On(f.app, events.OrderCancelled, f.cancelled)
	handler.OnQuery(f.app, events.InventoryQuery, events.InventoryView, f.query)
	// A plain GET answers the stock levels as JSON.
	f.app.ServeGet(events.InventoryQuery, func(*http.Request) any { return events.InventoryQueryData{} })
	// The place-order command shares the orders topic; it is the order
	// function's to answer.
	f.app.Ignore(events.PlaceOrder, events.SagaStalled)
	return f
}

// Start reads the stock setting and starts the shared edge (store, outbox
// relay), which seeds the SKUs the store does not have yet.
func (f *Function) Start(ctx context.Context, _ map[string]string) error {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return fmt.Errorf("inventory: bad configuration: %w", err)
	}
	// Checked before the store opens, so a bad setting fails fast and
	// touches nothing.
	stock, setting, err := initialStock(cfg)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	f.stock, f.stockSetting = stock, setting
	return f.app.Start(ctx)
}

// seed inserts the configured SKUs the store does not have yet; restarts
// never reset stock.
func (f *Function) seed(ctx context.Context, db *store.DB) error {
	added, err := seedStock(ctx, db, f.stock)
	if err != nil {
		return fmt.Errorf("seeding stock from %s: %w", f.stockSetting, err)
	}
	if len(added) > 0 {
		f.app.Log().Info("stock seeded", "from", f.stockSetting, "skus", strings.Join(added, ","))
	}
	return nil
}

// Handle receives each delivery: a CloudEvent over HTTP, decoded by the
// shared edge (see handler.App.ServeHTTP for why not func-go's CloudEvents
// runtime).
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.app.ServeHTTP(w, r) }
func (f *Function) Ready(ctx context.Context) (bool, error)       { return f.app.Ready(ctx) }
func (f *Function) Stop(ctx context.Context) error                { return f.app.Stop(ctx) }
func (f *Function) Alive(ctx context.Context) (bool, error)       { return f.app.Alive(ctx) }
func (f *Function) App() *handler.App                             { return f.app }

func (f *Function) created(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCreatedData]) ([]saga.Emit, error) {
	r, err := loadReservation(ctx, tx, in.Data.OrderID)
	if err != nil {
		return nil, err
	}
	var stock Stock
	if r.State == StateNone { // decided already otherwise: lock no stock for nothing
		if stock, err = loadStock(ctx, tx, skusOf(in.Data.Lines)); err != nil {
			return nil, err
		}
	}
	return f.apply(ctx, tx, r, DecideCreated(r, stock, in.Data))
}

func (f *Function) confirmed(ctx context.Context, tx *store.Tx, in handler.In[events.OrderConfirmedData]) ([]saga.Emit, error) {
	r, err := loadReservation(ctx, tx, in.Data.OrderID)
	if err != nil {
		return nil, err
	}
	d, err := DecideConfirmed(r, in.Data)
	if err != nil {
		return nil, err
	}
	return f.apply(ctx, tx, r, d)
}

func (f *Function) cancelled(ctx context.Context, tx *store.Tx, in handler.In[events.OrderCancelledData]) ([]saga.Emit, error) {
	r, err := loadReservation(ctx, tx, in.Data.OrderID)
	if err != nil {
		return nil, err
	}
	return f.apply(ctx, tx, r, DecideCancelled(r, in.Data))
}

func (f *Function) query(ctx context.Context, db *store.DB, _ handler.In[events.InventoryQueryData]) (any, error) {
	return readView(ctx, db)
}

// apply writes a decision in the event's transaction; the edge commits it
// with the events to publish.
func (f *Function) apply(ctx context.Context, tx *store.Tx, prev Reservation, d Decision) ([]saga.Emit, error) {
	if d.Warning != "" {
		f.app.Log().Warn(d.Warning, "correlationid", prev.OrderID)
	}
	if err := save(ctx, tx, prev, d); err != nil {
		return nil, err
	}
	return d.Emits, nil
}

// Package function is the order step of the orderflow saga, a Knative
// Function (func-go http runtime; it receives CloudEvents over HTTP).
//
//	place-order command -> order.created                  (or 4xx: dead-lettered with the reason)
//	inventory.rejected  -> order.cancelled
//	payment.completed   -> order.confirmed
//	payment.failed      -> order.cancelled
//	saga.stalled        -> order.cancelled (saga_timeout), if still pending
//	order query         -> state + timeline from the read model
//
// Every other saga event on its topics only goes into the order's timeline,
// and so do the facts it emits itself (noted as they are emitted).
package function

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

//go:embed catalog.json
var defaultCatalog []byte

// Config is the order function's own configuration.
type Config struct {
	// CatalogFile replaces the built-in price catalog (catalog.json).
	CatalogFile string `envconfig:"ORDER_CATALOG_FILE"`
}

// Function is the order function.
type Function struct {
	handler.Lifecycle
	prices Prices
	step   handler.Step[cause, Order, []saga.Emit]
}

// cause is what an order step is about: the event, and its payload, which
// names the order and gives the timeline its line.
type cause struct {
	event event.Event
	data  any // by value, as the catalog decodes it
}

func causeOf[P any](in handler.In[P]) cause { return cause{event: in.Event, data: in.Data} }

// New builds the function; func-go calls it once per process.
func New() *Function {
	app := handler.New("order", handler.Publishes(), handler.WithMigrations(migrations...), handler.WithProjections(projections...))
	f := &Function{Lifecycle: app.Lifecycle()}
	// Every step folds the order's events under its lock, decides, notes
	// the event in the timeline and appends the facts decided, whose
	// version numbers are the optimistic check.
	f.step = handler.Step[cause, Order, []saga.Emit]{Load: loadCause, Save: saveDecided, Emits: func(e []saga.Emit) []saga.Emit { return e }}
	handler.On(app, events.PlaceOrder, f.place)
	handler.On(app, events.InventoryRejected, f.stockRejected)
	handler.On(app, events.PaymentCompleted, f.paid)
	handler.On(app, events.PaymentFailed, f.paymentFailed)
	handler.On(app, events.SagaStalled, f.stalled)
	handler.OnQuery(app, events.OrderQuery, events.OrderView, f.query)
	handler.CountEmitted(app, "orderflow_saga_outcomes_total",
		"Orders the saga ended, by outcome (confirmed, cancelled) and the reason of a cancellation.",
		[]string{"outcome", "reason"}, sagaOutcome)
	// GET /?orderId=ID answers the same view as JSON.
	app.ServeGet(events.OrderQuery, func(r *http.Request) any { return events.OrderQueryData{OrderID: r.URL.Query().Get("orderId")} })

	// The order's own facts go into its timeline as they are emitted, in
	// the same transaction, with their final ids and times.
	handler.OnEmitted(app, noteOwnFacts)
	// They travel on the orders topic, which order does not read; one that
	// reaches it anyway (a replay sent to the wrong place) changes nothing.
	app.Ignore(events.OrderCreated, events.OrderConfirmed, events.OrderCancelled)

	// Facts of the other steps that only go into the timeline.
	timelineOnly[events.InventoryReservedData](app, events.InventoryReserved)
	timelineOnly[events.InventoryReleasedData](app, events.InventoryReleased)
	timelineOnly[events.PaymentRefundedData](app, events.PaymentRefunded)
	return f
}

// loadPrices reads the price catalog: file, or the built-in catalog.json
// when file is "".
func loadPrices(file string) (Prices, error) {
	raw, setting := defaultCatalog, "built-in catalog.json"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Prices{}, fmt.Errorf("order: ORDER_CATALOG_FILE: %w", err)
		}
		raw, setting = b, "ORDER_CATALOG_FILE="+file
	}
	var p Prices
	if err := json.Unmarshal(raw, &p); err != nil {
		return Prices{}, fmt.Errorf("order: %s: not JSON: %w", setting, err)
	}
	if err := p.Check(); err != nil {
		return Prices{}, fmt.Errorf("order: %s: %w", setting, err)
	}
	return p, nil
}

// Start loads the catalog and starts the shared edge (store, outbox relay).
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	var own Config
	if err := handler.ReadConfig(&own); err != nil {
		return fmt.Errorf("order: bad configuration: %w", err)
	}
	prices, err := loadPrices(own.CatalogFile)
	if err != nil {
		return err
	}
	f.prices = prices
	return f.Lifecycle.Start(ctx, cfg)
}

// place: the place-order command. Refusals (unknown SKU, reused id) are
// answered 4xx and so end in the dead-letter topic with their reason.
func (f *Function) place(ctx context.Context, tx *store.Tx, in handler.In[events.PlaceOrderData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, causeOf(in), func(o Order) ([]saga.Emit, error) { return DecidePlace(o, in.Data, f.prices) })
}

func (f *Function) stockRejected(ctx context.Context, tx *store.Tx, in handler.In[events.InventoryRejectedData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, causeOf(in), func(o Order) ([]saga.Emit, error) { return DecideStockRejected(o, in.Data) })
}

func (f *Function) paid(ctx context.Context, tx *store.Tx, in handler.In[events.PaymentCompletedData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, causeOf(in), func(o Order) ([]saga.Emit, error) { return DecidePaid(o, in.Data) })
}

func (f *Function) paymentFailed(ctx context.Context, tx *store.Tx, in handler.In[events.PaymentFailedData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, causeOf(in), func(o Order) ([]saga.Emit, error) { return DecidePaymentFailed(o, in.Data) })
}

// stalled: analytics saw no progress for too long; give up on the order.
func (f *Function) stalled(ctx context.Context, tx *store.Tx, in handler.In[events.SagaStalledData]) ([]saga.Emit, error) {
	return f.step.Run(ctx, tx, causeOf(in), func(o Order) ([]saga.Emit, error) { return DecideStalled(o, in.Data) })
}

func (f *Function) query(ctx context.Context, db *store.DB, in handler.In[events.OrderQueryData]) (any, error) {
	return readView(ctx, db, in.Data.OrderID)
}

// noteOwnFacts writes each fact the order function emits into the order's
// timeline.
func noteOwnFacts(ctx context.Context, tx *store.Tx, _ event.Event, out []handler.Emitted) error {
	for _, em := range out {
		summary := summaryOf(em.Data)
		if summary == "" {
			continue
		}
		if err := recordTimeline(ctx, tx, events.Key(em.Data), em.Event, summary); err != nil {
			return err
		}
	}
	return nil
}

// What the timeline says of each event, for the live function and for a
// rebuild from the log alike.

// placedSummary notes the place-order command that created its order;
// repeatedPlacementSummary one that repeated it.
func placedSummary(cmd events.PlaceOrderData) string {
	return "place-order command from " + cmd.CustomerID
}

const repeatedPlacementSummary = "repeated place-order command: no change"

// timelineNote is the timeline's line for an event the order decided on,
// given what it decided.
func timelineNote(data any, decided []saga.Emit) string {
	if cmd, ok := data.(events.PlaceOrderData); ok {
		if len(decided) == 0 {
			return repeatedPlacementSummary
		}
		return placedSummary(cmd)
	}
	return summaryOf(data)
}

// summaryOf is the timeline's line for any other event the order notes: its
// own facts and the other steps' (payload by value, as the catalog decodes
// it); "" for one it does not note.
func summaryOf(data any) string {
	switch d := data.(type) {
	case events.OrderCreatedData:
		return fmt.Sprintf("created: %d line(s), %s (tax %s), ship to %s", len(d.Lines),
			money(d.TotalCents, d.Currency), money(d.TaxCents, d.Currency), d.ShippingCountry)
	case events.OrderConfirmedData:
		return "confirmed, payment " + d.PaymentID
	case events.OrderCancelledData:
		return "cancelled: " + d.Reason
	case events.InventoryRejectedData:
		return "stock rejected: " + d.Reason
	case events.PaymentCompletedData:
		return "paid " + money(d.AmountCents, d.Currency)
	case events.PaymentFailedData:
		return "payment failed: " + d.Reason
	case events.SagaStalledData:
		return "stalled at " + strings.TrimPrefix(d.LastStep, "dev.orderflow.")
	case events.InventoryReservedData:
		return fmt.Sprintf("stock reserved for %d line(s)", len(d.Lines))
	case events.InventoryReleasedData:
		return "stock released"
	case events.PaymentRefundedData:
		return "refunded " + money(d.AmountCents, d.Currency)
	}
	return ""
}

func timelineOnly[P any](app *handler.App, typ string) {
	handler.On(app, typ, func(ctx context.Context, tx *store.Tx, in handler.In[P]) ([]saga.Emit, error) {
		return nil, recordTimeline(ctx, tx, events.Key(in.Data), in.Event, summaryOf(in.Data))
	})
}

func money(cents int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", cents/100, cents%100, currency)
}

// sagaOutcome labels an order's end for orderflow_saga_outcomes_total.
func sagaOutcome(e event.Event) []string {
	switch e.Type() {
	case events.OrderConfirmed:
		return []string{"confirmed", ""}
	case events.OrderCancelled:
		var d events.OrderCancelledData
		_ = json.Unmarshal(e.Data(), &d) // built by this function from the same type
		return []string{"cancelled", d.Reason}
	}
	return nil
}

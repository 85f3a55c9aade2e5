package function

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Rebuilding the order read model (order_view, order_timeline, and the
// event store they are folded from) from the Kafka log.
//
// It FOLDS THE RECORDED FACTS; it does not run the function's decisions
// again. The order's state is nothing but its own facts (order.created,
// order.confirmed, order.cancelled), and those are in the orders topic,
// exactly as they were decided. Re-running the decisions on the commands
// and the other steps' facts would decide anew, on a log whose topics
// interleave differently from the live run (a payment.completed read
// before the inventory.rejected that beat it live confirms an order that
// was cancelled), and with today's catalog rather than the one in force
// then: it could rebuild a different history. Folding facts cannot.
//
// So a rebuild reads the orders topic FIRST (ReplayOwnFactsFirst), folds
// each fact into the event store with Apply (the same appendEvents the
// live function uses, minus the decision and the outbox) and notes it in
// the timeline; then it notes every other event in the timeline as the live
// function did (summaryOf), with one question the facts answer: did a
// place-order command create its order (an order.created names it as its
// cause), repeat it (same content, the order already exists), or was it
// refused (no timeline line: the live transaction rolled back and the
// command was dead-lettered)?

// ReplayOwnFactsFirst says that a rebuild reads the topic the function
// publishes to (its SinkBinding's) before its KafkaSource's topics.
const ReplayOwnFactsFirst = true

// NewRebuild returns the function's edge for a rebuild: PrepareStore gives
// a fresh store its tables and projection versions.
func NewRebuild() *handler.App { return New().App() }

// ReplayEvent applies one record of the log to a rebuilt store.
func ReplayEvent(ctx context.Context, tx *store.Tx, e event.Event) (handler.ReplayOutcome, error) {
	data, err := handler.Decode(e)
	if err != nil {
		return handler.ReplayRefused, nil // refused live too: dead-lettered, never in the model
	}
	value := reflect.ValueOf(data).Elem().Interface() // the payload by value, as reactions get it
	orderID := events.Key(value)
	if orderID == "" {
		return handler.ReplayIgnored, nil
	}
	first, err := tx.MarkProcessed(ctx, "order", e.Source(), e.ID(), e.Type())
	if err != nil {
		return "", err
	}
	if !first {
		return handler.ReplayDuplicate, nil
	}
	switch d := value.(type) {
	case events.OrderCreatedData, events.OrderConfirmedData, events.OrderCancelledData:
		return handler.ReplayApplied, foldOwnFact(ctx, tx, e, d)
	case events.PlaceOrderData:
		return notePlacement(ctx, tx, e, d)
	case events.InventoryRejectedData:
		return noteIfDecided(ctx, tx, e, d, func(o Order) error { _, err := DecideStockRejected(o, d); return err })
	case events.PaymentCompletedData:
		return noteIfDecided(ctx, tx, e, d, func(o Order) error { _, err := DecidePaid(o, d); return err })
	case events.PaymentFailedData:
		return noteIfDecided(ctx, tx, e, d, func(o Order) error { _, err := DecidePaymentFailed(o, d); return err })
	case events.SagaStalledData:
		return noteIfDecided(ctx, tx, e, d, func(o Order) error { _, err := DecideStalled(o, d); return err })
	}
	summary := summaryOf(value)
	if summary == "" {
		return handler.ReplayIgnored, nil
	}
	return handler.ReplayApplied, recordTimeline(ctx, tx, orderID, e, summary)
}

// foldOwnFact appends one of the order's own facts to its event store, as
// the live function did when it decided it, and notes it in the timeline
// as the live function did when it emitted it.
func foldOwnFact(ctx context.Context, tx *store.Tx, e event.Event, data any) error {
	orderID := events.Key(data)
	o, err := loadOrder(ctx, tx, orderID)
	if err != nil {
		return err
	}
	// caused_by is the event the live decision reacted to. The fact is
	// stored as the log holds it, its type and payload as recorded (what
	// the live function stored when it emitted them: the same JSON), not
	// as decoded: an older version stays the older version, and folds
	// through the same decoding as the live event store's.
	cause := event.New()
	cause.SetID(ce.String(e, ce.CausationID))
	if _, err := appendEvents(ctx, tx, o, cause, []saga.Emit{{Type: e.Type(), Data: json.RawMessage(e.Data())}}); err != nil {
		return fmt.Errorf("order %s: folding %s %s: %w", orderID, e.Type(), e.ID(), err)
	}
	// The timeline is a read model: it names the fact as decisions see it
	// (an upcast order.created.v1 as the v2 it reads as), as the live
	// function names what it emits now.
	shown := e.Clone()
	shown.SetType(events.Current(e.Type()))
	return recordTimeline(ctx, tx, orderID, shown, summaryOf(data))
}

// notePlacement notes a place-order command as the live function did: the
// one that created the order, a repeat of it, or nothing for one refused.
func notePlacement(ctx context.Context, tx *store.Tx, e event.Event, cmd events.PlaceOrderData) (handler.ReplayOutcome, error) {
	o, err := loadOrder(ctx, tx, cmd.OrderID)
	if err != nil {
		return "", err
	}
	createdBy, err := creationCause(ctx, tx, cmd.OrderID)
	if err != nil {
		return "", err
	}
	// A command without a destination went to the catalog's home country
	// when it was decided: the rebuild reads the same catalog setting.
	prices, err := replayPrices()
	if err != nil {
		return "", err
	}
	summary, noted := PlacementSummary(o, createdBy, e.ID(), cmd, prices.destination(cmd))
	if !noted {
		return handler.ReplayRefused, nil
	}
	return handler.ReplayApplied, recordTimeline(ctx, tx, cmd.OrderID, e, summary)
}

// replayPrices is the catalog a rebuild judges placements by, read once.
var replayPrices = sync.OnceValues(func() (Prices, error) { return loadPrices(os.Getenv("ORDER_CATALOG_FILE")) })

// PlacementSummary is what the timeline said of place-order command cmdID
// for an order whose facts are folded in o and whose order.created was
// caused by createdBy: the command that created it, a repeat of it with
// the same content (DecidePlace's no-op), or nothing (noted false) for a
// refused one, whose transaction rolled back. country is where the
// catalog sends cmd (its own shippingCountry, else the home country).
func PlacementSummary(o Order, createdBy, cmdID string, cmd events.PlaceOrderData, country string) (summary string, noted bool) {
	switch {
	case o.Status == StatusNew:
		return "", false
	case createdBy == cmdID:
		return placedSummary(cmd), true
	case samePlacement(o.Created, cmd, country):
		return repeatedPlacementSummary, true
	}
	return "", false
}

// creationCause is the id of the command that created the order ("" if
// none is recorded).
func creationCause(ctx context.Context, tx *store.Tx, orderID string) (string, error) {
	var id string
	err := tx.QueryRow(ctx, `SELECT caused_by FROM order_events WHERE order_id = ? AND event_type = ? ORDER BY version LIMIT 1`,
		orderID, events.OrderCreated).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// noteIfDecided notes another step's fact the live function decided on,
// unless its decision refused it: then the live transaction rolled back
// (the event was retried, then dead-lettered) and the timeline never had
// it. The decision runs on the fully folded order only for its refusal;
// what it would emit is not used (the recorded facts are the outcome).
func noteIfDecided(ctx context.Context, tx *store.Tx, e event.Event, data any, decide func(Order) error) (handler.ReplayOutcome, error) {
	orderID := events.Key(data)
	o, err := loadOrder(ctx, tx, orderID)
	if err != nil {
		return "", err
	}
	if err := decide(o); err != nil {
		return handler.ReplayRefused, nil
	}
	return handler.ReplayApplied, recordTimeline(ctx, tx, orderID, e, summaryOf(data))
}

package topicview

import (
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/shared/events"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// rec is a record of topic carrying an event of typ with data, keyed by
// the payload's order id, at t0+sec.
func rec(t *testing.T, topic, typ string, data any, sec int, id string) kafkalog.Record {
	t.Helper()
	e, err := events.New(typ, data, nil, "/test")
	if err != nil {
		t.Fatal(err)
	}
	e.SetTime(t0.Add(time.Duration(sec) * time.Second))
	if id != "" {
		e.SetID(id)
	}
	return kafkalog.Record{Topic: topic, Key: events.Key(data), Timestamp: e.Time(), Event: &e}
}

func saga(t *testing.T) []kafkalog.Record {
	lines := []events.PricedLine{{SKU: "sku-tee", Quantity: 2, UnitPriceCents: 1500}}
	created := events.OrderCreatedData{OrderID: "o-1", CustomerID: "cus-1", Email: "a@x.org", Currency: "EUR", PaymentToken: "tok_visa", Lines: lines, SubtotalCents: 3000, TotalCents: 3000, ShippingCountry: "DE"}
	return []kafkalog.Record{
		rec(t, events.TopicCommands, events.PlaceOrder, events.PlaceOrderData{OrderID: "o-1", CustomerID: "cus-1", Email: "a@x.org", Currency: "EUR", PaymentToken: "tok_visa", Lines: []events.Line{{SKU: "sku-tee", Quantity: 2}}}, 0, ""),
		rec(t, events.TopicOrders, events.OrderCreated, created, 1, "created-1"),
		rec(t, events.TopicOrders, events.OrderCreated, created, 1, "created-1"), // redelivered: same id
		rec(t, events.TopicInventory, events.InventoryReserved, events.InventoryReservedData{OrderID: "o-1", Lines: []events.Line{{SKU: "sku-tee", Quantity: 2}}}, 2, ""),
		rec(t, events.TopicPayments, events.PaymentCompleted, events.PaymentCompletedData{OrderID: "o-1", PaymentID: "pay-1", AmountCents: 3000, Currency: "EUR"}, 3, ""),
		rec(t, events.TopicOrders, events.OrderConfirmed, events.OrderConfirmedData{OrderID: "o-1", Email: "a@x.org", TotalCents: 3000, Currency: "EUR", PaymentID: "pay-1"}, 4, ""),
		rec(t, events.TopicOrders, events.OrderCreated, events.OrderCreatedData{OrderID: "o-2", CustomerID: "cus-2", Email: "b@x.org", Currency: "EUR", PaymentToken: "tok_declined", Lines: lines, SubtotalCents: 3000, TotalCents: 3000, ShippingCountry: "DE"}, 5, ""),
		rec(t, events.TopicOrders, events.OrderCancelled, events.OrderCancelledData{OrderID: "o-2", Email: "b@x.org", Reason: events.ReasonPaymentDeclined, Lines: []events.Line{{SKU: "sku-tee", Quantity: 2}}}, 7, ""),
		rec(t, events.TopicOrders, events.OrderCreated, events.OrderCreatedData{OrderID: "o-3", CustomerID: "cus-3", Email: "c@x.org", Currency: "EUR", PaymentToken: "tok_visa", Lines: lines, SubtotalCents: 3000, TotalCents: 3000, ShippingCountry: "DE"}, 8, ""),
	}
}

func TestOrderIsTheFoldOfItsOwnEvents(t *testing.T) {
	v := Order("o-1", saga(t))
	if !v.Found || v.Status != "confirmed" || v.Version != 2 || v.TotalCents != 3000 || v.CustomerID != "cus-1" || len(v.Lines) != 1 {
		t.Fatalf("view %+v: want o-1 found, confirmed at version 2 (the redelivered creation folded once), 30.00 for cus-1", v)
	}
	var types []string
	for _, e := range v.Timeline {
		types = append(types, e.Type)
	}
	want := []string{events.PlaceOrder, events.OrderCreated, events.InventoryReserved, events.PaymentCompleted, events.OrderConfirmed}
	if len(types) != len(want) {
		t.Fatalf("timeline %v, want %v (one entry per distinct event, no other order's)", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("timeline %v, want %v in time order", types, want)
		}
	}
	if v := Order("o-2", saga(t)); v.Status != "cancelled" || v.Reason != events.ReasonPaymentDeclined {
		t.Fatalf("o-2: %+v, want cancelled for %s", v, events.ReasonPaymentDeclined)
	}
	if v := Order("o-none", saga(t)); v.Found || len(v.Timeline) != 0 {
		t.Fatalf("an unknown order: %+v, want not found, empty timeline", v)
	}
}

func TestAnalyticsIsTheProjectionOfTheFacts(t *testing.T) {
	v := Analytics(saga(t))
	if v.OrdersByState["confirmed"] != 1 || v.OrdersByState["cancelled"] != 1 || v.OrdersByState["pending"] != 1 {
		t.Fatalf("orders by state %v, want one each", v.OrdersByState)
	}
	if v.CancelledByReason[events.ReasonPaymentDeclined] != 1 || v.RevenueCents != 3000 || v.LastStepByOpenOrders[events.OrderCreated] != 1 {
		t.Fatalf("view %+v: want one payment_declined, revenue 30.00, one open order after order.created", v)
	}
	// Facts only, each once: the place-order command is no fact, and the
	// redelivered creation is the same event.
	if v.EventsSeen != 7 {
		t.Fatalf("events seen %d, want 7", v.EventsSeen)
	}
	if v.SagaDurationMillis.Count != 2 || v.SagaDurationMillis.Max != 3000 {
		t.Fatalf("durations %+v, want 2 ended sagas, the longest 3 s", v.SagaDurationMillis)
	}
}

// A dead letter carries the id of the event it failed to deliver: it is an
// entry of its own in the timeline, not a duplicate of that event.
func TestADeadLetterIsInTheTimeline(t *testing.T) {
	place := rec(t, events.TopicCommands, events.PlaceOrder, events.PlaceOrderData{OrderID: "o-9", CustomerID: "c", Email: "a@x.org", Currency: "EUR", PaymentToken: "tok_visa", Lines: []events.Line{{SKU: "sku-x", Quantity: 1}}}, 0, "place-9")
	letter := place
	letter.Topic = DeadLetterPrefix + "order"
	v := Order("o-9", []kafkalog.Record{place, letter})
	if v.Found || len(v.Timeline) != 2 || !strings.HasPrefix(v.Timeline[1].Summary, "dead-lettered by order") {
		t.Fatalf("view %+v: want not found, the command and its dead letter", v)
	}
}

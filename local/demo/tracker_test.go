package demo

import (
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
)

const (
	ordersTopic = "orderflow.orders"
	dlqTopic    = "orderflow.dlq.order"
)

func record(t *testing.T, topic, typ, orderID, eventID string) kafkalog.Record {
	t.Helper()
	var data any = events.OrderConfirmedData{OrderID: orderID}
	switch typ {
	case events.OrderCancelled:
		data = events.OrderCancelledData{OrderID: orderID, Reason: "out_of_stock"}
	case events.PlaceOrder:
		data = events.PlaceOrderData{OrderID: orderID}
	}
	e := event.New()
	e.SetID(eventID)
	e.SetType(typ)
	e.SetSource("/test")
	e.SetExtension(ce.PartitionKey, orderID)
	if err := e.SetData("application/json", data); err != nil {
		t.Fatal(err)
	}
	return kafkalog.Record{Topic: topic, Event: &e}
}

// An order whose command was dead-lettered (its function's disk full, its
// retries spent) and then replayed with `dlq replay` ends after all: it
// counts as what it became, not "refused" (the demo called 24 confirmed
// orders refused).
func TestAReplayedOrderCountsByItsRealOutcome(t *testing.T) {
	plan := Plan(3, 1, "t")
	a, b, c := plan[0].Order.OrderID, plan[1].Order.OrderID, plan[2].Order.OrderID
	var last Progress
	tr := newTracker(plan, Config{Progress: func(p Progress) { last = p }})
	tr.observe(record(t, dlqTopic, events.PlaceOrder, a, "dl-a"), ordersTopic, dlqTopic)
	tr.observe(record(t, dlqTopic, events.PlaceOrder, b, "dl-b"), ordersTopic, dlqTopic)
	tr.observe(record(t, ordersTopic, events.OrderConfirmed, c, "c-1"), ordersTopic, dlqTopic)
	if tr.outcome(a) != "refused" || last.Refused != 2 || last.Finished != 3 {
		t.Fatalf("before the replay: %q, %+v", tr.outcome(a), last)
	}
	// The replay: a is taken and confirmed, b cancelled.
	tr.observe(record(t, ordersTopic, events.OrderConfirmed, a, "c-a"), ordersTopic, dlqTopic)
	tr.observe(record(t, ordersTopic, events.OrderCancelled, b, "x-b"), ordersTopic, dlqTopic)
	if got := tr.outcome(a); got != "confirmed" {
		t.Errorf("replayed a: %q, want confirmed", got)
	}
	if got := tr.outcome(b); got != "cancelled:out_of_stock" {
		t.Errorf("replayed b: %q, want cancelled:out_of_stock", got)
	}
	if last.Refused != 0 || last.Confirmed != 2 || last.Cancelled != 1 || last.Finished != 3 {
		t.Errorf("progress %+v, want 2 confirmed, 1 cancelled, none refused, 3 finished", last)
	}
	// A dead letter of a command whose order had ended (a later copy,
	// refused) does not make the order refused.
	tr.observe(record(t, dlqTopic, events.PlaceOrder, c, "dl-c"), ordersTopic, dlqTopic)
	if got := tr.outcome(c); got != "confirmed" || tr.refused[c] {
		t.Errorf("c after a late dead letter of its command: %q", got)
	}
}

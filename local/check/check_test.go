package check

import (
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
)

func ev(t *testing.T, typ string, data any) event.Event {
	t.Helper()
	e, err := events.New(typ, data, nil, "/test")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// world is a consistent run: o1 confirmed (2 tees), o2 cancelled by stock.
func world(t *testing.T) Input {
	log := NewLog()
	for _, e := range []event.Event{
		ev(t, events.OrderCreated, events.OrderCreatedData{OrderID: "o1", Lines: []events.PricedLine{{SKU: "tee", Quantity: 2, UnitPriceCents: 500}}, TotalCents: 1000}),
		ev(t, events.OrderCreated, events.OrderCreatedData{OrderID: "o2", Lines: []events.PricedLine{{SKU: "tee", Quantity: 9, UnitPriceCents: 500}}, TotalCents: 4500}),
		ev(t, events.OrderConfirmed, events.OrderConfirmedData{OrderID: "o1", TotalCents: 1000}),
		ev(t, events.OrderCancelled, events.OrderCancelledData{OrderID: "o2", Reason: events.ReasonOutOfStock}),
	} {
		if err := log.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return Input{
		Placed:    []string{"o1", "o2"},
		Log:       log,
		Stock:     events.InventoryViewData{Stock: []events.StockLevel{{SKU: "tee", Initial: 10, Available: 8, Sold: 2}}},
		Ledger:    events.PaymentViewData{Ledger: []events.LedgerEntry{{OrderID: "o1", Charges: 1, ChargedCents: 1000}}},
		Exclusive: true,
	}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, in *Input)
		check  func(r Report) bool
	}{
		{"consistent run passes", func(*testing.T, *Input) {}, func(r Report) bool {
			return r.OK() && r.Confirmed == 1 && r.Cancelled == 1 && r.CancelledBy[events.ReasonOutOfStock] == 1
		}},
		{"a redelivered terminal event counts once", func(t *testing.T, in *Input) {
			again := ev(t, events.OrderConfirmed, events.OrderConfirmedData{OrderID: "o1", TotalCents: 1000})
			again.SetID(in.Log.Terminal["o1"][0].ID)
			in.Log.Add(again)
		}, func(r Report) bool { return r.OK() && len(r.Problems) == 0 }},
		{"two terminal events", func(t *testing.T, in *Input) {
			in.Log.Add(ev(t, events.OrderCancelled, events.OrderCancelledData{OrderID: "o1", Reason: "saga_timeout"}))
		}, func(r Report) bool { return r.MultiTerminal == 1 && !r.OK() }},
		{"placed and never created is lost", func(_ *testing.T, in *Input) { in.Placed = append(in.Placed, "o3") },
			func(r Report) bool { return r.Lost == 1 }},
		{"placed and refused is accounted for", func(_ *testing.T, in *Input) {
			in.Placed = append(in.Placed, "o3")
			in.Refused = map[string]bool{"o3": true}
		}, func(r Report) bool { return r.OK() }},
		{"an order created in v1 is known to the log", func(t *testing.T, in *Input) {
			in.Placed = append(in.Placed, "o5")
			in.Log.Add(ev(t, events.OrderCreatedV1, events.OrderCreatedV1Data{OrderID: "o5", Lines: []events.PricedLine{{SKU: "tee", Quantity: 1}}, TotalCents: 500}))
			in.Log.Add(ev(t, events.OrderCancelled, events.OrderCancelledData{OrderID: "o5", Reason: events.ReasonPaymentDeclined}))
		}, func(r Report) bool { return r.OK() && r.Lost == 0 && r.Cancelled == 2 }},
		{"created and never ended is lost", func(t *testing.T, in *Input) {
			in.Placed = append(in.Placed, "o4")
			in.Log.Add(ev(t, events.OrderCreated, events.OrderCreatedData{OrderID: "o4", Lines: []events.PricedLine{{SKU: "tee", Quantity: 1}}}))
		}, func(r Report) bool { return r.Lost == 1 && r.Open == 1 }},
		{"stock that does not add up", func(_ *testing.T, in *Input) { in.Stock.Stock[0].Available = 7 },
			func(r Report) bool { return r.StockDrift == 1 }},
		{"sold differs from confirmed orders", func(_ *testing.T, in *Input) {
			in.Stock.Stock[0].Sold, in.Stock.Stock[0].Available = 3, 7
		}, func(r Report) bool { return r.StockDrift == 1 }},
		{"a warm-up before the run: what moved since is the run's", func(_ *testing.T, in *Input) {
			in.Stock.Stock[0].Sold, in.Stock.Stock[0].Available = 5, 5
			in.StockBefore = &events.InventoryViewData{Stock: []events.StockLevel{{SKU: "tee", Initial: 10, Available: 7, Sold: 3}}}
		}, func(r Report) bool { return r.OK() }},
		{"a warm-up before the run, and stock sold that no order of the run holds", func(_ *testing.T, in *Input) {
			in.Stock.Stock[0].Sold, in.Stock.Stock[0].Available = 6, 4
			in.StockBefore = &events.InventoryViewData{Stock: []events.StockLevel{{SKU: "tee", Initial: 10, Available: 7, Sold: 3}}}
		}, func(r Report) bool { return r.StockDrift == 1 }},
		{"confirmed order charged twice", func(_ *testing.T, in *Input) {
			in.Ledger.Ledger[0].Charges, in.Ledger.Ledger[0].ChargedCents = 2, 2000
		}, func(r Report) bool { return r.DoubleCharged == 1 }},
		{"confirmed order never charged", func(_ *testing.T, in *Input) { in.Ledger.Ledger = nil },
			func(r Report) bool { return r.DoubleCharged == 1 }},
		{"cancelled order left charged", func(_ *testing.T, in *Input) {
			in.Ledger.Ledger = append(in.Ledger.Ledger, events.LedgerEntry{OrderID: "o2", Charges: 1, ChargedCents: 4500})
		}, func(r Report) bool { return r.NetCharged == 1 }},
		{"cancelled order charged and refunded is fine", func(_ *testing.T, in *Input) {
			in.Ledger.Ledger = append(in.Ledger.Ledger, events.LedgerEntry{OrderID: "o2", Charges: 1, ChargedCents: 4500, Refunds: 1, RefundedCents: 4500})
		}, func(r Report) bool { return r.OK() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := world(t)
			tt.break_(t, &in)
			if r := Evaluate(in); !tt.check(r) {
				t.Fatalf("unexpected verdict:\n%s", r)
			}
		})
	}
}

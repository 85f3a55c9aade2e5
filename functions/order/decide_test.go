package function

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

var testPrices = Prices{Currency: "EUR", Prices: map[string]int64{"sku-tee": 1500, "sku-mug": 1200}}

func placeCmd(lines ...events.Line) events.PlaceOrderData {
	return events.PlaceOrderData{OrderID: "o-1", CustomerID: "c-1", Email: "c@example.org", Currency: "EUR", PaymentToken: "tok_ok", Lines: lines}
}

func created(t *testing.T, cmd events.PlaceOrderData) Order {
	t.Helper()
	emits, err := DecidePlace(Order{}, cmd, testPrices)
	if err != nil || len(emits) != 1 {
		t.Fatalf("place: %v %v", emits, err)
	}
	d := emits[0].Data.(events.OrderCreatedData)
	return Order{}.Apply(events.OrderCreated, &d)
}

func fieldOf(err error) string {
	var r *saga.Refusal
	if errors.As(err, &r) {
		return r.Field
	}
	return ""
}

func TestDecidePlace(t *testing.T) {
	cmd := placeCmd(events.Line{SKU: "sku-tee", Quantity: 2}, events.Line{SKU: "sku-mug", Quantity: 1})
	existing := created(t, cmd)
	other := cmd
	other.PaymentToken = "tok_other"

	tests := []struct {
		name      string
		state     Order
		cmd       events.PlaceOrderData
		wantTotal int64 // -1: no event
		wantKind  saga.Kind
		wantField string
	}{
		{"new order is priced from the catalog", Order{}, cmd, 2*1500 + 1200, "", ""},
		{"same command again is a no-op", existing, cmd, -1, "", ""},
		{"different command under a used id is refused", existing, other, -1, saga.KindUnprocessable, "orderId"},
		{"unknown SKU names the line", Order{}, placeCmd(events.Line{SKU: "sku-tee", Quantity: 1}, events.Line{SKU: "sku-nope", Quantity: 1}), -1, saga.KindUnprocessable, "lines[1].sku"},
		{"wrong currency", Order{}, func() events.PlaceOrderData { c := cmd; c.Currency = "USD"; return c }(), -1, saga.KindUnprocessable, "currency"},
		{"SKU twice", Order{}, placeCmd(events.Line{SKU: "sku-tee", Quantity: 1}, events.Line{SKU: "sku-tee", Quantity: 1}), -1, saga.KindInvalid, "lines[1].sku"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emits, err := DecidePlace(tt.state, tt.cmd, testPrices)
			if kind := saga.KindOf(err); kind != tt.wantKind {
				t.Fatalf("kind %q, want %q (err %v)", kind, tt.wantKind, err)
			}
			if f := fieldOf(err); f != tt.wantField {
				t.Fatalf("field %q, want %q", f, tt.wantField)
			}
			if tt.wantTotal < 0 {
				if len(emits) != 0 {
					t.Fatalf("emitted %v", emits)
				}
				return
			}
			if len(emits) != 1 || emits[0].Type != events.OrderCreated {
				t.Fatalf("emitted %v", emits)
			}
			if got := emits[0].Data.(events.OrderCreatedData).TotalCents; got != tt.wantTotal {
				t.Fatalf("total %d, want %d", got, tt.wantTotal)
			}
		})
	}
}

func TestSagaTransitions(t *testing.T) {
	pending := created(t, placeCmd(events.Line{SKU: "sku-tee", Quantity: 3}))
	confirmed := pending.Apply(events.OrderConfirmed, &events.OrderConfirmedData{OrderID: "o-1", PaymentID: "p-1"})
	cancelled := pending.Apply(events.OrderCancelled, &events.OrderCancelledData{OrderID: "o-1", Reason: events.ReasonOutOfStock})

	rejected := events.InventoryRejectedData{OrderID: "o-1", Reason: events.ReasonOutOfStock, SKU: "sku-tee", Detail: "2 left"}
	paid := events.PaymentCompletedData{OrderID: "o-1", PaymentID: "p-1", AmountCents: 4500, Currency: "EUR"}
	declined := events.PaymentFailedData{OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Reason: "card declined"}

	type decision func(Order) ([]saga.Emit, error)
	onRejected := func(o Order) ([]saga.Emit, error) { return DecideStockRejected(o, rejected) }
	onPaid := func(o Order) ([]saga.Emit, error) { return DecidePaid(o, paid) }
	onDeclined := func(o Order) ([]saga.Emit, error) { return DecidePaymentFailed(o, declined) }
	stalled := events.SagaStalledData{OrderID: "o-1", LastStep: events.InventoryReserved, LastStepAt: time.Unix(1700000000, 0), StalledForMillis: 300000}
	onStalled := func(o Order) ([]saga.Emit, error) { return DecideStalled(o, stalled) }

	tests := []struct {
		name     string
		state    Order
		decide   decision
		wantType string // "" = nothing emitted
		wantKind saga.Kind
		check    func(t *testing.T, data any)
	}{
		{"stock rejected cancels a pending order", pending, onRejected, events.OrderCancelled, "", func(t *testing.T, d any) {
			c := d.(events.OrderCancelledData)
			if c.Reason != events.ReasonOutOfStock || !reflect.DeepEqual(c.Lines, []events.Line{{SKU: "sku-tee", Quantity: 3}}) {
				t.Fatalf("cancel %+v", c)
			}
		}},
		{"payment completed confirms a pending order", pending, onPaid, events.OrderConfirmed, "", func(t *testing.T, d any) {
			c := d.(events.OrderConfirmedData)
			if c.TotalCents != 4500 || c.PaymentID != "p-1" {
				t.Fatalf("confirm %+v", c)
			}
		}},
		{"payment failed cancels with payment_declined", pending, onDeclined, events.OrderCancelled, "", func(t *testing.T, d any) {
			if r := d.(events.OrderCancelledData).Reason; r != events.ReasonPaymentDeclined {
				t.Fatalf("reason %s", r)
			}
		}},
		{"a second payment completed changes nothing", confirmed, onPaid, "", "", nil},
		{"payment completed after cancellation changes nothing", cancelled, onPaid, "", "", nil},
		{"late stock rejection of a confirmed order changes nothing", confirmed, onRejected, "", "", nil},
		{"late decline of a cancelled order changes nothing", cancelled, onDeclined, "", "", nil},
		{"an event before the order exists is retried", Order{}, onPaid, "", saga.KindRetry, nil},
		{"a stalled pending order is cancelled for timeout", pending, onStalled, events.OrderCancelled, "", func(t *testing.T, d any) {
			c := d.(events.OrderCancelledData)
			if c.Reason != events.ReasonTimeout || !strings.Contains(c.Detail, "inventory.reserved.v1") || len(c.Lines) != 1 {
				t.Fatalf("cancel %+v", c)
			}
		}},
		{"a stalled report of a confirmed order changes nothing", confirmed, onStalled, "", "", nil},
		{"a stalled report of a cancelled order changes nothing", cancelled, onStalled, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emits, err := tt.decide(tt.state)
			if kind := saga.KindOf(err); kind != tt.wantKind {
				t.Fatalf("kind %q, want %q (%v)", kind, tt.wantKind, err)
			}
			if tt.wantType == "" {
				if len(emits) != 0 {
					t.Fatalf("emitted %v", emits)
				}
				return
			}
			if len(emits) != 1 || emits[0].Type != tt.wantType {
				t.Fatalf("emitted %v, want one %s", emits, tt.wantType)
			}
			tt.check(t, emits[0].Data)
		})
	}
}

func TestFoldReachesOneTerminalState(t *testing.T) {
	o := created(t, placeCmd(events.Line{SKU: "sku-tee", Quantity: 1}))
	if o.Version != 1 || o.Status != StatusPending || o.Created.TotalCents != 1500 {
		t.Fatalf("after created: %+v", o)
	}
	o = o.Apply(events.OrderConfirmed, &events.OrderConfirmedData{OrderID: "o-1", PaymentID: "p"})
	if o.Version != 2 || !o.Terminal() || o.Status != StatusConfirmed {
		t.Fatalf("after confirmed: %+v", o)
	}
}

// The pure decision alone: pricing and validating a command.
func BenchmarkDecidePlace(b *testing.B) {
	cmd := placeCmd(events.Line{SKU: "sku-tee", Quantity: 2}, events.Line{SKU: "sku-mug", Quantity: 1})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecidePlace(Order{}, cmd, testPrices); err != nil {
			b.Fatal(err)
		}
	}
}

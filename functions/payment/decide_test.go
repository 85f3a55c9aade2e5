package function

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"orderflow.dev/functions/payment/gateway"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

// createdData is an order whose total (what payment charges) is cents:
// all of it subtotal, as for a country the shop sells to tax-free.
func createdData(id string, cents int64, token string) events.OrderCreatedData {
	return events.OrderCreatedData{OrderID: id, CustomerID: "c-1", Email: "c@example.org", Currency: "EUR", PaymentToken: token,
		Lines: []events.PricedLine{{SKU: "sku-tee", Quantity: 1, UnitPriceCents: cents}}, SubtotalCents: cents, TotalCents: cents, ShippingCountry: "CH"}
}

func reservedData(id string) events.InventoryReservedData {
	return events.InventoryReservedData{OrderID: id, Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}
}

func cancelledData(id string) events.OrderCancelledData {
	return events.OrderCancelledData{OrderID: id, Email: "c@example.org", Reason: events.ReasonOutOfStock, Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}
}

func pay(state State) Payment {
	p := Payment{OrderID: "o-1", State: state, AmountCents: 4500, Currency: "EUR", Token: "tok_ok"}
	if state == StateCharged || state == StateRefunded {
		p.ChargeID = "ch_1"
	}
	return p
}

var allStates = []State{StateNone, StateAwaitingStock, StateCharged, StateDeclined, StateCancelled, StateRefunded}

func TestDecideCreated(t *testing.T) {
	d := DecideCreated(Payment{OrderID: "o-1"}, createdData("o-1", 4500, "tok_ok"))
	want := pay(StateAwaitingStock)
	if d.Call != NoCall || len(d.Emits) != 0 || d.Next == nil || *d.Next != want {
		t.Fatalf("first creation: %+v, want row %+v", d, want)
	}
	// The reservation came first: the creation brings the amount and charges.
	d = DecideCreated(Payment{OrderID: "o-1", State: StateAwaitingOrder}, createdData("o-1", 4500, "tok_ok"))
	if d.Call != ChargeCall || d.Next == nil || *d.Next != want {
		t.Fatalf("creation after reservation: %+v, want a charge of %+v", d, want)
	}
	// Any other row, the tombstone included, stays as it is.
	for _, s := range allStates[1:] {
		t.Run(string(s), func(t *testing.T) {
			if d := DecideCreated(pay(s), createdData("o-1", 999, "tok_other")); !reflect.DeepEqual(d, Decision{}) {
				t.Fatalf("created on %s decided %+v", s, d)
			}
		})
	}
}

func TestDecideReserved(t *testing.T) {
	// order.created still on its way: remember the reservation.
	d, err := DecideReserved(pay(StateNone), reservedData("o-1"))
	if err != nil || d.Call != NoCall || d.Next == nil || *d.Next != (Payment{OrderID: "o-1", State: StateAwaitingOrder}) {
		t.Fatalf("early reservation: %+v %v", d, err)
	}
	tests := []struct {
		state    State
		wantCall Call
		wantKind saga.Kind
	}{
		{StateAwaitingOrder, NoCall, ""}, // duplicate of the early reservation
		{StateAwaitingStock, ChargeCall, ""},
		{StateCharged, NoCall, ""},   // duplicate: charged once only
		{StateDeclined, NoCall, ""},  // duplicate: declined once only
		{StateCancelled, NoCall, ""}, // the cancellation came first: charge nothing
		{StateRefunded, NoCall, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.state), func(t *testing.T) {
			d, err := DecideReserved(pay(tt.state), reservedData("o-1"))
			if saga.KindOf(err) != tt.wantKind || (err != nil && tt.wantKind == "") {
				t.Fatalf("err %v, want kind %q", err, tt.wantKind)
			}
			if d.Call != tt.wantCall || d.Next != nil || len(d.Emits) != 0 {
				t.Fatalf("decided %+v, want call %d only", d, tt.wantCall)
			}
		})
	}
}

func TestChargeOutcome(t *testing.T) {
	p := pay(StateAwaitingStock)
	tests := []struct {
		name      string
		chargeID  string
		err       error
		wantKind  saga.Kind
		wantState State
		wantEmit  saga.Emit
	}{
		{"charged: payment.completed carries the charge id", "ch_9", nil, "", StateCharged,
			saga.Emit{Type: events.PaymentCompleted, Data: events.PaymentCompletedData{OrderID: "o-1", PaymentID: "ch_9", AmountCents: 4500, Currency: "EUR"}}},
		{"declined: payment.failed carries the gateway's reason", "", &gateway.Declined{Reason: "insufficient_funds", Detail: "no money"}, "", StateDeclined,
			saga.Emit{Type: events.PaymentFailed, Data: events.PaymentFailedData{OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Reason: "insufficient_funds", Detail: "no money"}}},
		{"a wrapped decline is still a decline", "", fmt.Errorf("gateway: %w", &gateway.Declined{Reason: "card_declined", Detail: "d"}), "", StateDeclined,
			saga.Emit{Type: events.PaymentFailed, Data: events.PaymentFailedData{OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Reason: "card_declined", Detail: "d"}}},
		{"gateway error: retried, nothing decided", "", errors.New("connection reset"), saga.KindRetry, "", saga.Emit{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Charged(p, tt.chargeID, tt.err)
			if saga.KindOf(err) != tt.wantKind || (err != nil && tt.wantKind == "") {
				t.Fatalf("err %v, want kind %q", err, tt.wantKind)
			}
			if tt.wantState == "" {
				if d.Next != nil || len(d.Emits) != 0 {
					t.Fatalf("decided %+v", d)
				}
				return
			}
			want := p
			want.State = tt.wantState
			if tt.wantState == StateCharged {
				want.ChargeID = tt.chargeID
			}
			if d.Next == nil || *d.Next != want {
				t.Fatalf("row %+v, want %+v", d.Next, want)
			}
			if len(d.Emits) != 1 || !reflect.DeepEqual(d.Emits[0], tt.wantEmit) {
				t.Fatalf("emitted %+v, want %+v", d.Emits, tt.wantEmit)
			}
		})
	}
}

func TestDecideCancelled(t *testing.T) {
	tests := []struct {
		state     State
		wantCall  Call
		wantState State // "" = row untouched
	}{
		{StateNone, NoCall, StateCancelled},          // tombstone: a late reservation charges nothing
		{StateAwaitingStock, NoCall, StateCancelled}, // never charged: nothing to give back
		{StateCharged, RefundCall, ""},               // the refund's outcome decides the row
		{StateDeclined, NoCall, ""},
		{StateCancelled, NoCall, ""}, // duplicate
		{StateRefunded, NoCall, ""},  // duplicate: refunded once only
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.state), func(t *testing.T) {
			d := DecideCancelled(pay(tt.state), cancelledData("o-1"))
			if d.Call != tt.wantCall || len(d.Emits) != 0 {
				t.Fatalf("decided %+v", d)
			}
			if tt.wantState == "" {
				if d.Next != nil {
					t.Fatalf("row changed to %+v", *d.Next)
				}
				return
			}
			if d.Next == nil || d.Next.State != tt.wantState || d.Next.OrderID != "o-1" {
				t.Fatalf("row %+v, want %s", d.Next, tt.wantState)
			}
		})
	}
}

func TestRefundOutcome(t *testing.T) {
	p := pay(StateCharged)
	d, err := Refunded(p, nil)
	want := events.PaymentRefundedData{OrderID: "o-1", PaymentID: "ch_1", AmountCents: 4500, Currency: "EUR"}
	if err != nil || d.Next == nil || d.Next.State != StateRefunded || d.Next.ChargeID != "ch_1" ||
		len(d.Emits) != 1 || d.Emits[0].Type != events.PaymentRefunded || d.Emits[0].Data != want {
		t.Fatalf("refunded: %+v %v", d, err)
	}
	d, err = Refunded(p, errors.New("timeout"))
	if saga.KindOf(err) != saga.KindRetry || d.Next != nil || len(d.Emits) != 0 {
		t.Fatalf("failed refund: %+v %v", d, err)
	}
}

func TestIdempotencyKeysNameTheOrderOnly(t *testing.T) {
	keys := map[string]bool{ChargeKey("o-1"): true, RefundKey("o-1"): true, ChargeKey("o-2"): true, RefundKey("o-2"): true}
	if len(keys) != 4 || ChargeKey("o-1") != "charge:o-1" || RefundKey("o-1") != "refund:o-1" {
		t.Fatalf("keys %v", keys)
	}
}

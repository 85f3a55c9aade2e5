package events

import (
	"encoding/json"
	"testing"
)

var benchCommand, _ = json.Marshal(PlaceOrderData{OrderID: "o-1", CustomerID: "c-1", Email: "c@example.org", Currency: "EUR",
	PaymentToken: "tok_visa", Lines: []Line{{SKU: "sku-tee", Quantity: 2}, {SKU: "sku-mug", Quantity: 1}}})

// The schema check every delivery pays before a function sees the payload.
func BenchmarkDecodePlaceOrder(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(PlaceOrder, benchCommand); err != nil {
			b.Fatal(err)
		}
	}
}

// Building one outgoing event: ids, extensions, trace, data.
func BenchmarkNewEvent(b *testing.B) {
	cause, _ := New(PlaceOrder, PlaceOrderData{OrderID: "o-1"}, nil, "/client")
	data := OrderCreatedData{OrderID: "o-1", Lines: []PricedLine{{SKU: "sku-tee", Quantity: 2, UnitPriceCents: 1500}}, SubtotalCents: 3000, TaxCents: 570, TotalCents: 3570, ShippingCountry: "DE"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(OrderCreated, data, &cause, "/orderflow/order"); err != nil {
			b.Fatal(err)
		}
	}
}

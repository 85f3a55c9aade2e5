package function

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

var testPrices = Prices{Currency: "EUR", Prices: map[string]int64{"sku-tee": 1500, "sku-mug": 1200},
	HomeCountry: "DE", TaxRates: map[string]int64{"DE": 1900, "NL": 2100, "CH": 0}}

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

	to := func(country string) events.PlaceOrderData { c := cmd; c.ShippingCountry = country; return c }
	// An order recorded by v1 knows no destination (upcast: ZZ, no tax).
	v1 := existing
	v1.Created.ShippingCountry, v1.Created.SubtotalCents, v1.Created.TaxCents = events.UnknownCountry, existing.Created.TotalCents, 0

	tests := []struct {
		name  string
		state Order
		cmd   events.PlaceOrderData
		// want is the priced order: subtotal, tax, country (nil: no event)
		want      *events.OrderCreatedData
		wantKind  saga.Kind
		wantField string
	}{
		{"new order is priced from the catalog, home country's tax", Order{}, cmd, priced(4200, 798, "DE"), "", ""},
		{"the command's destination decides the tax", Order{}, to("NL"), priced(4200, 882, "NL"), "", ""},
		{"a tax-free destination", Order{}, to("CH"), priced(4200, 0, "CH"), "", ""},
		{"tax rounds half up to the cent", Order{}, placeCmd(events.Line{SKU: "sku-sticker-50", Quantity: 1}), priced(50, 10, "DE"), "", ""}, // 9.5 cents
		{"tax rounds down below the half", Order{}, placeCmd(events.Line{SKU: "sku-sticker-49", Quantity: 1}), priced(49, 9, "DE"), "", ""},  // 9.31 cents
		{"a country the shop does not ship to", Order{}, to("JP"), nil, saga.KindUnprocessable, "shippingCountry"},
		{"same command again is a no-op", existing, cmd, nil, "", ""},
		{"same command naming the home country is the same", existing, to("DE"), nil, "", ""},
		{"same command to another country is refused", existing, to("NL"), nil, saga.KindUnprocessable, "orderId"},
		{"retry of a v1 order, whose destination is unknown, is a no-op", v1, to("NL"), nil, "", ""},
		{"different command under a used id is refused", existing, other, nil, saga.KindUnprocessable, "orderId"},
		{"unknown SKU names the line", Order{}, placeCmd(events.Line{SKU: "sku-tee", Quantity: 1}, events.Line{SKU: "sku-nope", Quantity: 1}), nil, saga.KindUnprocessable, "lines[1].sku"},
		{"wrong currency", Order{}, func() events.PlaceOrderData { c := cmd; c.Currency = "USD"; return c }(), nil, saga.KindUnprocessable, "currency"},
		{"SKU twice", Order{}, placeCmd(events.Line{SKU: "sku-tee", Quantity: 1}, events.Line{SKU: "sku-tee", Quantity: 1}), nil, saga.KindInvalid, "lines[1].sku"},
		{"subtotal overflows", Order{}, placeCmd(events.Line{SKU: "sku-huge", Quantity: 2}), nil, saga.KindInvalid, "lines[0].quantity"},
		{"tax overflows", Order{}, placeCmd(events.Line{SKU: "sku-huge", Quantity: 1}), nil, saga.KindInvalid, "lines"},
	}
	prices := testPrices
	prices.Prices = maps.Clone(testPrices.Prices)
	prices.Prices["sku-sticker-50"], prices.Prices["sku-sticker-49"], prices.Prices["sku-huge"] = 50, 49, math.MaxInt64/2+1
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emits, err := DecidePlace(tt.state, tt.cmd, prices)
			if kind := saga.KindOf(err); kind != tt.wantKind {
				t.Fatalf("kind %q, want %q (err %v)", kind, tt.wantKind, err)
			}
			if f := fieldOf(err); f != tt.wantField {
				t.Fatalf("field %q, want %q", f, tt.wantField)
			}
			if tt.want == nil {
				if len(emits) != 0 {
					t.Fatalf("emitted %v", emits)
				}
				return
			}
			if len(emits) != 1 || emits[0].Type != events.OrderCreated {
				t.Fatalf("emitted %v", emits)
			}
			got := emits[0].Data.(events.OrderCreatedData)
			if got.SubtotalCents != tt.want.SubtotalCents || got.TaxCents != tt.want.TaxCents || got.ShippingCountry != tt.want.ShippingCountry ||
				got.TotalCents != tt.want.SubtotalCents+tt.want.TaxCents {
				t.Fatalf("priced subtotal %d tax %d total %d to %s; want %d + %d to %s", got.SubtotalCents, got.TaxCents, got.TotalCents,
					got.ShippingCountry, tt.want.SubtotalCents, tt.want.TaxCents, tt.want.ShippingCountry)
			}
			// What order emits is what its consumers accept.
			raw, _ := json.Marshal(got)
			if _, err := events.Decode(events.OrderCreated, raw); err != nil {
				t.Fatalf("emitted an invalid %s: %v", events.OrderCreated, err)
			}
		})
	}
}

func priced(subtotal, tax int64, country string) *events.OrderCreatedData {
	return &events.OrderCreatedData{SubtotalCents: subtotal, TaxCents: tax, ShippingCountry: country}
}

func TestTax(t *testing.T) {
	for _, tt := range []struct {
		subtotal, rate, want int64
		ok                   bool
	}{
		{0, 1900, 0, true},
		{100, 1900, 19, true},
		{4200, 1900, 798, true},
		{50, 1900, 10, true}, // 9.5 rounds up
		{1, 4999, 0, true},   // 0.4999 rounds down
		{1, 5000, 1, true},   // 0.5 rounds up
		{12345, 0, 0, true},
		{1000, 10000, 1000, true},
		{math.MaxInt64, 0, 0, true},
		{math.MaxInt64 / 1900, 1900, 0, false},
	} {
		got, ok := Tax(tt.subtotal, tt.rate)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Tax(%d, %d) = %d, %v; want %d, %v", tt.subtotal, tt.rate, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCatalogCheck(t *testing.T) {
	good := func() Prices {
		p := testPrices
		p.TaxRates = maps.Clone(testPrices.TaxRates)
		return p
	}
	if err := good().Check(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, want string
		change     func(*Prices)
	}{
		{"no tax rates (a catalog from before v2)", "taxRatesBasisPoints", func(p *Prices) { p.TaxRates = nil }},
		{"no home country", "homeCountry", func(p *Prices) { p.HomeCountry = "" }},
		{"home country without a rate", "homeCountry", func(p *Prices) { p.HomeCountry = "FR" }},
		{"lowercase country", "taxRatesBasisPoints", func(p *Prices) { p.TaxRates["de"] = 1900 }},
		{"the unknown country", "taxRatesBasisPoints", func(p *Prices) { p.TaxRates[events.UnknownCountry] = 0 }},
		{"rate above 100%", "taxRatesBasisPoints.NL", func(p *Prices) { p.TaxRates["NL"] = 10001 }},
		{"negative rate", "taxRatesBasisPoints.NL", func(p *Prices) { p.TaxRates["NL"] = -1 }},
		{"no prices", "prices", func(p *Prices) { p.Prices = nil }},
	} {
		p := good()
		tt.change(&p)
		if err := p.Check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.want)
		}
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
			if c.TotalCents != 4500+855 || c.PaymentID != "p-1" { // 3 tees and 19% tax
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
	if o.Version != 1 || o.Status != StatusPending || o.Created.TotalCents != 1500+285 {
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

package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestVersionsOfTheCatalog(t *testing.T) {
	if Current(OrderCreatedV1) != OrderCreated || Current(OrderCreated) != OrderCreated || Current(PlaceOrder) != PlaceOrder {
		t.Fatalf("Current: %s %s %s", Current(OrderCreatedV1), Current(OrderCreated), Current(PlaceOrder))
	}
	if got := Accepted(OrderCreated); !slices.Equal(got, []string{OrderCreated, OrderCreatedV1}) {
		t.Fatalf("Accepted(%s) = %v", OrderCreated, got)
	}
	if got := Accepted(OrderCreatedV1); !slices.Equal(got, []string{OrderCreatedV1}) {
		t.Fatalf("Accepted(%s) = %v", OrderCreatedV1, got)
	}
	if got := Accepted(PlaceOrder); !slices.Equal(got, []string{PlaceOrder}) {
		t.Fatalf("Accepted(%s) = %v", PlaceOrder, got)
	}
	for _, s := range All() {
		_, has := upcasters[s.Type]
		if (s.SupersededBy != "") != has {
			t.Errorf("%s: superseded by %q, upcaster registered %v", s.Type, s.SupersededBy, has)
		}
		if s.SupersededBy == "" {
			continue
		}
		next := MustLookup(s.SupersededBy)
		// A superseded version belongs to the same family, travels where
		// its successor does and reaches the same consumers, so routing
		// it to the successor's reaction reaches everyone it used to.
		if family(s.Type) != family(next.Type) || s.Topic != next.Topic || s.Kind != next.Kind || !slices.Equal(s.ConsumedBy, next.ConsumedBy) {
			t.Errorf("%s -> %s: family, topic, kind or consumers differ", s.Type, next.Type)
		}
	}
}

func family(typ string) string { return typ[:strings.LastIndex(typ, ".v")] }

const createdV1 = `{"orderId":"o-1","customerId":"c-1","email":"c@x.org","currency":"EUR","paymentToken":"tok","lines":[{"sku":"sku-tee","quantity":2,"unitPriceCents":1500}],"totalCents":3000}`

const createdV2 = `{"orderId":"o-1","customerId":"c-1","email":"c@x.org","currency":"EUR","paymentToken":"tok","lines":[{"sku":"sku-tee","quantity":2,"unitPriceCents":1500}],"subtotalCents":3000,"taxCents":570,"totalCents":3570,"shippingCountry":"DE"}`

func TestOrderCreatedVersionsDecodeToOneShape(t *testing.T) {
	lines := []PricedLine{{SKU: "sku-tee", Quantity: 2, UnitPriceCents: 1500}}
	tests := []struct {
		name, typ, data string
		want            *OrderCreatedData
		field           string // of the refusal, when want is nil
	}{
		{"v2 as emitted", OrderCreated, createdV2, &OrderCreatedData{OrderID: "o-1", CustomerID: "c-1", Email: "c@x.org", Currency: "EUR",
			PaymentToken: "tok", Lines: lines, SubtotalCents: 3000, TaxCents: 570, TotalCents: 3570, ShippingCountry: "DE"}, ""},
		{"v1 upcast: all of the total is subtotal, no tax, destination unknown", OrderCreatedV1, createdV1, &OrderCreatedData{OrderID: "o-1",
			CustomerID: "c-1", Email: "c@x.org", Currency: "EUR", PaymentToken: "tok", Lines: lines, SubtotalCents: 3000, TaxCents: 0,
			TotalCents: 3000, ShippingCountry: UnknownCountry}, ""},
		// A v1 record is checked against the v1 schema, whatever a later
		// version would have allowed or required.
		{"v1 checked as v1: negative total", OrderCreatedV1, strings.Replace(createdV1, `"totalCents":3000`, `"totalCents":-1`, 1), nil, "totalCents"},
		{"v1 checked as v1: no lines", OrderCreatedV1, strings.Replace(createdV1, `"lines":[{"sku":"sku-tee","quantity":2,"unitPriceCents":1500}],`, ``, 1), nil, "lines"},
		// The v1 content model is open: a v1 record carrying v2's fields
		// (a v2 producer that put the old type on it) still reads as v1,
		// and the upcaster still decides the new fields.
		{"v1 with extra fields upcasts by the v1 rule", OrderCreatedV1, strings.Replace(createdV2, `"totalCents":3570`, `"totalCents":3000`, 1),
			&OrderCreatedData{OrderID: "o-1", CustomerID: "c-1", Email: "c@x.org", Currency: "EUR", PaymentToken: "tok", Lines: lines,
				SubtotalCents: 3000, TotalCents: 3000, ShippingCountry: UnknownCountry}, ""},
		{"v1 data sent as v2: the new fields are required", OrderCreated, createdV1, nil, "subtotalCents"},
		{"v2 without tax", OrderCreated, strings.Replace(createdV2, `"taxCents":570,`, ``, 1), nil, "taxCents"},
		{"v2 lowercase country", OrderCreated, strings.Replace(createdV2, `"DE"`, `"de"`, 1), nil, "shippingCountry"},
		{"v2 negative tax", OrderCreated, strings.Replace(createdV2, `"taxCents":570`, `"taxCents":-570`, 1), nil, "taxCents"},
		{"v2 total is not subtotal + tax", OrderCreated, strings.Replace(createdV2, `"totalCents":3570`, `"totalCents":3571`, 1), nil, "totalCents"},
		{"v2 subtotal + tax overflows", OrderCreated, strings.NewReplacer(`"subtotalCents":3000`, `"subtotalCents":9223372036854775807`,
			`"totalCents":3570`, `"totalCents":569`).Replace(createdV2), nil, "totalCents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.typ, []byte(tt.data))
			if tt.want == nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("got %+v, %v; want a refusal naming %s", got, err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			assertValidCurrent(t, got.(*OrderCreatedData))
		})
	}
}

// assertValidCurrent proves an upcast value is one a v2 producer could
// have emitted: it passes the v2 schema and the v2 rules.
func assertValidCurrent(t *testing.T, d *OrderCreatedData) {
	t.Helper()
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeAs(OrderCreated, raw); err != nil {
		t.Fatalf("upcast value is not a valid %s: %v\n%s", OrderCreated, err, raw)
	}
}

// A consumer still on v1 reads v2 records (the family's compatibility is
// forward): every v2 record passes the v1 schema and means the same.
func TestV2RecordsReadAsV1(t *testing.T) {
	v1, err := decodeAs(OrderCreatedV1, []byte(createdV2))
	if err != nil {
		t.Fatal(err)
	}
	if d := v1.(*OrderCreatedV1Data); d.TotalCents != 3570 || d.OrderID != "o-1" || len(d.Lines) != 1 {
		t.Fatalf("v2 read as v1: %+v", d)
	}
}

func TestUpcastRefusesAForeignPayload(t *testing.T) {
	if _, _, err := Upcast(OrderCreatedV1, &PlaceOrderData{}); err == nil {
		t.Fatal("a place command's payload upcast as order.created.v1")
	}
	typ, p, err := Upcast(PaymentCompleted, &PaymentCompletedData{OrderID: "o"})
	if err != nil || typ != PaymentCompleted || p.(*PaymentCompletedData).OrderID != "o" {
		t.Fatalf("a current type changed: %s %+v %v", typ, p, err)
	}
}

// Unmarshal is Decode without the schema, for payloads this system itself
// stored: it upcasts the same way.
func TestUnmarshalUpcastsWithoutTheSchema(t *testing.T) {
	typ, p, err := Unmarshal(OrderCreatedV1, []byte(`{"orderId":"o-9","totalCents":700}`))
	if err != nil || typ != OrderCreated {
		t.Fatalf("%s %v", typ, err)
	}
	if d := p.(*OrderCreatedData); d.OrderID != "o-9" || d.SubtotalCents != 700 || d.TotalCents != 700 || d.ShippingCountry != UnknownCountry {
		t.Fatalf("%+v", d)
	}
	if _, _, err := Unmarshal("dev.orderflow.nope.v1", []byte(`{}`)); err == nil {
		t.Fatal("unknown type read")
	}
	if _, _, err := Unmarshal(OrderCreatedV1, []byte(`{"totalCents":"7"}`)); err == nil {
		t.Fatal("a string total read as a number")
	}
}

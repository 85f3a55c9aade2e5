package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"orderflow.dev/shared/ce"
)

func TestEveryCatalogTypeHasASchemaAndAPayload(t *testing.T) {
	entries, err := os.ReadDir("schemas")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(All()) {
		t.Fatalf("%d schema files for %d catalog types", len(entries), len(All()))
	}
	// Compiled lazily in service: every one must compile.
	if err := CompileAll(); err != nil {
		t.Fatal(err)
	}
	for _, s := range All() {
		if s.Kind == KindTrigger {
			// Knative's own type name, not ours to version.
		} else if !strings.HasPrefix(s.Type, "dev.orderflow.") || !strings.Contains(s.Type, ".v") {
			t.Errorf("%s: not a reverse-DNS versioned name", s.Type)
		}
		raw, ok := Schema(s.Type)
		if !ok {
			t.Fatalf("%s: no schema", s.Type)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil || doc["$id"] != s.SchemaURI() {
			t.Errorf("%s: schema $id %v, want %s (%v)", s.Type, doc["$id"], s.SchemaURI(), err)
		}
		if s.NewData() == nil {
			t.Errorf("%s: no payload type", s.Type)
		}
		if (s.Kind == KindFact || s.Kind == KindCommand) && s.Topic == "" {
			t.Errorf("%s: a %s needs a topic", s.Type, s.Kind)
		}
		if s.Kind == KindFact && len(s.ConsumedBy) == 0 && !s.Terminal {
			t.Errorf("%s: nobody consumes it and it is not terminal", s.Type)
		}
	}
}

func TestDecodeNamesTheField(t *testing.T) {
	good := `{"orderId":"o-1","customerId":"c","email":"c@x.org","currency":"EUR","paymentToken":"t","lines":[{"sku":"sku-tee","quantity":2}]}`
	tests := []struct {
		name, typ, data, field string
	}{
		{"valid", PlaceOrder, good, ""},
		{"unknown type", "dev.orderflow.nope.v1", good, "type"},
		{"empty", PlaceOrder, ``, "data"},
		{"not json", PlaceOrder, `{`, "data"},
		{"zero quantity", PlaceOrder, strings.Replace(good, `"quantity":2`, `"quantity":0`, 1), "lines[0].quantity"},
		{"string quantity", PlaceOrder, strings.Replace(good, `"quantity":2`, `"quantity":"2"`, 1), "lines[0].quantity"},
		{"bad currency", PlaceOrder, strings.Replace(good, `"EUR"`, `"euro"`, 1), "currency"},
		{"missing orderId", PlaceOrder, strings.Replace(good, `"orderId":"o-1",`, ``, 1), "orderId"},
		{"extra field", PlaceOrder, strings.Replace(good, `{"orderId"`, `{"coupon":"X","orderId"`, 1), "coupon"},
		{"bad sku", PlaceOrder, strings.Replace(good, `sku-tee`, `SKU TEE`, 1), "lines[0].sku"},
		{"negative total", OrderCreatedV1, `{"orderId":"o","customerId":"c","email":"a@b","currency":"EUR","paymentToken":"t","lines":[{"sku":"a","quantity":1,"unitPriceCents":1}],"totalCents":-5}`, "totalCents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Decode(tt.typ, []byte(tt.data))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				if p := data.(*PlaceOrderData); p.Lines[0].Quantity != 2 {
					t.Fatalf("decoded %+v", p)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err %v, want a FieldError", err)
			}
			if fe.Field != tt.field || fe.Reason == "" {
				t.Fatalf("field %q (%s), want %q", fe.Field, fe.Reason, tt.field)
			}
		})
	}
}

func TestNewCarriesTheSagaExtensions(t *testing.T) {
	cmd, err := New(PlaceOrder, PlaceOrderData{OrderID: "o-7", Lines: []Line{{SKU: "a", Quantity: 1}}}, nil, "/client")
	if err != nil {
		t.Fatal(err)
	}
	if ce.String(cmd, ce.PartitionKey) != "o-7" || ce.String(cmd, ce.CorrelationID) != "o-7" || ce.String(cmd, ce.CausationID) != "" {
		t.Fatalf("command extensions %v", cmd.Extensions())
	}
	next, err := New(OrderCreated, OrderCreatedData{OrderID: "o-7"}, &cmd, "/orderflow/order")
	if err != nil {
		t.Fatal(err)
	}
	if ce.String(next, ce.CausationID) != cmd.ID() || ce.String(next, ce.CorrelationID) != "o-7" {
		t.Fatalf("next extensions %v", next.Extensions())
	}
	parent, child := ce.String(cmd, ce.Traceparent), ce.String(next, ce.Traceparent)
	if ce.TraceID(parent) == "" || ce.TraceID(parent) != ce.TraceID(child) || parent == child {
		t.Fatalf("trace %s -> %s", parent, child)
	}
	if next.DataSchema() != SchemaBase+OrderCreated+".json" || next.ID() == cmd.ID() {
		t.Fatalf("dataschema %s id %s", next.DataSchema(), next.ID())
	}
	if _, err := New("dev.orderflow.nope.v1", nil, nil, "/x"); err == nil {
		t.Fatal("unknown type accepted")
	}
}

// A complaint that quotes what was sent stays short enough to survive in a
// dead letter (a KafkaSource keeps 1 KiB of the 400's body), and still
// names the field.
func TestASchemaComplaintIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"orderId":"o-1","customerId":"c","email":"c@example.org","currency":"EUR","paymentToken":"tok","lines":[{"sku":"sku-tee","quantity":1}]`)
	for i := range 60000 {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString("}")
	_, err := Decode(PlaceOrder, []byte(b.String()))
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a FieldError", err)
	}
	if len(fe.Reason) > maxReason+40 || !strings.Contains(fe.Reason, "more bytes)") || !strings.HasPrefix(fe.Field, "k") {
		t.Errorf("field %q, reason of %d bytes: %.400s", fe.Field, len(fe.Reason), fe.Reason)
	}
}

// A number out of bounds is named with the numbers as they were written,
// not as a locale prints floats ("2.147483647×10⁰⁹, want 1,000").
func TestANumberOutOfBoundsIsWrittenPlainly(t *testing.T) {
	for q, want := range map[string]string{
		"2147483647": "lines[0].quantity: maximum: got 2147483647, want at most 1000",
		"0":          "lines[0].quantity: minimum: got 0, want at least 1",
	} {
		raw := `{"orderId":"o-1","customerId":"c","email":"c@example.org","currency":"EUR","paymentToken":"tok","lines":[{"sku":"sku-tee","quantity":` + q + `}]}`
		_, err := Decode(PlaceOrder, []byte(raw))
		if err == nil || err.Error() != want {
			t.Errorf("quantity %s: %v, want %q", q, err, want)
		}
	}
}

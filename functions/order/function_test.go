package function

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/store"
)

func place(id string, lines ...events.Line) events.PlaceOrderData {
	return events.PlaceOrderData{OrderID: id, CustomerID: "c-1", Email: "c@example.org", Currency: "EUR", PaymentToken: "tok_ok", Lines: lines}
}

func TestPlaceConfirmAndQuery(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	cmd := handlertest.Event(t, events.PlaceOrder, place("o-42", events.Line{SKU: "sku-tee", Quantity: 2}), nil)

	if r := h.Send(t, cmd); r.Status != http.StatusOK {
		t.Fatalf("place: %d %s", r.Status, r.Body)
	}
	out := h.Flush(t)
	if len(out) != 1 || out[0].Type() != events.OrderCreated {
		t.Fatalf("published %v", out)
	}
	createdEvt := out[0]
	if got := ce.String(createdEvt, ce.PartitionKey); got != "o-42" {
		t.Errorf("partitionkey %q", got)
	}
	if got := ce.String(createdEvt, ce.CorrelationID); got != "o-42" {
		t.Errorf("correlationid %q", got)
	}
	if got := ce.String(createdEvt, ce.CausationID); got != cmd.ID() {
		t.Errorf("causationid %q, want %q", got, cmd.ID())
	}
	if ce.TraceID(ce.String(createdEvt, ce.Traceparent)) != ce.TraceID(ce.String(cmd, ce.Traceparent)) {
		t.Errorf("trace not continued: %v -> %v", cmd.Extensions(), createdEvt.Extensions())
	}
	if createdEvt.DataSchema() != events.MustLookup(events.OrderCreated).SchemaURI() {
		t.Errorf("dataschema %q", createdEvt.DataSchema())
	}

	// Redelivering the command (same id) and re-sending it under a new id
	// (a client retry) both change nothing.
	h.Send(t, cmd)
	h.Send(t, handlertest.Event(t, events.PlaceOrder, place("o-42", events.Line{SKU: "sku-tee", Quantity: 2}), nil))
	if again := h.Flush(t); len(again) != 0 {
		t.Fatalf("duplicate placement published %v", again)
	}

	paid := handlertest.Event(t, events.PaymentCompleted, events.PaymentCompletedData{OrderID: "o-42", PaymentID: "pay-1", AmountCents: 3570, Currency: "EUR"}, &createdEvt)
	if r := h.Send(t, paid); r.Status != http.StatusOK {
		t.Fatalf("paid: %d %s", r.Status, r.Body)
	}
	h.Send(t, paid) // duplicate delivery
	out = h.Flush(t)
	if len(out) != 1 || out[0].Type() != events.OrderConfirmed {
		t.Fatalf("published %v", out)
	}
	// The order's own events come back from Kafka into its timeline.
	h.Send(t, createdEvt)
	h.Send(t, out[0])

	var view events.OrderViewData
	h.Query(t, events.OrderQuery, events.OrderQueryData{OrderID: "o-42"}, &view)
	if !view.Found || view.Status != "confirmed" || view.TotalCents != 3570 || view.Version != 2 { // 2 tees, 19% tax
		t.Fatalf("view %+v", view)
	}
	var types []string
	for _, e := range view.Timeline {
		types = append(types, e.Type)
	}
	// The client's retry under a new id is part of the audit trail.
	want := []string{events.PlaceOrder, events.OrderCreated, events.PlaceOrder, events.PaymentCompleted, events.OrderConfirmed}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("timeline %v, want %v", types, want)
	}

	var missing events.OrderViewData
	h.Query(t, events.OrderQuery, events.OrderQueryData{OrderID: "o-none"}, &missing)
	if missing.Found {
		t.Fatalf("unknown order found: %+v", missing)
	}
}

func TestCancellationPaths(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	for _, id := range []string{"o-stock", "o-card"} {
		h.Send(t, handlertest.Event(t, events.PlaceOrder, place(id, events.Line{SKU: "sku-mug", Quantity: 1}), nil))
	}
	h.Flush(t)
	h.Send(t, handlertest.Event(t, events.InventoryRejected, events.InventoryRejectedData{OrderID: "o-stock", Reason: events.ReasonOutOfStock, SKU: "sku-mug"}, nil))
	h.Send(t, handlertest.Event(t, events.PaymentFailed, events.PaymentFailedData{OrderID: "o-card", AmountCents: 1200, Currency: "EUR", Reason: "card declined"}, nil))
	out := h.Flush(t)
	reasons := map[string]string{}
	for _, e := range out {
		var d events.OrderCancelledData
		if e.Type() != events.OrderCancelled || e.DataAs(&d) != nil {
			t.Fatalf("unexpected %v", e)
		}
		reasons[d.OrderID] = d.Reason
	}
	if reasons["o-stock"] != events.ReasonOutOfStock || reasons["o-card"] != events.ReasonPaymentDeclined {
		t.Fatalf("reasons %v", reasons)
	}
	// A payment completing after the cancellation (a stale event) changes nothing.
	h.Send(t, handlertest.Event(t, events.PaymentCompleted, events.PaymentCompletedData{OrderID: "o-card", PaymentID: "p", AmountCents: 1200, Currency: "EUR"}, nil))
	if late := h.Flush(t); len(late) != 0 {
		t.Fatalf("stale payment published %v", late)
	}
}

func TestBadInputIsRefusedWithTheField(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	tests := []struct {
		name       string
		typ        string
		data       string
		wantStatus int
		wantField  string
	}{
		{"unknown type", "com.example.nope.v1", `{}`, 400, "type"},
		{"negative quantity", events.PlaceOrder, `{"orderId":"o-1","customerId":"c","email":"c@x.org","currency":"EUR","paymentToken":"t","lines":[{"sku":"sku-tee","quantity":-1}]}`, 400, "lines[0].quantity"},
		{"missing email", events.PlaceOrder, `{"orderId":"o-1","customerId":"c","currency":"EUR","paymentToken":"t","lines":[{"sku":"sku-tee","quantity":1}]}`, 400, "email"},
		{"typo'd field", events.PlaceOrder, `{"orderId":"o-1","customerId":"c","email":"c@x.org","currency":"EUR","paymentToken":"t","lines":[{"sku":"sku-tee","qty":1}]}`, 400, "lines[0].qty"},
		{"no lines", events.PlaceOrder, `{"orderId":"o-1","customerId":"c","email":"c@x.org","currency":"EUR","paymentToken":"t","lines":[]}`, 400, "lines"},
		{"not JSON", events.PlaceOrder, `{"orderId":`, 400, "data"},
		{"unknown SKU", events.PlaceOrder, `{"orderId":"o-1","customerId":"c","email":"c@x.org","currency":"EUR","paymentToken":"t","lines":[{"sku":"sku-unicorn","quantity":1}]}`, 422, "lines[0].sku"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.Post(t, map[string]string{
				"ce-specversion": "1.0", "ce-id": "id-" + tt.name, "ce-source": "/test", "ce-type": tt.typ,
				"content-type": "application/json",
			}, tt.data)
			if r.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.wantStatus, r.Body)
			}
			got := r.Error()
			if got.Field != tt.wantField || got.Error == "" || got.Status != tt.wantStatus {
				t.Fatalf("error body %s, want field %q", r.Body, tt.wantField)
			}
		})
	}

	// Envelope errors get the same JSON error, naming the attribute.
	r := h.Post(t, map[string]string{"ce-specversion": "1.0", "ce-id": "x", "ce-type": events.PlaceOrder, "content-type": "application/json"}, `{}`)
	if r.Status != 400 || r.Error().Field != "source" {
		t.Fatalf("missing ce-source: %d %s", r.Status, r.Body)
	}
	r = h.Post(t, map[string]string{"content-type": "application/json"}, `{"not":"a cloudevent"}`)
	if r.Status != 400 || r.Error().Field != "specversion" {
		t.Fatalf("plain JSON: %d %s", r.Status, r.Body)
	}
	r = h.Post(t, map[string]string{"content-type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"s1","source":"/t"}`)
	if r.Status != 400 || r.Error().Field != "type" {
		t.Fatalf("structured without type: %d %s", r.Status, r.Body)
	}
	r = h.Post(t, map[string]string{"content-type": "application/cloudevents+json"}, `{"specversion":`)
	if r.Status != 400 || r.Error().Error == "" {
		t.Fatalf("truncated structured event: %d %s", r.Status, r.Body)
	}
	r = h.Post(t, map[string]string{"ce-specversion": "1.0", "ce-id": "y", "ce-source": "/t", "ce-type": events.PlaceOrder, "content-type": "text/plain"}, `hello`)
	if r.Status != 400 || r.Error().Field != "datacontenttype" {
		t.Fatalf("text payload: %d %s", r.Status, r.Body)
	}
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("bad input published %v", out)
	}
}

func TestOutboxSurvivesASinkOutage(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	h.Sink.Answer(http.StatusServiceUnavailable)
	h.Send(t, handlertest.Event(t, events.PlaceOrder, place("o-out", events.Line{SKU: "sku-cap", Quantity: 1}), nil))
	if _, err := h.F.App().Flush(context.Background()); err == nil {
		t.Fatal("flush into a failing sink reported success")
	}
	if n, _, _ := h.F.App().DB().OutboxBacklog(context.Background()); n != 1 {
		t.Fatalf("backlog %d, want 1", n)
	}
	h.Sink.Answer(http.StatusAccepted)
	if out := h.Flush(t); len(out) != 1 || out[0].Type() != events.OrderCreated {
		t.Fatalf("after recovery published %v", out)
	}
}

func TestBadCatalogConfigNamesTheSetting(t *testing.T) {
	t.Setenv("ORDER_CATALOG_FILE", "/nonexistent/catalog.json")
	err := New().Start(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "ORDER_CATALOG_FILE") {
		t.Fatalf("err %v", err)
	}
}

// A catalog file from before v2 (no tax rates) is refused at start, naming
// what to add, rather than selling tax-free by accident.
func TestCatalogWithoutTaxRatesIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(path, []byte(`{"currency":"EUR","prices":{"sku-tee":1500}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ORDER_CATALOG_FILE", path)
	err := New().Start(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "taxRatesBasisPoints") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err %v", err)
	}
}

// An order the tree before v2 created sits in the event store as
// order.created.v1. It still folds (upcast on load), goes on through the
// saga, and its retried command is still recognised.
func TestAnOrderStoredAsV1GoesOn(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	v1 := `{"orderId":"o-old","customerId":"c-1","email":"c1@example.org","currency":"EUR","paymentToken":"tok_ok","lines":[{"sku":"sku-tee","quantity":2,"unitPriceCents":1500}],"totalCents":3000}`
	ctx := context.Background()
	if err := h.F.App().DB().InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO order_events (order_id, version, event_type, data, caused_by, recorded_at) VALUES (?, 1, ?, ?, 'cmd-old', 0)`,
			"o-old", events.OrderCreatedV1, v1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	retry := place("o-old", events.Line{SKU: "sku-tee", Quantity: 2})
	retry.CustomerID, retry.Email, retry.ShippingCountry = "c-1", "c1@example.org", "NL"
	if r := h.Send(t, handlertest.Event(t, events.PlaceOrder, retry, nil)); r.Status != http.StatusOK {
		t.Fatalf("retried command: %d %s", r.Status, r.Body)
	}
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("a retried command of a v1 order published %v", out)
	}
	paid := handlertest.Event(t, events.PaymentCompleted, events.PaymentCompletedData{OrderID: "o-old", PaymentID: "pay-old", AmountCents: 3000, Currency: "EUR"}, nil)
	if r := h.Send(t, paid); r.Status != http.StatusOK {
		t.Fatalf("paid: %d %s", r.Status, r.Body)
	}
	out := h.Flush(t)
	var confirmed events.OrderConfirmedData
	if len(out) != 1 || out[0].Type() != events.OrderConfirmed || out[0].DataAs(&confirmed) != nil || confirmed.TotalCents != 3000 || confirmed.Email != "c1@example.org" {
		t.Fatalf("published %v (%+v)", out, confirmed)
	}
}

package function

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

func TestDecideStalled(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	after := 2 * time.Minute
	open := []OpenSaga{
		{OrderID: "fresh", LastType: events.OrderCreated, LastAt: now.Add(-time.Minute)},
		{OrderID: "stuck", LastType: events.InventoryReserved, LastAt: now.Add(-3 * time.Minute)},
		{OrderID: "just-at-threshold", LastType: events.OrderCreated, LastAt: now.Add(-after)},
		{OrderID: "reported-recently", LastType: events.InventoryReserved, LastAt: now.Add(-10 * time.Minute), ReportedAt: now.Add(-time.Minute)},
		{OrderID: "reported-long-ago", LastType: events.InventoryReserved, LastAt: now.Add(-10 * time.Minute), ReportedAt: now.Add(-5 * time.Minute)},
	}
	got := map[string]events.SagaStalledData{}
	for _, e := range DecideStalled(open, now, after) {
		d := e.Data.(events.SagaStalledData)
		got[d.OrderID] = d
	}
	for _, id := range []string{"stuck", "just-at-threshold", "reported-long-ago"} {
		if _, ok := got[id]; !ok {
			t.Errorf("%s not reported", id)
		}
	}
	if len(got) != 3 {
		t.Errorf("reported %v", got)
	}
	if d := got["stuck"]; d.LastStep != events.InventoryReserved || d.StalledForMillis != 180000 || !d.LastStepAt.Equal(now.Add(-3*time.Minute)) {
		t.Errorf("stuck report %+v", d)
	}
}

func stalledTick(t *testing.T) event.Event {
	e := event.New()
	e.SetID("tick-" + time.Now().Format(time.RFC3339Nano))
	e.SetType(events.Tick)
	e.SetSource("/apis/v1/namespaces/orderflow/pingsources/stalled-sagas")
	if err := e.SetData(event.ApplicationJSON, events.TickData{Task: events.TaskStalledSagas}); err != nil {
		t.Fatal(err)
	}
	return e
}

// Through the edge: an open saga idle past the threshold is reported once
// per threshold; an ended one never.
func TestStalledSagasAreReportedOnTick(t *testing.T) {
	// A second long: the tick right after a report must fall inside it
	// even on a loaded machine (50 ms did not, under -race in CI).
	h := handlertest.Start(t, New(), map[string]string{"ANALYTICS_STALL_AFTER": "1s"})
	for _, e := range []event.Event{
		handlertest.Event(t, events.OrderCreated, events.OrderCreatedData{OrderID: "o-stuck", CustomerID: "c", Email: "c@example.org", PaymentToken: "tok", Currency: "EUR", SubtotalCents: 100, TotalCents: 100, ShippingCountry: "CH",
			Lines: []events.PricedLine{{SKU: "sku-tee", Quantity: 1, UnitPriceCents: 100}}}, nil),
		handlertest.Event(t, events.OrderCreated, events.OrderCreatedData{OrderID: "o-done", CustomerID: "c", Email: "c@example.org", PaymentToken: "tok", Currency: "EUR", SubtotalCents: 100, TotalCents: 100, ShippingCountry: "CH",
			Lines: []events.PricedLine{{SKU: "sku-tee", Quantity: 1, UnitPriceCents: 100}}}, nil),
		handlertest.Event(t, events.OrderConfirmed, events.OrderConfirmedData{OrderID: "o-done", Currency: "EUR", TotalCents: 100, PaymentID: "p"}, nil),
	} {
		if r := h.Send(t, e); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", e.Type(), r.Status, r.Body)
		}
	}
	time.Sleep(1100 * time.Millisecond) // past the threshold
	if r := h.Send(t, stalledTick(t)); r.Status != http.StatusOK {
		t.Fatalf("tick: %d %s", r.Status, r.Body)
	}
	out := h.Flush(t)
	if len(out) != 1 || out[0].Type() != events.SagaStalled {
		t.Fatalf("published %v", out)
	}
	var d events.SagaStalledData
	if err := out[0].DataAs(&d); err != nil || d.OrderID != "o-stuck" || d.LastStep != events.OrderCreated {
		t.Fatalf("report %+v %v", d, err)
	}
	if r := h.Send(t, stalledTick(t)); r.Status != http.StatusOK {
		t.Fatalf("tick: %d %s", r.Status, r.Body)
	}
	if again := h.Flush(t); len(again) != 0 {
		t.Fatalf("reported again within the threshold: %v", again)
	}
}

func TestBadStallSettingNamesTheVariable(t *testing.T) {
	for _, v := range []string{"soon", "-1s", "0s"} {
		t.Setenv("ANALYTICS_STALL_AFTER", v)
		if err := New().Start(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "ANALYTICS_STALL_AFTER") {
			t.Errorf("%s: %v", v, err)
		}
	}
}

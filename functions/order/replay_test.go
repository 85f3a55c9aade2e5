package function

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

// TestRebuildFromTheLogEqualsTheLiveModel runs the live function through a
// few sagas (created, confirmed, cancelled twice over, refused and repeated
// commands, duplicates), then rebuilds the read model from what the log
// holds (the commands and other steps' facts it consumed, and the facts
// it published), and finds the two equal; then proves the comparison can
// fail.
func TestRebuildFromTheLogEqualsTheLiveModel(t *testing.T) {
	ctx := context.Background()
	h := handlertest.Start(t, New(), nil)
	var consumed, published []event.Event // the log: its KafkaSource's topics, and its own facts
	deliver := func(e event.Event, want int) {
		t.Helper()
		if r := h.Send(t, e); r.Status != want {
			t.Fatalf("%s: %d %s, want %d", e.Type(), r.Status, r.Body, want)
		}
		consumed = append(consumed, e)
		published = append(published, h.Flush(t)...)
	}
	lastOf := func(typ string) *event.Event {
		for i := len(published) - 1; i >= 0; i-- {
			if published[i].Type() == typ {
				return &published[i]
			}
		}
		t.Fatalf("nothing published of %s", typ)
		return nil
	}
	tee := events.Line{SKU: "sku-tee", Quantity: 2}

	ok := handlertest.Event(t, events.PlaceOrder, place("o-ok", tee), nil)
	deliver(ok, http.StatusOK)
	deliver(ok, http.StatusOK)                                                               // redelivered
	deliver(handlertest.Event(t, events.PlaceOrder, place("o-ok", tee), nil), http.StatusOK) // the client's retry: repeated
	created := lastOf(events.OrderCreated)
	deliver(handlertest.Event(t, events.InventoryReserved, events.InventoryReservedData{OrderID: "o-ok", Lines: []events.Line{tee}}, created), http.StatusOK)
	deliver(handlertest.Event(t, events.PaymentCompleted, events.PaymentCompletedData{OrderID: "o-ok", PaymentID: "pay-ok", AmountCents: 3000, Currency: "EUR"}, created), http.StatusOK)

	deliver(handlertest.Event(t, events.PlaceOrder, place("o-no", events.Line{SKU: "sku-mug", Quantity: 1}), nil), http.StatusOK)
	created = lastOf(events.OrderCreated)
	deliver(handlertest.Event(t, events.InventoryRejected, events.InventoryRejectedData{OrderID: "o-no", Reason: events.ReasonOutOfStock, SKU: "sku-mug", Detail: "0 left"}, created), http.StatusOK)
	deliver(handlertest.Event(t, events.PaymentCompleted, events.PaymentCompletedData{OrderID: "o-no", PaymentID: "pay-no", AmountCents: 900, Currency: "EUR"}, created), http.StatusOK)
	deliver(handlertest.Event(t, events.PaymentRefunded, events.PaymentRefundedData{OrderID: "o-no", PaymentID: "pay-no", AmountCents: 900, Currency: "EUR"}, created), http.StatusOK)

	deliver(handlertest.Event(t, events.PlaceOrder, place("o-slow", tee), nil), http.StatusOK)
	deliver(handlertest.Event(t, events.SagaStalled, events.SagaStalledData{OrderID: "o-slow", LastStep: events.OrderCreated, StalledForMillis: 120000}, nil), http.StatusOK)

	// Refused: an unknown SKU, and other content under a taken id.
	deliver(handlertest.Event(t, events.PlaceOrder, place("o-bad", events.Line{SKU: "sku-nope", Quantity: 1}), nil), http.StatusUnprocessableEntity)
	deliver(handlertest.Event(t, events.PlaceOrder, place("o-ok", events.Line{SKU: "sku-mug", Quantity: 9}), nil), http.StatusUnprocessableEntity)
	// A stall report for an order that ended changes nothing but is noted.
	deliver(handlertest.Event(t, events.SagaStalled, events.SagaStalledData{OrderID: "o-ok", LastStep: events.PaymentCompleted, StalledForMillis: 1}, nil), http.StatusOK)

	// The relay stamps what it publishes with when it sent it: when each
	// fact reached the log, which analytics judges lateness by.
	for _, e := range published {
		if at, ok := ce.Time(e, ce.PublishedTime); !ok || at.Before(e.Time().Truncate(time.Second)) {
			t.Fatalf("%s %s: publishedtime %v (%v), time %v", e.Type(), e.ID(), at, ok, e.Time())
		}
	}
	if err := h.F.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	live := openSnapshot(t, h.DBURL)

	rebuilt := storetest.Open(t, "order-rebuilt")
	app := NewRebuild()
	if err := app.PrepareStore(ctx, rebuilt); err != nil {
		t.Fatal(err)
	}
	// Its own facts first (ReplayOwnFactsFirst), each twice as a relay
	// that lost an acknowledgement would publish it; then its topics.
	var log []event.Event
	for _, e := range published {
		log = append(log, e, e)
	}
	log = append(log, consumed...)
	outcomes := map[handler.ReplayOutcome]int{}
	for _, e := range log {
		if err := rebuilt.InTx(ctx, func(tx *store.Tx) error {
			o, err := ReplayEvent(ctx, tx, e)
			outcomes[o]++
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if outcomes[handler.ReplayRefused] != 2 || outcomes[handler.ReplayDuplicate] != len(published)+1 {
		t.Errorf("outcomes %v: want the 2 refused commands and %d duplicates", outcomes, len(published)+1)
	}
	got, err := Snapshot(ctx, rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffModels(live, got); len(diff) > 0 {
		t.Fatalf("rebuilt differs from live:\n%s", diff)
	}
	if len(live) != 3 || live["o-no"]["view.status"] != "cancelled" || live["o-ok"]["view.status"] != "confirmed" || live["o-slow"]["view.reason"] != events.ReasonTimeout {
		t.Fatalf("the sagas did not run as planned: %v", live)
	}

	// The comparison can fail: one changed column is found.
	if _, err := rebuilt.Exec(ctx, `UPDATE order_view SET total_cents = 1 WHERE order_id = 'o-ok'`); err != nil {
		t.Fatal(err)
	}
	got, _ = Snapshot(ctx, rebuilt)
	want := "o-ok view.totalCents: " + live["o-ok"]["view.totalCents"] + " vs 1"
	if diff := diffModels(live, got); len(diff) != 1 || diff[0] != want {
		t.Fatalf("diff %q, want [%q]", diff, want)
	}
}

func openSnapshot(t *testing.T, url string) map[string]map[string]string {
	t.Helper()
	db, err := store.Open(context.Background(), "live", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := Snapshot(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffModels(a, b map[string]map[string]string) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(a)) {
		for _, f := range slices.Sorted(maps.Keys(a[id])) {
			if a[id][f] != b[id][f] {
				out = append(out, fmt.Sprintf("%s %s: %s vs %s", id, f, a[id][f], b[id][f]))
			}
		}
	}
	for id, fields := range b {
		for f, v := range fields {
			if _, ok := a[id][f]; !ok {
				out = append(out, fmt.Sprintf("%s %s: (none) vs %s", id, f, v))
			}
		}
	}
	return out
}

package function

import (
	"context"
	"fmt"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

func levelOf(t *testing.T, h *handlertest.Harness, sku string) events.StockLevel {
	t.Helper()
	v := view(t, h)
	for _, l := range v.Stock {
		if l.SKU == sku {
			return l
		}
	}
	t.Fatalf("%s not in %+v", sku, v.Stock)
	return events.StockLevel{}
}

func view(t *testing.T, h *handlertest.Harness) events.InventoryViewData {
	t.Helper()
	var v events.InventoryViewData
	h.Query(t, events.InventoryQuery, events.InventoryQueryData{}, &v)
	for _, l := range v.Stock {
		if l.Initial != l.Available+l.Reserved+l.Sold || l.Available < 0 || l.Reserved < 0 || l.Sold < 0 {
			t.Fatalf("stock not conserved: %+v", l)
		}
	}
	return v
}

func send(t *testing.T, h *handlertest.Harness, e event.Event) {
	t.Helper()
	if r := h.Send(t, e); r.Status != http.StatusOK {
		t.Fatalf("%s: %d %s", e.Type(), r.Status, r.Body)
	}
}

func one(t *testing.T, out []event.Event, typ string, data any) event.Event {
	t.Helper()
	if len(out) != 1 || out[0].Type() != typ {
		t.Fatalf("published %v, want one %s", out, typ)
	}
	if err := out[0].DataAs(data); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestReserveConfirmAndQuery(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	before := view(t, h)
	wantSKUs := []string{"sku-cap", "sku-hoodie", "sku-lamp", "sku-mug", "sku-poster", "sku-sticker", "sku-tee"}
	var got []string
	for _, l := range before.Stock {
		got = append(got, l.SKU)
	}
	if !reflect.DeepEqual(got, wantSKUs) || levelOf(t, h, "sku-poster").Initial != 40 {
		t.Fatalf("built-in stock %+v", before.Stock)
	}

	created := handlertest.Event(t, events.OrderCreated, createdData("o-42", line("sku-tee", 2), line("sku-poster", 5)), nil)
	send(t, h, created)
	var reserved events.InventoryReservedData
	out := one(t, h.Flush(t), events.InventoryReserved, &reserved)
	if !reflect.DeepEqual(reserved.Lines, []events.Line{line("sku-tee", 2), line("sku-poster", 5)}) {
		t.Fatalf("reserved %+v", reserved)
	}
	if ce.String(out, ce.PartitionKey) != "o-42" || ce.String(out, ce.CorrelationID) != "o-42" || ce.String(out, ce.CausationID) != created.ID() {
		t.Fatalf("extensions %v", out.Extensions())
	}
	if out.DataSchema() != events.MustLookup(events.InventoryReserved).SchemaURI() {
		t.Fatalf("dataschema %q", out.DataSchema())
	}
	if p := levelOf(t, h, "sku-poster"); p.Available != 35 || p.Reserved != 5 || p.Sold != 0 {
		t.Fatalf("poster after reserve %+v", p)
	}
	if v := view(t, h); v.OpenReservations != 1 {
		t.Fatalf("open reservations %d", v.OpenReservations)
	}

	// Redelivered (same id) and re-sent (new id): nothing more is held.
	send(t, h, created)
	send(t, h, handlertest.Event(t, events.OrderCreated, createdData("o-42", line("sku-tee", 2), line("sku-poster", 5)), nil))
	if again := h.Flush(t); len(again) != 0 {
		t.Fatalf("duplicate created published %v", again)
	}

	confirmed := handlertest.Event(t, events.OrderConfirmed, confirmedData("o-42"), &out)
	send(t, h, confirmed)
	send(t, h, confirmed)
	send(t, h, handlertest.Event(t, events.OrderConfirmed, confirmedData("o-42"), nil))
	if got := h.Flush(t); len(got) != 0 {
		t.Fatalf("confirmation published %v", got)
	}
	if p := levelOf(t, h, "sku-poster"); p.Available != 35 || p.Reserved != 0 || p.Sold != 5 {
		t.Fatalf("poster after sale %+v", p)
	}
	if tee := levelOf(t, h, "sku-tee"); tee.Available != 100000-2 || tee.Sold != 2 {
		t.Fatalf("tee after sale %+v", tee)
	}
	// A cancellation after the sale (a saga bug upstream) gives nothing back.
	send(t, h, handlertest.Event(t, events.OrderCancelled, cancelledData("o-42", line("sku-poster", 5)), nil))
	if p := levelOf(t, h, "sku-poster"); p.Sold != 5 || p.Available != 35 {
		t.Fatalf("poster after late cancel %+v", p)
	}
	if v := view(t, h); v.OpenReservations != 0 {
		t.Fatalf("open reservations %d", v.OpenReservations)
	}
	if got := h.Flush(t); len(got) != 0 {
		t.Fatalf("late cancel published %v", got)
	}
}

func TestRejectionsHoldNothing(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	tests := []struct {
		name   string
		lines  []events.Line
		reason string
		sku    string
		detail string
	}{
		{"unknown SKU (sku-vinyl is sold but never stocked)", []events.Line{line("sku-tee", 1), line("sku-vinyl", 1)}, events.ReasonUnknownSKU, "sku-vinyl", "not stocked here"},
		{"partial stock: the tee is not held either", []events.Line{line("sku-tee", 3), line("sku-poster", 41)}, events.ReasonOutOfStock, "sku-poster", "wanted 41, available 40"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "o-rej-" + string(rune('a'+i))
			send(t, h, handlertest.Event(t, events.OrderCreated, createdData(id, tt.lines...), nil))
			var rej events.InventoryRejectedData
			one(t, h.Flush(t), events.InventoryRejected, &rej)
			want := events.InventoryRejectedData{OrderID: id, Reason: tt.reason, SKU: tt.sku, Detail: tt.detail}
			if rej != want {
				t.Fatalf("rejected %+v, want %+v", rej, want)
			}
			for _, sku := range []string{"sku-tee", "sku-poster"} {
				if l := levelOf(t, h, sku); l.Reserved != 0 || l.Available != l.Initial {
					t.Fatalf("%s held after a rejection: %+v", sku, l)
				}
			}
			// The cancellation the order answers with releases nothing.
			send(t, h, handlertest.Event(t, events.OrderCancelled, cancelledData(id, tt.lines...), nil))
			if got := h.Flush(t); len(got) != 0 {
				t.Fatalf("cancel of a rejected order published %v", got)
			}
		})
	}
}

func TestCancellationReleasesAndTombstones(t *testing.T) {
	h := handlertest.Start(t, New(), nil)

	send(t, h, handlertest.Event(t, events.OrderCreated, createdData("o-rel", line("sku-poster", 10)), nil))
	h.Flush(t)
	cancel := handlertest.Event(t, events.OrderCancelled, cancelledData("o-rel", line("sku-poster", 10)), nil)
	send(t, h, cancel)
	send(t, h, cancel)
	send(t, h, handlertest.Event(t, events.OrderCancelled, cancelledData("o-rel", line("sku-poster", 10)), nil))
	var released events.InventoryReleasedData
	one(t, h.Flush(t), events.InventoryReleased, &released)
	if !reflect.DeepEqual(released, events.InventoryReleasedData{OrderID: "o-rel", Lines: []events.Line{line("sku-poster", 10)}}) {
		t.Fatalf("released %+v", released)
	}
	if p := levelOf(t, h, "sku-poster"); p.Available != 40 || p.Reserved != 0 {
		t.Fatalf("poster after release %+v", p)
	}
	// A late confirmation of the released order sells nothing.
	send(t, h, handlertest.Event(t, events.OrderConfirmed, confirmedData("o-rel"), nil))
	if p := levelOf(t, h, "sku-poster"); p.Available != 40 || p.Sold != 0 {
		t.Fatalf("poster after late confirm %+v", p)
	}

	// The cancellation overtakes the creation: the tombstone keeps the late
	// order.created from holding stock.
	send(t, h, handlertest.Event(t, events.OrderCancelled, cancelledData("o-ghost", line("sku-poster", 7)), nil))
	send(t, h, handlertest.Event(t, events.OrderCreated, createdData("o-ghost", line("sku-poster", 7)), nil))
	if got := h.Flush(t); len(got) != 0 {
		t.Fatalf("tombstoned order published %v", got)
	}
	if p := levelOf(t, h, "sku-poster"); p.Available != 40 || p.Reserved != 0 {
		t.Fatalf("poster after tombstone %+v", p)
	}

	// A confirmation before any reservation is retried (503), and it is not
	// recorded as processed: once the creation arrives, its redelivery sells.
	early := handlertest.Event(t, events.OrderConfirmed, confirmedData("o-early"), nil)
	if r := h.Send(t, early); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("early confirm: %d %s", r.Status, r.Body)
	}
	send(t, h, handlertest.Event(t, events.OrderCreated, createdData("o-early", line("sku-poster", 1)), nil))
	send(t, h, early)
	if p := levelOf(t, h, "sku-poster"); p.Sold != 1 || p.Available != 39 || p.Reserved != 0 {
		t.Fatalf("poster after redelivered confirm %+v", p)
	}
}

// TestStockIsConservedThroughTheEdge replays generated sequences (with
// redeliveries, re-sends and late events) over HTTP into the real store and
// checks it ends exactly where the in-memory model of the decisions ends,
// conserved at every step.
func TestStockIsConservedThroughTheEdge(t *testing.T) {
	for _, seed := range []uint64{7, 11, 23} {
		h := handlertest.Start(t, New(), map[string]string{"INVENTORY_STOCK": "sku-a=6,sku-b=3,sku-c=1000"})
		m := newModel(scriptStock)
		steps := script(seed, 8, 80)
		sent := make([]event.Event, len(steps))
		for i, s := range steps {
			if s.redeliver >= 0 {
				sent[i] = sent[s.redeliver]
				steps[i].data = steps[s.redeliver].data
			} else {
				sent[i] = handlertest.Event(t, typeOf(s.data), s.data, nil)
			}
			r := h.Send(t, sent[i])
			_, err := m.handle(t, steps[i].data)
			// A redelivery of an event the edge already processed is
			// dropped by its processed-id check; the model must then
			// decide nothing either (decisions are idempotent).
			if wantStatus := map[bool]int{true: http.StatusServiceUnavailable, false: http.StatusOK}[err != nil]; r.Status != wantStatus {
				t.Fatalf("seed %d step %d %s: %d %s (model: %v)", seed, i, sent[i].Type(), r.Status, r.Body, err)
			}
			m.check(t, "model")
		}
		v := view(t, h)
		if !reflect.DeepEqual(v.Stock, m.levels()) || v.OpenReservations != m.open() {
			t.Fatalf("seed %d: store %+v open %d, model %+v open %d", seed, v.Stock, v.OpenReservations, m.levels(), m.open())
		}
	}
}

func typeOf(data any) string {
	switch data.(type) {
	case events.OrderCreatedData:
		return events.OrderCreated
	case events.OrderConfirmedData:
		return events.OrderConfirmed
	case events.OrderCancelledData:
		return events.OrderCancelled
	}
	panic("typeOf")
}

func TestIgnoresThePlaceCommandAndRefusesBadInput(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	send(t, h, handlertest.Event(t, events.PlaceOrder, events.PlaceOrderData{
		OrderID: "o-1", CustomerID: "c", Email: "c@example.org", Currency: "EUR", PaymentToken: "t", Lines: []events.Line{line("sku-tee", 1)},
	}, nil))
	// Inventory events are not on its topic: a misrouted one is refused.
	r := h.Send(t, handlertest.Event(t, events.InventoryReserved, events.InventoryReservedData{OrderID: "o-1", Lines: []events.Line{line("sku-tee", 1)}}, nil))
	if r.Status != http.StatusBadRequest || r.Error().Field != "type" {
		t.Fatalf("misrouted event: %d %s", r.Status, r.Body)
	}
	// Either version of order.created is held to its own schema.
	for typ, body := range map[string]string{
		events.OrderCreated:   `{"orderId":"o-2","customerId":"c","email":"c@example.org","currency":"EUR","paymentToken":"t","subtotalCents":1,"taxCents":0,"totalCents":1,"shippingCountry":"DE","lines":[{"sku":"sku-tee","quantity":0,"unitPriceCents":1}]}`,
		events.OrderCreatedV1: `{"orderId":"o-2","customerId":"c","email":"c@example.org","currency":"EUR","paymentToken":"t","totalCents":1,"lines":[{"sku":"sku-tee","quantity":0,"unitPriceCents":1}]}`,
	} {
		r = h.Post(t, map[string]string{
			"ce-specversion": "1.0", "ce-id": "bad-" + typ, "ce-source": "/test", "ce-type": typ, "content-type": "application/json",
		}, body)
		if r.Status != http.StatusBadRequest || r.Error().Field != "lines[0].quantity" {
			t.Fatalf("%s with zero quantity: %d %s", typ, r.Status, r.Body)
		}
	}
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("published %v", out)
	}
	if tee := levelOf(t, h, "sku-tee"); tee.Available != tee.Initial {
		t.Fatalf("tee moved: %+v", tee)
	}
}

func TestStockSettingSeedsOnlyNewSKUs(t *testing.T) {
	f := New()
	h := handlertest.Start(t, f, map[string]string{"INVENTORY_STOCK": " sku-a=3, sku-b=0 ,"})
	v := view(t, h)
	want := []events.StockLevel{{SKU: "sku-a", Initial: 3, Available: 3}, {SKU: "sku-b"}}
	if !reflect.DeepEqual(v.Stock, want) {
		t.Fatalf("stock %+v, want %+v", v.Stock, want)
	}
	send(t, h, handlertest.Event(t, events.OrderCreated, createdData("o-1", line("sku-a", 2)), nil))
	if err := f.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Restart on the same database with a bigger stock file: sku-a keeps
	// its counters (the reservation stays held), sku-c is added.
	file := filepath.Join(t.TempDir(), "stock.json")
	if err := os.WriteFile(file, []byte(`{"sku-a": 100, "sku-c": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	h2 := handlertest.Start(t, New(), map[string]string{
		"ORDERFLOW_DATABASE_URL": h.DBURL, "INVENTORY_STOCK": "", "INVENTORY_STOCK_FILE": file,
	})
	v = view(t, h2)
	want = []events.StockLevel{{SKU: "sku-a", Initial: 3, Available: 1, Reserved: 2}, {SKU: "sku-b"}, {SKU: "sku-c", Initial: 5, Available: 5}}
	if !reflect.DeepEqual(v.Stock, want) || v.OpenReservations != 1 {
		t.Fatalf("after restart %+v (open %d), want %+v", v.Stock, v.OpenReservations, want)
	}
}

func TestBadStockSettingsNameTheVariableAndEntry(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string // all must appear in the error
	}{
		{"not a number", map[string]string{"INVENTORY_STOCK": "sku-a=1,sku-b=ten"}, []string{"INVENTORY_STOCK", `"sku-b=ten"`}},
		{"negative", map[string]string{"INVENTORY_STOCK": "sku-a=-1"}, []string{"INVENTORY_STOCK", `"sku-a=-1"`}},
		{"empty quantity", map[string]string{"INVENTORY_STOCK": "sku-a="}, []string{`INVENTORY_STOCK="sku-a="`, `quantity "" is not a whole number >= 0`}},
		{"blank", map[string]string{"INVENTORY_STOCK": "  "}, []string{"INVENTORY_STOCK", "no entries"}},
		{"no equals sign", map[string]string{"INVENTORY_STOCK": "sku-a=1,sku-b"}, []string{"INVENTORY_STOCK", `"sku-b"`}},
		{"SKU that can never be ordered", map[string]string{"INVENTORY_STOCK": "Sku A=1"}, []string{"INVENTORY_STOCK", `"Sku A=1"`}},
		{"SKU twice", map[string]string{"INVENTORY_STOCK": "sku-a=1,sku-a=2"}, []string{"INVENTORY_STOCK", `"sku-a=2"`, "twice"}},
		{"only commas", map[string]string{"INVENTORY_STOCK": " , "}, []string{"INVENTORY_STOCK", "no entries"}},
		{"both settings", map[string]string{"INVENTORY_STOCK": "sku-a=1", "INVENTORY_STOCK_FILE": "/x.json"}, []string{"INVENTORY_STOCK_FILE", "INVENTORY_STOCK "}},
		{"missing file", map[string]string{"INVENTORY_STOCK_FILE": filepath.Join(dir, "none.json")}, []string{"INVENTORY_STOCK_FILE", "none.json"}},
		{"file is not an object", map[string]string{"INVENTORY_STOCK_FILE": file("array.json", `[1, 2]`)}, []string{"INVENTORY_STOCK_FILE=", "array.json", "JSON object"}},
		{"fractional quantity in file", map[string]string{"INVENTORY_STOCK_FILE": file("frac.json", `{"sku-a": 1, "sku-b": 1.5}`)}, []string{"INVENTORY_STOCK_FILE=", `"sku-b"`, "1.5"}},
		{"text quantity in file", map[string]string{"INVENTORY_STOCK_FILE": file("text.json", `{"sku-a": "ten"}`)}, []string{"INVENTORY_STOCK_FILE=", `"sku-a"`}},
		{"empty object", map[string]string{"INVENTORY_STOCK_FILE": file("empty.json", `{}`)}, []string{"INVENTORY_STOCK_FILE=", "no SKUs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("INVENTORY_STOCK", "")
			t.Setenv("INVENTORY_STOCK_FILE", "")
			// A database nobody can open: a bad setting must fail before
			// the store is touched.
			t.Setenv("ORDERFLOW_DATABASE_URL", "nosuch://db")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			err := New().Start(context.Background(), nil)
			if err == nil {
				t.Fatal("started")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Until the stock is seeded the function is not ready, and a delivery
// waits rather than being decided against an empty stock table.
func TestNotReadyBeforeSeeding(t *testing.T) {
	f := New()
	if ok, _ := f.Ready(context.Background()); ok {
		t.Fatal("ready before Start")
	}
	e := handlertest.Event(t, events.OrderCreated, createdData("o-1", line("sku-tee", 1)), nil)
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	f.Handle(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("before Start: %d %s, want 503 (retry later)", rec.Code, rec.Body)
	}
}

// TestConcurrentDeliveriesNeverOversell races many orders for a scarce SKU
// at once, as the dispatcher delivers them when the orders topic has many
// partitions (and twice, as after a rebalance), retrying what it retries
// (409, 5xx). On PostgreSQL these transactions really run side by side on
// many connections; on SQLite they queue behind its one connection. Either
// way: never more reserved than there is, every order decided exactly
// once, stock conserved, and no deadlock (a 500) on the way.
func TestConcurrentDeliveriesNeverOversell(t *testing.T) {
	const scarce, orders, bulk = 7, 40, 1000
	h := handlertest.Start(t, New(), map[string]string{"INVENTORY_STOCK": fmt.Sprintf("sku-scarce=%d,sku-bulk=%d", scarce, bulk)})

	var conflicts, failures atomic.Int64
	deliver := func(e event.Event) {
		for attempt := 0; ; attempt++ {
			r := h.Send(t, e)
			switch {
			case r.Status == http.StatusOK:
				return
			case r.Status == http.StatusConflict:
				conflicts.Add(1)
			case r.Status >= 500:
				failures.Add(1)
				t.Errorf("%s %s: %d %s", e.Type(), e.ID(), r.Status, r.Body)
			default:
				t.Errorf("%s %s: %d %s", e.Type(), e.ID(), r.Status, r.Body)
				return
			}
			if attempt == 50 {
				t.Errorf("%s %s: still %d after %d attempts", e.Type(), e.ID(), r.Status, attempt+1)
				return
			}
			time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
		}
	}
	all := func(evs []event.Event) {
		var wg sync.WaitGroup
		for _, e := range evs {
			wg.Add(1)
			go func() { defer wg.Done(); deliver(e) }()
		}
		wg.Wait()
	}

	// Every order wants one scarce item and two bulk ones, half of them
	// naming the SKUs in the other order; each event is delivered twice at
	// once.
	id := func(i int) string { return fmt.Sprintf("o-%02d", i) }
	var created []event.Event
	for i := 0; i < orders; i++ {
		lines := []events.Line{line("sku-scarce", 1), line("sku-bulk", 2)}
		if i%2 == 1 {
			lines[0], lines[1] = lines[1], lines[0]
		}
		e := handlertest.Event(t, events.OrderCreated, createdData(id(i), lines...), nil)
		created = append(created, e, e)
	}
	all(created)

	outcome := map[string]string{}
	for _, e := range h.Flush(t) {
		o := events.Key(mustData(t, e))
		if prev, seen := outcome[o]; seen {
			t.Fatalf("%s decided twice: %s then %s", o, prev, e.Type())
		}
		outcome[o] = e.Type()
	}
	var held, rejected []string
	for i := 0; i < orders; i++ {
		switch outcome[id(i)] {
		case events.InventoryReserved:
			held = append(held, id(i))
		case events.InventoryRejected:
			rejected = append(rejected, id(i))
		default:
			t.Fatalf("%s: no decision (%q)", id(i), outcome[id(i)])
		}
	}
	if len(held) != scarce {
		t.Fatalf("%d orders hold the %d scarce items", len(held), scarce)
	}
	if l := levelOf(t, h, "sku-scarce"); l.Available != 0 || l.Reserved != scarce {
		t.Fatalf("scarce after the rush %+v", l)
	}
	if l := levelOf(t, h, "sku-bulk"); l.Reserved != 2*scarce || l.Available != bulk-2*scarce {
		t.Fatalf("bulk after the rush %+v", l)
	}

	// Then the outcomes, all at once, each also re-sent under a new id:
	// some held orders confirm, the rest and every rejected one cancel.
	var outcomes []event.Event
	confirm := held[:scarce/2]
	for _, o := range held {
		data := any(cancelledData(o, line("sku-scarce", 1), line("sku-bulk", 2)))
		if slices.Contains(confirm, o) {
			data = confirmedData(o)
		}
		outcomes = append(outcomes, handlertest.Event(t, typeOf(data), data, nil), handlertest.Event(t, typeOf(data), data, nil))
	}
	for _, o := range rejected {
		data := cancelledData(o, line("sku-scarce", 1), line("sku-bulk", 2))
		outcomes = append(outcomes, handlertest.Event(t, events.OrderCancelled, data, nil))
	}
	all(outcomes)

	released := 0
	for _, e := range h.Flush(t) {
		if e.Type() != events.InventoryReleased {
			t.Fatalf("published %s", e.Type())
		}
		released++
	}
	if want := scarce - len(confirm); released != want {
		t.Fatalf("%d releases, want %d", released, want)
	}
	sold := len(confirm)
	if l := levelOf(t, h, "sku-scarce"); l.Sold != sold || l.Reserved != 0 || l.Available != scarce-sold {
		t.Fatalf("scarce at the end %+v", l)
	}
	if l := levelOf(t, h, "sku-bulk"); l.Sold != 2*sold || l.Reserved != 0 || l.Available != bulk-2*sold {
		t.Fatalf("bulk at the end %+v", l)
	}
	if v := view(t, h); v.OpenReservations != 0 {
		t.Fatalf("open reservations %d", v.OpenReservations)
	}
	t.Logf("%d deliveries, %d answered 409 and retried, %d failed", len(created)+len(outcomes), conflicts.Load(), failures.Load())
}

func mustData(t *testing.T, e event.Event) any {
	t.Helper()
	spec, ok := events.Lookup(e.Type())
	if !ok {
		t.Fatalf("unknown type %s", e.Type())
	}
	data := spec.NewData()
	if err := e.DataAs(data); err != nil {
		t.Fatal(err)
	}
	return data
}

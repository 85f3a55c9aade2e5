package function

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/store"
)

// send delivers a fact as the dispatcher would, stamped with a chosen
// CloudEvent time (what windows and durations are computed from).
func send(t *testing.T, h *handlertest.Harness, f Fact) event.Event {
	t.Helper()
	e := handlertest.Event(t, f.Type, f.Data, nil)
	e.SetTime(f.Time)
	if r := h.Send(t, e); r.Status != http.StatusOK {
		t.Fatalf("%s: %d %s", f.Type, r.Status, r.Body)
	}
	return e
}

func view(t *testing.T, h *handlertest.Harness) events.AnalyticsViewData {
	t.Helper()
	var v events.AnalyticsViewData
	h.Query(t, events.AnalyticsQuery, events.AnalyticsQueryData{}, &v)
	return v
}

// threeSagas: one confirmed, one cancelled and refunded, one still open,
// spread over two minutes.
func threeSagas(t *testing.T, h *handlertest.Harness) {
	sec := time.Second
	for _, f := range []Fact{
		created("o-ok", 3000, at(0)), reserved("o-ok", at(sec)), paid("o-ok", 3000, at(2*sec)), confirmed("o-ok", 3000, at(4*sec)),
		notified("o-ok", "confirmed", true, at(5*sec)),

		created("o-late", 1200, at(10*sec)), paid("o-late", 1200, at(11*sec)), cancelled("o-late", events.ReasonTimeout, at(40*sec)),
		refunded("o-late", "pay-o-late", 1200, at(41*sec)), released("o-late", at(41*sec)), notified("o-late", "cancelled", false, at(42*sec)),

		created("o-open", 500, at(50*sec)), reserved("o-open", at(51*sec)),
	} {
		send(t, h, f)
	}
}

func TestProjectionsThroughTheEdge(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	threeSagas(t, h)
	// The place command shares the orders topic: answered 200, not counted.
	place := handlertest.Event(t, events.PlaceOrder, events.PlaceOrderData{OrderID: "o-new", CustomerID: "c", Email: "c@example.org",
		Currency: "EUR", PaymentToken: "t", Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}, nil)
	if r := h.Send(t, place); r.Status != http.StatusOK {
		t.Fatalf("place: %d %s", r.Status, r.Body)
	}

	v := view(t, h)
	if want := map[string]int{"pending": 1, "confirmed": 1, "cancelled": 1}; !reflect.DeepEqual(v.OrdersByState, want) {
		t.Errorf("ordersByState %v", v.OrdersByState)
	}
	if want := map[string]int{events.ReasonTimeout: 1}; !reflect.DeepEqual(v.CancelledByReason, want) {
		t.Errorf("cancelledByReason %v", v.CancelledByReason)
	}
	if v.RevenueCents != 3000 || v.RefundedCents != 1200 {
		t.Errorf("revenue %d refunded %d", v.RevenueCents, v.RefundedCents)
	}
	if v.EventsSeen != 13 {
		t.Errorf("eventsSeen %d, want 13", v.EventsSeen)
	}
	if v.NotificationsSent != 1 || v.NotificationsFailed != 1 {
		t.Errorf("notifications %d sent %d failed", v.NotificationsSent, v.NotificationsFailed)
	}
	if want := (events.Percentiles{Count: 2, P50: 4000, P90: 30000, P99: 30000, Max: 30000}); v.SagaDurationMillis != want {
		t.Errorf("durations %+v, want %+v", v.SagaDurationMillis, want)
	}
	if want := map[string]int{events.InventoryReserved: 1}; !reflect.DeepEqual(v.LastStepByOpenOrders, want) {
		t.Errorf("lastStepOfOpenOrders %v", v.LastStepByOpenOrders)
	}
	// t0 is 10:00:30: the events fall in the windows of 10:00 and 10:01.
	if len(v.Windows) != 2 {
		t.Fatalf("windows %+v", v.Windows)
	}
	w0, w1 := v.Windows[0], v.Windows[1]
	if !w0.Start.Equal(time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)) || !w0.End.Equal(w1.Start) {
		t.Errorf("windows %v..%v, %v..%v", w0.Start, w0.End, w1.Start, w1.End)
	}
	if w0.Counts[events.OrderCreated] != 2 || w0.Counts[events.OrderConfirmed] != 1 || w1.Counts[events.OrderCancelled] != 1 || w1.Counts[events.OrderCreated] != 1 {
		t.Errorf("counts %v / %v", w0.Counts, w1.Counts)
	}
}

func TestDuplicatesAndResendsCountOnce(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	send(t, h, created("o-d", 700, at(0)))
	conf := send(t, h, confirmed("o-d", 700, at(2*time.Second)))
	// Redelivery of the same event id: the edge drops it.
	if r := h.Send(t, conf); r.Status != http.StatusOK {
		t.Fatalf("redelivery: %d", r.Status)
	}
	// The confirmation re-sent under a new id, later: seen, but the
	// order is still confirmed once.
	send(t, h, confirmed("o-d", 700, at(9*time.Second)))

	v := view(t, h)
	if v.RevenueCents != 700 || v.OrdersByState["confirmed"] != 1 {
		t.Fatalf("revenue %d states %v", v.RevenueCents, v.OrdersByState)
	}
	if v.SagaDurationMillis.Max != 2000 {
		t.Fatalf("duration %+v", v.SagaDurationMillis)
	}
	// Windows count facts, not deliveries: the re-send under a new id is
	// the same fact (issue 12 found it counted twice).
	if v.EventsSeen != 2 {
		t.Fatalf("eventsSeen %d, want 2 (created, confirmed; the re-send is the same fact)", v.EventsSeen)
	}
	if len(v.Windows) != 1 || v.Windows[0].Counts[events.OrderConfirmed] != 1 || v.Windows[0].RevenueCents != 700 {
		t.Fatalf("windows %+v, want the confirmation once with its 700", v.Windows)
	}
}

func TestLateFactsAreCountedApartNeverDropped(t *testing.T) {
	t.Setenv("ANALYTICS_LATENESS", "1m")
	h := handlertest.Start(t, New(), nil)
	publishedAfter := func(f Fact, d time.Duration) {
		t.Helper()
		e := handlertest.Event(t, f.Type, f.Data, nil)
		e.SetTime(f.Time)
		e.SetExtension(ce.PublishedTime, f.Time.Add(d))
		if r := h.Send(t, e); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", f.Type, r.Status, r.Body)
		}
	}
	publishedAfter(created("o-1", 900, at(0)), time.Second)
	publishedAfter(confirmed("o-1", 900, at(5*time.Second)), time.Minute) // late, but within the bound
	publishedAfter(created("o-2", 400, at(6*time.Second)), time.Second)
	publishedAfter(confirmed("o-2", 400, at(7*time.Second)), time.Minute+time.Millisecond) // past it

	v := view(t, h)
	if v.LatenessBoundMillis != 60000 || v.LateFacts != 1 || v.EventsSeen != 4 {
		t.Fatalf("bound %d, late %d, seen %d; want 60000, 1, 4", v.LatenessBoundMillis, v.LateFacts, v.EventsSeen)
	}
	if len(v.LatestLate) != 1 || v.LatestLate[0].OrderID != "o-2" || v.LatestLate[0].LatenessMillis != 60001 {
		t.Fatalf("late list %+v", v.LatestLate)
	}
	if len(v.Windows) != 1 {
		t.Fatalf("windows %+v", v.Windows)
	}
	w := v.Windows[0]
	if w.Counts[events.OrderConfirmed] != 1 || w.Counts[events.OrderCreated] != 2 || w.RevenueCents != 900 || w.LateFacts != 1 {
		t.Fatalf("window %+v: want 2 created, 1 confirmed with 900, 1 late", w)
	}
	// The saga projection is not windowed: the late confirmation still
	// confirms its order and counts in the total revenue.
	if v.RevenueCents != 1300 || v.OrdersByState["confirmed"] != 2 {
		t.Fatalf("revenue %d, states %v", v.RevenueCents, v.OrdersByState)
	}
}

func TestOutOfOrderAcrossTopics(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	sec := time.Second
	// The inventory and payments topics ran ahead of the orders topic.
	send(t, h, reserved("o-x", at(sec)))
	send(t, h, paid("o-x", 900, at(2*sec)))
	v := view(t, h)
	if v.OrdersByState["pending"] != 1 || v.LastStepByOpenOrders[events.PaymentCompleted] != 1 || v.SagaDurationMillis.Count != 0 {
		t.Fatalf("before created: %+v", v)
	}
	send(t, h, confirmed("o-x", 900, at(3*sec)))
	send(t, h, created("o-x", 900, at(0)))
	v = view(t, h)
	if v.OrdersByState["confirmed"] != 1 || v.OrdersByState["pending"] != 0 || len(v.LastStepByOpenOrders) != 0 {
		t.Fatalf("after created: %+v", v)
	}
	if v.SagaDurationMillis != (events.Percentiles{Count: 1, P50: 3000, P90: 3000, P99: 3000, Max: 3000}) || v.RevenueCents != 900 {
		t.Fatalf("after created: %+v", v)
	}
}

func TestViewShowsTheLatest60Windows(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	base := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	for i := range 62 {
		send(t, h, created(fmt.Sprintf("o-%d", i), 100, base.Add(time.Duration(i)*time.Minute+17*time.Second)))
	}
	v := view(t, h)
	if len(v.Windows) != 60 {
		t.Fatalf("%d windows, want 60", len(v.Windows))
	}
	if first, last := v.Windows[0], v.Windows[59]; !first.Start.Equal(base.Add(2*time.Minute)) || !last.Start.Equal(base.Add(61*time.Minute)) || last.Counts[events.OrderCreated] != 1 {
		t.Fatalf("windows from %+v to %+v", first, last)
	}
	// Older windows leave the view, not the totals.
	if v.EventsSeen != 62 || v.OrdersByState["pending"] != 62 {
		t.Fatalf("eventsSeen %d, pending %d", v.EventsSeen, v.OrdersByState["pending"])
	}
}

func TestRestartKeepsTheProjections(t *testing.T) {
	db := handlertest.NewDatabase(t, "analytics")
	first := handlertest.Start(t, New(), map[string]string{"ORDERFLOW_DATABASE_URL": db})
	threeSagas(t, first)
	before := view(t, first)
	if err := first.F.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	second := handlertest.Start(t, New(), map[string]string{"ORDERFLOW_DATABASE_URL": db})
	if after := view(t, second); !reflect.DeepEqual(before, after) {
		t.Fatalf("after restart:\n%+v\nbefore:\n%+v", after, before)
	}
	// And it goes on from there.
	send(t, second, confirmed("o-open", 500, at(90*time.Second)))
	if v := view(t, second); v.OrdersByState["confirmed"] != 2 || v.RevenueCents != 3500 || v.EventsSeen != before.EventsSeen+1 {
		t.Fatalf("after restart and one more event: %+v", v)
	}
}

// analytics folds exactly the facts the catalog says it consumes: every
// saga fact of the other steps (a step added later publishes to a topic of
// its own, which analytics reads once the catalog says so).
func TestEveryFactOfTheCatalogIsHandled(t *testing.T) {
	f := New()
	n := 0
	for _, s := range events.All() {
		if s.Kind != events.KindFact || s.Producer == "analytics" {
			continue
		}
		if consumed := s.ConsumedByFunction("analytics"); consumed != f.App().HasRoute(s.Type) {
			t.Errorf("%s: the catalog says analytics consumes it: %v; analytics routes it: %v", s.Type, consumed, !consumed)
		} else if consumed {
			n++
		}
	}
	if n < 12 {
		t.Errorf("%d facts of other functions folded, want at least the 12 of order, inventory, payment and notify (order.created in two versions)", n)
	}
	if !f.App().HasRoute(events.AnalyticsQuery) {
		t.Error("no route for the query")
	}
	if f.App().HasRoute(events.PlaceOrder) {
		t.Error("the place command is routed; it should be ignored")
	}
}

func TestBadInputIsRefused(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	r := h.Post(t, map[string]string{"ce-specversion": "1.0", "ce-id": "bad-1", "ce-source": "/test", "ce-type": events.PaymentRefunded,
		"content-type": "application/json"}, `{"orderId":"o-1","paymentId":"p","amountCents":-5,"currency":"EUR"}`)
	if r.Status != http.StatusBadRequest || r.Error().Field != "amountCents" {
		t.Fatalf("negative refund: %d %s", r.Status, r.Body)
	}
	if v := view(t, h); v.EventsSeen != 0 || v.RefundedCents != 0 {
		t.Fatalf("a refused event was counted: %+v", v)
	}
}

// A plain GET is the dashboard's way in: the view as JSON. Other methods
// that carry no CloudEvent are refused.
func TestAPlainGetAnswersTheViewAsJSON(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	resp, err := http.Get(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var view events.AnalyticsViewData
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil || view.OrdersByState == nil {
		t.Fatalf("GET body: %+v %v", view, err)
	}
	req, _ := http.NewRequest(http.MethodDelete, h.URL, nil)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d, want 405", resp2.StatusCode)
	}
}

func TestAStoreOfAnotherProjectionVersionIsRefusedAtStart(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
	send(t, h, created("o-v", 100, at(0)))
	if err := h.F.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The same store as version 1 of the windows left it: counts per
	// delivery, in the table version 2 no longer writes.
	db, err := store.Open(context.Background(), "test", h.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), `DELETE FROM orderflow_projections WHERE projection = 'windows'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), `INSERT INTO analytics_windows (window_start, event_type, events) VALUES (0, 'x', 3)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	err = New().Start(context.Background(), nil)
	if err == nil {
		t.Fatal("analytics started on windows built by version 1")
	}
	for _, want := range []string{"analytics/windows", "version 1", "version 2", "orderflow replay analytics"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestTheLatenessDefaultIsDefaultLateness(t *testing.T) {
	var cfg Config
	if err := handler.ReadConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Lateness != DefaultLateness {
		t.Fatalf("ANALYTICS_LATENESS defaults to %s, DefaultLateness is %s", cfg.Lateness, DefaultLateness)
	}
}

func TestBadSettingsNameTheVariable(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"ANALYTICS_STALL_AFTER", "", `ANALYTICS_STALL_AFTER="": want a duration such as 500ms, 5s or 2m`},
		{"ANALYTICS_STALL_AFTER", "soon", `ANALYTICS_STALL_AFTER="soon": want a duration`},
		{"ANALYTICS_STALL_AFTER", "0s", "ANALYTICS_STALL_AFTER=0s: want at least 1s"},
		{"ANALYTICS_STALL_AFTER", "-1m", "ANALYTICS_STALL_AFTER=-1m0s: want at least 1s"},
		{"ANALYTICS_STALL_AFTER", "1ms", "ANALYTICS_STALL_AFTER=1ms: want at least 1s"},
		{"ANALYTICS_LATENESS", "-1s", "ANALYTICS_LATENESS=-1s: must not be negative"},
		{"ANALYTICS_STALL_BATCH", "", `ANALYTICS_STALL_BATCH="": want a whole number`},
		{"ANALYTICS_STALL_BATCH", "lots", `ANALYTICS_STALL_BATCH="lots": want a whole number`},
		{"ANALYTICS_STALL_BATCH", "0", "ANALYTICS_STALL_BATCH=0: must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			// A database nobody can open: a bad setting must fail first.
			t.Setenv("ORDERFLOW_DATABASE_URL", "nosuch://db")
			err := New().Start(context.Background(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line saying %q", err, tt.want)
			}
		})
	}
}

package function

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"orderflow.dev/shared/events"
)

var t0 = time.Date(2026, 1, 2, 10, 0, 30, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func created(id string, total int64, t time.Time) Fact {
	return Fact{Type: events.OrderCreated, Time: t, Data: events.OrderCreatedData{OrderID: id, CustomerID: "c", Email: "c@example.org", Currency: "EUR", PaymentToken: "tok",
		Lines: []events.PricedLine{{SKU: "sku-tee", Quantity: 1, UnitPriceCents: total}}, SubtotalCents: total, TotalCents: total, ShippingCountry: "CH"}}
}
func reserved(id string, t time.Time) Fact {
	return Fact{Type: events.InventoryReserved, Time: t, Data: events.InventoryReservedData{OrderID: id, Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}}
}
func rejected(id string, t time.Time) Fact {
	return Fact{Type: events.InventoryRejected, Time: t, Data: events.InventoryRejectedData{OrderID: id, Reason: events.ReasonOutOfStock, SKU: "sku-tee"}}
}
func released(id string, t time.Time) Fact {
	return Fact{Type: events.InventoryReleased, Time: t, Data: events.InventoryReleasedData{OrderID: id, Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}}
}
func paid(id string, cents int64, t time.Time) Fact {
	return Fact{Type: events.PaymentCompleted, Time: t, Data: events.PaymentCompletedData{OrderID: id, PaymentID: "pay-" + id, AmountCents: cents, Currency: "EUR"}}
}
func declined(id string, t time.Time) Fact {
	return Fact{Type: events.PaymentFailed, Time: t, Data: events.PaymentFailedData{OrderID: id, AmountCents: 1, Currency: "EUR", Reason: "card declined"}}
}
func refunded(id, paymentID string, cents int64, t time.Time) Fact {
	return Fact{Type: events.PaymentRefunded, Time: t, Data: events.PaymentRefundedData{OrderID: id, PaymentID: paymentID, AmountCents: cents, Currency: "EUR"}}
}
func confirmed(id string, total int64, t time.Time) Fact {
	return Fact{Type: events.OrderConfirmed, Time: t, Data: events.OrderConfirmedData{OrderID: id, Email: "c@example.org", TotalCents: total, Currency: "EUR", PaymentID: "pay-" + id}}
}
func cancelled(id, reason string, t time.Time) Fact {
	return Fact{Type: events.OrderCancelled, Time: t, Data: events.OrderCancelledData{OrderID: id, Email: "c@example.org", Reason: reason, Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}}
}
func notified(id, outcome string, ok bool, t time.Time) Fact {
	nid := "ntf-" + id + "-" + outcome
	if ok {
		return Fact{Type: events.NotificationSent, Time: t, Data: events.NotificationSentData{OrderID: id, NotificationID: nid, Channel: "log", Outcome: outcome, Recipient: "c@example.org"}}
	}
	return Fact{Type: events.NotificationFailed, Time: t, Data: events.NotificationFailedData{OrderID: id, NotificationID: nid, Channel: "log", Outcome: outcome, Reason: "400"}}
}

func fold(facts ...Fact) Saga {
	var s Saga
	for _, f := range facts {
		s = Project(s, f)
	}
	return s
}

func TestProject(t *testing.T) {
	const id = "o-1"
	sec := time.Second
	tests := []struct {
		name         string
		facts        []Fact
		wantState    State
		wantReason   string
		wantRevenue  int64
		wantRefunded int64
		wantDuration int64 // -1: not known yet
		wantSent     int
		wantFailed   int
		wantLast     string
		wantLastAt   time.Time
	}{
		{"created only: pending, waiting after creation",
			[]Fact{created(id, 3000, at(0))}, StatePending, "", 0, 0, -1, 0, 0, events.OrderCreated, at(0)},
		{"confirmed: revenue and duration",
			[]Fact{created(id, 3000, at(0)), reserved(id, at(sec)), paid(id, 3000, at(2*sec)), confirmed(id, 3000, at(3*sec)), notified(id, "confirmed", true, at(4*sec))},
			StateConfirmed, "", 3000, 0, 3000, 1, 0, events.NotificationSent, at(4 * sec)},
		{"out of stock: cancelled with its reason, no revenue",
			[]Fact{created(id, 3000, at(0)), rejected(id, at(sec)), cancelled(id, events.ReasonOutOfStock, at(1500*time.Millisecond))},
			StateCancelled, events.ReasonOutOfStock, 0, 0, 1500, 0, 0, events.OrderCancelled, at(1500 * time.Millisecond)},
		{"declined: cancelled, notification refused",
			[]Fact{created(id, 3000, at(0)), reserved(id, at(sec)), declined(id, at(2*sec)), cancelled(id, events.ReasonPaymentDeclined, at(3*sec)), released(id, at(4*sec)), notified(id, "cancelled", false, at(5*sec))},
			StateCancelled, events.ReasonPaymentDeclined, 0, 0, 3000, 0, 1, events.NotificationFailed, at(5 * sec)},
		{"paid then timed out: the refund is counted",
			[]Fact{created(id, 3000, at(0)), paid(id, 3000, at(sec)), cancelled(id, events.ReasonTimeout, at(9*sec)), refunded(id, "pay-o-1", 3000, at(10*sec))},
			StateCancelled, events.ReasonTimeout, 0, 3000, 9000, 0, 0, events.PaymentRefunded, at(10 * sec)},
		{"reserved before created (other topic): pending, duration unknown",
			[]Fact{reserved(id, at(sec))}, StatePending, "", 0, 0, -1, 0, 0, events.InventoryReserved, at(sec)},
		{"created arriving last still starts the clock, and does not become the last step",
			[]Fact{reserved(id, at(sec)), paid(id, 3000, at(2*sec)), created(id, 3000, at(0))},
			StatePending, "", 0, 0, -1, 0, 0, events.PaymentCompleted, at(2 * sec)},
		{"confirmed before created: duration known once created arrives",
			[]Fact{confirmed(id, 3000, at(4*sec)), created(id, 3000, at(0))}, StateConfirmed, "", 3000, 0, 4000, 0, 0, events.OrderConfirmed, at(4 * sec)},
		{"confirmation re-sent under a new id, later: revenue and duration unchanged",
			[]Fact{created(id, 3000, at(0)), confirmed(id, 3000, at(2*sec)), confirmed(id, 3000, at(7*sec))},
			StateConfirmed, "", 3000, 0, 2000, 0, 0, events.OrderConfirmed, at(7 * sec)},
		{"the same confirmation twice",
			[]Fact{created(id, 3000, at(0)), confirmed(id, 3000, at(2*sec)), confirmed(id, 3000, at(2*sec))},
			StateConfirmed, "", 3000, 0, 2000, 0, 0, events.OrderConfirmed, at(2 * sec)},
		{"a late cancellation after confirmation changes nothing",
			[]Fact{created(id, 3000, at(0)), confirmed(id, 3000, at(2*sec)), cancelled(id, events.ReasonTimeout, at(5*sec))},
			StateConfirmed, "", 3000, 0, 2000, 0, 0, events.OrderCancelled, at(5 * sec)},
		{"refund re-sent under a new id is counted once; another payment's refund adds",
			[]Fact{refunded(id, "pay-a", 1000, at(sec)), refunded(id, "pay-a", 1000, at(2*sec)), refunded(id, "pay-b", 500, at(3*sec))},
			StatePending, "", 0, 1500, -1, 0, 0, events.PaymentRefunded, at(3 * sec)},
		{"a notification reported twice counts once",
			[]Fact{notified(id, "confirmed", true, at(sec)), notified(id, "confirmed", true, at(2*sec))},
			StatePending, "", 0, 0, -1, 1, 0, events.NotificationSent, at(2 * sec)},
		{"same time: the later step is the last step",
			[]Fact{paid(id, 3000, at(sec)), reserved(id, at(sec))}, StatePending, "", 0, 0, -1, 0, 0, events.PaymentCompleted, at(sec)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fold(tt.facts...)
			if s.OrderID != id || s.State != tt.wantState || s.Reason != tt.wantReason {
				t.Fatalf("saga %s state %q reason %q", s.OrderID, s.State, s.Reason)
			}
			if s.RevenueCents() != tt.wantRevenue || s.RefundedCents() != tt.wantRefunded {
				t.Fatalf("revenue %d refunded %d", s.RevenueCents(), s.RefundedCents())
			}
			d, known := s.DurationMillis()
			if (tt.wantDuration < 0 && known) || (tt.wantDuration >= 0 && (!known || d != tt.wantDuration)) {
				t.Fatalf("duration %d (known %v), want %d", d, known, tt.wantDuration)
			}
			if sent, failed := s.NotificationCounts(); sent != tt.wantSent || failed != tt.wantFailed {
				t.Fatalf("notifications %d sent %d failed", sent, failed)
			}
			if s.LastType != tt.wantLast || !s.LastAt.Equal(tt.wantLastAt) {
				t.Fatalf("last step %s at %v, want %s at %v", s.LastType, s.LastAt, tt.wantLast, tt.wantLastAt)
			}
		})
	}
}

// The topics interleave freely and a rebuild replays them in yet another
// order: every arrival order of one saga's events must project the same.
func TestProjectIsOrderIndependent(t *testing.T) {
	const id = "o-perm"
	sec := time.Second
	sagas := map[string][]Fact{
		"cancelled after payment, refunded, told": {created(id, 2500, at(0)), reserved(id, at(sec)), paid(id, 2500, at(2*sec)),
			cancelled(id, events.ReasonTimeout, at(3*sec)), released(id, at(4*sec)), refunded(id, "pay-o-perm", 2500, at(4*sec)),
			notified(id, "cancelled", true, at(5*sec))},
		"confirmed with duplicates re-sent": {created(id, 900, at(0)), reserved(id, at(sec)), paid(id, 900, at(2*sec)),
			confirmed(id, 900, at(3*sec)), confirmed(id, 900, at(8*sec)), created(id, 900, at(6*sec)), notified(id, "confirmed", false, at(4*sec))},
	}
	for name, facts := range sagas {
		t.Run(name, func(t *testing.T) {
			want := fold(facts...)
			n := 0
			permute(facts, func(p []Fact) {
				n++
				if got := fold(p...); !reflect.DeepEqual(got, want) {
					t.Fatalf("order %v:\n got %+v\nwant %+v", types(p), got, want)
				}
			})
			if n != 5040 {
				t.Fatalf("tried %d orders", n)
			}
		})
	}
}

func permute(facts []Fact, visit func([]Fact)) {
	p := append([]Fact(nil), facts...)
	var rec func(k int)
	rec = func(k int) {
		if k == len(p) {
			visit(p)
			return
		}
		for i := k; i < len(p); i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

func types(facts []Fact) []string {
	out := make([]string, len(facts))
	for i, f := range facts {
		out[i] = f.Type
	}
	return out
}

func TestProjectLeavesItsInputAlone(t *testing.T) {
	before := fold(refunded("o-1", "pay-a", 100, at(0)), notified("o-1", "confirmed", true, at(0)))
	_ = Project(before, refunded("o-1", "pay-b", 200, at(time.Second)))
	_ = Project(before, notified("o-1", "cancelled", false, at(time.Second)))
	if len(before.Refunds) != 1 || len(before.Notifications) != 1 {
		t.Fatalf("input changed: %+v", before)
	}
}

func TestWindowStart(t *testing.T) {
	plus2 := time.FixedZone("UTC+2", 2*3600)
	tests := []struct {
		in   time.Time
		want time.Time
	}{
		{time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)},
		{time.Date(2026, 1, 2, 10, 0, 59, 999_999_999, time.UTC), time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)},
		{time.Date(2026, 1, 2, 10, 1, 0, 0, time.UTC), time.Date(2026, 1, 2, 10, 1, 0, 0, time.UTC)},
		{time.Date(2026, 1, 2, 23, 59, 30, 0, time.UTC), time.Date(2026, 1, 2, 23, 59, 0, 0, time.UTC)},
		// Another zone lands in the same UTC minute, reported in UTC.
		{time.Date(2026, 1, 2, 12, 0, 45, 0, plus2), time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got := WindowStart(tt.in)
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("WindowStart(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPercentiles(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1)
	}
	rand.Shuffle(len(hundred), func(i, j int) { hundred[i], hundred[j] = hundred[j], hundred[i] })
	tests := []struct {
		name string
		in   []int64
		want events.Percentiles
	}{
		{"1..100 in any order", hundred, events.Percentiles{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100}},
		{"ten values", []int64{100, 10, 90, 20, 80, 30, 70, 40, 60, 50}, events.Percentiles{Count: 10, P50: 50, P90: 90, P99: 100, Max: 100}},
		{"one value", []int64{7}, events.Percentiles{Count: 1, P50: 7, P90: 7, P99: 7, Max: 7}},
		{"one slow outlier", []int64{5, 5, 5, 5, 5, 5, 5, 5, 5, 5000}, events.Percentiles{Count: 10, P50: 5, P90: 5, P99: 5000, Max: 5000}},
		{"none", nil, events.Percentiles{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentiles(tt.in); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	// Percentiles sorts a copy: the caller's slice keeps its order.
	in := []int64{3, 1, 2}
	Percentiles(in)
	if !reflect.DeepEqual(in, []int64{3, 1, 2}) {
		t.Fatalf("input reordered: %v", in)
	}
}

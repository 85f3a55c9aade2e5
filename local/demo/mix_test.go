package demo

import (
	"encoding/json"
	"testing"
	"time"

	"orderflow.dev/shared/events"
)

func TestPlanSplitIsExactAndEveryOrderIsValid(t *testing.T) {
	plan := Plan(1000, 7, "run")
	count := map[Kind]int{}
	ids := map[string]bool{}
	for _, p := range plan {
		count[p.Kind]++
		raw, _ := json.Marshal(p.Order)
		if _, err := events.Decode(events.PlaceOrder, raw); err != nil {
			t.Fatalf("%s: invalid command: %v", p.Order.OrderID, err)
		}
		if ids[p.Order.OrderID] {
			t.Fatalf("duplicate id %s", p.Order.OrderID)
		}
		ids[p.Order.OrderID] = true
		if len(p.Expect) == 0 {
			t.Fatalf("%s: no expectation", p.Order.OrderID)
		}
	}
	want := map[Kind]int{Normal: 700, DeclinedToken: 80, DeclinedAmount: 40, UnknownSKU: 50, Scarce: 130}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s: %d orders, want %d", k, count[k], n)
		}
	}
	// Deterministic for a seed, different across seeds.
	again := Plan(1000, 7, "run")
	other := Plan(1000, 8, "run")
	same, diff := true, false
	for i := range plan {
		if plan[i].Kind != again[i].Kind {
			same = false
		}
		if plan[i].Kind != other[i].Kind {
			diff = true
		}
	}
	if !same || !diff {
		t.Fatalf("same seed same plan: %v, other seed differs: %v", same, diff)
	}
}

func TestOverLimitOrdersAreOverTheLimit(t *testing.T) {
	for _, p := range Plan(500, 1, "r") {
		if p.Kind == DeclinedAmount && int64(p.Order.Lines[0].Quantity)*12900 <= 100000 {
			t.Fatalf("%+v is within the limit", p.Order)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	SortDurations(d)
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Percentile(d, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}

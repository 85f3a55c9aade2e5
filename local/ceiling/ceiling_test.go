package ceiling

import (
	"math"
	"strings"
	"testing"
)

func TestCompute(t *testing.T) {
	tests := []struct {
		name     string
		rates    map[Primitive]float64
		perOrder map[Primitive]float64
		want     float64               // orders per second
		wantMs   map[Primitive]float64 // machine milliseconds per order
		err      string
	}{
		{
			name:     "one primitive: the ceiling is its rate over its count",
			rates:    map[Primitive]float64{HTTPRoundTrip: 10000},
			perOrder: map[Primitive]float64{HTTPRoundTrip: 20},
			want:     500,
			wantMs:   map[Primitive]float64{HTTPRoundTrip: 2},
		},
		{
			name:     "machine times add up",
			rates:    map[Primitive]float64{HTTPRoundTrip: 10000, KafkaProduce: 2000, KafkaConsume: 50000, StoreTransaction: 4000},
			perOrder: map[Primitive]float64{HTTPRoundTrip: 20, KafkaProduce: 6, KafkaConsume: 15, StoreTransaction: 12},
			// 2 ms + 3 ms + 0.3 ms + 3 ms = 8.3 ms an order
			want:   1000 / 8.3,
			wantMs: map[Primitive]float64{HTTPRoundTrip: 2, KafkaProduce: 3, KafkaConsume: 0.3, StoreTransaction: 3},
		},
		{
			name:     "a primitive an order does not need may lack a rate",
			rates:    map[Primitive]float64{StoreTransaction: 1000},
			perOrder: map[Primitive]float64{StoreTransaction: 4, KafkaProduce: 0},
			want:     250,
			wantMs:   map[Primitive]float64{StoreTransaction: 4, KafkaProduce: 0},
		},
		{
			name:     "a needed primitive without a rate",
			rates:    map[Primitive]float64{HTTPRoundTrip: 10000},
			perOrder: map[Primitive]float64{HTTPRoundTrip: 20, KafkaProduce: 6},
			err:      "needs 6 kafka-produce",
		},
		{
			name:     "a needed primitive measured at zero",
			rates:    map[Primitive]float64{HTTPRoundTrip: 0},
			perOrder: map[Primitive]float64{HTTPRoundTrip: 1},
			err:      "its rate is 0",
		},
		{
			name:     "no work",
			rates:    map[Primitive]float64{HTTPRoundTrip: 10000},
			perOrder: map[Primitive]float64{},
			err:      "no work",
		},
		{
			name:     "negative count",
			rates:    map[Primitive]float64{HTTPRoundTrip: 10000},
			perOrder: map[Primitive]float64{HTTPRoundTrip: -1},
			err:      "negative",
		},
		{
			name:     "unknown primitive",
			rates:    map[Primitive]float64{HTTPRoundTrip: 10000},
			perOrder: map[Primitive]float64{HTTPRoundTrip: 1, "grpc": 3},
			err:      "unknown primitive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(tt.rates, tt.perOrder)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !near(got.OrdersPerSecond, tt.want) {
				t.Errorf("ceiling %v orders/s, want %v", got.OrdersPerSecond, tt.want)
			}
			if len(got.Lines) != len(Primitives) {
				t.Fatalf("%d lines, want one per primitive (%d)", len(got.Lines), len(Primitives))
			}
			for i, l := range got.Lines {
				if l.Primitive != Primitives[i] {
					t.Errorf("line %d is %s, want %s", i, l.Primitive, Primitives[i])
				}
				if !near(l.MachineMsPerOrder, tt.wantMs[l.Primitive]) {
					t.Errorf("%s: %v machine-ms per order, want %v", l.Primitive, l.MachineMsPerOrder, tt.wantMs[l.Primitive])
				}
			}
			if f := got.Fraction(got.OrdersPerSecond / 4); !near(f, 0.25) {
				t.Errorf("a quarter of the ceiling reads as %v", f)
			}
		})
	}
}

func TestWorkPerOrder(t *testing.T) {
	a := Work{OrdersEnded: 100, Deliveries: 1700, RecordsConsumed: 1700, SinkWrites: 600, Transactions: 1100}
	b := Work{OrdersEnded: 100, Deliveries: 1702, RecordsConsumed: 1700, SinkWrites: 600, Transactions: 1100}
	got, err := a.Plus(b).PerOrder()
	if err != nil {
		t.Fatal(err)
	}
	want := map[Primitive]float64{HTTPRoundTrip: 23.01, KafkaProduce: 6, KafkaConsume: 17, StoreTransaction: 11}
	for p, w := range want {
		if !near(got[p], w) {
			t.Errorf("%s: %v per order, want %v", p, got[p], w)
		}
	}
	if _, err := (Work{Deliveries: 3}).PerOrder(); err == nil {
		t.Error("work without an ended order gave counts per order")
	}
}

// A warm-up's counts come off the run's: what is left is the run's own,
// and a counter that somehow fell below the warm-up's reads 0, not 2^64.
func TestWorkMinus(t *testing.T) {
	run := Work{OrdersEnded: 0, Deliveries: 2500, RecordsConsumed: 2400, SinkWrites: 900, Transactions: 1600}
	warm := Work{Deliveries: 1000, RecordsConsumed: 1000, SinkWrites: 300, Transactions: 1700}
	got := run.Minus(warm)
	want := Work{Deliveries: 1500, RecordsConsumed: 1400, SinkWrites: 600, Transactions: 0}
	if got != want {
		t.Errorf("%+v minus %+v = %+v, want %+v", run, warm, got, want)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

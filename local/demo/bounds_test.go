package demo

import (
	"strings"
	"testing"
)

func TestRunBoundsNameTheFlagAndTheBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // "" accepts
	}{
		{"one order", CheckOrders("--orders", 1), ""},
		{"the most orders", CheckOrders("--orders", MaxOrders), ""},
		{"no orders", CheckOrders("--orders", 0), "--orders 0: must be at least 1"},
		{"negative orders", CheckOrders("--warmup-orders", -5), "--warmup-orders -5: must be at least 1"},
		{"too many orders", CheckOrders("--orders", MaxOrders+1), "--orders 1000001: at most 1000000 a run"},
		{"one placer", CheckConcurrency(1), ""},
		{"the most placers", CheckConcurrency(MaxConcurrency), ""},
		{"no placers", CheckConcurrency(0), "--concurrency 0: must be at least 1"},
		{"too many placers", CheckConcurrency(100_000_000), "--concurrency 100000000: at most 10000 placements in flight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.want == "" && tc.err != nil:
				t.Fatalf("refused: %v", tc.err)
			case tc.want != "" && (tc.err == nil || !strings.HasPrefix(tc.err.Error(), tc.want)):
				t.Fatalf("got %v, want an error starting %q", tc.err, tc.want)
			}
		})
	}
}

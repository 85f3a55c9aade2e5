package demo

import (
	"context"
	"fmt"
	"testing"

	"orderflow.dev/shared/events"
)

// A long run's ledger is asked for in chunks the payment function takes
// (its body limit, the query schema's maxItems), and every entry comes back.
func TestTheLedgerOfALongRunIsAskedInChunks(t *testing.T) {
	for _, n := range []int{0, 1, ledgerChunk, ledgerChunk + 1, 3*ledgerChunk + 7} {
		placed := make([]string, n)
		for i := range placed {
			placed[i] = fmt.Sprintf("run-%06d", i)
		}
		queries := 0
		got, err := ledgerOf(context.Background(), func(_ context.Context, q events.PaymentQueryData, out *events.PaymentViewData) error {
			queries++
			if len(q.OrderIDs) > ledgerChunk {
				t.Fatalf("%d orders: a query of %d ids", n, len(q.OrderIDs))
			}
			for _, id := range q.OrderIDs {
				out.Ledger = append(out.Ledger, events.LedgerEntry{OrderID: id})
			}
			return nil
		}, placed)
		want := max(1, (n+ledgerChunk-1)/ledgerChunk)
		if err != nil || len(got.Ledger) != n || queries != want {
			t.Errorf("%d orders: %d entries in %d queries (%v); want %d in %d", n, len(got.Ledger), queries, err, n, want)
		}
		for i, e := range got.Ledger {
			if e.OrderID != placed[i] {
				t.Fatalf("%d orders: entry %d is %s, want %s", n, i, e.OrderID, placed[i])
			}
		}
	}
}

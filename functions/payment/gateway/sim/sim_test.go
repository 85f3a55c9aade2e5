package sim

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"orderflow.dev/functions/payment/gateway"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

// openSim opens the simulator on the database at url (see newLedger).
func openSim(t *testing.T, url string) *Simulator {
	t.Helper()
	s, err := Open(context.Background(), Config{LedgerURL: url, LedgerSetting: "TEST_GATEWAY",
		DeclineAboveCents: 100000, DeclineTokens: []string{"tok_declined", "tok_insufficient_funds"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newLedger is a fresh database for the simulator: a SQLite file, or a
// schema of its own on PostgreSQL (ORDERFLOW_TEST_POSTGRES_URL).
func newLedger(t *testing.T) string { return handlertest.NewDatabase(t, "gateway") }

func ledgerOf(t *testing.T, g gateway.Gateway, ids ...string) []events.LedgerEntry {
	t.Helper()
	l, err := g.Ledger(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSimulatorDeclinesByRule(t *testing.T) {
	s := openSim(t, newLedger(t))
	tests := []struct {
		name       string
		cents      int64
		token      string
		wantReason string // "" = charged
	}{
		{"ordinary charge", 4500, "tok_ok", ""},
		{"exactly the limit is charged", 100000, "tok_ok", ""},
		{"one cent above the limit", 100001, "tok_ok", "amount_too_large"},
		{"declined token", 100, "tok_declined", "card_declined"},
		{"insufficient funds token", 100, "tok_insufficient_funds", "insufficient_funds"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := string(rune('a' + i))
			chargeID, err := s.Charge(context.Background(), gateway.ChargeRequest{IdempotencyKey: "charge:" + id, OrderID: id, AmountCents: tt.cents, Currency: "EUR", Token: tt.token})
			var d *gateway.Declined
			if tt.wantReason == "" {
				if err != nil || chargeID == "" {
					t.Fatalf("charge: %q %v", chargeID, err)
				}
				return
			}
			if !errors.As(err, &d) || d.Reason != tt.wantReason || d.Detail == "" || chargeID != "" {
				t.Fatalf("want a %s decline, got %q %v", tt.wantReason, chargeID, err)
			}
		})
	}
}

func TestChargeIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openSim(t, newLedger(t))

	first, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-1", OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Token: "tok_ok"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-1", OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Token: "tok_ok"})
		if err != nil || again != first {
			t.Fatalf("same key answered %q %v, want %q", again, err, first)
		}
	}
	// A decline is recorded and answered again just the same.
	for range 2 {
		var d *gateway.Declined
		if _, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-2", OrderID: "o-2", AmountCents: 100, Currency: "EUR", Token: "tok_declined"}); !errors.As(err, &d) {
			t.Fatalf("declined key answered %v", err)
		}
	}
	// The same key for another request is an error, not someone's charge.
	if id, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-1", OrderID: "o-1", AmountCents: 9999, Currency: "EUR", Token: "tok_ok"}); err == nil || id != "" {
		t.Fatalf("reused key for another amount: %q %v", id, err)
	}
	// Keys are what make a charge new: another key charges again.
	second, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-1:other", OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Token: "tok_ok"})
	if err != nil || second == first {
		t.Fatalf("other key: %q %v", second, err)
	}
	want := []events.LedgerEntry{
		{OrderID: "o-1", Charges: 2, ChargedCents: 9000},
		{OrderID: "o-2", Declines: 1},
	}
	if got := ledgerOf(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("ledger %+v, want %+v", got, want)
	}
}

func TestRefundIsIdempotentAndBounded(t *testing.T) {
	ctx := context.Background()
	s := openSim(t, newLedger(t))
	ch, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-1", OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Token: "tok_ok"})
	if err != nil {
		t.Fatal(err)
	}
	re, err := s.Refund(ctx, gateway.RefundRequest{IdempotencyKey: "refund:o-1", ChargeID: ch, AmountCents: 4500})
	if err != nil || re == "" {
		t.Fatal(re, err)
	}
	if again, err := s.Refund(ctx, gateway.RefundRequest{IdempotencyKey: "refund:o-1", ChargeID: ch, AmountCents: 4500}); err != nil || again != re {
		t.Fatalf("same key answered %q %v, want %q", again, err, re)
	}
	if _, err := s.Refund(ctx, gateway.RefundRequest{IdempotencyKey: "refund:o-1:more", ChargeID: ch, AmountCents: 1}); err == nil {
		t.Fatal("refunded more than was charged")
	}
	if _, err := s.Refund(ctx, gateway.RefundRequest{IdempotencyKey: "refund:nothing", ChargeID: "ch_nonexistent", AmountCents: 1}); err == nil {
		t.Fatal("refunded a charge that does not exist")
	}
	var d *gateway.Declined
	if _, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-2", OrderID: "o-2", AmountCents: 100, Currency: "EUR", Token: "tok_declined"}); !errors.As(err, &d) {
		t.Fatal(err)
	}
	want := []events.LedgerEntry{{OrderID: "o-1", Charges: 1, ChargedCents: 4500, Refunds: 1, RefundedCents: 4500}}
	if got := ledgerOf(t, s, "o-1"); !reflect.DeepEqual(got, want) {
		t.Fatalf("ledger %+v, want %+v", got, want)
	}
}

func TestLedgerIsTheGatewaysOwnAndAnswersPerOrder(t *testing.T) {
	ctx := context.Background()
	path := newLedger(t)
	s := openSim(t, path)
	if _, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-1", OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Token: "tok_ok"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, it still knows the charge, and the key still holds.
	s = openSim(t, path)
	if _, err := s.Charge(ctx, gateway.ChargeRequest{IdempotencyKey: "charge:o-1", OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Token: "tok_ok"}); err != nil {
		t.Fatal(err)
	}
	// Asked for orders, it answers each once, in the order asked, zeros
	// for orders it never saw.
	got := ledgerOf(t, s, "o-none", "o-1", "o-none")
	want := []events.LedgerEntry{{OrderID: "o-none"}, {OrderID: "o-1", Charges: 1, ChargedCents: 4500}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ledger %+v, want %+v", got, want)
	}
	// More orders than one query may name.
	ids := make([]string, 1200)
	for i := range ids {
		ids[i] = "o-" + string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	ids[1100] = "o-1"
	got = ledgerOf(t, s, ids...)
	if len(got) != len(ids) || got[1100].Charges != 1 || got[0].OrderID != ids[0] {
		t.Fatalf("chunked ledger: %d entries, [1100] = %+v", len(got), got[1100])
	}
}

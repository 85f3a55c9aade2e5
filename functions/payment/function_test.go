package function

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/functions/payment/gateway"
	"orderflow.dev/functions/payment/gateway/sim"
	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

// start starts the function as handlertest does. On PostgreSQL the
// gateway's ledger cannot be derived from the function's database (a SQLite
// file), so unless the test names one it gets a fresh database of its own.
func start(t *testing.T, f *Function, env map[string]string) *handlertest.Harness {
	t.Helper()
	if _, set := env["PAYMENT_GATEWAY_DATABASE_URL"]; !set && handlertest.OnPostgres() {
		with := map[string]string{"PAYMENT_GATEWAY_DATABASE_URL": handlertest.NewDatabase(t, "gateway")}
		for k, v := range env {
			with[k] = v
		}
		env = with
	}
	return handlertest.Start(t, f, env)
}

func send(t *testing.T, h *handlertest.Harness, e event.Event) {
	t.Helper()
	if r := h.Send(t, e); r.Status != http.StatusOK {
		t.Fatalf("%s: %d %s", e.Type(), r.Status, r.Body)
	}
}

func ledger(t *testing.T, h *handlertest.Harness, ids ...string) map[string]events.LedgerEntry {
	t.Helper()
	var v events.PaymentViewData
	h.Query(t, events.PaymentQuery, events.PaymentQueryData{OrderIDs: ids}, &v)
	out := map[string]events.LedgerEntry{}
	for _, e := range v.Ledger {
		out[e.OrderID] = e
	}
	return out
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

func created(t *testing.T, id string, cents int64, token string) event.Event {
	return handlertest.Event(t, events.OrderCreated, createdData(id, cents, token), nil)
}
func reserved(t *testing.T, id string) event.Event {
	return handlertest.Event(t, events.InventoryReserved, reservedData(id), nil)
}
func cancelled(t *testing.T, id string) event.Event {
	return handlertest.Event(t, events.OrderCancelled, cancelledData(id), nil)
}

func TestChargeOnceOnReservation(t *testing.T) {
	h := start(t, New(), nil)
	send(t, h, created(t, "o-42", 4500, "tok_ok"))
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("order.created published %v", out)
	}
	res := reserved(t, "o-42")
	send(t, h, res)
	var done events.PaymentCompletedData
	out := one(t, h.Flush(t), events.PaymentCompleted, &done)
	if done.OrderID != "o-42" || done.AmountCents != 4500 || done.Currency != "EUR" || !strings.HasPrefix(done.PaymentID, "ch_") {
		t.Fatalf("completed %+v", done)
	}
	if ce.String(out, ce.PartitionKey) != "o-42" || ce.String(out, ce.CausationID) != res.ID() {
		t.Fatalf("extensions %v", out.Extensions())
	}

	// Redelivered (same id), re-sent (new id), and the creation re-sent
	// too: still one charge, one payment.completed.
	send(t, h, res)
	send(t, h, reserved(t, "o-42"))
	send(t, h, created(t, "o-42", 4500, "tok_ok"))
	send(t, h, reserved(t, "o-42"))
	// Confirmation and the other inventory facts are not payment's concern.
	send(t, h, handlertest.Event(t, events.OrderConfirmed, events.OrderConfirmedData{OrderID: "o-42", TotalCents: 4500, Currency: "EUR", PaymentID: done.PaymentID}, nil))
	if again := h.Flush(t); len(again) != 0 {
		t.Fatalf("duplicates published %v", again)
	}
	want := events.LedgerEntry{OrderID: "o-42", Charges: 1, ChargedCents: 4500}
	if got := ledger(t, h, "o-42")["o-42"]; got != want {
		t.Fatalf("ledger %+v, want %+v", got, want)
	}
}

func TestDeclines(t *testing.T) {
	h := start(t, New(), nil)
	tests := []struct {
		id, token string
		cents     int64
		reason    string
	}{
		{"o-big", "tok_ok", 100001, "amount_too_large"},
		{"o-card", "tok_declined", 100, "card_declined"},
		{"o-poor", "tok_insufficient_funds", 100, "insufficient_funds"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			send(t, h, created(t, tt.id, tt.cents, tt.token))
			res := reserved(t, tt.id)
			send(t, h, res)
			var failed events.PaymentFailedData
			one(t, h.Flush(t), events.PaymentFailed, &failed)
			if failed.OrderID != tt.id || failed.Reason != tt.reason || failed.AmountCents != tt.cents || failed.Detail == "" {
				t.Fatalf("failed %+v", failed)
			}
			send(t, h, res)
			send(t, h, reserved(t, tt.id))
			send(t, h, cancelled(t, tt.id)) // the order cancels: nothing to refund
			if again := h.Flush(t); len(again) != 0 {
				t.Fatalf("after the decline published %v", again)
			}
			want := events.LedgerEntry{OrderID: tt.id, Declines: 1}
			if got := ledger(t, h, tt.id)[tt.id]; got != want {
				t.Fatalf("ledger %+v, want %+v", got, want)
			}
		})
	}
}

func TestCancellationRefundsOnce(t *testing.T) {
	h := start(t, New(), nil)
	send(t, h, created(t, "o-1", 2500, "tok_ok"))
	send(t, h, reserved(t, "o-1"))
	var done events.PaymentCompletedData
	one(t, h.Flush(t), events.PaymentCompleted, &done)

	c := cancelled(t, "o-1")
	send(t, h, c)
	send(t, h, c)
	send(t, h, cancelled(t, "o-1"))
	send(t, h, reserved(t, "o-1")) // a late reservation does not charge again
	var refunded events.PaymentRefundedData
	one(t, h.Flush(t), events.PaymentRefunded, &refunded)
	if refunded != (events.PaymentRefundedData{OrderID: "o-1", PaymentID: done.PaymentID, AmountCents: 2500, Currency: "EUR"}) {
		t.Fatalf("refunded %+v", refunded)
	}
	want := events.LedgerEntry{OrderID: "o-1", Charges: 1, ChargedCents: 2500, Refunds: 1, RefundedCents: 2500}
	if got := ledger(t, h, "o-1")["o-1"]; got != want {
		t.Fatalf("ledger %+v, want %+v", got, want)
	}
}

func TestCancellationBeforeReservationChargesNothing(t *testing.T) {
	h := start(t, New(), nil)
	// Created, then cancelled (say the saga timed out) before inventory's
	// reservation arrived on its topic.
	send(t, h, created(t, "o-slow", 1000, "tok_ok"))
	send(t, h, cancelled(t, "o-slow"))
	send(t, h, reserved(t, "o-slow"))
	// Cancelled before payment ever saw the creation: a tombstone.
	send(t, h, cancelled(t, "o-ghost"))
	send(t, h, created(t, "o-ghost", 1000, "tok_ok"))
	send(t, h, reserved(t, "o-ghost"))
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("published %v", out)
	}
	l := ledger(t, h, "o-slow", "o-ghost")
	if l["o-slow"] != (events.LedgerEntry{OrderID: "o-slow"}) || l["o-ghost"] != (events.LedgerEntry{OrderID: "o-ghost"}) {
		t.Fatalf("ledger %+v", l)
	}
}

func TestReservationBeforeCreationChargesOnCreation(t *testing.T) {
	h := start(t, New(), nil)
	early := reserved(t, "o-1")
	send(t, h, early)
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("charged before knowing the amount: %v", out)
	}
	send(t, h, created(t, "o-1", 700, "tok_ok"))
	send(t, h, early) // a redelivery changes nothing
	var done events.PaymentCompletedData
	one(t, h.Flush(t), events.PaymentCompleted, &done)
	if done.AmountCents != 700 {
		t.Fatalf("completed %+v", done)
	}
}

// lossyGateway does the real call but loses the answer of the first one,
// as a timeout after the provider acted would.
type lossyGateway struct {
	gateway.Gateway
	lose  bool
	calls int
}

func (g *lossyGateway) Charge(ctx context.Context, req gateway.ChargeRequest) (string, error) {
	g.calls++
	id, err := g.Gateway.Charge(ctx, req)
	if g.lose {
		g.lose = false
		return "", errors.New("read tcp: i/o timeout")
	}
	return id, err
}

func (g *lossyGateway) Refund(ctx context.Context, req gateway.RefundRequest) (string, error) {
	g.calls++
	id, err := g.Gateway.Refund(ctx, req)
	if g.lose {
		g.lose = false
		return "", errors.New("read tcp: i/o timeout")
	}
	return id, err
}

// TestRetryAfterTheGatewayActedChargesOnce: the charge is made, then the
// handler's transaction does not commit (the answer is lost here; a crash
// leaves the same state). The redelivery asks again under the same key and
// commits the charge that was made, without a second one.
func TestRetryAfterTheGatewayActedChargesOnce(t *testing.T) {
	f := New()
	h := start(t, f, nil)
	lossy := &lossyGateway{Gateway: f.gateway, lose: true}
	f.gateway = lossy

	send(t, h, created(t, "o-1", 4500, "tok_ok"))
	res := reserved(t, "o-1")
	if r := h.Send(t, res); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("lost answer: %d %s", r.Status, r.Body)
	}
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("rolled-back attempt published %v", out)
	}
	if l := ledger(t, h, "o-1")["o-1"]; l.Charges != 1 {
		t.Fatalf("the gateway should have charged once already: %+v", l)
	}
	send(t, h, res)
	var done events.PaymentCompletedData
	one(t, h.Flush(t), events.PaymentCompleted, &done)
	if lossy.calls != 2 {
		t.Fatalf("gateway calls %d, want 2", lossy.calls)
	}

	// The same for the refund.
	lossy.lose = true
	c := cancelled(t, "o-1")
	if r := h.Send(t, c); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("lost refund answer: %d %s", r.Status, r.Body)
	}
	send(t, h, c)
	var refunded events.PaymentRefundedData
	one(t, h.Flush(t), events.PaymentRefunded, &refunded)
	want := events.LedgerEntry{OrderID: "o-1", Charges: 1, ChargedCents: 4500, Refunds: 1, RefundedCents: 4500}
	if got := ledger(t, h, "o-1")["o-1"]; got != want || refunded.PaymentID != done.PaymentID {
		t.Fatalf("ledger %+v, want %+v (refunded %+v)", got, want, refunded)
	}
}

// TestCrashAfterChargeBeforeCommit: the gateway holds a charge under the
// order's key that the function's store never recorded (the process died
// between the two). The redelivered reservation completes with that very
// charge.
func TestCrashAfterChargeBeforeCommit(t *testing.T) {
	f := New()
	h := start(t, f, nil)
	send(t, h, created(t, "o-1", 4500, "tok_ok"))
	before, err := f.gateway.Charge(context.Background(), gateway.ChargeRequest{
		IdempotencyKey: ChargeKey("o-1"), OrderID: "o-1", AmountCents: 4500, Currency: "EUR", Token: "tok_ok",
	})
	if err != nil {
		t.Fatal(err)
	}
	send(t, h, reserved(t, "o-1"))
	var done events.PaymentCompletedData
	one(t, h.Flush(t), events.PaymentCompleted, &done)
	if done.PaymentID != before {
		t.Fatalf("completed with %s, the gateway charged %s", done.PaymentID, before)
	}
	if l := ledger(t, h, "o-1")["o-1"]; l.Charges != 1 || l.ChargedCents != 4500 {
		t.Fatalf("ledger %+v", l)
	}
}

// TestMoneyInvariantUnderRedeliveries drives many orders through the
// payment function with the deliveries shuffled across orders, redelivered
// and re-sent, reservations overtaking creations, and checks the
// end-to-end invariant on the gateway's ledger: an order that was not
// cancelled is charged exactly once (or declined, never charged); a
// cancelled one ends with no net charge; nothing is ever charged twice.
func TestMoneyInvariantUnderRedeliveries(t *testing.T) {
	h := start(t, New(), nil)
	rnd := rand.New(rand.NewPCG(42, 4242))
	type order struct {
		id       string
		cents    int64
		token    string
		cancel   bool
		declined bool
	}
	var orders []order
	var queue [][]event.Event // per order, the events still to deliver, in topic order
	var inventoryQ []event.Event
	for i := range 80 {
		o := order{id: fmt.Sprintf("o-%d", i), cents: int64(100 + rnd.IntN(2000)), token: "tok_ok", cancel: rnd.IntN(2) == 0}
		switch rnd.IntN(6) {
		case 0:
			o.token, o.declined = "tok_declined", true
		case 1:
			o.cents, o.declined = 100001+int64(rnd.IntN(1000)), true
		}
		orders = append(orders, o)
		// The orders topic keeps created before cancelled; the
		// reservation comes on another topic, at any time.
		q := []event.Event{created(t, o.id, o.cents, o.token)}
		if o.cancel {
			q = append(q, cancelled(t, o.id))
		}
		queue = append(queue, q)
		inventoryQ = append(inventoryQ, reserved(t, o.id))
	}
	var delivered []event.Event
	early, redelivered, resent := 0, 0, 0
	createdSeen := map[string]bool{}
	deliver := func(e event.Event) {
		id := ce.String(e, ce.PartitionKey)
		if e.Type() == events.OrderCreated {
			createdSeen[id] = true
		}
		if e.Type() == events.InventoryReserved && !createdSeen[id] {
			early++ // the reservation overtook the creation
		}
		if r := h.Send(t, e); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", e.Type(), r.Status, r.Body)
		}
		delivered = append(delivered, e)
	}
	for !allEmpty(queue) || len(inventoryQ) > 0 {
		switch r := rnd.IntN(20); {
		case r < 9:
			if len(inventoryQ) == 0 {
				continue
			}
			j := rnd.IntN(len(inventoryQ))
			e := inventoryQ[j]
			inventoryQ = append(inventoryQ[:j], inventoryQ[j+1:]...)
			deliver(e)
		case r < 17:
			var pending []int
			for i := range queue {
				if len(queue[i]) > 0 {
					pending = append(pending, i)
				}
			}
			if len(pending) == 0 {
				continue
			}
			i := pending[rnd.IntN(len(pending))]
			e := queue[i][0]
			queue[i] = queue[i][1:]
			deliver(e)
		case len(delivered) == 0:
		case r < 19: // a redelivery: same id
			redelivered++
			send(t, h, delivered[rnd.IntN(len(delivered))])
		default: // a re-send: same fact, new id
			resent++
			e := delivered[rnd.IntN(len(delivered))]
			data := events.MustLookup(e.Type()).NewData()
			if err := e.DataAs(data); err != nil {
				t.Fatal(err)
			}
			send(t, h, handlertest.Event(t, e.Type(), data, nil))
		}
	}

	completed := map[string]int{}
	refunded := map[string]int{}
	for _, e := range h.Flush(t) {
		id := ce.String(e, ce.PartitionKey)
		switch e.Type() {
		case events.PaymentCompleted:
			completed[id]++
		case events.PaymentRefunded:
			refunded[id]++
		}
	}
	var ids []string
	for _, o := range orders {
		ids = append(ids, o.id)
	}
	l := ledger(t, h, ids...)
	// The seed is fixed; make sure it still covers what this test is for.
	var refundedOrders, forestalled int
	for _, o := range orders {
		if o.cancel && !o.declined {
			if l[o.id].Refunds == 1 {
				refundedOrders++
			} else if l[o.id].Charges == 0 {
				forestalled++
			}
		}
	}
	if early == 0 || redelivered == 0 || resent == 0 || refundedOrders == 0 || forestalled == 0 {
		t.Fatalf("scenario too tame: early %d, redelivered %d, re-sent %d, refunded %d, cancelled before charge %d",
			early, redelivered, resent, refundedOrders, forestalled)
	}
	for _, o := range orders {
		e := l[o.id]
		if e.Charges > 1 || e.Refunds > 1 || completed[o.id] > 1 || refunded[o.id] > 1 {
			t.Fatalf("%+v: charged or refunded twice: ledger %+v, completed %d, refunded %d", o, e, completed[o.id], refunded[o.id])
		}
		switch {
		case o.declined:
			if e.Charges != 0 {
				t.Fatalf("%+v: declined but charged: %+v", o, e)
			}
		case o.cancel:
			if e.ChargedCents-e.RefundedCents != 0 {
				t.Fatalf("%+v: cancelled with a net charge: %+v", o, e)
			}
		default:
			if e.Charges != 1 || e.ChargedCents != o.cents || e.Refunds != 0 || completed[o.id] != 1 {
				t.Fatalf("%+v: want charged exactly once: %+v (completed %d)", o, e, completed[o.id])
			}
		}
	}
}

func allEmpty(q [][]event.Event) bool {
	for _, x := range q {
		if len(x) > 0 {
			return false
		}
	}
	return true
}

func TestIgnoresOtherStepsFacts(t *testing.T) {
	h := start(t, New(), nil)
	lines := []events.Line{{SKU: "sku-tee", Quantity: 1}}
	for _, e := range []event.Event{
		handlertest.Event(t, events.PlaceOrder, events.PlaceOrderData{OrderID: "o-1", CustomerID: "c", Email: "c@example.org", Currency: "EUR", PaymentToken: "tok_ok", Lines: lines}, nil),
		handlertest.Event(t, events.OrderConfirmed, events.OrderConfirmedData{OrderID: "o-1", TotalCents: 1, Currency: "EUR", PaymentID: "ch_x"}, nil),
		handlertest.Event(t, events.InventoryRejected, events.InventoryRejectedData{OrderID: "o-1", Reason: events.ReasonOutOfStock, SKU: "sku-tee"}, nil),
		handlertest.Event(t, events.InventoryReleased, events.InventoryReleasedData{OrderID: "o-1", Lines: lines}, nil),
	} {
		send(t, h, e)
	}
	// Its own events are not on its topics: a misrouted one is refused.
	r := h.Send(t, handlertest.Event(t, events.PaymentCompleted, events.PaymentCompletedData{OrderID: "o-1", PaymentID: "p", AmountCents: 1, Currency: "EUR"}, nil))
	if r.Status != http.StatusBadRequest || r.Error().Field != "type" {
		t.Fatalf("misrouted: %d %s", r.Status, r.Body)
	}
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("published %v", out)
	}
	var v events.PaymentViewData
	h.Query(t, events.PaymentQuery, events.PaymentQueryData{}, &v)
	if v.Ledger == nil || len(v.Ledger) != 0 {
		t.Fatalf("ledger %+v", v.Ledger)
	}
}

func TestGatewayDatabase(t *testing.T) {
	// Unset: a file next to the function's SQLite database.
	own := filepath.Join(t.TempDir(), "payment.db")
	h := start(t, New(), map[string]string{"PAYMENT_GATEWAY_DATABASE_URL": "", "ORDERFLOW_DATABASE_URL": "sqlite://" + own})
	if _, err := os.Stat(filepath.Join(filepath.Dir(own), "payment-gateway.db")); err != nil {
		t.Fatalf("no gateway ledger next to %s: %v", own, err)
	}
	// Given: used as is, and the ledger is the gateway's alone.
	f := New()
	gw := "sqlite://" + filepath.Join(t.TempDir(), "elsewhere", "gw.db")
	if handlertest.OnPostgres() {
		gw = handlertest.NewDatabase(t, "gateway")
	}
	h = start(t, f, map[string]string{"PAYMENT_GATEWAY_DATABASE_URL": gw})
	send(t, h, created(t, "o-1", 100, "tok_ok"))
	send(t, h, reserved(t, "o-1"))
	if err := f.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := sim.Open(context.Background(), sim.Config{LedgerURL: gw, LedgerSetting: "TEST_GATEWAY"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l, err := s.Ledger(context.Background(), []string{"o-1"}); err != nil || l[0].Charges != 1 {
		t.Fatalf("ledger at %s: %+v %v", gw, l, err)
	}
}

func TestDeclineSettings(t *testing.T) {
	h := start(t, New(), map[string]string{"PAYMENT_DECLINE_ABOVE_CENTS": "500", "PAYMENT_DECLINE_TOKENS": " tok_x , "})
	for _, o := range []struct {
		id, token string
		cents     int64
		wantType  string
	}{
		{"o-1", "tok_declined", 500, events.PaymentCompleted}, // no longer on the list
		{"o-2", "tok_ok", 501, events.PaymentFailed},
		{"o-3", "tok_x", 1, events.PaymentFailed},
	} {
		send(t, h, created(t, o.id, o.cents, o.token))
		send(t, h, reserved(t, o.id))
		if out := h.Flush(t); len(out) != 1 || out[0].Type() != o.wantType {
			t.Fatalf("%s: published %v, want %s", o.id, out, o.wantType)
		}
	}
}

func TestBadSettingsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	own := "sqlite://" + filepath.Join(dir, "payment.db")
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"limit not a number", map[string]string{"PAYMENT_DECLINE_ABOVE_CENTS": "lots"}, []string{`PAYMENT_DECLINE_ABOVE_CENTS="lots": want a whole number of cents >= 0`}},
		{"limit a fraction", map[string]string{"PAYMENT_DECLINE_ABOVE_CENTS": "12.50"}, []string{`PAYMENT_DECLINE_ABOVE_CENTS="12.50": want a whole number of cents >= 0`}},
		{"limit beyond int64", map[string]string{"PAYMENT_DECLINE_ABOVE_CENTS": "99999999999999999999"}, []string{`PAYMENT_DECLINE_ABOVE_CENTS="99999999999999999999": want a whole number`}},
		{"negative limit", map[string]string{"PAYMENT_DECLINE_ABOVE_CENTS": "-1"}, []string{`PAYMENT_DECLINE_ABOVE_CENTS="-1": want a whole number of cents >= 0`}},
		{"empty limit", map[string]string{"PAYMENT_DECLINE_ABOVE_CENTS": ""}, []string{`PAYMENT_DECLINE_ABOVE_CENTS="": want a whole number of cents >= 0`}},
		{"token list item with a space", map[string]string{"PAYMENT_DECLINE_TOKENS": "tok_a, tok b"}, []string{"PAYMENT_DECLINE_TOKENS=", `item "tok b"`, "want card tokens separated by commas"}},
		{"token list item with a control character", map[string]string{"PAYMENT_DECLINE_TOKENS": "tok_a,tok\x01b"}, []string{"PAYMENT_DECLINE_TOKENS=", `item "tok\x01b"`, "want card tokens"}},
		{"token list item longer than any order's token", map[string]string{"PAYMENT_DECLINE_TOKENS": "tok_a," + strings.Repeat("x", 129)}, []string{"PAYMENT_DECLINE_TOKENS=", "up to 128 characters"}},
		{"function on PostgreSQL, no gateway URL", map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://u:secret@db:5432/payment"},
			[]string{"PAYMENT_GATEWAY_DATABASE_URL", "ORDERFLOW_DATABASE_URL", "not a SQLite file"}},
		{"gateway on the function's own file", map[string]string{"PAYMENT_GATEWAY_DATABASE_URL": own}, []string{"PAYMENT_GATEWAY_DATABASE_URL", "own database"}},
		{"gateway URL of an unknown kind", map[string]string{"PAYMENT_GATEWAY_DATABASE_URL": "mysql://db/gw"}, []string{"PAYMENT_GATEWAY_DATABASE_URL", "mysql"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ORDERFLOW_DATABASE_URL", own)
			t.Setenv("PAYMENT_GATEWAY_DATABASE_URL", "")
			t.Setenv("PAYMENT_DECLINE_ABOVE_CENTS", "100000")
			t.Setenv("PAYMENT_DECLINE_TOKENS", "tok_declined")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f := New()
			err := f.Start(context.Background(), nil)
			if err == nil {
				_ = f.Stop(context.Background())
				t.Fatal("started")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks a password: %v", err)
			}
		})
	}
}

// TestChargeRacingCancellationLeavesNoNetCharge delivers, for many orders at
// once, inventory.reserved (which charges) and order.cancelled (which
// cancels, or refunds what was charged) at the same moment: they travel on
// two topics, so the dispatcher can well deliver them side by side. On
// PostgreSQL the two transactions really overlap; whichever way each race
// goes, a cancelled order must end with no net charge.
func TestChargeRacingCancellationLeavesNoNetCharge(t *testing.T) {
	const orders = 30
	h := start(t, New(), nil)
	var conflicts atomic.Int64
	deliver := func(e event.Event) {
		for attempt := 0; ; attempt++ {
			r := h.Send(t, e)
			switch {
			case r.Status == http.StatusOK:
				return
			case r.Status == http.StatusConflict:
				conflicts.Add(1)
			case r.Status >= 500:
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
	var ids []string
	for i := range orders {
		id := fmt.Sprintf("o-%d", i)
		ids = append(ids, id)
		send(t, h, created(t, id, 4500, "tok_ok"))
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		for _, e := range []event.Event{reserved(t, id), cancelled(t, id)} {
			wg.Add(1)
			go func() { defer wg.Done(); deliver(e) }()
		}
	}
	wg.Wait()
	charged := 0
	for id, l := range ledger(t, h, ids...) {
		if l.ChargedCents != l.RefundedCents || l.Charges > 1 || l.Refunds > l.Charges {
			t.Errorf("%s was cancelled but the ledger says %+v", id, l)
		}
		charged += l.Charges
	}
	t.Logf("%d of %d orders were charged before their cancellation (then refunded); %d deliveries answered 409 and retried", charged, orders, conflicts.Load())
}

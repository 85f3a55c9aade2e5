// Package check is the oracle every end-to-end and fault run is judged by:
// the saga invariants of DESIGN.md, evaluated from the Kafka log (what
// happened) and from the functions' own state (what they believe).
package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
)

// Log is the saga as the orders topic recorded it.
type Log struct {
	Created  map[string]events.OrderCreatedData
	Terminal map[string][]Terminal // by order id; more than one distinct event is a violation
}

// Terminal is one confirmed or cancelled event.
type Terminal struct {
	ID     string
	Type   string
	Reason string
}

// NewLog returns an empty log.
func NewLog() *Log {
	return &Log{Created: map[string]events.OrderCreatedData{}, Terminal: map[string][]Terminal{}}
}

// Add folds one event of the orders topic into the log. Redelivered copies
// (same id) are counted once. An order.created of any version is read as
// the current one (upcast, as consumers do).
func (l *Log) Add(e event.Event) error {
	switch events.Current(e.Type()) {
	case events.OrderCreated:
		_, data, err := events.Unmarshal(e.Type(), e.Data())
		if err != nil {
			return fmt.Errorf("%s: %w", e.ID(), err)
		}
		d := *data.(*events.OrderCreatedData)
		l.Created[d.OrderID] = d
	case events.OrderConfirmed, events.OrderCancelled:
		var id, reason string
		if e.Type() == events.OrderConfirmed {
			var d events.OrderConfirmedData
			if err := e.DataAs(&d); err != nil {
				return err
			}
			id = d.OrderID
		} else {
			var d events.OrderCancelledData
			if err := e.DataAs(&d); err != nil {
				return err
			}
			id, reason = d.OrderID, d.Reason
		}
		for _, t := range l.Terminal[id] {
			if t.ID == e.ID() {
				return nil
			}
		}
		l.Terminal[id] = append(l.Terminal[id], Terminal{ID: e.ID(), Type: e.Type(), Reason: reason})
	}
	return nil
}

// Outcome of one order: "confirmed", "cancelled:<reason>" or "open".
func (l *Log) Outcome(orderID string) string {
	ts := l.Terminal[orderID]
	if len(ts) == 0 {
		return "open"
	}
	if ts[0].Type == events.OrderConfirmed {
		return "confirmed"
	}
	return "cancelled:" + ts[0].Reason
}

// Report is the verdict.
type Report struct {
	Placed, Confirmed, Cancelled, Open int
	CancelledBy                        map[string]int
	// Violations of the invariants; each must be zero.
	Lost          int // placed, never created nor refused, or created and never ended
	MultiTerminal int // more than one terminal event for an order
	StockDrift    int // SKUs whose counts do not add up
	DoubleCharged int // confirmed orders charged other than exactly once, or charged the wrong amount
	NetCharged    int // cancelled orders left with money taken
	Problems      []string
}

// OK is true when no invariant is violated.
func (r Report) OK() bool {
	return r.Lost == 0 && r.MultiTerminal == 0 && r.StockDrift == 0 && r.DoubleCharged == 0 && r.NetCharged == 0
}

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < 50 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Input is everything the oracle looks at.
type Input struct {
	// Placed are the order ids the client got accepted into Kafka.
	Placed []string
	// Refused are placed orders the order function refused (dead-lettered
	// with a reason); they are accounted for, not lost.
	Refused map[string]bool
	Log     *Log
	Stock   events.InventoryViewData
	Ledger  events.PaymentViewData
	// Exclusive says every order the functions ever saw was placed by this
	// run (a fresh topology): then each SKU's sold and reserved counts must
	// also equal what the run's confirmed and open orders hold.
	Exclusive bool
	// StockBefore, with Exclusive, is the stock as earlier runs on the
	// topology left it (all ended): the run's orders must then account for
	// what moved since.
	StockBefore *events.InventoryViewData
}

// Evaluate checks invariants 1-3 (and the accounting part of 4).
func Evaluate(in Input) Report {
	r := Report{Placed: len(in.Placed), CancelledBy: map[string]int{}}

	// 1. Every accepted order reaches exactly one terminal state.
	soldBySKU := map[string]int{}
	openBySKU := map[string]int{}
	for _, id := range in.Placed {
		ts := in.Log.Terminal[id]
		created, wasCreated := in.Log.Created[id]
		switch {
		case in.Refused[id] && !wasCreated:
			continue
		case !wasCreated:
			r.Lost++
			r.problem("order %s: placed but never created nor refused", id)
			continue
		case len(ts) == 0:
			r.Open++
			r.Lost++
			r.problem("order %s: created but reached no terminal state", id)
			for _, l := range created.Lines {
				openBySKU[l.SKU] += l.Quantity
			}
			continue
		case len(ts) > 1:
			r.MultiTerminal++
			r.problem("order %s: %d terminal events %v", id, len(ts), ts)
		}
		if ts[0].Type == events.OrderConfirmed {
			r.Confirmed++
			for _, l := range created.Lines {
				soldBySKU[l.SKU] += l.Quantity
			}
		} else {
			r.Cancelled++
			r.CancelledBy[ts[0].Reason]++
		}
	}

	// 2. Stock is conserved per SKU.
	before := map[string]events.StockLevel{}
	if in.StockBefore != nil {
		for _, s := range in.StockBefore.Stock {
			before[s.SKU] = s
		}
	}
	for _, s := range in.Stock.Stock {
		if s.Initial != s.Available+s.Reserved+s.Sold {
			r.StockDrift++
			r.problem("sku %s: initial %d != available %d + reserved %d + sold %d", s.SKU, s.Initial, s.Available, s.Reserved, s.Sold)
			continue
		}
		if in.Exclusive {
			sold, reserved := s.Sold, s.Reserved
			if b, ok := before[s.SKU]; ok {
				sold, reserved = sold-b.Sold, reserved-b.Reserved
			}
			if sold != soldBySKU[s.SKU] {
				r.StockDrift++
				r.problem("sku %s: inventory sold %d since the run began, confirmed orders hold %d", s.SKU, sold, soldBySKU[s.SKU])
			}
			if reserved != openBySKU[s.SKU] {
				r.StockDrift++
				r.problem("sku %s: inventory reserved %d since the run began, open orders hold %d", s.SKU, reserved, openBySKU[s.SKU])
			}
		}
	}

	// 3. A confirmed order is charged exactly once; a cancelled one ends with
	// no net charge.
	ledger := map[string]events.LedgerEntry{}
	for _, e := range in.Ledger.Ledger {
		ledger[e.OrderID] = e
	}
	for _, id := range in.Placed {
		ts := in.Log.Terminal[id]
		if len(ts) == 0 {
			continue
		}
		l := ledger[id]
		net := l.ChargedCents - l.RefundedCents
		if ts[0].Type == events.OrderConfirmed {
			if l.Charges != 1 || l.Refunds != 0 || net != in.Log.Created[id].TotalCents {
				r.DoubleCharged++
				r.problem("order %s: confirmed with %d charge(s) of %d cents and %d refund(s); total %d", id, l.Charges, l.ChargedCents, l.Refunds, in.Log.Created[id].TotalCents)
			}
		} else if net != 0 {
			r.NetCharged++
			r.problem("order %s: cancelled but %d cents remain charged", id, net)
		}
	}
	return r
}

// Table renders the verdict in a few lines.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "placed %d  confirmed %d  cancelled %d", r.Placed, r.Confirmed, r.Cancelled)
	if len(r.CancelledBy) > 0 {
		var reasons []string
		for k, v := range r.CancelledBy {
			reasons = append(reasons, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(reasons)
		fmt.Fprintf(&b, " (%s)", strings.Join(reasons, ", "))
	}
	fmt.Fprintf(&b, "\ninvariants: lost %d  multi-terminal %d  stock drift %d  double-charged %d  net-charged-cancelled %d  => %s",
		r.Lost, r.MultiTerminal, r.StockDrift, r.DoubleCharged, r.NetCharged, map[bool]string{true: "OK", false: "VIOLATED"}[r.OK()])
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "\n  - %s", p)
	}
	return b.String()
}

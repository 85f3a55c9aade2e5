package function

import (
	"fmt"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

// Inventory keeps four counters per SKU that always add up:
//
//	initial = available + reserved + sold
//
// Every decision below changes stock only through Moves, and each Move takes
// from one bucket exactly what it gives to another, so the sum cannot drift
// whatever the sequence of events, duplicates and stragglers included.
// Which moves are allowed is decided by the order's reservation, whose state
// only ever goes forward:
//
//	(none) --created--> reserved --confirmed--> sold
//	   |                    \----cancelled--> released
//	   |--created, short--> rejected
//	   \--cancelled-------> cancelled (tombstone)
//
// Every decision is pure: reservation, stock levels and event in; the new
// reservation, the moves and the events to emit out.

// State is where an order's reservation stands.
type State string

const (
	StateNone      State = ""          // inventory has not seen the order
	StateReserved  State = "reserved"  // its lines are held: available -> reserved
	StateSold      State = "sold"      // confirmed: reserved -> sold (terminal)
	StateReleased  State = "released"  // cancelled while held: reserved -> available (terminal)
	StateRejected  State = "rejected"  // could not be served; nothing was held (terminal)
	StateCancelled State = "cancelled" // tombstone: cancelled before inventory saw it created (terminal)
)

// Reservation is one order's row.
type Reservation struct {
	OrderID string
	State   State
	// Lines is what the reservation holds (reserved), held (sold, released)
	// or was asked for (rejected, cancelled), one line per SKU.
	Lines []events.Line
}

// Level is one SKU's counters.
type Level struct {
	SKU       string
	Initial   int
	Available int
	Reserved  int
	Sold      int
}

// Stock is the levels of the SKUs an event names. A SKU missing from it is
// not stocked at all.
type Stock map[string]Level

// Move shifts quantity between one SKU's buckets. Its three deltas always
// sum to zero: stock is never created or destroyed after seeding.
type Move struct {
	SKU       string
	Available int
	Reserved  int
	Sold      int
}

func reserveMove(l events.Line) Move {
	return Move{SKU: l.SKU, Available: -l.Quantity, Reserved: l.Quantity}
}
func sellMove(l events.Line) Move { return Move{SKU: l.SKU, Reserved: -l.Quantity, Sold: l.Quantity} }
func releaseMove(l events.Line) Move {
	return Move{SKU: l.SKU, Available: l.Quantity, Reserved: -l.Quantity}
}

// Decision is what one event changes.
type Decision struct {
	// Next is the reservation's new row; nil leaves the row as it is.
	Next  *Reservation
	Moves []Move
	Emits []saga.Emit
	// Warning is something an operator should hear about although there is
	// nothing left to do.
	Warning string
}

func (d Decision) emitted() []saga.Emit { return d.Emits }

// DecideCreated reserves all lines of a new order, or none of them.
func DecideCreated(r Reservation, stock Stock, d events.OrderCreatedData) Decision {
	if r.State != StateNone {
		// Any row at all means the order was decided already: a duplicate or
		// re-sent order.created, or one arriving after the cancellation
		// (tombstone), which must not hold stock for an order that ended.
		return Decision{}
	}
	lines := mergeLines(priced(d.Lines))
	// Unknown SKUs first: they can never be served, whereas stock may come
	// back, so they are the more useful reason to report.
	for _, l := range lines {
		if _, ok := stock[l.SKU]; !ok {
			return reject(d.OrderID, lines, events.ReasonUnknownSKU, l.SKU, "not stocked here")
		}
	}
	for _, l := range lines {
		if avail := stock[l.SKU].Available; avail < l.Quantity {
			return reject(d.OrderID, lines, events.ReasonOutOfStock, l.SKU, fmt.Sprintf("wanted %d, available %d", l.Quantity, avail))
		}
	}
	moves := make([]Move, len(lines))
	for i, l := range lines {
		moves[i] = reserveMove(l)
	}
	return Decision{
		Next:  &Reservation{OrderID: d.OrderID, State: StateReserved, Lines: lines},
		Moves: moves,
		Emits: []saga.Emit{{Type: events.InventoryReserved, Data: events.InventoryReservedData{OrderID: d.OrderID, Lines: lines}}},
	}
}

// reject remembers the refusal (so a re-sent order.created stays refused
// without holding anything) and tells the order why.
func reject(orderID string, lines []events.Line, reason, sku, detail string) Decision {
	return Decision{
		Next: &Reservation{OrderID: orderID, State: StateRejected, Lines: lines},
		Emits: []saga.Emit{{Type: events.InventoryRejected, Data: events.InventoryRejectedData{
			OrderID: orderID, Reason: reason, SKU: sku, Detail: detail,
		}}},
	}
}

// DecideConfirmed turns a confirmed order's reservation into a sale.
func DecideConfirmed(r Reservation, d events.OrderConfirmedData) (Decision, error) {
	switch r.State {
	case StateReserved:
		moves := make([]Move, len(r.Lines))
		for i, l := range r.Lines {
			moves[i] = sellMove(l)
		}
		return Decision{Next: &Reservation{OrderID: r.OrderID, State: StateSold, Lines: r.Lines}, Moves: moves}, nil
	case StateSold:
		return Decision{}, nil // duplicate
	case StateNone:
		// The order confirms only after payment, which follows our own
		// inventory.reserved, so this cannot happen in the saga as built;
		// if it ever does, order.created is still on its way: retry.
		return Decision{}, saga.Retry("order %s confirmed but inventory has no reservation for it yet", d.OrderID)
	default:
		// Rejected, released or tombstoned: nothing is held, so nothing can
		// be sold. Confirming such an order is a saga bug upstream.
		return Decision{Warning: fmt.Sprintf("order %s confirmed but its reservation is %s: nothing sold", d.OrderID, r.State)}, nil
	}
}

// DecideCancelled gives a cancelled order's held stock back.
func DecideCancelled(r Reservation, d events.OrderCancelledData) Decision {
	switch r.State {
	case StateReserved:
		moves := make([]Move, len(r.Lines))
		for i, l := range r.Lines {
			moves[i] = releaseMove(l)
		}
		// Release what was held, not what the event lists: the
		// reservation is the authority on what this function took.
		return Decision{
			Next:  &Reservation{OrderID: r.OrderID, State: StateReleased, Lines: r.Lines},
			Moves: moves,
			Emits: []saga.Emit{{Type: events.InventoryReleased, Data: events.InventoryReleasedData{OrderID: r.OrderID, Lines: r.Lines}}},
		}
	case StateNone:
		// The cancellation overtook the creation (or inventory started
		// after it): leave a tombstone so a late order.created holds nothing.
		return Decision{Next: &Reservation{OrderID: d.OrderID, State: StateCancelled, Lines: mergeLines(d.Lines)}}
	case StateSold:
		return Decision{Warning: fmt.Sprintf("order %s cancelled after its stock was sold: nothing released", d.OrderID)}
	default:
		return Decision{} // rejected, released or tombstoned: nothing held
	}
}

func priced(in []events.PricedLine) []events.Line {
	out := make([]events.Line, len(in))
	for i, l := range in {
		out[i] = events.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	return out
}

// mergeLines puts each SKU on one line, in order of first appearance. The
// order function already refuses a SKU on two lines; merging keeps the
// availability check right should one get through anyway.
func mergeLines(in []events.Line) []events.Line {
	out := make([]events.Line, 0, len(in))
	at := map[string]int{}
	for _, l := range in {
		if i, ok := at[l.SKU]; ok {
			out[i].Quantity += l.Quantity
			continue
		}
		at[l.SKU] = len(out)
		out = append(out, l)
	}
	return out
}

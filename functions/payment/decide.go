package function

import (
	"errors"

	"orderflow.dev/functions/payment/gateway"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

// One payment row per order, whose state only goes forward:
//
//	(none) --created--> awaiting_stock --reserved--> charged --cancelled--> refunded
//	   |                      |              \-----> declined
//	   |                      \--cancelled--> cancelled
//	   |--reserved--> awaiting_order --created--> charged | declined
//	   |                      \--cancelled--> cancelled
//	   \--cancelled--> cancelled (tombstone)
//
// Payment joins two facts from two topics, order.created (amount, token)
// and inventory.reserved (the go-ahead), which may arrive in either order:
// partitions of different topics are not ordered with each other. Whichever
// comes second triggers the charge. (Answering the early one with a retry
// would block its whole partition behind the backoff.)
//
// Money moves only through the gateway, and only from awaiting_stock
// (charge) or charged (refund): a duplicate or late event finds the row
// past that state and asks for nothing. Decisions stay pure by splitting a
// step that needs the gateway in two: the first decides which call to make,
// the function makes it, and the second folds its outcome.

// State is where an order's payment stands.
type State string

const (
	StateNone          State = ""               // payment has not seen the order
	StateAwaitingStock State = "awaiting_stock" // amount and token known; waiting for inventory.reserved
	StateAwaitingOrder State = "awaiting_order" // stock reserved; waiting for order.created to know what to charge
	StateCharged       State = "charged"        // the gateway took the money
	StateDeclined      State = "declined"       // the gateway refused; nothing taken (terminal)
	StateCancelled     State = "cancelled"      // cancelled before any charge (terminal; a tombstone without order.created)
	StateRefunded      State = "refunded"       // charged, then given back on cancellation (terminal)
)

// Payment is one order's row.
type Payment struct {
	OrderID     string
	State       State
	AmountCents int64
	Currency    string
	Token       string
	ChargeID    string
}

// Call is the gateway call a decision asks the function to make.
type Call int

const (
	NoCall Call = iota
	ChargeCall
	RefundCall
)

// Decision is what one event changes.
type Decision struct {
	// Call, if any, is made first and its outcome folded by Charged or
	// Refunded, which give the decision to store.
	Call Call
	// Next is the payment's new row; nil leaves it as it is.
	Next  *Payment
	Emits []saga.Emit
}

func (d Decision) emitted() []saga.Emit { return d.Emits }

// ChargeKey and RefundKey are the gateway idempotency keys. They are
// derived from the order alone, never from the delivery, so every retry and
// every re-sent event of one order asks for the same one charge and the
// same one refund.
func ChargeKey(orderID string) string { return "charge:" + orderID }
func RefundKey(orderID string) string { return "refund:" + orderID }

// DecideCreated remembers what to charge once stock is reserved, or charges
// at once when the reservation came first.
func DecideCreated(p Payment, d events.OrderCreatedData) Decision {
	known := Payment{OrderID: d.OrderID, State: StateAwaitingStock, AmountCents: d.TotalCents, Currency: d.Currency, Token: d.PaymentToken}
	switch p.State {
	case StateNone:
		return Decision{Next: &known}
	case StateAwaitingOrder:
		// The charge is made on the row as it now stands: known amount.
		return Decision{Call: ChargeCall, Next: &known}
	default:
		// A duplicate, or a creation arriving after the cancel tombstone
		// (which must stay: the order ended).
		return Decision{}
	}
}

// DecideReserved charges an order whose stock is held.
func DecideReserved(p Payment, d events.InventoryReservedData) (Decision, error) {
	switch p.State {
	case StateNone:
		// inventory.reserved travels on the inventory topic and can
		// overtake order.created on the orders topic: note it, and charge
		// when the creation arrives.
		return Decision{Next: &Payment{OrderID: d.OrderID, State: StateAwaitingOrder}}, nil
	case StateAwaitingStock:
		return Decision{Call: ChargeCall}, nil
	default:
		return Decision{}, nil // charged or declined already, or cancelled first
	}
}

// Charged folds the outcome of the charge into the payment.
func Charged(p Payment, chargeID string, err error) (Decision, error) {
	var declined *gateway.Declined
	switch {
	case err == nil:
		next := p
		next.State, next.ChargeID = StateCharged, chargeID
		return Decision{Next: &next, Emits: []saga.Emit{{Type: events.PaymentCompleted, Data: events.PaymentCompletedData{
			OrderID: p.OrderID, PaymentID: chargeID, AmountCents: p.AmountCents, Currency: p.Currency,
		}}}}, nil
	case errors.As(err, &declined):
		next := p
		next.State = StateDeclined
		return Decision{Next: &next, Emits: []saga.Emit{{Type: events.PaymentFailed, Data: events.PaymentFailedData{
			OrderID: p.OrderID, AmountCents: p.AmountCents, Currency: p.Currency, Reason: declined.Reason, Detail: declined.Detail,
		}}}}, nil
	default:
		// The gateway did not answer, or answered an error: whether it
		// charged is unknown, and retrying with the same key finds out.
		return Decision{}, saga.Retry("order %s: payment gateway: %v", p.OrderID, err)
	}
}

// DecideCancelled undoes or forestalls the charge of a cancelled order.
func DecideCancelled(p Payment, d events.OrderCancelledData) Decision {
	switch p.State {
	case StateCharged:
		return Decision{Call: RefundCall}
	case StateAwaitingStock:
		next := p
		next.State = StateCancelled
		return Decision{Next: &next}
	case StateNone, StateAwaitingOrder:
		// The cancellation came first (or payment started after the
		// creation): leave a tombstone so that a late inventory.reserved
		// or order.created charges nothing.
		return Decision{Next: &Payment{OrderID: d.OrderID, State: StateCancelled}}
	default:
		return Decision{} // declined, cancelled or refunded: no money is held
	}
}

// Refunded folds the outcome of the refund into the payment.
func Refunded(p Payment, err error) (Decision, error) {
	if err != nil {
		return Decision{}, saga.Retry("order %s: refund of %s at the payment gateway: %v", p.OrderID, p.ChargeID, err)
	}
	next := p
	next.State = StateRefunded
	return Decision{Next: &next, Emits: []saga.Emit{{Type: events.PaymentRefunded, Data: events.PaymentRefundedData{
		OrderID: p.OrderID, PaymentID: p.ChargeID, AmountCents: p.AmountCents, Currency: p.Currency,
	}}}}, nil
}

// Package gateway is the payment provider as the payment function sees it:
// an external system reached over the network, so any call may fail after
// the provider acted. Both money-moving calls therefore carry an
// idempotency key: the provider records the first result under it and
// answers every later call with the same key from that record, without
// moving money again.
//
// The built-in provider is the simulator in package sim.
package gateway

import (
	"context"

	"orderflow.dev/shared/events"
)

// Gateway is the provider.
type Gateway interface {
	// Charge takes the request's amount from the card behind its token and
	// answers the charge's id. A refusal is a *Declined error; any other
	// error leaves the outcome unknown until the same key is tried again.
	Charge(ctx context.Context, req ChargeRequest) (chargeID string, err error)
	// Refund gives back an amount of a charge and answers the refund's id.
	Refund(ctx context.Context, req RefundRequest) (refundID string, err error)
	// Ledger reports the money moved per order (the provider's reporting
	// side): the given orders, each once and in the order asked even when
	// nothing moved, or every order it knows when none is given.
	Ledger(ctx context.Context, orderIDs []string) ([]events.LedgerEntry, error)
	Close() error
}

// ChargeRequest asks for one charge. The idempotency key names the request:
// the same key with other fields is an error, never someone else's charge.
type ChargeRequest struct {
	IdempotencyKey string
	OrderID        string
	AmountCents    int64
	Currency       string
	Token          string // the card, as the shop's payment form tokenised it
}

// RefundRequest asks for one refund of (part of) a charge.
type RefundRequest struct {
	IdempotencyKey string
	ChargeID       string
	AmountCents    int64
}

// Declined is a charge the provider refused: final for that idempotency key.
type Declined struct {
	Reason string // short, machine-readable: card_declined, insufficient_funds, amount_too_large
	Detail string
}

func (d *Declined) Error() string { return "declined: " + d.Reason + ": " + d.Detail }

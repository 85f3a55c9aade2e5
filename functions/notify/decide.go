package function

import (
	"errors"
	"fmt"
	"net/http"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

// Everything in this file is pure: what to tell the customer, whether to
// tell them at all, and what the channel's answer means for the saga.

// Outcomes the customer is told about; they match the outcome enum of the
// notification.* schemas.
const (
	OutcomeConfirmed = "confirmed"
	OutcomeCancelled = "cancelled"
)

// Notification is what a channel delivers. Its JSON is the webhook body and
// the log channel's line.
type Notification struct {
	// ID is deterministic, so every retry and every re-sent outcome event
	// carries the same Idempotency-Key.
	ID      string `json:"id"`
	OrderID string `json:"orderId"`
	Outcome string `json:"outcome"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// NotificationID names the one notification an order's outcome gets.
func NotificationID(orderID, outcome string) string {
	return "ntf-" + orderID + "-" + outcome
}

// ComposeConfirmed writes the message for a confirmed order.
func ComposeConfirmed(d events.OrderConfirmedData) Notification {
	return Notification{
		ID: NotificationID(d.OrderID, OutcomeConfirmed), OrderID: d.OrderID, Outcome: OutcomeConfirmed, To: d.Email,
		Subject: fmt.Sprintf("Your order %s is confirmed", d.OrderID),
		Body: fmt.Sprintf("Thank you! Your order %s is confirmed and will be shipped soon. We charged %s (payment %s).",
			d.OrderID, money(d.TotalCents, d.Currency), d.PaymentID),
	}
}

// ComposeCancelled writes the message for a cancelled order. The event's
// detail is left out: it is written for operators (a stock count, a gateway
// code), not for customers.
func ComposeCancelled(d events.OrderCancelledData) Notification {
	return Notification{
		ID: NotificationID(d.OrderID, OutcomeCancelled), OrderID: d.OrderID, Outcome: OutcomeCancelled, To: d.Email,
		Subject: fmt.Sprintf("Your order %s was cancelled", d.OrderID),
		Body: fmt.Sprintf("We are sorry: your order %s was cancelled because %s. Nothing is charged for a cancelled order; any amount already taken is refunded.",
			d.OrderID, reasonText(d.Reason)),
	}
}

func reasonText(reason string) string {
	switch reason {
	case events.ReasonOutOfStock:
		return "an item is out of stock"
	case events.ReasonUnknownSKU:
		return "an item is no longer sold"
	case events.ReasonPaymentDeclined:
		return "the payment was declined"
	case events.ReasonTimeout:
		return "it could not be completed in time"
	}
	return reason
}

func money(cents int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", cents/100, cents%100, currency)
}

// Status is what the notifications table remembers per (order, outcome).
// Only final answers are recorded: a transient failure leaves no row, so
// the redelivery tries again.
type Status string

const (
	StatusNone   Status = ""       // not told yet
	StatusSent   Status = "sent"   // the channel accepted it
	StatusFailed Status = "failed" // refused for good; never retried
)

// Decision is what to do with a composed notification.
type Decision struct {
	Deliver bool   // hand it to the channel, then DecideDelivered
	Status  Status // to record, when already known without delivering
	Reason  string // why it failed, when Status is failed
	Emits   []saga.Emit
}

func (d Decision) emitted() []saga.Emit { return d.Emits }

// DecideSend decides, from what was recorded for this (order, outcome),
// whether the notification goes to the channel.
func DecideSend(prior Status, n Notification, channel string) Decision {
	if prior != StatusNone {
		// Already told (or refused for good): the outcome event came again,
		// as a redelivery or re-sent under a new id. Telling twice is the
		// one thing a customer notices.
		return Decision{}
	}
	if n.To == "" {
		// The schemas leave email optional; with no address no channel can
		// help, so this is a final failure, not a retry.
		return failed(n, channel, "no recipient: the order carries no email address")
	}
	return Decision{Deliver: true}
}

// DecideDelivered turns the channel's answer into the recorded status and
// the event that reports it. A transient failure is a saga.Retry: the
// edge answers 503 and the dispatcher redelivers, finally dead-lettering.
func DecideDelivered(n Notification, channel string, deliveryErr error) (Decision, error) {
	if deliveryErr == nil {
		return Decision{Status: StatusSent, Emits: []saga.Emit{{Type: events.NotificationSent, Data: events.NotificationSentData{
			OrderID: n.OrderID, NotificationID: n.ID, Channel: channel, Outcome: n.Outcome, Recipient: n.To,
		}}}}, nil
	}
	var p *PermanentError
	if errors.As(deliveryErr, &p) {
		return failed(n, channel, p.Reason), nil
	}
	return Decision{}, saga.Retry("notification %s via %s: %v", n.ID, channel, deliveryErr)
}

func failed(n Notification, channel, reason string) Decision {
	return Decision{Status: StatusFailed, Reason: reason, Emits: []saga.Emit{{Type: events.NotificationFailed, Data: events.NotificationFailedData{
		OrderID: n.OrderID, NotificationID: n.ID, Channel: channel, Outcome: n.Outcome, Reason: reason,
	}}}}
}

// PermanentError is a refusal the channel would repeat however often it
// were asked, so it is reported as notification.failed instead of retried.
type PermanentError struct{ Reason string }

func (e *PermanentError) Error() string { return e.Reason }

// Verdict is what an HTTP answer of the webhook means.
type Verdict int

const (
	Delivered Verdict = iota
	Transient         // try again later
	Permanent         // asking again gets the same answer
)

// ClassifyStatus reads a webhook's HTTP status. 408 and 429 are the 4xx
// that say "later", as Knative's own dispatcher treats them. A 3xx is
// permanent because redirects are not followed: a POST silently turned into
// a GET elsewhere would look delivered without being so.
func ClassifyStatus(code int) Verdict {
	switch {
	case code >= 200 && code < 300:
		return Delivered
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return Transient
	}
	return Permanent
}

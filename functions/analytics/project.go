package function

import (
	"maps"
	"slices"
	"time"

	"orderflow.dev/shared/events"
)

// Everything in this file is pure. The projection of one saga is a fold of
// its events, built so that the result does not depend on arrival order:
// the four topics interleave freely (inventory.reserved may arrive before
// the order.created it answers), and rebuilding by replaying the topics
// from the start must give the same numbers as the live run. Each field is
// therefore a min, a max or a set keyed by an id, never a running sum.

// State of a saga as analytics counts it.
type State string

const (
	// StatePending is every saga seen but not ended, including one whose
	// order.created has not arrived yet: any other saga event implies the
	// order was created, the fact just travels on another topic.
	StatePending   State = "pending"
	StateConfirmed State = "confirmed"
	StateCancelled State = "cancelled"
)

// Fact is one saga event as the projection needs it.
type Fact struct {
	Type string
	ID   string    // the CloudEvent id of the record it came in
	Time time.Time // the CloudEvent time: when it happened, not when it arrived
	Data any       // the catalog payload, as a value
}

// Saga is the projection of one order's events.
type Saga struct {
	OrderID string `json:"orderId"`
	State   State  `json:"state"`
	Reason  string `json:"reason,omitempty"` // of the cancellation
	// CreatedAt is the time of order.created, zero until it arrives.
	CreatedAt time.Time `json:"createdAt,omitzero"`
	// EndedAt is the time of the terminal event, zero while pending.
	EndedAt time.Time `json:"endedAt,omitzero"`
	// ConfirmedCents is the total of order.confirmed, which is what
	// revenue sums; a re-sent confirmation sets it again, never adds.
	ConfirmedCents int64 `json:"confirmedCents,omitempty"`
	// Refunds by payment id, so a re-sent refund is counted once.
	Refunds map[string]int64 `json:"refunds,omitempty"`
	// Notifications by notification id: "sent" or "failed".
	Notifications map[string]string `json:"notifications,omitempty"`
	// LastType and LastAt are the furthest step seen (by event time):
	// for a pending saga, where it is waiting.
	LastType string    `json:"lastType"`
	LastAt   time.Time `json:"lastAt"`
}

// Project folds one event into the saga's projection. It returns a new
// value and leaves s (and its maps) untouched.
func Project(s Saga, f Fact) Saga {
	if s.OrderID == "" {
		s.OrderID = events.Key(f.Data)
	}
	if s.State == "" {
		s.State = StatePending
	}
	if s.LastType == "" || f.Time.After(s.LastAt) || (f.Time.Equal(s.LastAt) && stepRank(f.Type) > stepRank(s.LastType)) {
		s.LastType, s.LastAt = f.Type, f.Time
	}
	switch d := f.Data.(type) {
	case events.OrderCreatedData:
		// The earliest wins: a re-sent creation does not restart the clock.
		if s.CreatedAt.IsZero() || f.Time.Before(s.CreatedAt) {
			s.CreatedAt = f.Time
		}
	case events.OrderConfirmedData:
		if endsEarlier(s, f.Time) {
			s.State, s.Reason, s.EndedAt, s.ConfirmedCents = StateConfirmed, "", f.Time, d.TotalCents
		}
	case events.OrderCancelledData:
		if endsEarlier(s, f.Time) {
			s.State, s.Reason, s.EndedAt, s.ConfirmedCents = StateCancelled, d.Reason, f.Time, 0
		}
	case events.PaymentRefundedData:
		s.Refunds = maps.Clone(s.Refunds)
		if s.Refunds == nil {
			s.Refunds = map[string]int64{}
		}
		s.Refunds[d.PaymentID] = d.AmountCents
	case events.NotificationSentData:
		s.Notifications = noted(s.Notifications, d.NotificationID, "sent")
	case events.NotificationFailedData:
		s.Notifications = noted(s.Notifications, d.NotificationID, "failed")
	}
	// inventory.* and payment.completed/failed only move the last step.
	return s
}

// endsEarlier reports whether a terminal event at t decides the saga: it
// is the first terminal event, or earlier than the recorded one. The order
// function emits exactly one terminal event per order, so in practice this
// only tells a duplicate or a re-send (same or later time: no change) from
// the original; taking the earliest keeps the fold order-independent even
// if the invariant were ever broken.
func endsEarlier(s Saga, t time.Time) bool {
	return !s.Terminal() || t.Before(s.EndedAt)
}

func noted(m map[string]string, id, status string) map[string]string {
	if _, seen := m[id]; seen {
		return m // notify reports each notification once; keep the first word
	}
	m = maps.Clone(m)
	if m == nil {
		m = map[string]string{}
	}
	m[id] = status
	return m
}

// stepRank orders the saga's steps, to pick the last step when two events
// carry the same time.
func stepRank(typ string) int {
	switch typ {
	case events.OrderCreated:
		return 1
	case events.InventoryReserved, events.InventoryRejected:
		return 2
	case events.PaymentCompleted, events.PaymentFailed:
		return 3
	case events.OrderConfirmed, events.OrderCancelled:
		return 4
	case events.InventoryReleased, events.PaymentRefunded:
		return 5
	case events.NotificationSent, events.NotificationFailed:
		return 6
	}
	return 0
}

// Terminal reports whether the saga ended.
func (s Saga) Terminal() bool { return s.State == StateConfirmed || s.State == StateCancelled }

// RevenueCents is what the saga adds to revenue: its total once confirmed.
func (s Saga) RevenueCents() int64 {
	if s.State == StateConfirmed {
		return s.ConfirmedCents
	}
	return 0
}

// RefundedCents is the sum of the distinct refunds.
func (s Saga) RefundedCents() int64 {
	var sum int64
	for _, c := range s.Refunds {
		sum += c
	}
	return sum
}

// DurationMillis is the time from order.created to the terminal event,
// known once both have arrived, in whichever order.
func (s Saga) DurationMillis() (int64, bool) {
	if !s.Terminal() || s.CreatedAt.IsZero() {
		return 0, false
	}
	return max(0, s.EndedAt.Sub(s.CreatedAt).Milliseconds()), true
}

// NotificationCounts counts the saga's notifications by outcome.
func (s Saga) NotificationCounts() (sent, failed int) {
	for _, st := range s.Notifications {
		if st == "sent" {
			sent++
		} else {
			failed++
		}
	}
	return sent, failed
}

// WindowStart is the one-minute tumbling window an event falls in: its
// time in UTC, truncated to the minute.
func WindowStart(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }

// Percentiles summarises durations with the nearest-rank method: the p-th
// percentile is the smallest value with at least p% of the values at or
// below it, so it is always one of the observed durations.
func Percentiles(durations []int64) events.Percentiles {
	if len(durations) == 0 {
		return events.Percentiles{}
	}
	sorted := slices.Clone(durations)
	slices.Sort(sorted)
	// ceil(p*n/100) in integers: float arithmetic would put 0.9*100 just
	// above 90 and pick the wrong rank.
	rank := func(p int) float64 {
		i := (p*len(sorted)+99)/100 - 1
		return float64(sorted[max(0, i)])
	}
	return events.Percentiles{
		Count: len(sorted),
		P50:   rank(50),
		P90:   rank(90),
		P99:   rank(99),
		Max:   float64(sorted[len(sorted)-1]),
	}
}

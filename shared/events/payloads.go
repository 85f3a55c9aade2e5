package events

import (
	"fmt"
	"math"
	"time"
)

// Money is always an integer number of minor units (cents) with an ISO 4217
// currency beside it: floats do not add up.

// Line is one SKU and quantity as the customer asked for it.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// PricedLine is a line after the order function priced it from its catalog.
type PricedLine struct {
	SKU            string `json:"sku"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unitPriceCents"`
}

// PlaceOrderData is the command a client sends. The client chooses the order
// id, which makes a retried placement idempotent.
type PlaceOrderData struct {
	OrderID      string `json:"orderId"`
	CustomerID   string `json:"customerId"`
	Email        string `json:"email"`
	Currency     string `json:"currency"`
	PaymentToken string `json:"paymentToken"`
	Lines        []Line `json:"lines"`
	// ShippingCountry is where the order goes (ISO 3166-1 alpha-2). It
	// decides the tax; absent, the shop's home country (the order
	// function's catalog) is assumed. Optional, so the command kept its v1.
	ShippingCountry string `json:"shippingCountry,omitempty"`
}

// OrderCreatedData is order.created as producers emit it now (v2). It keeps
// every field of v1 with the same meaning, and adds what selling across
// borders needs: the tax shown apart from the net amount (invoices,
// net revenue) and the destination that decides it.
type OrderCreatedData struct {
	OrderID      string       `json:"orderId"`
	CustomerID   string       `json:"customerId"`
	Email        string       `json:"email"`
	Currency     string       `json:"currency"`
	PaymentToken string       `json:"paymentToken"`
	Lines        []PricedLine `json:"lines"`
	// SubtotalCents is the sum of the lines, before tax.
	SubtotalCents int64 `json:"subtotalCents"`
	// TaxCents is the tax on the subtotal for ShippingCountry.
	TaxCents int64 `json:"taxCents"`
	// TotalCents is SubtotalCents + TaxCents: what payment charges.
	TotalCents int64 `json:"totalCents"`
	// ShippingCountry is the destination, ISO 3166-1 alpha-2;
	// UnknownCountry for an order recorded before v2 said.
	ShippingCountry string `json:"shippingCountry"`
}

// OrderCreatedV1Data is order.created.v1, frozen as it was emitted: the
// log keeps such records forever. Nothing decides on it; the upcaster
// turns it into OrderCreatedData.
type OrderCreatedV1Data struct {
	OrderID      string       `json:"orderId"`
	CustomerID   string       `json:"customerId"`
	Email        string       `json:"email"`
	Currency     string       `json:"currency"`
	PaymentToken string       `json:"paymentToken"`
	Lines        []PricedLine `json:"lines"`
	TotalCents   int64        `json:"totalCents"`
}

// check holds what the schema cannot say: the total is the subtotal plus
// the tax, so payment charges exactly what the invoice shows.
func (p *OrderCreatedData) check() *FieldError {
	if p.SubtotalCents > math.MaxInt64-p.TaxCents || p.TotalCents != p.SubtotalCents+p.TaxCents {
		return &FieldError{Field: "totalCents", Reason: fmt.Sprintf("%d is not subtotalCents (%d) + taxCents (%d)", p.TotalCents, p.SubtotalCents, p.TaxCents)}
	}
	return nil
}

type OrderConfirmedData struct {
	OrderID    string `json:"orderId"`
	Email      string `json:"email"`
	TotalCents int64  `json:"totalCents"`
	Currency   string `json:"currency"`
	PaymentID  string `json:"paymentId"`
}

// Cancellation reasons, shared by every producer of a refusal.
const (
	ReasonOutOfStock      = "out_of_stock"
	ReasonUnknownSKU      = "unknown_sku"
	ReasonPaymentDeclined = "payment_declined"
	ReasonTimeout         = "saga_timeout"
)

type OrderCancelledData struct {
	OrderID string `json:"orderId"`
	Email   string `json:"email"`
	Reason  string `json:"reason"`
	Detail  string `json:"detail,omitempty"`
	// Lines lets inventory release without remembering the order; it is the
	// order's view of what was asked for.
	Lines []Line `json:"lines"`
}

type InventoryReservedData struct {
	OrderID string `json:"orderId"`
	Lines   []Line `json:"lines"`
}

type InventoryRejectedData struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"`
	SKU     string `json:"sku,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

type InventoryReleasedData struct {
	OrderID string `json:"orderId"`
	Lines   []Line `json:"lines"`
}

type PaymentCompletedData struct {
	OrderID     string `json:"orderId"`
	PaymentID   string `json:"paymentId"`
	AmountCents int64  `json:"amountCents"`
	Currency    string `json:"currency"`
}

type PaymentFailedData struct {
	OrderID     string `json:"orderId"`
	AmountCents int64  `json:"amountCents"`
	Currency    string `json:"currency"`
	Reason      string `json:"reason"`
	Detail      string `json:"detail,omitempty"`
}

type PaymentRefundedData struct {
	OrderID     string `json:"orderId"`
	PaymentID   string `json:"paymentId"`
	AmountCents int64  `json:"amountCents"`
	Currency    string `json:"currency"`
}

type NotificationSentData struct {
	OrderID        string `json:"orderId"`
	NotificationID string `json:"notificationId"`
	Channel        string `json:"channel"`
	Outcome        string `json:"outcome"` // confirmed | cancelled
	Recipient      string `json:"recipient"`
}

type NotificationFailedData struct {
	OrderID        string `json:"orderId"`
	NotificationID string `json:"notificationId"`
	Channel        string `json:"channel"`
	Outcome        string `json:"outcome"`
	Reason         string `json:"reason"`
}

// SagaStalledData says where a saga stopped.
type SagaStalledData struct {
	OrderID          string    `json:"orderId"`
	LastStep         string    `json:"lastStep"`
	LastStepAt       time.Time `json:"lastStepAt"`
	StalledForMillis int64     `json:"stalledForMillis"`
}

// Tick tasks, set in each PingSource's data.
const (
	TaskOutboxSweep  = "outbox-sweep"
	TaskStalledSagas = "stalled-sagas"
)

// TickData is a PingSource's data: which housekeeping task to run.
type TickData struct {
	Task string `json:"task"`
}

// Queries and replies.

type OrderQueryData struct {
	OrderID string `json:"orderId"`
}

// TimelineEntry is one saga event as the order function saw it.
type TimelineEntry struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	ID      string    `json:"id"`
	Source  string    `json:"source"`
	Summary string    `json:"summary"`
}

type OrderViewData struct {
	OrderID    string          `json:"orderId"`
	Found      bool            `json:"found"`
	Status     string          `json:"status,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	CustomerID string          `json:"customerId,omitempty"`
	Currency   string          `json:"currency,omitempty"`
	TotalCents int64           `json:"totalCents,omitempty"`
	Lines      []PricedLine    `json:"lines,omitempty"`
	Version    int             `json:"version,omitempty"`
	Timeline   []TimelineEntry `json:"timeline,omitempty"`
}

type InventoryQueryData struct{}

type StockLevel struct {
	SKU       string `json:"sku"`
	Initial   int    `json:"initial"`
	Available int    `json:"available"`
	Reserved  int    `json:"reserved"`
	Sold      int    `json:"sold"`
}

type InventoryViewData struct {
	Stock []StockLevel `json:"stock"`
	// OpenReservations counts orders holding stock right now.
	OpenReservations int `json:"openReservations"`
}

// PaymentQueryData asks for the ledger of some orders, or of all when empty.
type PaymentQueryData struct {
	OrderIDs []string `json:"orderIds,omitempty"`
}

// LedgerEntry is the money moved for one order, as the gateway recorded it.
type LedgerEntry struct {
	OrderID       string `json:"orderId"`
	Charges       int    `json:"charges"`
	ChargedCents  int64  `json:"chargedCents"`
	Refunds       int    `json:"refunds"`
	RefundedCents int64  `json:"refundedCents"`
	Declines      int    `json:"declines"`
}

type PaymentViewData struct {
	Ledger []LedgerEntry `json:"ledger"`
}

type AnalyticsQueryData struct{}

type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// WindowCount is one minute of event time: the facts that happened in it
// and reached the log within the lateness bound, counted once each by
// type, with the money they moved; LateFacts happened in it but reached
// the log past the bound (counted there, not in Counts).
type WindowCount struct {
	Start         time.Time      `json:"start"`
	End           time.Time      `json:"end"`
	Counts        map[string]int `json:"counts"`
	RevenueCents  int64          `json:"revenueCents"`
	RefundedCents int64          `json:"refundedCents"`
	LateFacts     int            `json:"lateFacts"`
}

// LateFact is a fact that reached the log past the lateness bound.
type LateFact struct {
	OrderID        string    `json:"orderId"`
	Type           string    `json:"type"`
	Time           time.Time `json:"time"`
	PublishedAt    time.Time `json:"publishedAt"`
	LatenessMillis int64     `json:"latenessMillis"`
}

type AnalyticsViewData struct {
	OrdersByState        map[string]int `json:"ordersByState"`
	CancelledByReason    map[string]int `json:"cancelledByReason"`
	RevenueCents         int64          `json:"revenueCents"`
	RefundedCents        int64          `json:"refundedCents"`
	EventsSeen           int            `json:"eventsSeen"`
	Windows              []WindowCount  `json:"windows"`
	SagaDurationMillis   Percentiles    `json:"sagaDurationMillis"`
	NotificationsSent    int            `json:"notificationsSent"`
	NotificationsFailed  int            `json:"notificationsFailed"`
	LastStepByOpenOrders map[string]int `json:"lastStepOfOpenOrders"`
	// LatenessBoundMillis is the bound windows judge facts by; LateFacts
	// counts the facts past it and LatestLate lists the latest of them.
	LatenessBoundMillis int64      `json:"latenessBoundMillis"`
	LateFacts           int        `json:"lateFacts"`
	LatestLate          []LateFact `json:"latestLate"`
}

// ErrorData is the body of every refusal.
type ErrorData struct {
	Error     string `json:"error"`
	Field     string `json:"field,omitempty"`
	Status    int    `json:"status"`
	EventType string `json:"eventType,omitempty"`
	EventID   string `json:"eventId,omitempty"`
	Function  string `json:"function,omitempty"`
}

// Key returns the partition key (the order id) of a saga payload. Every fact
// of one order shares it, so they land on one partition in order.
func Key(payload any) string {
	switch p := payload.(type) {
	case interface{ key() string }:
		return p.key()
	}
	return ""
}

func (p PlaceOrderData) key() string         { return p.OrderID }
func (p OrderCreatedData) key() string       { return p.OrderID }
func (p OrderCreatedV1Data) key() string     { return p.OrderID }
func (p OrderConfirmedData) key() string     { return p.OrderID }
func (p OrderCancelledData) key() string     { return p.OrderID }
func (p InventoryReservedData) key() string  { return p.OrderID }
func (p InventoryRejectedData) key() string  { return p.OrderID }
func (p InventoryReleasedData) key() string  { return p.OrderID }
func (p PaymentCompletedData) key() string   { return p.OrderID }
func (p PaymentFailedData) key() string      { return p.OrderID }
func (p PaymentRefundedData) key() string    { return p.OrderID }
func (p NotificationSentData) key() string   { return p.OrderID }
func (p NotificationFailedData) key() string { return p.OrderID }
func (p SagaStalledData) key() string        { return p.OrderID }
func (p OrderQueryData) key() string         { return p.OrderID }
func (p OrderViewData) key() string          { return p.OrderID }

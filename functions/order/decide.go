package function

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

// The order aggregate is event-sourced: its state is nothing but the fold of
// its own events (order.created, order.confirmed, order.cancelled). Every
// decision below is pure: state and message in, events out.

type Status string

const (
	StatusNew       Status = ""          // no event yet: the order does not exist
	StatusPending   Status = "pending"   // created; waiting for stock and payment
	StatusConfirmed Status = "confirmed" // terminal
	StatusCancelled Status = "cancelled" // terminal
)

// Order is the folded state of one order.
type Order struct {
	ID        string
	Version   int // number of events folded; the next append expects Version+1
	Status    Status
	Created   events.OrderCreatedData
	Reason    string
	PaymentID string
}

// Terminal reports whether the order reached its single final state.
func (o Order) Terminal() bool { return o.Status == StatusConfirmed || o.Status == StatusCancelled }

// Apply folds one of the aggregate's own events into the state.
func (o Order) Apply(typ string, data any) Order {
	o.Version++
	switch d := data.(type) {
	case *events.OrderCreatedData:
		o.ID, o.Status, o.Created = d.OrderID, StatusPending, *d
	case *events.OrderConfirmedData:
		o.Status, o.PaymentID = StatusConfirmed, d.PaymentID
	case *events.OrderCancelledData:
		o.Status, o.Reason = StatusCancelled, d.Reason
	default:
		panic(fmt.Sprintf("order: %s is not an order event", typ))
	}
	return o
}

// Prices is the catalog the order function sells from. The client never
// sends prices or tax: they are looked up here.
type Prices struct {
	Currency string           `json:"currency"`
	Prices   map[string]int64 `json:"prices"`
	// HomeCountry is where an order goes when its command names no
	// destination (commands from before the field existed, say).
	HomeCountry string `json:"homeCountry"`
	// TaxRates is the tax rate per destination country (ISO 3166-1
	// alpha-2), in basis points: 1900 is 19%. A country not listed is one
	// the shop does not ship to.
	TaxRates map[string]int64 `json:"taxRatesBasisPoints"`
}

// maxTaxRate is 100%: a higher rate is a typo in the catalog.
const maxTaxRate = 10000

// Check refuses a catalog the function cannot sell from, naming the field.
func (p Prices) Check() error {
	switch {
	case p.Currency == "" || len(p.Prices) == 0:
		return fmt.Errorf("currency and prices: want {\"currency\": \"EUR\", \"prices\": {\"sku\": cents}, ...}")
	case len(p.TaxRates) == 0:
		return fmt.Errorf("taxRatesBasisPoints: missing; want the countries the shop ships to with their tax rate, e.g. {\"DE\": 1900}")
	case p.HomeCountry == "":
		return fmt.Errorf("homeCountry: missing; it is where an order without a shippingCountry goes")
	}
	if _, ok := p.TaxRates[p.HomeCountry]; !ok {
		return fmt.Errorf("homeCountry: %q has no tax rate in taxRatesBasisPoints", p.HomeCountry)
	}
	for c, bp := range p.TaxRates {
		if len(c) != 2 || strings.ToUpper(c) != c || c == events.UnknownCountry {
			return fmt.Errorf("taxRatesBasisPoints: %q is not an ISO 3166-1 alpha-2 country code", c)
		}
		if bp < 0 || bp > maxTaxRate {
			return fmt.Errorf("taxRatesBasisPoints.%s: %d is not between 0 and %d (100%%)", c, bp, maxTaxRate)
		}
	}
	for sku, cents := range p.Prices {
		if cents < 0 {
			return fmt.Errorf("prices.%s: %d is negative", sku, cents)
		}
	}
	return nil
}

// destination is where a command's order goes.
func (p Prices) destination(cmd events.PlaceOrderData) string {
	if cmd.ShippingCountry != "" {
		return cmd.ShippingCountry
	}
	return p.HomeCountry
}

// Tax is the tax on subtotal at rate (basis points), rounded half up to
// the cent. ok is false when the product would overflow.
func Tax(subtotal, rate int64) (cents int64, ok bool) {
	if rate != 0 && subtotal > (math.MaxInt64-maxTaxRate/2)/rate {
		return 0, false
	}
	return (subtotal*rate + maxTaxRate/2) / maxTaxRate, true
}

// DecidePlace accepts or refuses a place-order command.
func DecidePlace(o Order, cmd events.PlaceOrderData, prices Prices) ([]saga.Emit, error) {
	if o.Status != StatusNew {
		// The client chose the id, so a retried command finds its order.
		// The same command again is a no-op; a different one under the
		// same id is a client bug that must not overwrite the first.
		if samePlacement(o.Created, cmd, prices.destination(cmd)) {
			return nil, nil
		}
		return nil, saga.Unprocessable("orderId", "order %s already exists with different content", cmd.OrderID)
	}
	if cmd.Currency != prices.Currency {
		return nil, saga.Unprocessable("currency", "%s is not sold in %s; the catalog is in %s", cmd.OrderID, cmd.Currency, prices.Currency)
	}
	country := prices.destination(cmd)
	rate, ships := prices.TaxRates[country]
	if !ships {
		return nil, saga.Unprocessable("shippingCountry", "the shop does not ship to %q; it ships to %s", country, strings.Join(slices.Sorted(maps.Keys(prices.TaxRates)), ", "))
	}
	lines := make([]events.PricedLine, 0, len(cmd.Lines))
	var subtotal int64
	for i, l := range cmd.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		price, ok := prices.Prices[l.SKU]
		if !ok {
			return nil, saga.Unprocessable(field+".sku", "unknown SKU %q: not in the catalog", l.SKU)
		}
		if slices.ContainsFunc(lines, func(p events.PricedLine) bool { return p.SKU == l.SKU }) {
			return nil, saga.Invalid(field+".sku", "SKU %q appears on more than one line; put the total quantity on one line", l.SKU)
		}
		if price > 0 && int64(l.Quantity) > (math.MaxInt64-subtotal)/price {
			return nil, saga.Invalid(field+".quantity", "order total overflows")
		}
		subtotal += price * int64(l.Quantity)
		lines = append(lines, events.PricedLine{SKU: l.SKU, Quantity: l.Quantity, UnitPriceCents: price})
	}
	tax, ok := Tax(subtotal, rate)
	if !ok || tax > math.MaxInt64-subtotal {
		return nil, saga.Invalid("lines", "order total with tax overflows")
	}
	return []saga.Emit{{Type: events.OrderCreated, Data: events.OrderCreatedData{
		OrderID: cmd.OrderID, CustomerID: cmd.CustomerID, Email: cmd.Email, Currency: cmd.Currency,
		PaymentToken: cmd.PaymentToken, Lines: lines,
		SubtotalCents: subtotal, TaxCents: tax, TotalCents: subtotal + tax, ShippingCountry: country,
	}}}, nil
}

// samePlacement tells a retried command from a different one under the
// same id. An order recorded before v2 has no known destination (it was
// upcast from order.created.v1), so its retry is judged without it.
func samePlacement(c events.OrderCreatedData, cmd events.PlaceOrderData, country string) bool {
	if c.CustomerID != cmd.CustomerID || c.Email != cmd.Email || c.Currency != cmd.Currency ||
		c.PaymentToken != cmd.PaymentToken || len(c.Lines) != len(cmd.Lines) {
		return false
	}
	if c.ShippingCountry != events.UnknownCountry && c.ShippingCountry != country {
		return false
	}
	for i, l := range cmd.Lines {
		if c.Lines[i].SKU != l.SKU || c.Lines[i].Quantity != l.Quantity {
			return false
		}
	}
	return true
}

// DecideStockRejected cancels a pending order that inventory could not serve.
func DecideStockRejected(o Order, d events.InventoryRejectedData) ([]saga.Emit, error) {
	if o.Status == StatusNew {
		return nil, notYetKnown(d.OrderID)
	}
	if o.Terminal() {
		return nil, nil // stale or duplicate: the order already ended
	}
	detail := d.Detail
	if d.SKU != "" {
		detail = d.SKU + ": " + detail
	}
	return cancel(o, d.Reason, detail), nil
}

// DecidePaid confirms a pending order once its payment went through.
func DecidePaid(o Order, d events.PaymentCompletedData) ([]saga.Emit, error) {
	if o.Status == StatusNew {
		return nil, notYetKnown(d.OrderID)
	}
	if o.Status != StatusPending {
		// Already confirmed (a duplicate), or cancelled before the money
		// arrived: the payment function refunds what a cancelled order was
		// charged when it sees order.cancelled, so nothing to do here.
		return nil, nil
	}
	return []saga.Emit{{Type: events.OrderConfirmed, Data: events.OrderConfirmedData{
		OrderID: o.ID, Email: o.Created.Email, TotalCents: o.Created.TotalCents, Currency: o.Created.Currency, PaymentID: d.PaymentID,
	}}}, nil
}

// DecidePaymentFailed cancels a pending order whose charge was declined.
func DecidePaymentFailed(o Order, d events.PaymentFailedData) ([]saga.Emit, error) {
	if o.Status == StatusNew {
		return nil, notYetKnown(d.OrderID)
	}
	if o.Terminal() {
		return nil, nil
	}
	return cancel(o, events.ReasonPaymentDeclined, d.Reason), nil
}

// DecideStalled cancels an order that made no progress for too long: the
// choreography's own compensations (stock release, refund) follow from
// order.cancelled. An order that ended meanwhile stays as it is.
func DecideStalled(o Order, d events.SagaStalledData) ([]saga.Emit, error) {
	if o.Status != StatusPending {
		return nil, nil
	}
	detail := fmt.Sprintf("no progress for %s since %s at %s", time.Duration(d.StalledForMillis)*time.Millisecond,
		strings.TrimPrefix(d.LastStep, "dev.orderflow."), d.LastStepAt.UTC().Format(time.RFC3339))
	return cancel(o, events.ReasonTimeout, detail), nil
}

func cancel(o Order, reason, detail string) []saga.Emit {
	lines := make([]events.Line, len(o.Created.Lines))
	for i, l := range o.Created.Lines {
		lines[i] = events.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	return []saga.Emit{{Type: events.OrderCancelled, Data: events.OrderCancelledData{
		OrderID: o.ID, Email: o.Created.Email, Reason: reason, Detail: detail, Lines: lines,
	}}}
}

// notYetKnown answers an event that overtook the order's creation (it came
// through another topic). It cannot happen in the choreography as built,
// since every other step reacts to order.created, but retrying is the safe
// answer if it ever does.
func notYetKnown(orderID string) error {
	return saga.Retry("order %s is not known yet", orderID)
}

// Package events is the contract between the orderflow functions: every
// CloudEvents type the saga uses, the topic it travels on, who produces and
// who consumes it, its Go payload and its JSON Schema. Nothing else in the
// tree may invent a type name; everything looks it up here.
package events

import (
	"fmt"
	"slices"
	"sort"
)

// Type names are reverse-DNS and carry their major version as the last
// segment, so a breaking payload change is a new type that can run beside
// the old one while consumers migrate.
const (
	// Commands: a client asks for something; the receiver may refuse.
	PlaceOrder = "dev.orderflow.order.place.v1"

	// Facts: something happened; consumers react or ignore.
	OrderCreated       = "dev.orderflow.order.created.v2"
	OrderConfirmed     = "dev.orderflow.order.confirmed.v1"
	OrderCancelled     = "dev.orderflow.order.cancelled.v1"
	InventoryReserved  = "dev.orderflow.inventory.reserved.v1"
	InventoryRejected  = "dev.orderflow.inventory.rejected.v1"
	InventoryReleased  = "dev.orderflow.inventory.released.v1"
	PaymentCompleted   = "dev.orderflow.payment.completed.v1"
	PaymentFailed      = "dev.orderflow.payment.failed.v1"
	PaymentRefunded    = "dev.orderflow.payment.refunded.v1"
	NotificationSent   = "dev.orderflow.notification.sent.v1"
	NotificationFailed = "dev.orderflow.notification.failed.v1"
	// Superseded versions: no producer emits them any more, but the log
	// keeps them forever and consumers still accept them, upcast to the
	// current version (upcast.go) before any decision sees them.
	OrderCreatedV1 = "dev.orderflow.order.created.v1"

	// SagaStalled: analytics saw no progress on a pending order for too
	// long; order answers by cancelling it, and the usual compensations
	// (release, refund) follow.
	SagaStalled = "dev.orderflow.saga.stalled.v1"

	// Tick is what a Knative PingSource sends on its schedule; its data
	// names the housekeeping task to run. It is the only foreign type the
	// functions accept, and it never travels through Kafka.
	Tick = "dev.knative.sources.ping"

	// Queries and their replies travel over plain HTTP request/reply to one
	// function, never through Kafka.
	OrderQuery     = "dev.orderflow.order.query.v1"
	OrderView      = "dev.orderflow.order.view.v1"
	InventoryQuery = "dev.orderflow.inventory.query.v1"
	InventoryView  = "dev.orderflow.inventory.view.v1"
	PaymentQuery   = "dev.orderflow.payment.query.v1"
	PaymentView    = "dev.orderflow.payment.view.v1"
	AnalyticsQuery = "dev.orderflow.analytics.query.v1"
	AnalyticsView  = "dev.orderflow.analytics.view.v1"

	// Error is the reply a function gives when it refuses an event; its data
	// names the offending field. Knative copies the body into the
	// knativeerrordata extension of the dead letter.
	Error = "dev.orderflow.error.v1"
)

// Topics of the saga. Each function publishes to exactly one of them (its
// K_SINK is a KafkaSink for that topic); the knative/ manifests declare them.
//
// TopicCommands carries what only the order function acts on: customers'
// place-order commands and analytics' stalled-saga reports. They once
// shared the orders topic, and every function reading order facts got
// every command too, only to ignore it: four HTTP deliveries per order
// that did nothing, plus the order function reading back its own facts
// (see docs/performance.md).
const (
	TopicCommands      = "orderflow.commands"
	TopicOrders        = "orderflow.orders"
	TopicInventory     = "orderflow.inventory"
	TopicPayments      = "orderflow.payments"
	TopicNotifications = "orderflow.notifications"
)

// Kind separates what may be refused (commands) from what already happened
// (facts) and from request/reply traffic that never touches Kafka.
type Kind string

const (
	KindCommand Kind = "command"
	KindFact    Kind = "fact"
	KindQuery   Kind = "query"
	KindReply   Kind = "reply"
	KindTrigger Kind = "trigger" // a scheduled nudge from a PingSource
)

// Spec is one entry of the catalog.
type Spec struct {
	Type       string
	Kind       Kind
	Producer   string   // function name, or "client"
	Topic      string   // topic it is published to; "" for queries and replies
	ConsumedBy []string // functions that react to it; EveryFunction for all
	// Terminal marks a fact that ends a chain: published for audit and
	// analytics, with no saga step reacting to it.
	Terminal bool
	// SupersededBy is, for an old version of a type, the next version its
	// upcaster turns it into; empty for the version producers emit now.
	// The handler routes a superseded type to the reaction of its current
	// version and refuses to emit it.
	SupersededBy string
	Doc          string
	newData      func() any
}

// EveryFunction in ConsumedBy says that every function takes the type,
// however many there are: the shared edge handles it for each.
const EveryFunction = "*"

// ConsumedByFunction reports whether the function called name takes events
// of this type.
func (s Spec) ConsumedByFunction(name string) bool {
	return slices.Contains(s.ConsumedBy, name) || slices.Contains(s.ConsumedBy, EveryFunction)
}

// NewData returns a pointer to a zero payload of this type, ready for
// json.Unmarshal.
func (s Spec) NewData() any { return s.newData() }

// SchemaURI is the dataschema attribute of events of this type: the $id of
// its JSON Schema in schemas/.
func (s Spec) SchemaURI() string { return SchemaBase + s.Type + ".json" }

// SchemaBase prefixes every dataschema URI. The schemas are embedded in this
// module and served by nothing: the URI names, it does not locate.
const SchemaBase = "urn:orderflow:schema:"

var catalog = map[string]Spec{}

func def[T any](s Spec) {
	s.newData = func() any { return new(T) }
	if _, dup := catalog[s.Type]; dup {
		panic("events: type defined twice: " + s.Type)
	}
	catalog[s.Type] = s
}

func init() {
	def[PlaceOrderData](Spec{Type: PlaceOrder, Kind: KindCommand, Producer: "client", Topic: TopicCommands,
		ConsumedBy: []string{"order"}, Doc: "a customer asks to buy; the order function validates, prices and accepts or refuses it"})
	def[OrderCreatedData](Spec{Type: OrderCreated, Kind: KindFact, Producer: "order", Topic: TopicOrders,
		ConsumedBy: []string{"inventory", "payment", "analytics"}, Doc: "an order was accepted and priced, tax and destination included; the saga starts"})
	def[OrderCreatedV1Data](Spec{Type: OrderCreatedV1, Kind: KindFact, Producer: "order", Topic: TopicOrders,
		ConsumedBy: []string{"inventory", "payment", "analytics"}, SupersededBy: OrderCreated,
		Doc: "order.created before tax and destination were recorded; still in the log, read as " + OrderCreated})
	def[OrderConfirmedData](Spec{Type: OrderConfirmed, Kind: KindFact, Producer: "order", Topic: TopicOrders,
		ConsumedBy: []string{"inventory", "notify", "analytics"}, Doc: "stock is reserved and payment taken: the order is final"})
	def[OrderCancelledData](Spec{Type: OrderCancelled, Kind: KindFact, Producer: "order", Topic: TopicOrders,
		ConsumedBy: []string{"inventory", "payment", "notify", "analytics"}, Doc: "the order will not be fulfilled; compensations follow"})
	def[InventoryReservedData](Spec{Type: InventoryReserved, Kind: KindFact, Producer: "inventory", Topic: TopicInventory,
		ConsumedBy: []string{"payment", "order", "analytics"}, Doc: "every line of the order is held for it"})
	def[InventoryRejectedData](Spec{Type: InventoryRejected, Kind: KindFact, Producer: "inventory", Topic: TopicInventory,
		ConsumedBy: []string{"order", "analytics"}, Doc: "the order cannot be served from stock; nothing was held"})
	def[InventoryReleasedData](Spec{Type: InventoryReleased, Kind: KindFact, Producer: "inventory", Topic: TopicInventory,
		ConsumedBy: []string{"order", "analytics"}, Terminal: true, Doc: "compensation: a reservation went back to available stock"})
	def[PaymentCompletedData](Spec{Type: PaymentCompleted, Kind: KindFact, Producer: "payment", Topic: TopicPayments,
		ConsumedBy: []string{"order", "analytics"}, Doc: "the order's amount was charged"})
	def[PaymentFailedData](Spec{Type: PaymentFailed, Kind: KindFact, Producer: "payment", Topic: TopicPayments,
		ConsumedBy: []string{"order", "analytics"}, Doc: "the charge was declined; nothing was taken"})
	def[PaymentRefundedData](Spec{Type: PaymentRefunded, Kind: KindFact, Producer: "payment", Topic: TopicPayments,
		ConsumedBy: []string{"order", "analytics"}, Terminal: true, Doc: "compensation: a charge of a cancelled order was given back"})
	def[NotificationSentData](Spec{Type: NotificationSent, Kind: KindFact, Producer: "notify", Topic: TopicNotifications,
		ConsumedBy: []string{"analytics"}, Terminal: true, Doc: "the customer was told the outcome"})
	def[NotificationFailedData](Spec{Type: NotificationFailed, Kind: KindFact, Producer: "notify", Topic: TopicNotifications,
		ConsumedBy: []string{"analytics"}, Terminal: true, Doc: "the channel refused the notification for good"})

	def[SagaStalledData](Spec{Type: SagaStalled, Kind: KindFact, Producer: "analytics", Topic: TopicCommands,
		ConsumedBy: []string{"order"}, Doc: "a pending order made no progress for too long; order cancels it"})
	def[TickData](Spec{Type: Tick, Kind: KindTrigger, Producer: "pingsource",
		ConsumedBy: []string{EveryFunction}, Doc: "a PingSource's scheduled nudge: sweep the outbox, look for stalled sagas"})

	def[OrderQueryData](Spec{Type: OrderQuery, Kind: KindQuery, Producer: "client", ConsumedBy: []string{"order"}, Doc: "state and timeline of one order"})
	def[OrderViewData](Spec{Type: OrderView, Kind: KindReply, Producer: "order", Doc: "reply to " + OrderQuery})
	def[InventoryQueryData](Spec{Type: InventoryQuery, Kind: KindQuery, Producer: "client", ConsumedBy: []string{"inventory"}, Doc: "stock levels per SKU"})
	def[InventoryViewData](Spec{Type: InventoryView, Kind: KindReply, Producer: "inventory", Doc: "reply to " + InventoryQuery})
	def[PaymentQueryData](Spec{Type: PaymentQuery, Kind: KindQuery, Producer: "client", ConsumedBy: []string{"payment"}, Doc: "money moved per order, from the gateway's ledger"})
	def[PaymentViewData](Spec{Type: PaymentView, Kind: KindReply, Producer: "payment", Doc: "reply to " + PaymentQuery})
	def[AnalyticsQueryData](Spec{Type: AnalyticsQuery, Kind: KindQuery, Producer: "client", ConsumedBy: []string{"analytics"}, Doc: "the live projections"})
	def[AnalyticsViewData](Spec{Type: AnalyticsView, Kind: KindReply, Producer: "analytics", Doc: "reply to " + AnalyticsQuery})
	def[ErrorData](Spec{Type: Error, Kind: KindReply, Producer: "any", Doc: "a refusal naming the offending field"})
	registerUpcasters()
}

// Lookup returns the catalog entry of a type.
func Lookup(typ string) (Spec, bool) {
	s, ok := catalog[typ]
	return s, ok
}

// MustLookup is Lookup for types named by constants of this package.
func MustLookup(typ string) Spec {
	s, ok := catalog[typ]
	if !ok {
		panic(fmt.Sprintf("events: %q is not in the catalog", typ))
	}
	return s
}

// All returns the catalog sorted by type.
func All() []Spec {
	out := make([]Spec, 0, len(catalog))
	for _, s := range catalog {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

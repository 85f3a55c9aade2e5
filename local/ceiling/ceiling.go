// Package ceiling measures what this machine can do of the work an order
// needs, each piece alone and with every core busy: a no-op HTTP round
// trip, a Kafka produce and consume, a write transaction on the functions'
// store. With the count of each that an order took in a real run, the
// ceiling is the rate at which the machine could end orders if it did
// nothing but that minimal work; the saga's throughput is read as a
// fraction of it.
package ceiling

import (
	"errors"
	"fmt"
)

// Primitive names one piece of the work an order needs.
type Primitive string

const (
	// HTTPRoundTrip is a small binary CloudEvent POSTed on a keep-alive
	// loopback connection and answered 200: the least one KafkaSource
	// delivery, or one publish to the KafkaSink ingress, can cost.
	HTTPRoundTrip Primitive = "http-round-trip"
	// KafkaProduce is one record acknowledged by every in-sync replica
	// through an idempotent producer (the ingress's settings).
	KafkaProduce Primitive = "kafka-produce"
	// KafkaConsume is one record read by one reader.
	KafkaConsume Primitive = "kafka-consume"
	// StoreTransaction is BEGIN, one small INSERT, COMMIT.
	StoreTransaction Primitive = "store-transaction"
)

// Primitives lists them in the order tables print them.
var Primitives = []Primitive{HTTPRoundTrip, KafkaProduce, KafkaConsume, StoreTransaction}

// Line is one primitive's share of an order.
type Line struct {
	Primitive    Primitive `json:"primitive"`
	OpsPerSecond float64   `json:"opsPerSecond"`
	PerOrder     float64   `json:"perOrder"`
	// MachineMsPerOrder is how long the whole machine is busy with this
	// primitive for one order: PerOrder / OpsPerSecond.
	MachineMsPerOrder float64 `json:"machineMillisPerOrder"`
}

// Ceiling is the most orders per second the machine could end doing only
// the minimal work of each.
type Ceiling struct {
	OrdersPerSecond float64 `json:"ordersPerSecond"`
	Lines           []Line  `json:"primitives"`
}

// Compute derives the ceiling from each primitive's measured rate
// (operations per second, all cores busy) and its count per order:
// 1 / Σ_k perOrder_k / rate_k. The machine time of the primitives adds up
// because each ran with every core busy: while one runs, nothing else
// does. A primitive an order does not need (count 0) may lack a rate.
func Compute(opsPerSecond, perOrder map[Primitive]float64) (Ceiling, error) {
	var c Ceiling
	var secondsPerOrder float64
	for _, p := range Primitives {
		n := perOrder[p]
		if n < 0 {
			return Ceiling{}, fmt.Errorf("ceiling: %s: %v per order is negative", p, n)
		}
		rate, measured := opsPerSecond[p]
		if n > 0 && (!measured || rate <= 0) {
			return Ceiling{}, fmt.Errorf("ceiling: an order needs %v %s but its rate is %v", n, p, rate)
		}
		line := Line{Primitive: p, OpsPerSecond: rate, PerOrder: n}
		if n > 0 {
			line.MachineMsPerOrder = 1000 * n / rate
			secondsPerOrder += n / rate
		}
		c.Lines = append(c.Lines, line)
	}
	for p := range perOrder {
		if !known(p) {
			return Ceiling{}, fmt.Errorf("ceiling: unknown primitive %q", p)
		}
	}
	if secondsPerOrder == 0 {
		return Ceiling{}, errors.New("ceiling: no work counted per order")
	}
	c.OrdersPerSecond = 1 / secondsPerOrder
	return c, nil
}

func known(p Primitive) bool {
	for _, k := range Primitives {
		if k == p {
			return true
		}
	}
	return false
}

// Fraction is throughput (orders per second) as a share of the ceiling.
func (c Ceiling) Fraction(throughput float64) float64 {
	if c.OrdersPerSecond <= 0 {
		return 0
	}
	return throughput / c.OrdersPerSecond
}

// Work is what the plane counted over a run: the deliveries, records and
// transactions behind the orders that ended.
type Work struct {
	OrdersEnded int `json:"ordersEnded"`
	// Deliveries are the HTTP requests the KafkaSources made to the
	// functions: events delivered plus attempts retried.
	Deliveries uint64 `json:"sourceDeliveries"`
	// RecordsConsumed are the records the KafkaSources took from Kafka.
	RecordsConsumed uint64 `json:"recordsConsumed"`
	// SinkWrites are the events the KafkaSink ingress wrote to Kafka
	// (placements and every function's publishes): each one HTTP request
	// and one record produced.
	SinkWrites uint64 `json:"sinkWrites"`
	// Transactions are the deliveries a function answered 200 for an event
	// type it handles (not one it ignores): each ran one write transaction
	// (processed id, state, outbox). The outbox relay's marks of sent
	// events are transactions too but are batched and not counted.
	Transactions uint64 `json:"storeTransactions"`
}

// Plus adds two runs' counts.
func (w Work) Plus(o Work) Work {
	return Work{OrdersEnded: w.OrdersEnded + o.OrdersEnded, Deliveries: w.Deliveries + o.Deliveries,
		RecordsConsumed: w.RecordsConsumed + o.RecordsConsumed, SinkWrites: w.SinkWrites + o.SinkWrites,
		Transactions: w.Transactions + o.Transactions}
}

// Minus is w without o, counted earlier by the same counters (a warm-up
// before the measured run); a count o exceeds is 0, not a wrap-around.
func (w Work) Minus(o Work) Work {
	sub := func(a, b uint64) uint64 { return a - min(a, b) }
	return Work{OrdersEnded: max(w.OrdersEnded-o.OrdersEnded, 0), Deliveries: sub(w.Deliveries, o.Deliveries),
		RecordsConsumed: sub(w.RecordsConsumed, o.RecordsConsumed), SinkWrites: sub(w.SinkWrites, o.SinkWrites),
		Transactions: sub(w.Transactions, o.Transactions)}
}

// PerOrder is each primitive's count per order ended: an HTTP round trip
// per delivery and per ingress write, a record produced per ingress write,
// a record consumed per record a source read, a transaction per handled
// delivery.
func (w Work) PerOrder() (map[Primitive]float64, error) {
	if w.OrdersEnded <= 0 {
		return nil, errors.New("ceiling: no order ended, so there is no work per order")
	}
	n := float64(w.OrdersEnded)
	return map[Primitive]float64{
		HTTPRoundTrip:    float64(w.Deliveries+w.SinkWrites) / n,
		KafkaProduce:     float64(w.SinkWrites) / n,
		KafkaConsume:     float64(w.RecordsConsumed) / n,
		StoreTransaction: float64(w.Transactions) / n,
	}, nil
}

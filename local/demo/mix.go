// Package demo drives the main job: it places a mix of orders that walks
// every path of the saga, follows each to its terminal state, and judges the
// run by the invariants.
package demo

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"orderflow.dev/shared/events"
)

// Kind is the path through the saga an order is built to take, given the
// built-in catalogue, stock and payment simulator.
type Kind string

const (
	Normal         Kind = "normal"        // in stock, good card: confirmed
	DeclinedToken  Kind = "declined-card" // the simulator declines the token: cancelled, payment_declined
	DeclinedAmount Kind = "over-limit"    // total over the simulator's limit: cancelled, payment_declined
	UnknownSKU     Kind = "unstocked-sku" // priced, but inventory does not stock it: cancelled, unknown_sku
	Scarce         Kind = "scarce-stock"  // competes for 40 posters: confirmed or cancelled, out_of_stock
)

// Planned is one order of the run and what should become of it.
type Planned struct {
	Order  events.PlaceOrderData
	Kind   Kind
	Expect []string // acceptable outcomes, as check.Log.Outcome spells them
}

// share of each kind, in percent; the rest is Normal.
var mix = []struct {
	kind    Kind
	percent int
}{{DeclinedToken, 8}, {DeclinedAmount, 4}, {UnknownSKU, 5}, {Scarce, 13}}

var everydaySKUs = []string{"sku-tee", "sku-mug", "sku-cap", "sku-hoodie", "sku-sticker"}

// destinations of normal orders: "" leaves it to the shop's home country;
// the others are countries of the built-in catalog, taxed and tax-free.
var destinations = []string{"", "DE", "FR", "NL", "CH"}

// Plan builds n orders with ids <runID>-00001... The split between kinds is
// exact (rounded) for any n, and the order of kinds is shuffled by seed.
func Plan(n int, seed uint64, runID string) []Planned {
	kinds := make([]Kind, 0, n)
	for _, m := range mix {
		k := n * m.percent / 100
		if k == 0 && n >= 10 {
			k = 1
		}
		for i := 0; i < k && len(kinds) < n; i++ {
			kinds = append(kinds, m.kind)
		}
	}
	for len(kinds) < n {
		kinds = append(kinds, Normal)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	out := make([]Planned, n)
	for i, kind := range kinds {
		o := events.PlaceOrderData{
			OrderID:      fmt.Sprintf("%s-%05d", runID, i+1),
			CustomerID:   fmt.Sprintf("cus-%03d", rng.IntN(200)),
			Currency:     "EUR",
			PaymentToken: "tok_visa",
		}
		o.Email = o.CustomerID + "@example.org"
		p := Planned{Kind: kind}
		switch kind {
		case Normal:
			o.Lines = everyday(rng, 1+rng.IntN(3))
			o.ShippingCountry = destinations[rng.IntN(len(destinations))]
			p.Expect = []string{"confirmed"}
		case DeclinedToken:
			o.Lines = everyday(rng, 1+rng.IntN(2))
			o.PaymentToken = "tok_declined"
			p.Expect = []string{"cancelled:" + events.ReasonPaymentDeclined}
		case DeclinedAmount:
			// 8-12 lamps at 129.00 EUR: over the simulator's 1000.00 limit.
			o.Lines = []events.Line{{SKU: "sku-lamp", Quantity: 8 + rng.IntN(5)}}
			p.Expect = []string{"cancelled:" + events.ReasonPaymentDeclined}
		case UnknownSKU:
			o.Lines = append(everyday(rng, 1), events.Line{SKU: "sku-vinyl", Quantity: 1})
			p.Expect = []string{"cancelled:" + events.ReasonUnknownSKU}
		case Scarce:
			o.Lines = []events.Line{{SKU: "sku-poster", Quantity: 1 + rng.IntN(3)}}
			p.Expect = []string{"confirmed", "cancelled:" + events.ReasonOutOfStock}
		}
		p.Order = o
		out[i] = p
	}
	return out
}

func everyday(rng *rand.Rand, lines int) []events.Line {
	skus := append([]string(nil), everydaySKUs...)
	rng.Shuffle(len(skus), func(i, j int) { skus[i], skus[j] = skus[j], skus[i] })
	out := make([]events.Line, lines)
	for i := range out {
		out[i] = events.Line{SKU: skus[i], Quantity: 1 + rng.IntN(3)}
	}
	return out
}

// Percentile returns the p-th percentile (0-100) of sorted durations, by the
// nearest-rank method.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// SortDurations sorts in place and returns its argument.
func SortDurations(d []time.Duration) []time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

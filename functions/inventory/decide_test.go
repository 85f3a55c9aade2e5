package function

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

func createdData(id string, lines ...events.Line) events.OrderCreatedData {
	d := events.OrderCreatedData{OrderID: id, CustomerID: "c-1", Email: "c@example.org", Currency: "EUR", PaymentToken: "tok_ok", ShippingCountry: "DE"}
	for _, l := range lines {
		d.Lines = append(d.Lines, events.PricedLine{SKU: l.SKU, Quantity: l.Quantity, UnitPriceCents: 100})
		d.SubtotalCents += int64(l.Quantity) * 100
	}
	d.TaxCents = d.SubtotalCents * 19 / 100
	d.TotalCents = d.SubtotalCents + d.TaxCents
	return d
}

func confirmedData(id string) events.OrderConfirmedData {
	return events.OrderConfirmedData{OrderID: id, Email: "c@example.org", TotalCents: 100, Currency: "EUR", PaymentID: "ch_" + id}
}

func cancelledData(id string, lines ...events.Line) events.OrderCancelledData {
	return events.OrderCancelledData{OrderID: id, Email: "c@example.org", Reason: events.ReasonPaymentDeclined, Lines: lines}
}

func line(sku string, q int) events.Line { return events.Line{SKU: sku, Quantity: q} }

// stockOf builds levels with nothing reserved or sold yet.
func stockOf(avail map[string]int) Stock {
	s := Stock{}
	for sku, n := range avail {
		s[sku] = Level{SKU: sku, Initial: n, Available: n}
	}
	return s
}

func res(state State, lines ...events.Line) Reservation {
	return Reservation{OrderID: "o-1", State: state, Lines: lines}
}

func TestDecideCreated(t *testing.T) {
	stock := stockOf(map[string]int{"sku-tee": 10, "sku-poster": 3})
	tee2poster3 := createdData("o-1", line("sku-tee", 2), line("sku-poster", 3))

	tests := []struct {
		name      string
		state     Reservation
		data      events.OrderCreatedData
		wantState State // "" = row untouched
		wantMoves []Move
		wantEmit  any // nil = nothing emitted
	}{
		{"every line available: all reserved", Reservation{}, tee2poster3, StateReserved,
			[]Move{{SKU: "sku-tee", Available: -2, Reserved: 2}, {SKU: "sku-poster", Available: -3, Reserved: 3}},
			events.InventoryReservedData{OrderID: "o-1", Lines: []events.Line{line("sku-tee", 2), line("sku-poster", 3)}}},
		{"one line short: nothing reserved, out_of_stock names the SKU", Reservation{},
			createdData("o-1", line("sku-tee", 2), line("sku-poster", 4)), StateRejected, nil,
			events.InventoryRejectedData{OrderID: "o-1", Reason: events.ReasonOutOfStock, SKU: "sku-poster", Detail: "wanted 4, available 3"}},
		{"unknown SKU: nothing reserved, unknown_sku names it", Reservation{},
			createdData("o-1", line("sku-tee", 1), line("sku-vinyl", 1)), StateRejected, nil,
			events.InventoryRejectedData{OrderID: "o-1", Reason: events.ReasonUnknownSKU, SKU: "sku-vinyl", Detail: "not stocked here"}},
		{"unknown SKU wins over a short line before it", Reservation{},
			createdData("o-1", line("sku-poster", 9), line("sku-vinyl", 1)), StateRejected, nil,
			events.InventoryRejectedData{OrderID: "o-1", Reason: events.ReasonUnknownSKU, SKU: "sku-vinyl", Detail: "not stocked here"}},
		{"a SKU on two lines is checked against its total", Reservation{},
			createdData("o-1", line("sku-poster", 2), line("sku-poster", 2)), StateRejected, nil,
			events.InventoryRejectedData{OrderID: "o-1", Reason: events.ReasonOutOfStock, SKU: "sku-poster", Detail: "wanted 4, available 3"}},
		{"a SKU on two lines is reserved as one", Reservation{},
			createdData("o-1", line("sku-tee", 2), line("sku-tee", 3)), StateReserved,
			[]Move{{SKU: "sku-tee", Available: -5, Reserved: 5}},
			events.InventoryReservedData{OrderID: "o-1", Lines: []events.Line{line("sku-tee", 5)}}},
		{"exactly the available quantity is reserved", Reservation{},
			createdData("o-1", line("sku-poster", 3)), StateReserved,
			[]Move{{SKU: "sku-poster", Available: -3, Reserved: 3}},
			events.InventoryReservedData{OrderID: "o-1", Lines: []events.Line{line("sku-poster", 3)}}},
		{"duplicate after reserving: nothing", res(StateReserved, line("sku-tee", 2)), tee2poster3, "", nil, nil},
		{"duplicate after rejecting: nothing, even if stock came back", res(StateRejected, line("sku-tee", 2)), tee2poster3, "", nil, nil},
		{"late after selling: nothing", res(StateSold, line("sku-tee", 2)), tee2poster3, "", nil, nil},
		{"late after releasing: nothing", res(StateReleased, line("sku-tee", 2)), tee2poster3, "", nil, nil},
		{"late after the cancel tombstone: nothing reserved", res(StateCancelled, line("sku-tee", 2)), tee2poster3, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideCreated(tt.state, stock, tt.data)
			checkDecision(t, d, tt.wantState, tt.wantMoves, tt.wantEmit)
		})
	}
}

func TestDecideConfirmed(t *testing.T) {
	held := []events.Line{line("sku-tee", 2), line("sku-mug", 1)}
	tests := []struct {
		name      string
		state     Reservation
		wantState State
		wantMoves []Move
		wantKind  saga.Kind
		wantWarn  bool
	}{
		{"reserved becomes sold", res(StateReserved, held...), StateSold,
			[]Move{{SKU: "sku-tee", Reserved: -2, Sold: 2}, {SKU: "sku-mug", Reserved: -1, Sold: 1}}, "", false},
		{"duplicate after selling: nothing", res(StateSold, held...), "", nil, "", false},
		{"no reservation yet: retried", Reservation{OrderID: "o-1"}, "", nil, saga.KindRetry, false},
		{"released: nothing to sell, warned", res(StateReleased, held...), "", nil, "", true},
		{"rejected: nothing to sell, warned", res(StateRejected, held...), "", nil, "", true},
		{"tombstone: nothing to sell, warned", res(StateCancelled, held...), "", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DecideConfirmed(tt.state, confirmedData("o-1"))
			if kind := saga.KindOf(err); kind != tt.wantKind || (err != nil && kind == "") {
				t.Fatalf("kind %q, want %q (%v)", kind, tt.wantKind, err)
			}
			if (d.Warning != "") != tt.wantWarn {
				t.Fatalf("warning %q, want one: %v", d.Warning, tt.wantWarn)
			}
			checkDecision(t, d, tt.wantState, tt.wantMoves, nil)
			if d.Next != nil && !reflect.DeepEqual(d.Next.Lines, held) {
				t.Fatalf("sold lines %v, want %v", d.Next.Lines, held)
			}
		})
	}
}

func TestDecideCancelled(t *testing.T) {
	held := []events.Line{line("sku-tee", 2)}
	// The event's lines differ from what was held on purpose: the
	// reservation, not the event, says what to give back.
	cancel := cancelledData("o-1", line("sku-tee", 7), line("sku-mug", 1))
	tests := []struct {
		name      string
		state     Reservation
		wantState State
		wantMoves []Move
		wantEmit  any
		wantWarn  bool
	}{
		{"reserved: released, what was held goes back", res(StateReserved, held...), StateReleased,
			[]Move{{SKU: "sku-tee", Available: 2, Reserved: -2}},
			events.InventoryReleasedData{OrderID: "o-1", Lines: held}, false},
		{"no reservation: tombstone, nothing moves", Reservation{OrderID: "o-1"}, StateCancelled, nil, nil, false},
		{"duplicate after releasing: nothing", res(StateReleased, held...), "", nil, nil, false},
		{"after a rejection: nothing was held", res(StateRejected, held...), "", nil, nil, false},
		{"duplicate of the tombstone: nothing", res(StateCancelled, held...), "", nil, nil, false},
		{"after selling: nothing, warned", res(StateSold, held...), "", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideCancelled(tt.state, cancel)
			if (d.Warning != "") != tt.wantWarn {
				t.Fatalf("warning %q, want one: %v", d.Warning, tt.wantWarn)
			}
			checkDecision(t, d, tt.wantState, tt.wantMoves, tt.wantEmit)
		})
	}
}

func checkDecision(t *testing.T, d Decision, wantState State, wantMoves []Move, wantEmit any) {
	t.Helper()
	switch {
	case wantState == "" && d.Next != nil:
		t.Fatalf("row changed to %+v, want untouched", *d.Next)
	case wantState != "" && (d.Next == nil || d.Next.State != wantState || d.Next.OrderID != "o-1"):
		t.Fatalf("row %+v, want state %s", d.Next, wantState)
	}
	if !reflect.DeepEqual(d.Moves, wantMoves) {
		t.Fatalf("moves %+v, want %+v", d.Moves, wantMoves)
	}
	for _, m := range d.Moves {
		if m.Available+m.Reserved+m.Sold != 0 {
			t.Fatalf("move %+v creates or destroys stock", m)
		}
	}
	if wantEmit == nil {
		if len(d.Emits) != 0 {
			t.Fatalf("emitted %+v", d.Emits)
		}
		return
	}
	if len(d.Emits) != 1 || !reflect.DeepEqual(d.Emits[0].Data, wantEmit) {
		t.Fatalf("emitted %+v, want %+v", d.Emits, wantEmit)
	}
	wantType := map[reflect.Type]string{
		reflect.TypeOf(events.InventoryReservedData{}): events.InventoryReserved,
		reflect.TypeOf(events.InventoryRejectedData{}): events.InventoryRejected,
		reflect.TypeOf(events.InventoryReleasedData{}): events.InventoryReleased,
	}[reflect.TypeOf(wantEmit)]
	if d.Emits[0].Type != wantType {
		t.Fatalf("emitted type %s, want %s", d.Emits[0].Type, wantType)
	}
}

// model is the inventory in memory: the decisions applied the way save
// applies them, guards included. Both the pure invariant test and the edge
// test (which must end in exactly the same state) use it.
type model struct {
	stock map[string]*Level
	res   map[string]Reservation
}

func newModel(initial map[string]int) *model {
	m := &model{stock: map[string]*Level{}, res: map[string]Reservation{}}
	for sku, n := range initial {
		m.stock[sku] = &Level{SKU: sku, Initial: n, Available: n}
	}
	return m
}

// handle applies one saga event; a refusal (retry) changes nothing.
func (m *model) handle(t testing.TB, data any) ([]saga.Emit, error) {
	t.Helper()
	var id string
	var decide func(Reservation) (Decision, error)
	switch d := data.(type) {
	case events.OrderCreatedData:
		id = d.OrderID
		decide = func(r Reservation) (Decision, error) {
			levels := Stock{}
			for _, sku := range skusOf(d.Lines) {
				if l, ok := m.stock[sku]; ok {
					levels[sku] = *l
				}
			}
			return DecideCreated(r, levels, d), nil
		}
	case events.OrderConfirmedData:
		id = d.OrderID
		decide = func(r Reservation) (Decision, error) { return DecideConfirmed(r, d) }
	case events.OrderCancelledData:
		id = d.OrderID
		decide = func(r Reservation) (Decision, error) { return DecideCancelled(r, d), nil }
	default:
		t.Fatalf("model: %T", data)
	}
	prev := m.res[id]
	prev.OrderID = id
	dec, err := decide(prev)
	if err != nil {
		return nil, err
	}
	for _, mv := range dec.Moves {
		l := m.stock[mv.SKU]
		if l == nil {
			t.Fatalf("move of unstocked %s", mv.SKU)
		}
		l.Available += mv.Available
		l.Reserved += mv.Reserved
		l.Sold += mv.Sold
		if l.Available < 0 || l.Reserved < 0 || l.Sold < 0 {
			t.Fatalf("after %T of %s: %+v went negative", data, id, *l)
		}
	}
	if dec.Next != nil {
		m.res[id] = *dec.Next
	}
	return dec.Emits, nil
}

// check asserts conservation and that the counters agree with the
// reservations: reserved is what open reservations hold, sold what sold
// ones hold.
func (m *model) check(t testing.TB, when string) {
	t.Helper()
	held, sold := map[string]int{}, map[string]int{}
	for _, r := range m.res {
		for _, l := range r.Lines {
			switch r.State {
			case StateReserved:
				held[l.SKU] += l.Quantity
			case StateSold:
				sold[l.SKU] += l.Quantity
			}
		}
	}
	for sku, l := range m.stock {
		if l.Initial != l.Available+l.Reserved+l.Sold {
			t.Fatalf("%s: %s not conserved: %+v", when, sku, *l)
		}
		if l.Reserved != held[sku] || l.Sold != sold[sku] {
			t.Fatalf("%s: %s counters %+v disagree with reservations (held %d, sold %d)", when, sku, *l, held[sku], sold[sku])
		}
	}
}

func (m *model) levels() []events.StockLevel {
	out := []events.StockLevel{}
	for _, l := range m.stock {
		out = append(out, events.StockLevel{SKU: l.SKU, Initial: l.Initial, Available: l.Available, Reserved: l.Reserved, Sold: l.Sold})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

func (m *model) open() int {
	n := 0
	for _, r := range m.res {
		if r.State == StateReserved {
			n++
		}
	}
	return n
}

// step is one delivery of a generated script. Redeliver > = 0 repeats the
// delivery at that index with the same event id (a Kafka redelivery);
// otherwise data is sent as a new event, which may itself be a re-send of
// an earlier fact under a new id (a producer retry) or a late one.
type step struct {
	data      any
	redeliver int
}

var scriptStock = map[string]int{"sku-a": 6, "sku-b": 3, "sku-c": 1000}

// script generates n deliveries over a few orders, deterministic for a
// seed: creations, confirmations and cancellations in any order, including
// ones that make no sense for the saga (confirm after cancel, cancel after
// confirm, created after cancel), duplicates and redeliveries.
func script(seed uint64, orders, n int) []step {
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	skus := []string{"sku-a", "sku-b", "sku-c", "sku-unknown"}
	lines := make([][]events.Line, orders)
	for i := range lines {
		k := 1 + rnd.IntN(2)
		for _, j := range rnd.Perm(len(skus))[:k] {
			if skus[j] == "sku-unknown" && rnd.IntN(3) > 0 {
				continue // keep unknown SKUs rarer
			}
			lines[i] = append(lines[i], line(skus[j], 1+rnd.IntN(3)))
		}
		if len(lines[i]) == 0 {
			lines[i] = []events.Line{line("sku-c", 1)}
		}
	}
	var out []step
	for len(out) < n {
		if len(out) > 0 && rnd.IntN(6) == 0 {
			out = append(out, step{redeliver: rnd.IntN(len(out))})
			continue
		}
		o := rnd.IntN(orders)
		id := fmt.Sprintf("o-%d", o)
		var data any
		switch r := rnd.IntN(10); {
		case r < 5:
			data = createdData(id, lines[o]...)
		case r < 8:
			data = confirmedData(id)
		default:
			data = cancelledData(id, lines[o]...)
		}
		out = append(out, step{data: data, redeliver: -1})
	}
	return out
}

// TestStockIsConservedUnderAnySequence is the conservation invariant over
// the decisions alone: after every delivery of many generated sequences,
// every SKU adds up and agrees with the reservations.
func TestStockIsConservedUnderAnySequence(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		m := newModel(scriptStock)
		steps := script(seed, 8, 120)
		for i, s := range steps {
			data := s.data
			if s.redeliver >= 0 {
				data = steps[s.redeliver].data // resolved already: it came earlier
			}
			steps[i].data = data
			_, err := m.handle(t, data)
			if err != nil && saga.KindOf(err) != saga.KindRetry {
				t.Fatalf("seed %d step %d: %v", seed, i, err)
			}
			m.check(t, fmt.Sprintf("seed %d step %d", seed, i))
		}
	}
}

// TestRepeatingAnEventChangesNothing: for every reachable state, applying
// an event that was applied before decides nothing. (An event that was
// refused for a retry was not applied: its redelivery is the retry.)
func TestRepeatingAnEventChangesNothing(t *testing.T) {
	stock := map[string]int{"sku-a": 5}
	evs := []any{createdData("o-1", line("sku-a", 2)), confirmedData("o-1"), cancelledData("o-1", line("sku-a", 2))}
	// Every order of up to three distinct events, then each one repeated.
	var prefixes [][]int
	for _, a := range []int{0, 1, 2} {
		prefixes = append(prefixes, []int{a})
		for _, b := range []int{0, 1, 2} {
			if b != a {
				prefixes = append(prefixes, []int{a, b})
			}
		}
	}
	for _, p := range prefixes {
		for _, again := range p {
			m := newModel(stock)
			applied := map[int]bool{}
			for _, i := range p {
				_, err := m.handle(t, evs[i])
				applied[i] = err == nil
			}
			if !applied[again] {
				continue
			}
			before, beforeRes := m.levels(), fmt.Sprint(m.res)
			emits, err := m.handle(t, evs[again])
			if err != nil || len(emits) != 0 || !reflect.DeepEqual(m.levels(), before) || fmt.Sprint(m.res) != beforeRes {
				t.Fatalf("after %v, repeating %T: emits %v err %v, stock %v -> %v", p, evs[again], emits, err, before, m.levels())
			}
		}
	}
}

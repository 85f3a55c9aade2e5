package events

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Versions and upcasting.
//
// A type's last segment is its major version. Producers emit only the
// current version of a family (a catalog entry whose SupersededBy is
// empty). An older version stays in the catalog, with its schema and its
// frozen Go payload, because the domain topics keep every record forever:
// a consumer, a replay or an order's own event store meets it again years
// later. Each older version has exactly one upcaster, to the next version;
// Decode validates a record against the schema of the version it claims,
// then applies the chain up to the current version. Decisions therefore
// see one Go type per family, whatever the log holds.
//
// Adding v3 of a family: add the v3 constant and schema, give the v3 Go
// payload the name the decisions use (rename the v2 struct to ...V2Data and
// freeze it), mark v2 SupersededBy v3 in the catalog, and register the
// v2 -> v3 upcaster in registerUpcasters. v1 records then go v1 -> v2 -> v3.

// UnknownCountry is the shipping country of an order recorded before
// order.created said where it goes: "ZZ", the code ISO 3166-1 leaves to
// users and CLDR uses for an unknown region, so it still fits the field's
// two-letter pattern and is never a real destination.
const UnknownCountry = "ZZ"

func registerUpcasters() {
	upcaster(OrderCreatedV1, OrderCreated, orderCreatedV1ToV2)

	for _, s := range catalog {
		if _, ok := upcasters[s.Type]; s.SupersededBy != "" && !ok {
			panic("events: " + s.Type + " is superseded by " + s.SupersededBy + " but has no upcaster")
		}
	}
}

// orderCreatedV1ToV2: v1 did not break the total down, and its prices
// were what the customer paid. So the whole total is the subtotal and no
// tax is claimed (a v1 order's tax cannot be recovered from it), and the
// destination is unknown. Analytics, inventory and payment read the same
// lines and total as before.
func orderCreatedV1ToV2(v1 OrderCreatedV1Data) OrderCreatedData {
	return OrderCreatedData{
		OrderID: v1.OrderID, CustomerID: v1.CustomerID, Email: v1.Email, Currency: v1.Currency,
		PaymentToken: v1.PaymentToken, Lines: slices.Clone(v1.Lines),
		SubtotalCents: v1.TotalCents, TaxCents: 0, TotalCents: v1.TotalCents,
		ShippingCountry: UnknownCountry,
	}
}

type upcastStep struct {
	to string
	fn func(any) (any, error)
}

var upcasters = map[string]upcastStep{}

// upcaster registers the step from one version of a family to the next.
// Registration happens in init, so a wiring mistake panics at start,
// like a type defined twice.
func upcaster[From, To any](from, to string, fn func(From) To) {
	fs, ok := catalog[from]
	if !ok || fs.SupersededBy != to {
		panic(fmt.Sprintf("events: upcaster %s -> %s: the catalog must mark %s SupersededBy %s", from, to, from, to))
	}
	if _, ok := fs.NewData().(*From); !ok {
		panic(fmt.Sprintf("events: upcaster %s -> %s takes %T, the catalog payload is %T", from, to, new(From), fs.NewData()))
	}
	if ts, ok := catalog[to]; !ok {
		panic("events: upcaster to unknown type " + to)
	} else if _, ok := ts.NewData().(*To); !ok {
		panic(fmt.Sprintf("events: upcaster %s -> %s gives %T, the catalog payload is %T", from, to, new(To), ts.NewData()))
	}
	if _, dup := upcasters[from]; dup {
		panic("events: two upcasters from " + from)
	}
	upcasters[from] = upcastStep{to: to, fn: func(p any) (any, error) {
		in, ok := p.(*From)
		if !ok {
			return nil, fmt.Errorf("upcasting %s: payload is %T, want %T", from, p, in)
		}
		out := fn(*in)
		return &out, nil
	}}
}

// Current returns the version of typ's family that producers emit now:
// typ itself unless it is superseded.
func Current(typ string) string {
	for range len(catalog) { // a chain is never longer than the catalog
		s, ok := catalog[typ]
		if !ok || s.SupersededBy == "" {
			return typ
		}
		typ = s.SupersededBy
	}
	return typ
}

// Accepted returns the types a consumer of typ reads as typ: typ itself
// and every older version whose upcasters lead to it, newest first.
func Accepted(typ string) []string {
	out := []string{typ}
	steps := map[string]int{}
	for _, s := range All() {
		if n, ok := stepsTo(s.Type, typ); ok && n > 0 {
			out, steps[s.Type] = append(out, s.Type), n
		}
	}
	slices.SortStableFunc(out[1:], func(a, b string) int { return steps[a] - steps[b] })
	return out
}

// stepsTo counts the upcasts from one type to another, if its chain
// reaches it.
func stepsTo(from, to string) (int, bool) {
	n := 0
	for t := from; t != ""; t = catalog[t].SupersededBy {
		if t == to {
			return n, true
		}
		if n++; n > len(catalog) {
			break
		}
	}
	return 0, false
}

// Upcast turns a decoded payload of typ (a pointer, as NewData gives)
// into the payload of the current version, step by step, and returns that
// version's type with it. A current type's payload is returned as is.
func Upcast(typ string, payload any) (string, any, error) {
	for range len(catalog) {
		step, ok := upcasters[typ]
		if !ok {
			return typ, payload, nil
		}
		next, err := step.fn(payload)
		if err != nil {
			return "", nil, err
		}
		typ, payload = step.to, next
	}
	return "", nil, fmt.Errorf("events: upcasting %s does not end", typ)
}

// Unmarshal reads a payload of typ that this system itself recorded (an
// aggregate's event store, the log an oracle reads back) without the
// schema check, and upcasts it like Decode: it returns the current type
// and a pointer to its payload.
func Unmarshal(typ string, data []byte) (string, any, error) {
	spec, ok := catalog[typ]
	if !ok {
		return "", nil, fmt.Errorf("events: %q is not in the catalog", typ)
	}
	out := spec.NewData()
	if err := json.Unmarshal(data, out); err != nil {
		return "", nil, fmt.Errorf("events: %s does not decode: %w", typ, err)
	}
	return Upcast(typ, out)
}

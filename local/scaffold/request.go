package scaffold

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/events/compat"
)

// Request is what `orderflow new function` is asked.
type Request struct {
	Root  string   // the tree's root
	Name  string   // the function
	On    []string // event types it reacts to: full names or short (order.confirmed)
	Emits string   // the new event type it publishes, "" for none
}

// TypePrefix starts every orderflow event type; a short name given to --on
// or --emits is read under it.
const TypePrefix = "dev.orderflow."

// MaxNameLength bounds a function's name: its PingSource is called
// <name>-outbox-sweep, and every object name is a DNS label of at most 63.
const MaxNameLength = 63 - len("-outbox-sweep")

var (
	dnsLabel     = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	typeSegments = regexp.MustCompile(`^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$`)
)

// reservedNames are what the catalog writes as a producer that is no
// function; a function of that name would be confused with them.
var reservedNames = []string{"client", "pingsource", "any"}

// Check refuses, before the tree is read, a request no tree could take: a
// name that cannot be a function's, or no --on at all. The types are
// read against the tree's catalog, by NewPlan.
func (r Request) Check() error {
	if err := checkName(r.Name); err != nil {
		return err
	}
	if len(r.On) == 0 {
		return errNoOn()
	}
	return nil
}

func errNoOn() error {
	return fmt.Errorf("--on: name at least one event type the function reacts to (e.g. --on order.confirmed); types: %s", strings.Join(reactable(), ", "))
}

// checkName refuses a name that cannot be a function's: the Knative
// Service, the folder, the Go import and every object named after it.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the function needs a name (orderflow new function NAME --on TYPE)")
	case len(name) > MaxNameLength:
		return fmt.Errorf("function name %q: %d characters, at most %d (its PingSource %s-outbox-sweep must be a DNS label of at most 63)", name, len(name), MaxNameLength, name)
	case !dnsLabel.MatchString(name):
		return fmt.Errorf("function name %q: not a DNS label (lower-case letters, digits and '-', starting with a letter, not ending with '-'): it names a Knative Service", name)
	case slices.Contains(reservedNames, name):
		return fmt.Errorf("function name %q: the event catalog uses it for producers that are not functions (%s)", name, strings.Join(reservedNames, ", "))
	}
	return nil
}

// resolveType reads a type as given to --on or --emits: a full catalog
// name (dev.orderflow.order.confirmed.v1) or a short one
// (order.confirmed), which names the family's current version.
func resolveType(flag, given string) (string, error) {
	given = strings.TrimSpace(given)
	if given == "" {
		return "", fmt.Errorf("%s: an empty event type", flag)
	}
	if _, ok := events.Lookup(given); ok {
		return given, nil
	}
	family := given
	if !strings.HasPrefix(family, TypePrefix) {
		family = TypePrefix + family
	}
	var current string
	for _, f := range events.Families() {
		if f.Name == family {
			current = events.Current(f.Types[len(f.Types)-1])
		}
	}
	if current == "" {
		return "", fmt.Errorf("%s %s: not in the event catalog (shared/events); types a function can react to: %s", flag, given, strings.Join(reactable(), ", "))
	}
	return current, nil
}

// reactable lists, short, the types a step can react to: commands and facts
// on a topic, current versions.
func reactable() []string {
	var out []string
	for _, s := range events.All() {
		if s.Topic != "" && s.SupersededBy == "" {
			out = append(out, strings.TrimPrefix(family(s.Type), TypePrefix))
		}
	}
	return out
}

func family(typ string) string {
	name, _, _ := compat.SplitType(typ)
	return name
}

// onTypes resolves --on: each a command or fact that travels on a topic
// and names its order (the saga's key), current version; duplicates
// dropped.
func onTypes(given []string) ([]events.Spec, error) {
	var out []events.Spec
	for _, g := range given {
		for _, one := range strings.Split(g, ",") {
			typ, err := resolveType("--on", one)
			if err != nil {
				return nil, err
			}
			spec := events.MustLookup(typ)
			switch {
			case spec.SupersededBy != "":
				return nil, fmt.Errorf("--on %s: superseded by %s; react to %s (older versions are upcast to it)", one, events.Current(typ), events.Current(typ))
			case spec.Topic == "":
				return nil, fmt.Errorf("--on %s: a %s, which travels over HTTP, not on a topic a KafkaSource reads", one, spec.Kind)
			case !hasOrderID(spec):
				return nil, fmt.Errorf("--on %s: its payload names no order (orderId), the saga's key", one)
			}
			if !slices.ContainsFunc(out, func(s events.Spec) bool { return s.Type == typ }) {
				out = append(out, spec)
			}
		}
	}
	if len(out) == 0 {
		return nil, errNoOn()
	}
	return out, nil
}

func hasOrderID(spec events.Spec) bool {
	f, ok := reflect.TypeOf(spec.NewData()).Elem().FieldByName("OrderID")
	return ok && f.Type.Kind() == reflect.String
}

// newType is the event type a scaffolded function publishes.
type newType struct {
	Type    string // dev.orderflow.shipment.booked.v1
	Short   string // shipment.booked
	Const   string // ShipmentBooked
	Payload string // ShipmentBookedData
}

// emitsType reads --emits: a new family, at v1.
func emitsType(given string) (*newType, error) {
	given = strings.TrimSpace(given)
	if given == "" {
		return nil, nil
	}
	name, version, _ := compat.SplitType(given)
	if version == 0 {
		name = given
	} else if version != 1 {
		return nil, fmt.Errorf("--emits %s: a new event type starts at v1 (a new version of a family is a schema change: docs/schemas.md)", given)
	}
	short := strings.TrimPrefix(name, TypePrefix)
	if !typeSegments.MatchString(short) {
		return nil, fmt.Errorf("--emits %s: want ENTITY.EVENT in lower-case letters and digits, e.g. shipment.booked (read as %sshipment.booked.v1)", given, TypePrefix)
	}
	for _, f := range events.Families() {
		if f.Name == TypePrefix+short {
			return nil, fmt.Errorf("--emits %s: the catalog already has %s (%s); a function publishes a type of its own, and an existing one evolves by a new version (docs/schemas.md)", given, f.Name, strings.Join(f.Types, ", "))
		}
	}
	c := camel(short)
	return &newType{Type: TypePrefix + short + ".v1", Short: short, Const: c, Payload: c + "Data"}, nil
}

// camel turns dotted or dashed lower-case words into a Go name.
func camel(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

package events

import (
	"sort"

	"orderflow.dev/shared/events/compat"
)

// DefaultCompatibility is the rule of every family the table below does not
// name. The domain topics keep every event forever (retention.ms -1) so
// that read models can be rebuilt by replay: any consumer, of any version,
// may meet any earlier version in the log, and a producer rolled back may
// write an earlier version again. Only FULL_TRANSITIVE (new and old
// readers, against every version ever registered) is safe for that without
// further argument; a family that relaxes it says why below.
const DefaultCompatibility = compat.FullTransitive

// familyCompatibility is each family's rule where it differs from the
// default, in Confluent Schema Registry's terms. The family is the type
// name without its trailing .vN.
var familyCompatibility = map[string]compat.Mode{
	// order.created gains required fields in v2 (tax, shipping): producers
	// upgrade first and must not break consumers still on v1, so every new
	// version must be readable by every older reader (FORWARD_TRANSITIVE;
	// v1 keeps an open content model for exactly that). New consumers read
	// v1 through the upcasters beside the catalog, not by the schema alone,
	// so BACKWARD is not asked of the schemas.
	"dev.orderflow.order.created": compat.ForwardTransitive,
}

// Compatibility returns the rule of an event family ("dev.orderflow.order.created").
func Compatibility(family string) compat.Mode {
	if m, ok := familyCompatibility[family]; ok {
		return m
	}
	return DefaultCompatibility
}

// Family is every version of one event type in the catalog.
type Family struct {
	Name  string
	Rule  compat.Mode
	Types []string // the versions' type names, oldest first
}

// Families groups the catalog by family, sorted by name.
func Families() []Family {
	byName := map[string]*Family{}
	for _, s := range All() {
		name, _, _ := compat.SplitType(s.Type)
		f, ok := byName[name]
		if !ok {
			f = &Family{Name: name, Rule: Compatibility(name)}
			byName[name] = f
		}
		f.Types = append(f.Types, s.Type)
	}
	out := make([]Family, 0, len(byName))
	for _, f := range byName {
		sort.Slice(f.Types, func(i, j int) bool {
			_, vi, _ := compat.SplitType(f.Types[i])
			_, vj, _ := compat.SplitType(f.Types[j])
			return vi < vj
		})
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

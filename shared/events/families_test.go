package events

import (
	"testing"

	"orderflow.dev/shared/events/compat"
)

func TestEveryRuleNamesAFamilyOfTheCatalog(t *testing.T) {
	known := map[string]bool{}
	for _, f := range Families() {
		known[f.Name] = true
		if len(f.Types) == 0 {
			t.Errorf("%s: no versions", f.Name)
		}
	}
	for name := range familyCompatibility {
		if !known[name] {
			t.Errorf("familyCompatibility names %q, which the catalog does not have", name)
		}
	}
	if got := Compatibility("dev.orderflow.order.created"); got != compat.ForwardTransitive {
		t.Errorf("order.created: %s", got)
	}
	if got := Compatibility("dev.orderflow.payment.completed"); got != DefaultCompatibility {
		t.Errorf("payment.completed: %s, want the default %s", got, DefaultCompatibility)
	}
}

// The gate itself, at the unit level: every family of the catalog keeps
// its rule (CI also runs `orderflow schemas check`, which says the same
// with the changes named).
func TestEveryFamilyKeepsItsRule(t *testing.T) {
	for _, f := range Families() {
		var vs []compat.Version
		for _, typ := range f.Types {
			raw, ok := Schema(typ)
			if !ok {
				t.Fatalf("%s: no schema", typ)
			}
			s, err := compat.Parse(raw)
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			_, n, _ := compat.SplitType(typ)
			vs = append(vs, compat.Version{Type: typ, Number: n, Schema: s})
		}
		for _, finding := range compat.CheckFamily(f.Rule, vs) {
			t.Errorf("%s (%s): %s", f.Name, f.Rule, finding)
		}
	}
}

package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// pairCase is what the checker must say about one pair of a fixture
// family's versions (testdata/families/NAME/dev.fixture.NAME.vN.json).
// backward/forward: true when that direction must pass. wantB/wantF: the
// findings that direction must name, as "path keyword" (every finding must
// be listed: an unexpected one fails the test too). unprovenOK marks pairs
// whose findings are "cannot prove" rather than proven breaks.
type pairCase struct {
	family           string
	old, new         int
	backward         bool
	forward          bool
	wantB, wantF     []string
	unprovenExpected bool
}

var pairCases = []pairCase{
	{family: "annotations-only", old: 1, new: 2, backward: true, forward: true},
	// The order.created v1 -> v2 kind of change: new required fields on an
	// open content model. Old readers read v2 (forward), new readers cannot
	// take a v1 event as it is (backward: they need an upcaster).
	{family: "superset-new-required", old: 1, new: 2, forward: true,
		wantB: []string{"shipping property", "shipping required", "shippingCents property", "shippingCents required", "taxCents property", "taxCents required"}},
	{family: "superset-new-required", old: 2, new: 3, forward: true,
		wantB: []string{"giftNote property", "giftNote required"}},
	{family: "superset-new-required", old: 1, new: 3, forward: true,
		wantB: []string{"giftNote property", "giftNote required", "shipping property", "shipping required", "shippingCents property", "shippingCents required", "taxCents property", "taxCents required"}},
	// Confluent's open content model rule: an optional field added where
	// the old schema allowed any value breaks new readers of old data.
	{family: "add-optional-open", old: 1, new: 2, forward: true, wantB: []string{"b property"}},
	{family: "add-optional-closed", old: 1, new: 2, backward: true, wantF: []string{"b property"}},
	{family: "remove-property-closed", old: 1, new: 2, forward: true, wantB: []string{"b property"}},
	{family: "remove-required-field", old: 1, new: 2, backward: true, wantF: []string{"b required"}},
	{family: "new-required-field", old: 1, new: 2, forward: true, wantB: []string{"b required"}},
	{family: "narrowed-type", old: 1, new: 2, forward: true, wantB: []string{"b type"}},
	{family: "changed-type", old: 1, new: 2, wantB: []string{"b type"}, wantF: []string{"b type"}},
	{family: "widened-type", old: 1, new: 2, backward: true, wantF: []string{"b type"}},
	{family: "narrowed-enum", old: 1, new: 2, forward: true, wantB: []string{"b enum"}},
	{family: "widened-enum", old: 1, new: 2, backward: true, wantF: []string{"b enum"}},
	{family: "enum-added", old: 1, new: 2, forward: true, wantB: []string{"b enum"}},
	{family: "const-changed", old: 1, new: 2, wantB: []string{"b enum"}, wantF: []string{"b enum"}},
	{family: "tighter-maximum-nested", old: 1, new: 2, forward: true, wantB: []string{"lines[].quantity maximum"}},
	{family: "tighter-minimum", old: 1, new: 2, forward: true, wantB: []string{"b minimum"}},
	{family: "equivalent-exclusive-minimum", old: 1, new: 2, backward: true, forward: true},
	{family: "tighter-min-length", old: 1, new: 2, forward: true, wantB: []string{"b minLength"}},
	{family: "looser-max-length", old: 1, new: 2, backward: true, wantF: []string{"b maxLength"}},
	{family: "pattern-added", old: 1, new: 2, forward: true, wantB: []string{"b pattern"}},
	{family: "pattern-changed", old: 1, new: 2, wantB: []string{"b pattern"}, wantF: []string{"b pattern"}, unprovenExpected: true},
	{family: "closed-content-model", old: 1, new: 2, forward: true, wantB: []string{"* additionalProperties"}},
	{family: "opened-content-model", old: 1, new: 2, backward: true, wantF: []string{"* additionalProperties"}},
	{family: "nested-new-required", old: 1, new: 2, forward: true, wantB: []string{"b.city property", "b.city required"}},
	{family: "array-items-type-changed", old: 1, new: 2, wantB: []string{"b[] type"}, wantF: []string{"b[] type"}},
	{family: "min-items-raised", old: 1, new: 2, forward: true, wantB: []string{"lines minItems"}},
	{family: "unsupported-keyword", old: 1, new: 2, wantB: []string{"b oneOf"}, wantF: []string{"b oneOf"}, unprovenExpected: true},
	{family: "chain-transitive", old: 1, new: 2, forward: true, wantB: []string{"b maximum"}},
	{family: "chain-transitive", old: 2, new: 3, backward: true, forward: true},
	{family: "chain-transitive", old: 1, new: 3, forward: true, wantB: []string{"b maximum"}},
}

func fixturePath(family string, v int) string {
	return filepath.Join("testdata", "families", family, fmt.Sprintf("dev.fixture.%s.v%d.json", family, v))
}

func loadFixture(t *testing.T, family string, v int) *Schema {
	t.Helper()
	raw, err := os.ReadFile(fixturePath(family, v))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(raw)
	if err != nil {
		t.Fatalf("%s v%d: %v", family, v, err)
	}
	return s
}

func keys(cs []Change) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Path+" "+c.Keyword)
	}
	sort.Strings(out)
	return out
}

func TestPairsFailAndPassAsEachDirectionMust(t *testing.T) {
	for _, pc := range pairCases {
		t.Run(fmt.Sprintf("%s/v%d-v%d", pc.family, pc.old, pc.new), func(t *testing.T) {
			old, next := loadFixture(t, pc.family, pc.old), loadFixture(t, pc.family, pc.new)
			for _, dir := range []struct {
				name  string
				got   []Change
				pass  bool
				want  []string
				label Direction
			}{
				{"backward", CheckBackward(old, next), pc.backward, pc.wantB, BreaksBackward},
				{"forward", CheckForward(old, next), pc.forward, pc.wantF, BreaksForward},
			} {
				if dir.pass != (len(dir.got) == 0) {
					t.Errorf("%s: pass=%v expected, got %d change(s): %v", dir.name, dir.pass, len(dir.got), dir.got)
				}
				if got, want := strings.Join(keys(dir.got), "; "), strings.Join(sorted(dir.want), "; "); got != want {
					t.Errorf("%s: findings\n got  %s\n want %s", dir.name, got, want)
				}
				for _, c := range dir.got {
					if c.Breaks != dir.label {
						t.Errorf("%s: %v is labelled %s", dir.name, c, c.Breaks)
					}
					if c.Unproven != pc.unprovenExpected {
						t.Errorf("%s: %v: unproven=%v, want %v", dir.name, c, c.Unproven, pc.unprovenExpected)
					}
					if c.Old == "" || c.New == "" || c.Old == c.New {
						t.Errorf("%s: %v does not show the old and the new constraint", dir.name, c)
					}
				}
			}
		})
	}
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}

// The findings say what changed from old to new, whichever direction broke.
func TestFindingsNameOldAndNewConstraint(t *testing.T) {
	tests := []struct {
		family string
		check  func(old, next *Schema) []Change
		want   string
	}{
		{"superset-new-required", CheckBackward, "taxCents: required: old not declared (open content model), new required (a value may lack this field) [breaks BACKWARD]"},
		{"remove-required-field", CheckForward, "b: required: old required, new optional (a value may lack this field) [breaks FORWARD]"},
		{"tighter-maximum-nested", CheckBackward, "lines[].quantity: maximum: old <= 1000, new <= 100 [breaks BACKWARD]"},
		{"narrowed-enum", CheckBackward, `b: enum: old one of ["card", "invoice", "voucher"], new one of ["card", "invoice"] (values no longer accepted: ["voucher"]) [breaks BACKWARD]`},
		{"widened-enum", CheckForward, `b: enum: old one of ["card", "invoice"], new one of ["card", "invoice", "voucher"] (values no longer accepted: ["voucher"]) [breaks FORWARD]`},
		{"narrowed-type", CheckBackward, "b: type: old type null|string, new type string (values of type null are refused) [breaks BACKWARD]"},
		{"add-optional-closed", CheckForward, "b: property: old not allowed (additionalProperties false), new optional (a value may carry this field, and the other side refuses it) [breaks FORWARD]"},
		{"remove-property-closed", CheckBackward, "b: property: old optional, new not allowed (additionalProperties false) (a value may carry this field, and the other side refuses it) [breaks BACKWARD]"},
		{"closed-content-model", CheckBackward, "*: additionalProperties: old true (open content model), new false (closed content model) (undeclared fields are refused) [breaks BACKWARD]"},
		{"pattern-changed", CheckBackward, `b: pattern: old "^[A-Z]{3}$", new "^[A-Z]{2,4}$" (the pattern changed; inclusion of one regular expression in another is not proven) [cannot prove BACKWARD compatibility]`},
		{"unsupported-keyword", CheckBackward, `b: oneOf: old absent, new [{"type":"string"},{"type":"integer"}] (keyword not supported by the checker) [cannot prove BACKWARD compatibility]`},
	}
	for _, tt := range tests {
		t.Run(tt.family, func(t *testing.T) {
			got := tt.check(loadFixture(t, tt.family, 1), loadFixture(t, tt.family, 2))
			var lines []string
			for _, c := range got {
				lines = append(lines, c.String())
			}
			if !contains(lines, tt.want) {
				t.Errorf("no finding\n  %s\namong\n  %s", tt.want, strings.Join(lines, "\n  "))
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func family(t *testing.T, name string) []Version {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "families", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []Version
	for _, e := range entries {
		typ := strings.TrimSuffix(e.Name(), ".json")
		_, n, ok := SplitType(typ)
		if !ok {
			t.Fatalf("%s: no version suffix", e.Name())
		}
		out = append(out, Version{Type: typ, Number: n, Schema: loadFixture(t, name, n)})
	}
	return out
}

// Every mode, on families whose verdicts differ between modes: the rule
// decides which directions and which pairs are held.
func TestModesHoldTheRightDirectionsAndPairs(t *testing.T) {
	tests := []struct {
		family string
		mode   Mode
		// pairs that must be named, "vOLD->vNEW DIRECTION"; none: passes
		want []string
	}{
		{"superset-new-required", ForwardTransitive, nil},
		{"superset-new-required", Forward, nil},
		{"superset-new-required", None, nil},
		{"superset-new-required", Backward, []string{"v1->v2 BACKWARD", "v2->v3 BACKWARD"}},
		{"add-optional-open", Backward, []string{"v1->v2 BACKWARD"}},
		{"superset-new-required", BackwardTransitive, []string{"v1->v2 BACKWARD", "v1->v3 BACKWARD", "v2->v3 BACKWARD"}},
		{"superset-new-required", Full, []string{"v1->v2 BACKWARD", "v2->v3 BACKWARD"}},
		{"superset-new-required", FullTransitive, []string{"v1->v2 BACKWARD", "v1->v3 BACKWARD", "v2->v3 BACKWARD"}},
		{"widened-enum", Backward, nil},
		{"widened-enum", BackwardTransitive, nil},
		{"widened-enum", Forward, []string{"v1->v2 FORWARD"}},
		{"widened-enum", Full, []string{"v1->v2 FORWARD"}},
		{"widened-enum", None, nil},
		{"changed-type", Full, []string{"v1->v2 BACKWARD", "v1->v2 FORWARD"}},
		// v1 -> v2 lowered the maximum; v3 only documents it. The plain
		// rule holds v3 against v2 alone, the transitive one against v1 too.
		{"chain-transitive", Backward, []string{"v1->v2 BACKWARD"}},
		{"chain-transitive", BackwardTransitive, []string{"v1->v2 BACKWARD", "v1->v3 BACKWARD"}},
		{"chain-transitive", ForwardTransitive, nil},
		{"annotations-only", FullTransitive, nil},
	}
	for _, tt := range tests {
		t.Run(tt.family+"/"+string(tt.mode), func(t *testing.T) {
			seen := map[string]bool{}
			for _, f := range CheckFamily(tt.mode, family(t, tt.family)) {
				_, o, _ := SplitType(f.Old)
				_, n, _ := SplitType(f.New)
				seen[fmt.Sprintf("v%d->v%d %s", o, n, f.Breaks)] = true
			}
			if got, want := strings.Join(sortedKeys(seen), ", "), strings.Join(tt.want, ", "); got != want {
				t.Errorf("pairs named: %q, want %q", got, want)
			}
		})
	}
}

func TestParseRefusesWhatIsNotASchema(t *testing.T) {
	for _, tt := range []struct{ name, raw, want string }{
		{"not json", `{`, "not valid JSON"},
		{"array", `[]`, "a schema is a JSON object or a boolean"},
		{"bad type", `{"type": 5}`, "not a valid JSON Schema"},
		{"bad minimum", `{"minimum": "one"}`, "not a valid JSON Schema"},
		{"older draft", `{"$schema": "http://json-schema.org/draft-04/schema#", "exclusiveMinimum": true}`, "only draft 2020-12"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.raw))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseModeAndSplitType(t *testing.T) {
	for _, m := range Modes {
		got, err := ParseMode(strings.ToLower(string(m)))
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseMode("SIDEWAYS"); err == nil || !strings.Contains(err.Error(), "BACKWARD_TRANSITIVE") {
		t.Errorf("unknown rule: %v", err)
	}
	for _, tt := range []struct {
		typ, family string
		v           int
		ok          bool
	}{
		{"dev.orderflow.order.created.v2", "dev.orderflow.order.created", 2, true},
		{"dev.orderflow.order.created.v12", "dev.orderflow.order.created", 12, true},
		{"dev.knative.sources.ping", "dev.knative.sources.ping", 0, false},
		{"dev.orderflow.thing.v0", "dev.orderflow.thing.v0", 0, false},
	} {
		f, v, ok := SplitType(tt.typ)
		if f != tt.family || v != tt.v || ok != tt.ok {
			t.Errorf("SplitType(%q) = %q, %d, %v", tt.typ, f, v, ok)
		}
	}
}

// Small inline cases for keywords the file fixtures do not exercise.
func TestInlineKeywords(t *testing.T) {
	tests := []struct {
		name, old, new string
		backward       []string
		forward        []string
	}{
		{"integer bounds equal however written", `{"type":"integer","exclusiveMaximum":11}`, `{"type":"integer","maximum":10}`, nil, nil},
		{"number exclusive bound is tighter", `{"type":"number","minimum":0}`, `{"type":"number","exclusiveMinimum":0}`, []string{" minimum"}, nil},
		{"multipleOf", `{"type":"integer","multipleOf":10}`, `{"type":"integer","multipleOf":5}`, nil, []string{" multipleOf"}},
		{"uniqueItems", `{"type":"array"}`, `{"type":"array","uniqueItems":true}`, []string{" uniqueItems"}, nil},
		{"maxProperties", `{"type":"object","maxProperties":3}`, `{"type":"object","maxProperties":2}`, []string{" maxProperties"}, nil},
		{"false schema", `{"properties":{"a":{"type":"string"}}}`, `{"properties":{"a":false}}`, []string{"a property"}, nil},
		{"ref is not proven", `{"$defs":{"s":{"type":"string"}},"properties":{"a":{"$ref":"#/$defs/s"}}}`, `{"$defs":{"s":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/s"}}}`, []string{"a $ref"}, []string{"a $ref"}},
		{"identical unsupported subtree is fine", `{"properties":{"a":{"anyOf":[{"type":"string"}]}}}`, `{"title":"x","properties":{"a":{"anyOf":[{"type":"string"}]}}}`, nil, nil},
		{"enum values filtered by their own schema", `{"type":"string","enum":["a","bb"],"maxLength":1}`, `{"enum":["a"]}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, err := Parse([]byte(tt.old))
			if err != nil {
				t.Fatal(err)
			}
			next, err := Parse([]byte(tt.new))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(keys(CheckBackward(old, next)), "; "), strings.Join(tt.backward, "; "); got != want {
				t.Errorf("backward: %q, want %q", got, want)
			}
			if got, want := strings.Join(keys(CheckForward(old, next)), "; "), strings.Join(tt.forward, "; "); got != want {
				t.Errorf("forward: %q, want %q", got, want)
			}
		})
	}
}

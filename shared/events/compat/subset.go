package compat

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// walker proves a ⊆ b (every instance valid under a is valid under b) and
// records each constraint of b that a does not imply. Which of a and b is
// the old schema depends on the direction being proven.
type walker struct {
	aIsOld  bool
	breaks  Direction
	changes []Change
}

// annotations carry no constraint an instance must meet (format is an
// annotation in 2020-12 unless a validator opts in, and the catalog's
// validator does not); $defs only matter through $ref, which is refused.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$anchor": true, "$comment": true, "$defs": true,
	"title": true, "description": true, "examples": true, "default": true,
	"deprecated": true, "readOnly": true, "writeOnly": true,
	"format": true, "contentEncoding": true, "contentMediaType": true,
}

// supported are the keywords the walker reasons about. Any other keyword
// (anyOf, oneOf, allOf, not, $ref, if/then/else, patternProperties,
// prefixItems, contains, dependentRequired, unevaluated*, ...) makes the
// walker report "cannot prove" unless both sides hold the identical subtree.
var supported = map[string]bool{
	"type": true, "enum": true, "const": true,
	"properties": true, "required": true, "additionalProperties": true,
	"minProperties": true, "maxProperties": true,
	"items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
	"minLength": true, "maxLength": true, "pattern": true,
}

func (w *walker) report(c Change, aDesc, bDesc string) {
	c.Breaks = w.breaks
	if w.aIsOld {
		c.Old, c.New = aDesc, bDesc
	} else {
		c.Old, c.New = bDesc, aDesc
	}
	w.changes = append(w.changes, c)
}

// constrains reports whether a schema refuses anything at all.
func constrains(s any) bool {
	switch v := s.(type) {
	case bool:
		return !v
	case map[string]any:
		for k := range v {
			if !annotations[k] {
				return true
			}
		}
	}
	return false
}

// refers reports whether a subtree holds a reference keyword anywhere.
func refers(s any) bool {
	switch v := s.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "$ref" || k == "$dynamicRef" || refers(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if refers(x) {
				return true
			}
		}
	}
	return false
}

func isFalse(s any) bool { b, ok := s.(bool); return ok && !b }

func asObject(s any) map[string]any {
	if m, ok := s.(map[string]any); ok {
		return m
	}
	return map[string]any{} // true: no constraint
}

func (w *walker) subset(a, b any, path string) {
	if !constrains(b) || isFalse(a) {
		return
	}
	if isFalse(b) {
		w.report(Change{Path: path, Keyword: "schema", Detail: "every value is refused here"}, "allows values", "false")
		return
	}
	// Identical subtrees are trivially compatible, whatever keywords they
	// use, unless they refer elsewhere: the same $ref may name different
	// schemas in the two documents.
	if reflect.DeepEqual(a, b) && !refers(a) {
		return
	}
	ao, bo := asObject(a), asObject(b)
	if !constrains(a) {
		// a allows anything: every constraint of b is a break; one
		// finding says so rather than one per keyword.
		w.report(Change{Path: path, Keyword: "schema", Detail: "any value was allowed here"}, "any value", summary(b))
		return
	}
	if w.unsupported(ao, bo, path) {
		return
	}
	if values, ok := enumValues(ao); ok {
		w.enumSubset(ao, bo, values, path)
		return
	}
	if bvals, ok := enumValues(bo); ok {
		w.report(Change{Path: path, Keyword: "enum", Detail: "a fixed list of values replaces an open one"},
			describeTypes(typesOf(ao)), "one of "+list(bvals))
		return
	}
	ta, tb := typesOf(ao), typesOf(bo)
	w.types(ta, tb, path)
	// Each kind's keywords are compared only where both sides allow the
	// kind: where b refuses it outright, the type change above says so.
	both := func(kind string) bool { return ta.has(kind) && tb.has(kind) }
	if both("integer") {
		w.numbers(ao, bo, ta, path)
	}
	if both("string") {
		w.strings(ao, bo, path)
	}
	if both("array") {
		w.arrays(ao, bo, path)
	}
	if both("object") {
		w.objects(ao, bo, path)
	}
}

// unsupported reports keywords the walker cannot reason about, on either
// side: an unknown constraint on the wider side may refuse what the
// narrower side allows, and one on the narrower side may change what its
// other keywords mean (prefixItems changes items, patternProperties
// changes additionalProperties).
func (w *walker) unsupported(ao, bo map[string]any, path string) bool {
	seen := map[string]bool{}
	for _, side := range []map[string]any{ao, bo} {
		for k := range side {
			if !annotations[k] && !supported[k] {
				seen[k] = true
			}
		}
	}
	if len(seen) == 0 {
		return false
	}
	for _, k := range sortedKeys(seen) {
		w.report(Change{Path: path, Keyword: k, Unproven: true, Detail: "keyword not supported by the checker"},
			present(ao, k), present(bo, k))
	}
	return true
}

func present(o map[string]any, k string) string {
	v, ok := o[k]
	if !ok {
		return "absent"
	}
	return compact(v)
}

// ---------------------------------------------------------------- enum

// enumValues returns the finite set a schema allows, when enum or const
// makes it finite.
func enumValues(o map[string]any) ([]any, bool) {
	var values []any
	found := false
	if e, ok := o["enum"].([]any); ok {
		values, found = e, true
	}
	if c, ok := o["const"]; ok {
		if !found {
			values, found = []any{c}, true
		} else {
			var kept []any
			for _, v := range values {
				if reflect.DeepEqual(v, c) {
					kept = append(kept, v)
				}
			}
			values = kept
		}
	}
	return values, found
}

// enumSubset is exact: a allows finitely many values, so each one that a
// really admits (its other keywords may exclude some) is validated under b.
func (w *walker) enumSubset(ao, bo map[string]any, values []any, path string) {
	va, errA := compileFragment(ao)
	vb, errB := compileFragment(bo)
	if errA != nil || errB != nil {
		w.report(Change{Path: path, Keyword: "enum", Unproven: true, Detail: fmt.Sprintf("could not compile: %v %v", errA, errB)},
			compact(ao), compact(bo))
		return
	}
	var refused []any
	for _, v := range values {
		if va.Validate(v) != nil {
			continue
		}
		if vb.Validate(v) != nil {
			refused = append(refused, v)
		}
	}
	if len(refused) == 0 {
		return
	}
	bDesc := "refuses " + list(refused)
	if bv, ok := enumValues(bo); ok {
		bDesc = "one of " + list(bv)
	}
	w.report(Change{Path: path, Keyword: "enum", Detail: "values no longer accepted: " + list(refused)},
		"one of "+list(values), bDesc)
}

func compileFragment(o map[string]any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	frag := map[string]any{}
	for k, v := range o {
		if k != "$id" && k != "$schema" {
			frag[k] = v
		}
	}
	const loc = "urn:orderflow:compat:fragment"
	if err := c.AddResource(loc, frag); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

// ---------------------------------------------------------------- type

type typeSet map[string]bool

var allTypes = []string{"array", "boolean", "integer", "null", "number", "object", "string"}

func typesOf(o map[string]any) typeSet {
	out := typeSet{}
	switch t := o["type"].(type) {
	case string:
		out[t] = true
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
	default:
		for _, s := range allTypes {
			out[s] = true
		}
	}
	if out["number"] {
		out["integer"] = true // integer is a kind of number
	}
	return out
}

func (t typeSet) has(s string) bool { return t[s] }

// integerOnly: every number the schema allows is an integer.
func (t typeSet) integerOnly() bool { return t["integer"] && !t["number"] }

func describeTypes(t typeSet) string {
	if len(t) == len(allTypes) {
		return "any type"
	}
	var names []string
	for _, s := range allTypes {
		if t[s] && !(s == "integer" && t["number"]) {
			names = append(names, s)
		}
	}
	return "type " + strings.Join(names, "|")
}

func (w *walker) types(ta, tb typeSet, path string) {
	var lost []string
	for _, s := range allTypes {
		if ta[s] && !tb[s] {
			lost = append(lost, s)
		}
	}
	if len(lost) > 0 {
		w.report(Change{Path: path, Keyword: "type", Detail: "values of type " + strings.Join(lost, ", ") + " are refused"},
			describeTypes(ta), describeTypes(tb))
	}
}

// ---------------------------------------------------------------- numbers

type bound struct {
	set       bool
	v         *big.Rat
	exclusive bool
}

func rat(v any) (*big.Rat, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(n.String())
	return r, ok
}

// lower is the tightest lower bound of a schema's numbers; for integer-only
// instances an exclusive bound becomes the inclusive integer above it, so
// exclusiveMinimum 0 and minimum 1 compare equal.
func lower(o map[string]any, integers bool) bound {
	var b bound
	if r, ok := rat(o["minimum"]); ok {
		b = bound{set: true, v: r}
	}
	if r, ok := rat(o["exclusiveMinimum"]); ok && (!b.set || r.Cmp(b.v) >= 0) {
		b = bound{set: true, v: r, exclusive: true}
	}
	if b.set && integers {
		b = bound{set: true, v: ceilInt(b.v, b.exclusive)}
	}
	return b
}

func upper(o map[string]any, integers bool) bound {
	var b bound
	if r, ok := rat(o["maximum"]); ok {
		b = bound{set: true, v: r}
	}
	if r, ok := rat(o["exclusiveMaximum"]); ok && (!b.set || r.Cmp(b.v) <= 0) {
		b = bound{set: true, v: r, exclusive: true}
	}
	if b.set && integers {
		neg := new(big.Rat).Neg(b.v)
		b = bound{set: true, v: new(big.Rat).Neg(ceilInt(neg, b.exclusive))}
	}
	return b
}

// ceilInt is the least integer ≥ r (> r when exclusive).
func ceilInt(r *big.Rat, exclusive bool) *big.Rat {
	q := new(big.Int).Div(r.Num(), r.Denom()) // floor, Denom > 0
	if exclusive || !r.IsInt() {
		q.Add(q, big.NewInt(1))
	}
	return new(big.Rat).SetInt(q)
}

func (b bound) describe(name string) string {
	if !b.set {
		return "no " + name
	}
	op := map[string][2]string{"minimum": {">=", ">"}, "maximum": {"<=", "<"}}[name]
	if b.exclusive {
		return op[1] + " " + b.v.RatString()
	}
	return op[0] + " " + b.v.RatString()
}

// within: bound a is at least as tight as bound b (sign +1 for lower
// bounds, -1 for upper ones).
func within(a, b bound, sign int) bool {
	if !b.set {
		return true
	}
	if !a.set {
		return false
	}
	c := a.v.Cmp(b.v) * sign
	return c > 0 || (c == 0 && (a.exclusive || !b.exclusive))
}

func (w *walker) numbers(ao, bo map[string]any, ta typeSet, path string) {
	ints := ta.integerOnly()
	la, lb := lower(ao, ints), lower(bo, ints)
	if !within(la, lb, 1) {
		w.report(Change{Path: path, Keyword: "minimum"}, la.describe("minimum"), lb.describe("minimum"))
	}
	ua, ub := upper(ao, ints), upper(bo, ints)
	if !within(ua, ub, -1) {
		w.report(Change{Path: path, Keyword: "maximum"}, ua.describe("maximum"), ub.describe("maximum"))
	}
	mb, ok := rat(bo["multipleOf"])
	if !ok {
		return
	}
	ma, ok := rat(ao["multipleOf"])
	if !ok || !new(big.Rat).Quo(ma, mb).IsInt() {
		aDesc := "none"
		if ok {
			aDesc = ma.RatString()
		}
		w.report(Change{Path: path, Keyword: "multipleOf"}, aDesc, mb.RatString())
	}
}

// ---------------------------------------------------------------- strings

// count reads a non-negative integer keyword (minLength, maxItems, ...).
func count(o map[string]any, k string) (int64, bool) {
	r, ok := rat(o[k])
	if !ok || !r.IsInt() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// minMax compares a pair of counting keywords: a's minimum must be at least
// b's and a's maximum at most b's.
func (w *walker) minMax(ao, bo map[string]any, minKey, maxKey, path string) {
	if bMin, ok := count(bo, minKey); ok {
		aMin, _ := count(ao, minKey) // absent: 0
		if aMin < bMin {
			w.report(Change{Path: path, Keyword: minKey}, describeCount(ao, minKey), describeCount(bo, minKey))
		}
	}
	if bMax, ok := count(bo, maxKey); ok {
		if aMax, ok := count(ao, maxKey); !ok || aMax > bMax {
			w.report(Change{Path: path, Keyword: maxKey}, describeCount(ao, maxKey), describeCount(bo, maxKey))
		}
	}
}

func describeCount(o map[string]any, k string) string {
	if n, ok := count(o, k); ok {
		return fmt.Sprint(n)
	}
	return "none"
}

func (w *walker) strings(ao, bo map[string]any, path string) {
	w.minMax(ao, bo, "minLength", "maxLength", path)
	pb, ok := bo["pattern"].(string)
	if !ok {
		return
	}
	pa, ok := ao["pattern"].(string)
	switch {
	case !ok:
		w.report(Change{Path: path, Keyword: "pattern", Detail: "a pattern was added"}, "none", quote(pb))
	case pa != pb:
		// Regular-expression inclusion is not decided here: a different
		// pattern is reported, never assumed to be wider.
		w.report(Change{Path: path, Keyword: "pattern", Unproven: true, Detail: "the pattern changed; inclusion of one regular expression in another is not proven"},
			quote(pa), quote(pb))
	}
}

// ---------------------------------------------------------------- arrays

func (w *walker) arrays(ao, bo map[string]any, path string) {
	w.minMax(ao, bo, "minItems", "maxItems", path)
	if u, _ := bo["uniqueItems"].(bool); u {
		if ua, _ := ao["uniqueItems"].(bool); !ua {
			w.report(Change{Path: path, Keyword: "uniqueItems"}, "false", "true")
		}
	}
	ia, ok := ao["items"]
	if !ok {
		ia = true
	}
	ib, ok := bo["items"]
	if !ok {
		ib = true
	}
	w.subset(ia, ib, path+"[]")
}

// ---------------------------------------------------------------- objects

func strs(v any) map[string]bool {
	out := map[string]bool{}
	if xs, ok := v.([]any); ok {
		for _, x := range xs {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
	}
	return out
}

func props(o map[string]any) map[string]any {
	p, _ := o["properties"].(map[string]any)
	return p
}

// propertySchema is what a schema allows for the property name: its
// properties entry, else additionalProperties, else anything.
func propertySchema(o map[string]any, name string) any {
	if s, ok := props(o)[name]; ok {
		return s
	}
	if s, ok := o["additionalProperties"]; ok {
		return s
	}
	return true
}

// describeProperty says how a schema treats one property name.
func describeProperty(o map[string]any, req map[string]bool, name string) string {
	_, declared := props(o)[name]
	switch {
	case req[name]:
		return "required"
	case declared && isFalse(props(o)[name]):
		return "forbidden"
	case declared:
		return "optional"
	case isFalse(o["additionalProperties"]):
		return "not allowed (additionalProperties false)"
	default:
		return "not declared (open content model)"
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (w *walker) objects(ao, bo map[string]any, path string) {
	ra, rb := strs(ao["required"]), strs(bo["required"])
	for _, name := range sortedKeys(rb) {
		if !ra[name] {
			w.report(Change{Path: join(path, name), Keyword: "required", Detail: "a value may lack this field"},
				describeProperty(ao, ra, name), describeProperty(bo, rb, name))
		}
	}
	names := map[string]bool{}
	for n := range props(ao) {
		names[n] = true
	}
	for n := range props(bo) {
		names[n] = true
	}
	for _, name := range sortedKeys(names) {
		pa, pb := propertySchema(ao, name), propertySchema(bo, name)
		if isFalse(pb) && !isFalse(pa) {
			w.report(Change{Path: join(path, name), Keyword: "property", Detail: "a value may carry this field, and the other side refuses it"},
				describeProperty(ao, ra, name), describeProperty(bo, rb, name))
			continue
		}
		if _, declared := props(ao)[name]; !declared && !constrains(pa) && constrains(pb) {
			// Confluent's open content model rule: where a allowed the
			// field with any value, b declaring it refuses some of them.
			w.report(Change{Path: join(path, name), Keyword: "property", Detail: "a value may carry this field with any value"},
				describeProperty(ao, ra, name), "declared as "+summary(pb))
			continue
		}
		w.subset(pa, pb, join(path, name))
	}
	aa, ok := ao["additionalProperties"]
	if !ok {
		aa = true
	}
	ba, ok := bo["additionalProperties"]
	if !ok {
		ba = true
	}
	if isFalse(ba) && !isFalse(aa) {
		w.report(Change{Path: join(path, "*"), Keyword: "additionalProperties", Detail: "undeclared fields are refused"},
			describeAdditional(aa), describeAdditional(ba))
	} else {
		w.subset(aa, ba, join(path, "*"))
	}
	w.minMax(ao, bo, "minProperties", "maxProperties", path)
}

func describeAdditional(s any) string {
	switch {
	case isFalse(s):
		return "false (closed content model)"
	case !constrains(s):
		return "true (open content model)"
	default:
		return compact(s)
	}
}

// ---------------------------------------------------------------- helpers

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func list(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = compact(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// summary is a schema as compact JSON, cut short when long.
func summary(s any) string {
	out := compact(s)
	if len(out) > 120 {
		out = out[:117] + "..."
	}
	return out
}

func quote(s string) string { return compact(s) }

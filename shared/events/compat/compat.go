// Package compat proves that one JSON Schema (draft 2020-12) can replace
// another, in the terms of Confluent Schema Registry's compatibility modes.
//
// A change is BACKWARD compatible when a consumer using the new schema can
// read every event written under the old one: every instance valid under
// old is valid under new (old ⊆ new). It is FORWARD compatible when old
// consumers can read what is written under the new one (new ⊆ old). FULL is
// both. The TRANSITIVE forms hold a version against every earlier version
// of its family, not only the one before it.
//
// The proof is structural: it walks both schemas side by side and, for
// every keyword that constrains instances, shows that the narrower side's
// constraint implies the wider side's. Where it cannot show that (an
// unsupported keyword such as anyOf or $ref, two different regular
// expressions) it reports the change as not proven, which fails the check
// just like a proven break: an unknown keyword is never taken as compatible.
package compat

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Mode is a compatibility rule, named as Confluent Schema Registry names it.
type Mode string

const (
	None               Mode = "NONE"
	Backward           Mode = "BACKWARD"
	BackwardTransitive Mode = "BACKWARD_TRANSITIVE"
	Forward            Mode = "FORWARD"
	ForwardTransitive  Mode = "FORWARD_TRANSITIVE"
	Full               Mode = "FULL"
	FullTransitive     Mode = "FULL_TRANSITIVE"
)

// Modes lists every rule, in the order the registry's documentation does.
var Modes = []Mode{Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive, None}

// ParseMode accepts a rule name in any letter case.
func ParseMode(s string) (Mode, error) {
	up := Mode(strings.ToUpper(strings.TrimSpace(s)))
	for _, m := range Modes {
		if up == m {
			return m, nil
		}
	}
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("unknown compatibility rule %q (one of %s)", s, strings.Join(names, ", "))
}

// ChecksBackward reports whether the rule needs new readers to read old data.
func (m Mode) ChecksBackward() bool {
	return m == Backward || m == BackwardTransitive || m == Full || m == FullTransitive
}

// ChecksForward reports whether the rule needs old readers to read new data.
func (m Mode) ChecksForward() bool {
	return m == Forward || m == ForwardTransitive || m == Full || m == FullTransitive
}

// Transitive reports whether a version is held against every earlier one.
func (m Mode) Transitive() bool {
	return m == BackwardTransitive || m == ForwardTransitive || m == FullTransitive
}

// Direction says which readers a change breaks.
type Direction string

const (
	// BreaksBackward: a consumer on the new schema may refuse data written
	// under the old one.
	BreaksBackward Direction = "BACKWARD"
	// BreaksForward: a consumer still on the old schema may refuse data
	// written under the new one.
	BreaksForward Direction = "FORWARD"
)

// Change is one reason a schema cannot replace another.
type Change struct {
	// Path names the field: "lines[].quantity"; "" is the payload itself;
	// "*" stands for properties no "properties" entry names.
	Path string
	// Keyword is the constraint concerned: "required", "type", "maximum",
	// "enum", "property", "additionalProperties", ...
	Keyword string
	// Old and New describe the constraint under each schema.
	Old, New string
	// Breaks says which readers the change breaks.
	Breaks Direction
	// Unproven marks a change the checker could not prove safe (an
	// unsupported keyword, two different patterns) rather than one it
	// proved unsafe. Either fails the check.
	Unproven bool
	// Detail adds what the constraints do not say by themselves.
	Detail string
}

// Field is Path as printed: the payload itself is "(root)".
func (c Change) Field() string {
	if c.Path == "" {
		return "(root)"
	}
	return c.Path
}

func (c Change) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: old %s, new %s", c.Field(), c.Keyword, c.Old, c.New)
	if c.Detail != "" {
		b.WriteString(" (" + c.Detail + ")")
	}
	if c.Unproven {
		b.WriteString(" [cannot prove " + string(c.Breaks) + " compatibility]")
	} else {
		b.WriteString(" [breaks " + string(c.Breaks) + "]")
	}
	return b.String()
}

const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// Schema is a parsed, meta-schema-valid JSON Schema document.
type Schema struct {
	doc any
}

// Parse reads a JSON Schema and checks it against the draft 2020-12
// meta-schema (or the draft its $schema names), so that a malformed schema
// is an error here rather than a silent "compatible" later.
func Parse(raw []byte) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	switch doc.(type) {
	case bool, map[string]any:
	default:
		return nil, fmt.Errorf("a schema is a JSON object or a boolean, not %T", doc)
	}
	// Keywords changed meaning between drafts (exclusiveMinimum was a
	// boolean, items could be an array): the walker knows 2020-12 only.
	if m, ok := doc.(map[string]any); ok {
		if d, ok := m["$schema"]; ok && d != draft2020 {
			return nil, fmt.Errorf("$schema %v: only draft 2020-12 (%s) is supported", d, draft2020)
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const loc = "urn:orderflow:compat:parse"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	if _, err := c.Compile(loc); err != nil {
		return nil, fmt.Errorf("not a valid JSON Schema: %w", err)
	}
	return &Schema{doc: doc}, nil
}

// CheckBackward lists what stops a consumer on next from reading every
// instance valid under prev (prev ⊆ next fails). Empty means proven.
func CheckBackward(prev, next *Schema) []Change {
	w := &walker{aIsOld: true, breaks: BreaksBackward}
	w.subset(prev.doc, next.doc, "")
	return w.changes
}

// CheckForward lists what stops a consumer on prev from reading every
// instance valid under next (next ⊆ prev fails). Empty means proven.
func CheckForward(prev, next *Schema) []Change {
	w := &walker{aIsOld: false, breaks: BreaksForward}
	w.subset(next.doc, prev.doc, "")
	return w.changes
}

// CheckPair applies one rule to one pair of versions (the transitive forms
// are a matter of which pairs; see CheckFamily).
func CheckPair(mode Mode, prev, next *Schema) []Change {
	var out []Change
	if mode.ChecksBackward() {
		out = append(out, CheckBackward(prev, next)...)
	}
	if mode.ChecksForward() {
		out = append(out, CheckForward(prev, next)...)
	}
	return out
}

package compat

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// mutation is one breaking edit of a real catalog schema, made by the test
// (not by hand), with what it must break and what it must leave alone.
type mutation struct {
	name     string // schema file, edit, field
	old, new any    // the documents
	// "path keyword" that must be among the BACKWARD (FORWARD) findings;
	// "": that direction must pass.
	wantB, wantF string
}

// catalogMutations edits every catalog schema (shared/events/schemas) at
// every place an edit applies: a required field dropped or added, a bound
// tightened, an enum narrowed, a declared property removed under a closed
// content model, an open content model closed, a string field made an
// integer. Each edit is a break in a known direction.
func catalogMutations(t *testing.T) []mutation {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "schemas", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("catalog schemas: %v (%d files)", err, len(files))
	}
	var out []mutation
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(file)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		for _, site := range objectSites(doc, nil, "") {
			out = append(out, mutationsAt(t, base, doc, site)...)
		}
	}
	return out
}

type site struct {
	pointer []string // keys from the root to the schema object
	path    string   // field path, as findings name it
}

// objectSites lists every schema object of a document, with its path.
func objectSites(s any, pointer []string, path string) []site {
	o, ok := s.(map[string]any)
	if !ok {
		return nil
	}
	out := []site{{append([]string(nil), pointer...), path}}
	if props, ok := o["properties"].(map[string]any); ok {
		for _, name := range sortedKeys(props) {
			out = append(out, objectSites(props[name], append(append([]string(nil), pointer...), "properties", name), join(path, name))...)
		}
	}
	if items, ok := o["items"]; ok {
		out = append(out, objectSites(items, append(append([]string(nil), pointer...), "items"), path+"[]")...)
	}
	return out
}

func deepCopy(t *testing.T, doc any) any {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func at(doc any, pointer []string) map[string]any {
	cur := doc
	for _, k := range pointer {
		cur = cur.(map[string]any)[k]
	}
	return cur.(map[string]any)
}

func mutationsAt(t *testing.T, file string, doc any, s site) []mutation {
	node := at(doc, s.pointer)
	var out []mutation
	edit := func(what, wantB, wantF string, change func(n map[string]any)) {
		next := deepCopy(t, doc)
		change(at(next, s.pointer))
		out = append(out, mutation{name: fmt.Sprintf("%s %s %s", file, what, wantB+wantF), old: doc, new: next, wantB: wantB, wantF: wantF})
	}
	req := strs(node["required"])
	props, _ := node["properties"].(map[string]any)
	for _, name := range sortedKeys(props) {
		name := name
		if req[name] {
			edit("drop-required", "", join(s.path, name)+" required", func(n map[string]any) {
				kept := []any{}
				for _, r := range n["required"].([]any) {
					if r != name {
						kept = append(kept, r)
					}
				}
				n["required"] = kept
			})
		} else {
			edit("add-required", join(s.path, name)+" required", "", func(n map[string]any) {
				r, _ := n["required"].([]any)
				n["required"] = append(append([]any(nil), r...), name)
			})
		}
		if isFalse(node["additionalProperties"]) {
			// Removed from required too: then new data lacks what old
			// readers require, and FORWARD breaks as well.
			wantF := ""
			if req[name] {
				wantF = join(s.path, name) + " required"
			}
			edit("remove-closed-property", join(s.path, name)+" property", wantF, func(n map[string]any) {
				delete(n["properties"].(map[string]any), name)
				if r, ok := n["required"].([]any); ok {
					kept := []any{}
					for _, x := range r {
						if x != name {
							kept = append(kept, x)
						}
					}
					n["required"] = kept
				}
			})
		}
	}
	if props != nil && !isFalse(node["additionalProperties"]) && node["additionalProperties"] == nil {
		edit("close-content-model", join(s.path, "*")+" additionalProperties", "", func(n map[string]any) {
			n["additionalProperties"] = false
		})
	}
	for _, k := range []string{"maximum", "maxLength", "maxItems"} {
		if v, ok := rat(node[k]); ok && v.Sign() > 0 {
			k := k
			edit("lower-"+k, s.path+" "+k, "", func(n map[string]any) {
				r, _ := rat(n[k])
				n[k] = json.Number(r.Sub(r, ratOne()).RatString())
			})
		}
	}
	for _, k := range []string{"minimum", "minLength", "minItems"} {
		if _, ok := rat(node[k]); ok {
			k := k
			edit("raise-"+k, s.path+" "+k, "", func(n map[string]any) {
				r, _ := rat(n[k])
				n[k] = json.Number(r.Add(r, ratOne()).RatString())
			})
		}
	}
	if e, ok := node["enum"].([]any); ok && len(e) > 1 {
		edit("narrow-enum", s.path+" enum", "", func(n map[string]any) {
			n["enum"] = append([]any(nil), e[:len(e)-1]...)
		})
	}
	if node["type"] == "string" && node["enum"] == nil {
		edit("string-to-integer", s.path+" type", s.path+" type", func(n map[string]any) {
			for _, k := range []string{"pattern", "minLength", "maxLength", "format"} {
				delete(n, k)
			}
			n["type"] = "integer"
		})
	}
	return out
}

func TestEveryMutationOfTheCatalogIsCaught(t *testing.T) {
	muts := catalogMutations(t)
	if len(muts) < 100 {
		t.Fatalf("only %d mutations of the catalog", len(muts))
	}
	kinds := map[string]int{}
	for _, m := range muts {
		kinds[strings.Fields(m.name)[1]]++
		old, next := mustSchema(t, m.old), mustSchema(t, m.new)
		for _, d := range []struct {
			dir  string
			got  []Change
			want string
		}{
			{"BACKWARD", CheckBackward(old, next), m.wantB},
			{"FORWARD", CheckForward(old, next), m.wantF},
		} {
			if (d.want != "") != (len(d.got) > 0) {
				t.Errorf("%s: %s must break: %v; got %v", m.name, d.dir, d.want != "", d.got)
				continue
			}
			if d.want != "" && !contains(keys(d.got), d.want) {
				t.Errorf("%s: %s findings %v lack %q", m.name, d.dir, keys(d.got), d.want)
			}
		}
	}
	var summary []string
	for _, k := range sortedKeys(kinds) {
		summary = append(summary, fmt.Sprintf("%s %d", k, kinds[k]))
	}
	sort.Strings(summary)
	t.Logf("%d mutations: %s", len(muts), strings.Join(summary, ", "))
}

func mustSchema(t *testing.T, doc any) *Schema {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ratOne() *big.Rat { return big.NewRat(1, 1) }

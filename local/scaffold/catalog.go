package scaffold

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"orderflow.dev/shared/events"
)

// The catalog's files, relative to the tree's root.
const (
	EventsDir    = "shared/events"
	CatalogFile  = EventsDir + "/catalog.go"
	PayloadsFile = EventsDir + "/payloads.go"
	SchemasDir   = EventsDir + "/schemas"
)

// catalogSource is catalog.go parsed: what the scaffold reads and edits.
type catalogSource struct {
	src    []byte
	fset   *token.FileSet
	file   *ast.File
	consts map[string]string // type or topic name -> its constant
	names  map[string]bool   // every top-level name of package events
}

func readCatalog(root string) (*catalogSource, error) {
	src, err := os.ReadFile(filepath.Join(root, CatalogFile))
	if err != nil {
		return nil, err
	}
	c := &catalogSource{src: src, fset: token.NewFileSet(), consts: map[string]string{}, names: map[string]bool{}}
	if c.file, err = parser.ParseFile(c.fset, CatalogFile, src, parser.ParseComments); err != nil {
		return nil, err
	}
	c.eachStringConst(func(_ *ast.ValueSpec, name, value string) { c.consts[value] = name })
	// Every top-level name of the package, so a new constant or payload
	// type cannot collide with one.
	files, err := filepath.Glob(filepath.Join(root, EventsDir, "*.go"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			if f, ok := d.(*ast.FuncDecl); ok && f.Recv == nil {
				c.names[f.Name.Name] = true
			}
			if g, ok := d.(*ast.GenDecl); ok {
				for _, s := range g.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						c.names[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							c.names[n.Name] = true
						}
					}
				}
			}
		}
	}
	return c, nil
}

// constOf is the constant naming a type or topic in catalog.go.
func (c *catalogSource) constOf(value string) (string, error) {
	name, ok := c.consts[value]
	if !ok {
		return "", fmt.Errorf("%s: no constant for %q", CatalogFile, value)
	}
	return name, nil
}

// insertion is text put into src at an offset.
type insertion struct {
	at   int
	text string
}

// endOfLine is the offset just past the line holding pos.
func (c *catalogSource) endOfLine(pos token.Pos) int {
	off := c.fset.Position(pos).Offset
	if i := bytes.IndexByte(c.src[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(c.src)
}

// defCalls are the def[...](Spec{...}) statements of the catalog's init.
func (c *catalogSource) defCalls() []*ast.CompositeLit {
	var out []*ast.CompositeLit
	ast.Inspect(c.file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return true
		}
		if ix, ok := call.Fun.(*ast.IndexExpr); !ok || !isIdent(ix.X, "def") {
			return true
		}
		if lit, ok := call.Args[0].(*ast.CompositeLit); ok {
			out = append(out, lit)
		}
		return true
	})
	return out
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func field(lit *ast.CompositeLit, key string) *ast.KeyValueExpr {
	for _, e := range lit.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok && isIdent(kv.Key, key) {
			return kv
		}
	}
	return nil
}

// edit is catalog.go with the scaffold's changes: the new type's constant
// among the facts, its topic's constant among the topics, its def among
// the facts' (Terminal: nothing reacts to it yet), and fn added to the
// consumers of every version of each type it reacts to.
func (c *catalogSource) edit(fn string, on []events.Spec, emits *newType, topicConst, topic string) ([]byte, error) {
	var ins []insertion
	onFamilies := map[string]bool{}
	for _, s := range on {
		onFamilies[family(s.Type)] = true
	}
	var lastFactDef *ast.CompositeLit
	for _, lit := range c.defCalls() {
		typeKV := field(lit, "Type")
		if typeKV == nil {
			continue
		}
		id, ok := typeKV.Value.(*ast.Ident)
		if !ok {
			continue
		}
		typ := ""
		for v, name := range c.consts {
			if name == id.Name {
				typ = v
			}
		}
		spec, known := events.Lookup(typ)
		if !known {
			continue
		}
		if spec.Kind == events.KindFact {
			lastFactDef = lit
		}
		if !onFamilies[family(typ)] {
			continue
		}
		if kv := field(lit, "ConsumedBy"); kv != nil {
			list, ok := kv.Value.(*ast.CompositeLit)
			if !ok {
				return nil, fmt.Errorf("%s: ConsumedBy of %s is not a list literal", CatalogFile, id.Name)
			}
			sep := ", "
			if len(list.Elts) == 0 {
				sep = ""
			}
			ins = append(ins, insertion{c.fset.Position(list.Rbrace).Offset, sep + strconv.Quote(fn)})
		} else {
			ins = append(ins, insertion{c.fset.Position(typeKV.End()).Offset, ", ConsumedBy: []string{" + strconv.Quote(fn) + "}"})
		}
	}
	if emits != nil {
		factConst, topicConstAfter := c.lastConst(func(v string) bool {
			s, ok := events.Lookup(v)
			return ok && s.Kind == events.KindFact && s.SupersededBy == "" && s.Topic != ""
		}), c.lastConst(func(v string) bool { return strings.HasPrefix(c.consts[v], "Topic") })
		if factConst == nil || topicConstAfter == nil || lastFactDef == nil {
			return nil, fmt.Errorf("%s: cannot find where its facts, topics and defs are declared", CatalogFile)
		}
		ins = append(ins,
			insertion{c.endOfLine(factConst.End()), fmt.Sprintf("\t%s = %q\n", emits.Const, emits.Type)},
			insertion{c.endOfLine(topicConstAfter.End()), fmt.Sprintf("\t%s = %q\n", topicConst, topic)},
			insertion{c.endOfLine(lastFactDef.End()), fmt.Sprintf("\tdef[%s](Spec{Type: %s, Kind: KindFact, Producer: %q, Topic: %s,\n\t\tTerminal: true, Doc: %q})\n",
				emits.Payload, emits.Const, fn, topicConst, fn+"'s answer to "+strings.Join(shorts(on), ", ")+" (scaffolded: say what it means)")},
		)
	}
	sort.SliceStable(ins, func(i, j int) bool { return ins[i].at > ins[j].at })
	out := slices.Clone(c.src)
	for _, in := range ins {
		out = slices.Insert(out, in.at, []byte(in.text)...)
	}
	formatted, err := format.Source(out)
	if err != nil {
		return nil, fmt.Errorf("%s: the edit is not valid Go: %w", CatalogFile, err)
	}
	return formatted, nil
}

// lastConst is the last ValueSpec, in file order, whose string value
// passes match.
func (c *catalogSource) lastConst(match func(value string) bool) *ast.ValueSpec {
	var last *ast.ValueSpec
	c.eachStringConst(func(vs *ast.ValueSpec, _, value string) {
		if match(value) {
			last = vs
		}
	})
	return last
}

// eachStringConst calls f for every string constant of catalog.go, in
// file order.
func (c *catalogSource) eachStringConst(f func(vs *ast.ValueSpec, name, value string)) {
	for _, d := range c.file.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						f(vs, n.Name, v)
					}
				}
			}
		}
	}
}

func shorts(specs []events.Spec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = strings.TrimPrefix(family(s.Type), TypePrefix)
	}
	return out
}

// payloadsEdit appends the new type's payload to payloads.go: the order it
// concerns, which is also its partition key and correlation id.
func payloadsEdit(root string, fn string, emits *newType) ([]byte, []byte, error) {
	old, err := os.ReadFile(filepath.Join(root, PayloadsFile))
	if err != nil {
		return nil, nil, err
	}
	add := fmt.Sprintf(`
// %[1]s is what %[3]s publishes: %[2]s.
// Scaffolded with the order alone: give it the fields its consumers need,
// and its schema (schemas/%[2]s.json) the same.
type %[1]s struct {
	OrderID string `+"`json:\"orderId\"`"+`
}

func (p %[1]s) key() string { return p.OrderID }
`, emits.Payload, emits.Type, fn)
	out, err := format.Source(append(slices.Clone(old), add...))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the edit is not valid Go: %w", PayloadsFile, err)
	}
	return old, out, nil
}

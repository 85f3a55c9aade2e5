package events

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed schemas/*.json
var schemaFiles embed.FS

// FieldError is a refusal that names what is wrong: Field is a path into the
// payload such as "lines[0].quantity", or a CloudEvents attribute such as
// "type" or "datacontenttype".
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

var printer = message.NewPrinter(language.English)

// Schemas are compiled when a type is first decoded, not when the process
// starts: a function decodes a handful of the catalog's types, and
// compiling all of them at start was half of a function's start-to-ready
// time. The compiler holds every schema as a resource, so a schema that
// refers to another still resolves.
var (
	compilerOnce sync.Once
	compiler     *jsonschema.Compiler
	compilerErr  error
	compileMu    sync.Mutex
	compiled     = map[string]*jsonschema.Schema{}
)

func schemaOf(typ string) (*jsonschema.Schema, error) {
	compilerOnce.Do(func() {
		c := jsonschema.NewCompiler()
		for _, s := range catalog {
			raw, err := schemaFiles.ReadFile("schemas/" + s.Type + ".json")
			if err != nil {
				compilerErr = fmt.Errorf("events: no schema for %s", s.Type)
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				compilerErr = fmt.Errorf("events: schema of %s: %w", s.Type, err)
				return
			}
			if err := c.AddResource(s.SchemaURI(), doc); err != nil {
				compilerErr = fmt.Errorf("events: schema of %s: %w", s.Type, err)
				return
			}
		}
		compiler = c
	})
	if compilerErr != nil {
		return nil, compilerErr
	}
	compileMu.Lock()
	defer compileMu.Unlock()
	if sch, ok := compiled[typ]; ok {
		return sch, nil
	}
	sch, err := compiler.Compile(catalog[typ].SchemaURI())
	if err != nil {
		return nil, fmt.Errorf("events: schema of %s: %w", typ, err)
	}
	compiled[typ] = sch
	return sch, nil
}

// CompileAll compiles every schema of the catalog, so a broken one fails a
// test (or a start) rather than the first delivery of its type.
func CompileAll() error {
	for typ := range catalog {
		if _, err := schemaOf(typ); err != nil {
			return err
		}
	}
	return nil
}

// Schema returns the raw JSON Schema of a type, as embedded.
func Schema(typ string) ([]byte, bool) {
	raw, err := schemaFiles.ReadFile("schemas/" + typ + ".json")
	return raw, err == nil
}

// Decode checks data against the JSON Schema of typ, unmarshals it into
// the type's Go payload and, when typ is a superseded version, upcasts it
// to the current one (upcast.go): what it returns is always a pointer to
// the payload of Current(typ), so decisions see one shape per family.
// Every failure is a *FieldError.
func Decode(typ string, data []byte) (any, error) {
	out, err := decodeAs(typ, data)
	if err != nil {
		return nil, err
	}
	_, current, err := Upcast(typ, out)
	if err != nil {
		return nil, &FieldError{Field: "data", Reason: err.Error()}
	}
	return current, nil
}

// checked is a payload with a rule its schema cannot express (a sum of
// fields, say); Decode applies it after the schema.
type checked interface{ check() *FieldError }

// decodeAs is Decode without the upcast: the payload of typ itself.
func decodeAs(typ string, data []byte) (any, error) {
	spec, ok := catalog[typ]
	if !ok {
		return nil, &FieldError{Field: "type", Reason: boundReason(fmt.Sprintf("unknown event type %q", typ))}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &FieldError{Field: "data", Reason: "missing: a " + typ + " event needs a JSON payload"}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, &FieldError{Field: "data", Reason: "not valid JSON: " + err.Error()}
	}
	sch, err := schemaOf(typ)
	if err != nil {
		return nil, err
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return nil, fieldErrorOf(ve)
		}
		return nil, &FieldError{Field: "data", Reason: err.Error()}
	}
	out := spec.NewData()
	if err := json.Unmarshal(data, out); err != nil {
		// The schema admitted something Go cannot hold (say, a number too
		// large for int64): still the payload's fault.
		return nil, &FieldError{Field: "data", Reason: err.Error()}
	}
	if c, ok := out.(checked); ok {
		if fe := c.check(); fe != nil {
			return nil, fe
		}
	}
	return out, nil
}

// fieldErrorOf reduces a schema validation tree to its first leaf, which is
// the most specific complaint, and names the field it concerns.
func fieldErrorOf(ve *jsonschema.ValidationError) *FieldError {
	leaf := ve
	for len(leaf.Causes) > 0 {
		causes := append([]*jsonschema.ValidationError(nil), leaf.Causes...)
		sort.SliceStable(causes, func(i, j int) bool {
			li, lj := strings.Join(causes[i].InstanceLocation, "/"), strings.Join(causes[j].InstanceLocation, "/")
			if li != lj {
				return li < lj
			}
			// At one location, an unexpected property is the likelier
			// root cause (a typo) than the missing one it was meant to be.
			return rank(causes[i]) < rank(causes[j])
		})
		leaf = causes[0]
	}
	field := fieldPath(leaf.InstanceLocation)
	reason := numberBound(leaf.ErrorKind)
	if reason == "" {
		reason = leaf.ErrorKind.LocalizedString(printer)
	}
	// A missing or unexpected property is reported at its parent; name the
	// property itself (the first, when several are missing), since that is
	// what the sender has to fix.
	if strings.HasPrefix(reason, "missing propert") || strings.HasPrefix(reason, "additional properties ") {
		if name := firstQuoted(reason); name != "" {
			field = joinField(field, name)
		}
	}
	if field == "" {
		field = "data"
	}
	return &FieldError{Field: field, Reason: boundReason(reason)}
}

// numberBound words a number out of bounds with the numbers as written:
// the validator's own message prints them as floats through a locale
// ("got 2.147483647×10⁰⁹, want 1,000"). "" for any other complaint.
func numberBound(k jsonschema.ErrorKind) string {
	var name, rel string
	var got, want *big.Rat
	switch k := k.(type) {
	case *kind.Maximum:
		name, rel, got, want = "maximum", "at most", k.Got, k.Want
	case *kind.Minimum:
		name, rel, got, want = "minimum", "at least", k.Got, k.Want
	case *kind.ExclusiveMaximum:
		name, rel, got, want = "exclusiveMaximum", "less than", k.Got, k.Want
	case *kind.ExclusiveMinimum:
		name, rel, got, want = "exclusiveMinimum", "more than", k.Got, k.Want
	case *kind.MultipleOf:
		name, rel, got, want = "multipleOf", "a multiple of", k.Got, k.Want
	default:
		return ""
	}
	if got == nil || want == nil {
		return ""
	}
	return fmt.Sprintf("%s: got %s, want %s %s", name, ratString(got), rel, ratString(want))
}

// ratString writes r as its integer when it is one, else as a decimal.
func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return strings.TrimRight(strings.TrimRight(r.FloatString(6), "0"), ".")
}

// maxReason bounds a schema complaint: it quotes what the sender sent (an
// object of 60,000 unexpected properties is named property by property),
// and it travels in a 400's body, of which a KafkaSource keeps 1 KiB for
// the dead letter (knativeerrordata): past that, the reason is lost.
const maxReason = 300

func boundReason(reason string) string {
	if len(reason) <= maxReason {
		return reason
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes)", reason[:cut], len(reason)-cut)
}

func rank(ve *jsonschema.ValidationError) int {
	if strings.HasPrefix(ve.ErrorKind.LocalizedString(printer), "additional properties ") {
		return 0
	}
	return 1
}

func fieldPath(loc []string) string {
	var b strings.Builder
	for _, p := range loc {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func firstQuoted(s string) string {
	i := strings.IndexAny(s, "'\"")
	if i < 0 {
		return ""
	}
	q := s[i]
	j := strings.IndexByte(s[i+1:], q)
	if j < 0 {
		return ""
	}
	return s[i+1 : i+1+j]
}

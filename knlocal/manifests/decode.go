package manifests

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	kjson "sigs.k8s.io/json"
)

// FieldProblem is one problem of one field (dotted path; "" for the
// object as a whole).
type FieldProblem struct {
	Field string
	Msg   string
}

// DecodeStrict decodes an object's JSON into one of the wire structs (or
// any Go value) the way the API server decodes a request under strict
// field validation, kubectl's default: sigs.k8s.io/json, field names
// matched case-sensitively, every unknown and every duplicate field
// reported with its path (spec.delivery.backofPolicy), a value of the
// wrong type named by its field.
func DecodeStrict(data []byte, into any) []FieldProblem {
	strict, err := kjson.UnmarshalStrict(data, into)
	if err != nil {
		return []FieldProblem{typeProblem(err, reflect.TypeOf(into))}
	}
	var probs []FieldProblem
	for _, e := range strict {
		var fe kjson.FieldError
		if !errors.As(e, &fe) {
			probs = append(probs, FieldProblem{Msg: e.Error()})
			continue
		}
		// The two kinds differ only in their message: `unknown field
		// "spec.x"`, `duplicate field "spec.topic"`.
		msg := "unknown field"
		if strings.HasPrefix(e.Error(), "duplicate field") {
			msg = "duplicate field"
		}
		probs = append(probs, FieldProblem{Field: fe.FieldPath(), Msg: msg})
	}
	return probs
}

// typeProblem names the field of a value of the wrong type. The
// decoder's UnmarshalTypeError lives in an internal package, so its
// fields are read by name; anything else (a syntax error) is reported
// whole. Its path names the Go fields of embedded structs too
// (spec.SourceSpecWire.sink), which JSON does not see; they are left out.
func typeProblem(err error, into reflect.Type) FieldProblem {
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct && v.Elem().Type().Name() == "UnmarshalTypeError" {
		e := v.Elem()
		field, value := e.FieldByName("Field"), e.FieldByName("Value")
		typ, _ := e.FieldByName("Type").Interface().(reflect.Type)
		if field.Kind() == reflect.String && value.Kind() == reflect.String && typ != nil {
			embedded := map[string]bool{}
			embeddedNames(into, embedded, map[reflect.Type]bool{})
			var path []string
			for _, seg := range strings.Split(field.String(), ".") {
				if !embedded[seg] {
					path = append(path, seg)
				}
			}
			return FieldProblem{Field: strings.Join(path, "."), Msg: fmt.Sprintf("cannot be %s: must be %s", value.String(), typ)}
		}
	}
	return FieldProblem{Msg: "invalid JSON: " + err.Error()}
}

// embeddedNames gathers the names of the embedded structs of t, at any
// depth.
func embeddedNames(t reflect.Type, names map[string]bool, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("json") != "-" && !strings.Contains(f.Tag.Get("json"), "metadata") {
			names[f.Name] = true
		}
		embeddedNames(f.Type, names, seen)
	}
}

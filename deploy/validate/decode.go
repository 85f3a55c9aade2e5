package validate

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	webhookjson "knative.dev/pkg/webhook/json"

	"orderflow.dev/knlocal/manifests"
)

// DecodeStrict decodes an object's JSON into a typed API object the way
// Knative's validating admission webhook does (knative.dev/pkg
// webhook/json.Decode with disallowUnknownFields=true, as eventing-kafka-
// broker's webhook-kafka and eventing's webhook configure it), and also
// refuses unknown fields inside metadata, which the API server's strict
// field validation (kubectl's default) rejects before a webhook sees them.
//
// encoding/json stops at the first unknown field and does not say where it
// is, so every unknown field is located by walking the JSON against the Go
// type, giving paths such as spec.delivery.backofPolicy.
func DecodeStrict(data []byte, into any) []manifests.FieldProblem {
	var probs []manifests.FieldProblem
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return []manifests.FieldProblem{{Msg: "invalid JSON: " + err.Error()}}
	}
	for _, p := range unknownFields(generic, reflect.TypeOf(into), "") {
		probs = append(probs, manifests.FieldProblem{Field: p, Msg: "unknown field"})
	}
	err := webhookjson.Decode(data, into, true)
	if err == nil && len(probs) == 0 {
		// metadata is skipped by the webhook decoder; check it as the
		// API server does.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(into)
	}
	if err != nil && len(probs) == 0 {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			probs = append(probs, manifests.FieldProblem{Field: te.Field, Msg: fmt.Sprintf("cannot be %s: must be %s", te.Value, te.Type)})
		} else {
			probs = append(probs, manifests.FieldProblem{Msg: err.Error()})
		}
	}
	return probs
}

var (
	jsonUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// unknownFields lists the paths of v (decoded JSON) that type t has no
// field for, following encoding/json's rules: json tags, embedded structs
// (whose fields are promoted, as with `json:",inline"`), case-insensitive
// matching is NOT applied (Kubernetes' strict decoding is case-sensitive).
// Types with their own UnmarshalJSON are leaves: they decide themselves.
func unknownFields(v any, t reflect.Type, at string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil // a type error; the decoder reports it
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				out = append(out, join(at, k))
				continue
			}
			out = append(out, unknownFields(obj[k], ft, join(at, k))...)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, unknownFields(obj[k], t.Elem(), fmt.Sprintf("%s[%s]", at, k))...)
		}
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range list {
			out = append(out, unknownFields(e, t.Elem(), fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	return out
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// jsonFields maps the JSON names of a struct's fields to their types,
// promoting the fields of embedded structs as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, dup := out[k]; !dup {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}

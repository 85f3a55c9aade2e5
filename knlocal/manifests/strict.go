package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// decodeStrict decodes one YAML document into out (a pointer to a wire
// struct). Problems come back as (field path, message) pairs so the caller
// can name the file and object:
//   - duplicate keys (sigs.k8s.io/yaml.YAMLToJSONStrict),
//   - fields the struct does not model (reflective walk; encoding/json's
//     DisallowUnknownFields would only say `unknown field "x"` without
//     the path),
//   - values of the wrong type (json.UnmarshalTypeError carries the path).
func decodeStrict(doc []byte, out any) []fieldProblem {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return []fieldProblem{{"", "invalid YAML: " + err.Error()}}
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return []fieldProblem{{"", "invalid YAML: " + err.Error()}}
	}
	var probs []fieldProblem
	for _, p := range unknownFields(generic, reflect.TypeOf(out), "") {
		probs = append(probs, fieldProblem{p, "unknown field"})
	}
	if len(probs) > 0 {
		return probs
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields() // belt and braces: the walk should have caught these
	if err := dec.Decode(out); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return []fieldProblem{{ute.Field, fmt.Sprintf("expected %s, got %s", ute.Type, ute.Value)}}
		}
		return []fieldProblem{{"", err.Error()}}
	}
	return nil
}

type fieldProblem struct {
	field string
	msg   string
}

// unknownFields returns the dotted paths of keys in v (a decoded JSON value)
// that type t does not model, following json tags. Matching is exact
// (Kubernetes field names are case-sensitive; encoding/json would accept
// "Topics" for "topics"). json.RawMessage and interface types accept
// anything: they are the documented opaque parts.
func unknownFields(v any, t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return nil
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // a type error, reported by the decoder with its path
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				out = append(out, joinPath(path, k))
				continue
			}
			out = append(out, unknownFields(m[k], ft, joinPath(path, k))...)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for _, k := range sortedKeys(m) {
			out = append(out, unknownFields(m[k], t.Elem(), mapPath(path, k))...)
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range a {
			out = append(out, unknownFields(e, t.Elem(), path+"["+strconv.Itoa(i)+"]")...)
		}
	}
	return out
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// mapPath writes map keys that contain dots in brackets, so that
// spec.config["retention.ms"] stays unambiguous.
func mapPath(path, k string) string {
	if strings.ContainsAny(k, ".[]") {
		return path + "[" + strconv.Quote(k) + "]"
	}
	return joinPath(path, k)
}

package validate

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	kafkasinkv1alpha1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/eventing/v1alpha1"
	kafkasourcesv1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/sources/v1"
	kafkasourcesv1beta1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/sources/v1beta1"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"

	"orderflow.dev/knlocal/manifests"
)

// shape lists every JSON path a Go type decodes, each with the JSON it
// takes there ("object", "list", "map", "string", "int32", ...), by
// encoding/json's rules: json tags, embedded structs promoted, a field of
// the outer struct winning over one of the same name it embeds. A type
// with its own UnmarshalJSON is a leaf named by jsonAs.
type shape map[string]string

// jsonAs says what JSON a type that decodes itself takes.
var jsonAs = map[reflect.Type]string{
	reflect.TypeFor[apis.URL]():        "string",
	reflect.TypeFor[json.RawMessage](): "any JSON",
}

func shapeOf(t reflect.Type) shape {
	s := shape{}
	s.walk(t, "")
	return s
}

func (s shape) walk(t reflect.Type, at string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if as, ok := jsonAs[t]; ok {
		s[at] = as
		return
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		s[at] = "decoded by " + t.String() // teach jsonAs what it takes
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if at != "" {
			s[at] = "object"
		}
		for name, ft := range jsonFieldsOf(t) {
			s.walk(ft, strings.TrimPrefix(at+"."+name, "."))
		}
	case reflect.Map:
		s[at] = "map"
		s.walk(t.Elem(), at+"[*]")
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			s[at] = "base64 string"
			return
		}
		s[at] = "list"
		s.walk(t.Elem(), at+"[]")
	default:
		s[at] = t.Kind().String()
	}
}

// jsonFieldsOf maps a struct's JSON field names to their types, the
// fields of embedded structs promoted unless the outer struct has one of
// the same name.
func jsonFieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	for _, et := range embedded {
		for name, ft := range jsonFieldsOf(et) {
			if _, outer := out[name]; !outer {
				out[name] = ft
			}
		}
	}
	return out
}

// writtenByTheCluster are the paths whose content the plane takes as any
// JSON: what the API server and the controllers write (status, times,
// owners, managed fields), which the plane never reads. Everything else
// must match field for field.
var writtenByTheCluster = []string{
	"status", "metadata.creationTimestamp", "metadata.deletionTimestamp", "metadata.ownerReferences", "metadata.managedFields",
}

// shapeDiff lists, sorted, every path the plane's type and Knative's
// decode differently.
func shapeDiff(plane, knative reflect.Type) []string {
	p, k := shapeOf(plane), shapeOf(knative)
	opaque := func(path string) bool {
		return slices.ContainsFunc(writtenByTheCluster, func(o string) bool {
			return strings.HasPrefix(path, o+".") || strings.HasPrefix(path, o+"[")
		})
	}
	var out []string
	for path := range k {
		if opaque(path) {
			continue
		}
		if slices.Contains(writtenByTheCluster, path) {
			if _, ok := p[path]; !ok {
				out = append(out, path+": plane (absent), Knative "+k[path])
			}
			continue
		}
		if p[path] != k[path] {
			pv := p[path]
			if pv == "" {
				pv = "(absent)"
			}
			out = append(out, fmt.Sprintf("%s: plane %s, Knative %s", path, pv, k[path]))
		}
	}
	for path := range p {
		if _, ok := k[path]; !ok && !opaque(path) {
			out = append(out, fmt.Sprintf("%s: plane %s, Knative (absent)", path, p[path]))
		}
	}
	sort.Strings(out)
	return out
}

// The plane decodes each kind into structs of its own
// (knlocal/manifests/wire.go) so that it does not link client-go; strict
// decoding refuses exactly the fields a cluster refuses only while those
// structs have the shape of Knative's types. Each is held to Knative's,
// path by path and JSON type by JSON type.
func TestWireShapesAreKnatives(t *testing.T) {
	knatives := map[string]reflect.Type{
		"sources.knative.dev/v1beta1, KafkaSource":  reflect.TypeFor[kafkasourcesv1beta1.KafkaSource](),
		"sources.knative.dev/v1, KafkaSource":       reflect.TypeFor[kafkasourcesv1.KafkaSource](),
		"eventing.knative.dev/v1alpha1, KafkaSink":  reflect.TypeFor[kafkasinkv1alpha1.KafkaSink](),
		"sources.knative.dev/v1, SinkBinding":       reflect.TypeFor[sourcesv1.SinkBinding](),
		"sources.knative.dev/v1, PingSource":        reflect.TypeFor[sourcesv1.PingSource](),
		"kafka.strimzi.io/v1beta2, KafkaTopic":      nil, // Strimzi publishes no Go module; the plane's model is the one
		"kafka.strimzi.io/v1, KafkaTopic":           nil,
		"sources.knative.dev/v1alpha1, KafkaSource": nil, // a version neither reads
	}
	for gvk, knative := range knatives {
		t.Run(gvk, func(t *testing.T) {
			apiVersion, kind, _ := strings.Cut(gvk, ", ")
			plane, planeReads := manifests.WireType(apiVersion, kind)
			_, clusterReads := Admit(manifests.Object{APIVersion: apiVersion, Kind: kind, JSON: []byte("{}")})
			if planeReads != clusterReads {
				t.Fatalf("the plane reads it: %v; deploy/validate admits it: %v", planeReads, clusterReads)
			}
			if knative == nil {
				return
			}
			if d := shapeDiff(plane, knative); len(d) > 0 {
				t.Errorf("%s decodes differently from %s:\n  %s", plane, knative, strings.Join(d, "\n  "))
			}
			if n := len(shapeOf(knative)); n < 30 { // a comparison of nothing would pass too
				t.Errorf("only %d paths compared", n)
			}
		})
	}
}

// The comparison finds a field the plane lacks, one it has in excess, and
// one whose JSON type differs, by path.
func TestShapeDiffFindsADifference(t *testing.T) {
	type retryAsString struct {
		eventingduckv1.DeliverySpec
		Retry *string `json:"retry,omitempty"` // wins over the embedded int32, as in encoding/json
		Extra bool    `json:"extra"`
		Skip  bool    `json:"-"`
	}
	got := shapeDiff(reflect.TypeFor[retryAsString](), reflect.TypeFor[eventingduckv1.DeliverySpec]())
	want := []string{"extra: plane bool, Knative (absent)", "retry: plane string, Knative int32"}
	if !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	type noURI struct {
		Ref *manifests.KReferenceWire `json:"ref,omitempty"`
	}
	type destination struct {
		Destination manifests.DestinationWire `json:"d"`
	}
	type destinationNoURI struct {
		Destination noURI `json:"d"`
	}
	got = shapeDiff(reflect.TypeFor[destinationNoURI](), reflect.TypeFor[destination]())
	want = []string{"d.CACerts: plane (absent), Knative string", "d.audience: plane (absent), Knative string", "d.uri: plane (absent), Knative string"}
	if !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

package manifests

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDeliveryDefaults(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "kustomization.yaml", "resources: [s.yaml]\n")
	write(t, dir, "s.yaml", `apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: {name: s, namespace: ns1}
spec:
  bootstrapServers: [k:9092]
  topics: [t]
  sink: {uri: "http://x/"}
---
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: {name: partial, namespace: ns1}
spec:
  bootstrapServers: [k:9092]
  topics: [t]
  delivery: {retry: 2}
  sink: {uri: "http://x/"}
---
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: {name: no-retry, namespace: ns1}
spec:
  bootstrapServers: [k:9092]
  topics: [t]
  delivery: {timeout: PT5S}
  sink: {uri: "http://x/"}
`)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := s.Sources[0]
	// No delivery: the KafkaSource reconciler's.
	want := Delivery{Retry: 10, BackoffPolicy: "exponential", BackoffDelay: 300 * time.Millisecond, Timeout: 600 * time.Second}
	if src.Delivery != want {
		t.Errorf("defaults = %+v, want %+v", src.Delivery, want)
	}
	if src.Namespace != "ns1" || src.InitialOffset != OffsetLatest || src.Ordering != OrderingOrdered || src.Consumers != 1 {
		t.Errorf("source defaults = %+v", src)
	}
	if src.ConsumerGroup != "knative-kafka-source-ns1-s" {
		t.Errorf("consumer group = %q", src.ConsumerGroup)
	}
	// Fields left out of a delivery: the consumer reconciler's backoff
	// (200 ms), the dispatcher's timeout, no retry.
	want = Delivery{Retry: 2, BackoffPolicy: "exponential", BackoffDelay: 200 * time.Millisecond, Timeout: 600 * time.Second}
	if p := s.Sources[1].Delivery; p != want {
		t.Errorf("partial delivery = %+v, want %+v", p, want)
	}
	if p := s.Sources[2].Delivery; p.Retry != 0 || p.Timeout != 5*time.Second {
		t.Errorf("delivery without retry = %+v", p)
	}
}

func TestNestedKustomization(t *testing.T) {
	s, err := Load("testdata/nested")
	if err != nil {
		t.Fatal(err)
	}
	if err := Resolve(s); err != nil {
		t.Fatal(err)
	}
	if len(s.Objects) != 4 {
		t.Fatalf("objects = %+v", s.Objects)
	}
	var cm *Object
	for i := range s.Objects {
		if s.Objects[i].Kind == "ConfigMap" {
			cm = &s.Objects[i]
		}
	}
	if cm == nil || cm.Name != "not-modelled" || cm.Namespace != "outer" {
		t.Errorf("unknown kind not kept: %+v", cm)
	}
	top := s.Topics[0]
	if top.Namespace != "outer" || top.TopicName != "orders" || top.Name != "orders-topic" || top.Replicas != -1 || top.Partitions != 2 {
		t.Errorf("topic = %+v", top)
	}
	if top.Config["retention.ms"] != "604800000" || top.Config["unclean.leader.election.enable"] != "false" || top.Config["cleanup.policy"] != "compact" {
		t.Errorf("config = %v", top.Config)
	}
	if s.Sinks[0].ContentMode != ContentModeStructured {
		t.Errorf("contentMode = %q", s.Sinks[0].ContentMode)
	}
	src := s.Sources[0]
	if src.Namespace != "outer" || src.Ordering != OrderingUnordered || src.Consumers != 2 || src.CEOverrides["origin"] != "tap" || src.Sink.URI != "http://127.0.0.1:9/events" {
		t.Errorf("source = %+v", src)
	}
	if src.File != "testdata/nested/sub/things.yaml" {
		t.Errorf("source's file %q", src.File)
	}
}

func TestBrokenFixtures(t *testing.T) {
	cases := []struct {
		dir     string
		resolve bool // error expected from Resolve, not Load
		want    []string
	}{
		{"typo", false, []string{
			`testdata/typo/order.yaml: KafkaSource "order": spec.delivery.backofPolicy: unknown field`,
		}},
		{"missing-sink", true, []string{
			`testdata/missing-sink/all.yaml: KafkaSource "order": spec.delivery.deadLetterSink.ref: KafkaSink default/dlq-order is not declared`,
			`testdata/missing-sink/all.yaml: SinkBinding "order": spec.sink.ref: KafkaSink default/orders is not declared`,
		}},
		{"undeclared-topic", true, []string{
			`testdata/undeclared-topic/all.yaml: KafkaSource "order": spec.topics[1]: topic "inventory" is not declared by any KafkaTopic`,
			`testdata/undeclared-topic/all.yaml: KafkaSink "payments": spec.topic: topic "payments" is not declared by any KafkaTopic`,
		}},
		{"badvalues", false, []string{
			`testdata/badvalues/bad.yaml: KafkaTopic "orders": spec.partitions: cannot be string: must be int32`,
			`testdata/badvalues/bad.yaml: KafkaSink "orders": spec.contentMode: invalid value: json`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.initialOffset: invalid value: oldest`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.ordering: invalid value: random`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.delivery.backoffPolicy: invalid value: fibonacci [as the KafkaSource's ConsumerGroup is validated]`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.delivery.backoffDelay: invalid value: 300ms [as the KafkaSource's ConsumerGroup is validated]`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.delivery.timeout: invalid value: PT0S [as the KafkaSource's ConsumerGroup is validated]`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.sink.ref.apiVersion: missing field(s)`,
		}},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			s, err := Load("testdata/" + c.dir)
			if c.resolve {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				err = Resolve(s)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain\n  %s\ngot:\n%v", w, err)
				}
			}
			var me *Error
			if !errors.As(err, &me) {
				t.Errorf("not a *manifests.Error: %T", err)
			}
		})
	}
}

func TestLoadProblems(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no kustomization", map[string]string{"a.yaml": "kind: X\n"}, ": kustomize build: no kustomization.yaml in this directory"},
		{"missing resource", map[string]string{"kustomization.yaml": "resources: [nope.yaml]\n"}, `kustomize build: accumulating resources: accumulation err='accumulating resources from 'nope.yaml'`},
		{"unknown kustomization field", map[string]string{"kustomization.yaml": "resorces: [a.yaml]\n"}, `kustomize build: invalid Kustomization: json: unknown field "resorces"`},
		{"duplicate object", map[string]string{
			"kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
			"a.yaml":             "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: s}\nspec: {topic: t, bootstrapServers: [k]}\n",
			"b.yaml":             "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: s}\nspec: {topic: t, bootstrapServers: [k]}\n",
		}, `may not add resource with an already registered id: KafkaSink.v1alpha1.eventing.knative.dev/s`},
		{"duplicate key", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: s}\nspec:\n  topic: t\n  topic: u\n  bootstrapServers: [k]\n",
		}, `mapping key "topic" already defined at line 5`},
		{"wrong group", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: example.com/v1\nkind: KafkaSource\nmetadata: {name: s}\n",
		}, `a.yaml: KafkaSource "s": apiVersion: "example.com/v1" is not a version of sources.knative.dev KafkaSource the plane knows`},
		{"misspelt kind", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSorce\nmetadata: {name: s}\n",
		}, `a.yaml: KafkaSorce "s": kind: "KafkaSorce" is not a kind of sources.knative.dev the plane runs (it runs KafkaSource, PingSource, SinkBinding)`},
		{"a Knative kind the plane does not run", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\nspec: {broker: default}\n",
		}, `a.yaml: Trigger "t": kind: "Trigger" is not a kind of eventing.knative.dev the plane runs (it runs KafkaSink)`},
		{"unknown spec field", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata: {name: s}\nspec: {bootstrapServers: [k], topics: [t], sink: {uri: 'http://x/'}, consumerz: 2}\n",
		}, `a.yaml: KafkaSource "s": spec.consumerz: unknown field`},
		{"wrong type", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata: {name: s}\nspec: {bootstrapServers: [k], topics: [t], sink: {uri: 'http://x/'}, consumers: two}\n",
		}, `a.yaml: KafkaSource "s": spec.consumers: cannot be string: must be int32`},
		{"wrong type in delivery", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata: {name: s}\nspec: {bootstrapServers: [k], topics: [t], sink: {uri: 'http://x/'}, delivery: {retry: [1]}}\n",
		}, `a.yaml: KafkaSource "s": spec.delivery.retry: cannot be array: must be int32`},
		{"unknown metadata field", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: s, lables: {a: b}}\nspec: {topic: t, bootstrapServers: [k]}\n",
		}, `a.yaml: KafkaSink "s": metadata.lables: unknown field`},
		{"bad config key path", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata: {name: t}\nspec: {partitions: 1, config: {retention.ms: [1]}}\n",
		}, `a.yaml: KafkaTopic "t": spec.config.retention.ms: must be a string, number or boolean`},
		{"bad override name", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata: {name: s}\nspec: {bootstrapServers: [k], topics: [t], sink: {uri: 'http://x/'}, ceOverrides: {extensions: {Bad-Name: x}}}\n",
		}, `a.yaml: KafkaSource "s": spec.ceOverrides.extensions: invalid key name "Bad-Name" (keys are expected to be alphanumeric)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, body := range c.files {
				write(t, dir, n, body)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// The plane runs what kustomize renders: a patch in the kustomization is
// applied, and an object says which kustomization patched it.
func TestLoadAppliesPatches(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "base/kustomization.yaml", "namespace: shop\nresources: [topic.yaml]\n")
	write(t, dir, "base/topic.yaml", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata: {name: t}\nspec: {partitions: 1, replicas: 1}\n")
	write(t, dir, "dev/kustomization.yaml", `resources: [../base]
patches:
  - target: {kind: KafkaTopic}
    patch: |-
      - op: replace
        path: /spec/partitions
        value: 3
`)
	s, err := Load(filepath.Join(dir, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Topics) != 1 || s.Topics[0].Partitions != 3 || s.Topics[0].Namespace != "shop" {
		t.Fatalf("topics %+v, want t with 3 partitions in shop", s.Topics)
	}
	o := s.Topics[0].Origin
	if o.File != filepath.Join(dir, "base", "topic.yaml") || len(o.PatchedBy) != 1 || o.PatchedBy[0] != filepath.Join(dir, "dev", "kustomization.yaml") {
		t.Errorf("origin %+v", o)
	}
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

package manifests

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const knativeBase = "../../knative/base"

// The real manifests load, resolve against the five functions, and carry
// the values the saga depends on.
func TestLoadKnativeBase(t *testing.T) {
	s, err := Load(knativeBase)
	if err != nil {
		t.Fatal(err)
	}
	if err := Resolve(s, WithServices("order", "inventory", "payment", "notify", "analytics")); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if s.Namespace != "orderflow" {
		t.Errorf("namespace = %q", s.Namespace)
	}
	if len(s.Topics) != 10 || len(s.Sinks) != 10 || len(s.Sources) != 5 || len(s.Bindings) != 5 {
		t.Errorf("got %d topics, %d sinks, %d sources, %d bindings", len(s.Topics), len(s.Sinks), len(s.Sources), len(s.Bindings))
	}
	orders, ok := s.Topic("orderflow.orders")
	if !ok {
		t.Fatal("orderflow.orders not declared")
	}
	if orders.Partitions != 6 || orders.Replicas != 1 || orders.Config["retention.ms"] != "-1" || orders.Config["cleanup.policy"] != "delete" {
		t.Errorf("orders topic = %+v", orders)
	}
	if !strings.HasSuffix(orders.File, "topics.yaml") {
		t.Errorf("origin file = %q", orders.File)
	}
	src, ok := s.Source("orderflow", "order")
	if !ok {
		t.Fatal("KafkaSource order missing")
	}
	d := src.Delivery
	if src.ConsumerGroup != "orderflow-order" || src.InitialOffset != OffsetEarliest || src.Ordering != OrderingOrdered ||
		src.Consumers != 1 || d.Retry != 5 || d.BackoffPolicy != BackoffExponential ||
		d.BackoffDelay != 200*time.Millisecond || d.Timeout != 10*time.Second {
		t.Errorf("source order = %+v", src)
	}
	if d.DeadLetterSink == nil || d.DeadLetterSink.Ref.Kind != KindKafkaSink || d.DeadLetterSink.Ref.Name != "dlq-order" || d.DeadLetterSink.Ref.Namespace != "orderflow" {
		t.Errorf("dead-letter sink = %+v", d.DeadLetterSink)
	}
	if src.Sink.Ref == nil || src.Sink.Ref.Kind != KindService || src.Sink.Ref.Name != "order" {
		t.Errorf("sink = %+v", src.Sink)
	}
	sink, ok := s.Sink("orderflow", "orders")
	if !ok || sink.Topic != "orderflow.orders" || sink.ContentMode != ContentModeBinary {
		t.Errorf("sink orders = %+v", sink)
	}
	b, ok := s.BindingFor("orderflow", "payment")
	if !ok || b.Sink.Ref.Name != "payments" {
		t.Errorf("binding of payment = %+v", b)
	}
	// analytics publishes saga.stalled reports into the commands topic.
	if b, ok := s.BindingFor("orderflow", "analytics"); !ok || b.Sink.Ref.Name != "commands" {
		t.Errorf("binding of analytics = %+v", b)
	}
}

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
	if src.Origin.Doc != 4 {
		t.Errorf("source is document %d of its file, want 4", src.Origin.Doc)
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
			`testdata/badvalues/bad.yaml: KafkaTopic "orders": spec.partitions: expected int32, got string`,
			`testdata/badvalues/bad.yaml: KafkaSink "orders": spec.contentMode: "json" is not binary or structured`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.initialOffset: "oldest" is not earliest or latest`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.ordering: "random" is not ordered or unordered`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.delivery.backoffPolicy: "fibonacci" is not linear or exponential`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.delivery.backoffDelay: "300ms" is not an ISO-8601 duration Knative takes: 300ms: expected 'P' period mark at the start`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.delivery.timeout: "PT0S": must not be zero (Knative's webhook refuses it)`,
			`testdata/badvalues/bad.yaml: KafkaSource "order": spec.sink.ref.apiVersion: missing`,
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

func TestResolveServices(t *testing.T) {
	s, err := Load(knativeBase)
	if err != nil {
		t.Fatal(err)
	}
	err = Resolve(s, WithServices("order", "inventory", "payment", "notify"))
	if err == nil || !strings.Contains(err.Error(), `KafkaSource "analytics": spec.sink.ref: Service orderflow/analytics is not a known function`) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadProblems(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no kustomization", map[string]string{"a.yaml": "kind: X\n"}, "no kustomization.yaml"},
		{"missing resource", map[string]string{"kustomization.yaml": "resources: [nope.yaml]\n"}, `kustomization.yaml: resources[0]: "nope.yaml"`},
		{"unsupported transformer", map[string]string{"kustomization.yaml": "resources: []\npatches: []\n"}, "kustomization.yaml: patches: not supported by the local plane"},
		{"unknown kustomization field", map[string]string{"kustomization.yaml": "resorces: [a.yaml]\n"}, "kustomization.yaml: resorces: unknown field"},
		{"duplicate object", map[string]string{
			"kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
			"a.yaml":             "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: s}\nspec: {topic: t, bootstrapServers: [k]}\n",
			"b.yaml":             "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: s}\nspec: {topic: t, bootstrapServers: [k]}\n",
		}, `b.yaml: KafkaSink "s": metadata.name: defined twice`},
		{"duplicate key", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: s}\nspec:\n  topic: t\n  topic: u\n  bootstrapServers: [k]\n",
		}, `a.yaml: KafkaSink "s": invalid YAML`},
		{"wrong group", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: example.com/v1\nkind: KafkaSource\nmetadata: {name: s}\n",
		}, `a.yaml: KafkaSource "s": apiVersion: "example.com/v1" is not in API group sources.knative.dev`},
		{"unknown metadata field", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: s, lables: {a: b}}\nspec: {topic: t, bootstrapServers: [k]}\n",
		}, `a.yaml: KafkaSink "s": metadata.lables: unknown field`},
		{"bad config key path", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata: {name: t}\nspec: {partitions: 1, config: {retention.ms: [1]}}\n",
		}, `a.yaml: KafkaTopic "t": spec.config["retention.ms"]: must be a string, number or boolean`},
		{"bad override name", map[string]string{
			"kustomization.yaml": "resources: [a.yaml]\n",
			"a.yaml":             "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata: {name: s}\nspec: {bootstrapServers: [k], topics: [t], sink: {uri: 'http://x/'}, ceOverrides: {extensions: {Bad-Name: x}}}\n",
		}, `a.yaml: KafkaSource "s": spec.ceOverrides.extensions.Bad-Name: not a valid CloudEvents extension name`},
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

func TestSplitDocuments(t *testing.T) {
	docs, idx := splitDocuments([]byte("# only a comment\n---\na: 1\n--- # trailing comment\n\n---\nb: 2\n...\n"))
	if len(docs) != 2 || string(docs[0]) != "a: 1\n" || string(docs[1]) != "b: 2\n...\n" {
		t.Fatalf("docs = %q", docs)
	}
	if idx[0] != 2 || idx[1] != 4 {
		t.Errorf("indexes = %v", idx)
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

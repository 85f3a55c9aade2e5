package validate

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/manifests"
)

// The plane loads orderflow's manifests, resolves them against its
// functions, and carries the values the saga depends on.
func TestPlaneLoadsKnativeBase(t *testing.T) {
	s, err := planeLoad(t, filepath.Join(root, "knative/base"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Namespace != "orderflow" {
		t.Errorf("namespace = %q", s.Namespace)
	}
	if want, _, _, _ := treeObjects(t); len(s.Topics) != want["KafkaTopic"] || len(s.Sinks) != want["KafkaSink"] || len(s.Sources) != want["KafkaSource"] || len(s.Bindings) != want["SinkBinding"] {
		t.Errorf("got %d topics, %d sinks, %d sources, %d bindings; want %v", len(s.Topics), len(s.Sinks), len(s.Sources), len(s.Bindings), want)
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
	if src.ConsumerGroup != "orderflow-order" || src.InitialOffset != manifests.OffsetEarliest || src.Ordering != manifests.OrderingOrdered ||
		src.Consumers != 1 || d.Retry != 5 || d.BackoffPolicy != manifests.BackoffExponential ||
		d.BackoffDelay != 200*time.Millisecond || d.Timeout != 10*time.Second {
		t.Errorf("source order = %+v", src)
	}
	if d.DeadLetterSink == nil || d.DeadLetterSink.Ref.Kind != manifests.KindKafkaSink || d.DeadLetterSink.Ref.Name != "dlq-order" || d.DeadLetterSink.Ref.Namespace != "orderflow" {
		t.Errorf("dead-letter sink = %+v", d.DeadLetterSink)
	}
	if src.Sink.Ref == nil || src.Sink.Ref.Kind != manifests.KindService || src.Sink.Ref.Name != "order" {
		t.Errorf("sink = %+v", src.Sink)
	}
	sink, ok := s.Sink("orderflow", "orders")
	if !ok || sink.Topic != "orderflow.orders" || sink.ContentMode != manifests.ContentModeBinary {
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

// A KafkaSource delivering to a Service that is no function is named.
func TestPlaneResolvesServicesAgainstTheFunctions(t *testing.T) {
	s, err := manifests.Load(filepath.Join(root, "knative/base"))
	if err != nil {
		t.Fatal(err)
	}
	fns := functionNames(t)
	gone := fns[len(fns)-1]
	err = manifests.Resolve(s, manifests.WithServices(fns[:len(fns)-1]...))
	want := fmt.Sprintf(`spec.sink.ref: Service orderflow/%s is not a known function`, gone)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

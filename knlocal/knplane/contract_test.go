package knplane

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/manifests"
)

func loadBase(t *testing.T) *manifests.Set {
	t.Helper()
	set, err := manifests.Load(filepath.Join("..", "..", "knative", "base"))
	if err != nil {
		t.Fatal(err)
	}
	if err := manifests.Resolve(set); err != nil {
		t.Fatal(err)
	}
	return set
}

// fakeResolve addresses Services at fn-<name> and KafkaSinks at the
// receiver's path, as the plane does.
func fakeResolve(d manifests.Destination) (string, error) {
	switch d.Ref.Kind {
	case manifests.KindService:
		return "http://fn-" + d.Ref.Name + d.URI, nil
	case manifests.KindKafkaSink:
		return "http://recv/" + d.Ref.Namespace + "/" + d.Ref.Name + d.URI, nil
	}
	return "", errors.New("unexpected " + d.Ref.Kind)
}

func TestSourceContractCarriesEachDeliverySpec(t *testing.T) {
	set := loadBase(t)
	c, err := SourceContract(set, []string{"127.0.0.1:1", "127.0.0.1:2"}, fakeResolve, 7)
	if err != nil {
		t.Fatal(err)
	}
	if c.Generation != 7 || len(c.Resources) != len(set.Sources) {
		t.Fatalf("generation %d, %d resources for %d sources", c.Generation, len(c.Resources), len(set.Sources))
	}
	for i, s := range set.Sources {
		r := c.Resources[i]
		if len(r.Egresses) != 1 || r.Ingress != nil {
			t.Fatalf("%s: want one egress and no ingress, got %+v", s.Name, r)
		}
		e := r.Egresses[0]
		want := EgressConfig{Retry: uint32(s.Delivery.Retry), BackoffPolicy: "Exponential",
			BackoffDelay: uint64(s.Delivery.BackoffDelay / time.Millisecond), Timeout: uint64(s.Delivery.Timeout / time.Millisecond)}
		if s.Delivery.BackoffPolicy == manifests.BackoffLinear {
			want.BackoffPolicy = "Linear"
		}
		if dl := s.Delivery.DeadLetterSink; dl != nil {
			want.DeadLetter, _ = fakeResolve(*dl)
		}
		if *e.EgressConfig != want {
			t.Errorf("%s: egressConfig %+v, want %+v", s.Name, *e.EgressConfig, want)
		}
		if e.Destination != "http://fn-"+s.Sink.Ref.Name || e.ConsumerGroup != s.ConsumerGroup || e.DiscardReply == nil {
			t.Errorf("%s: destination %q group %q discardReply %v", s.Name, e.Destination, e.ConsumerGroup, e.DiscardReply)
		}
		if r.BootstrapServers != "127.0.0.1:1,127.0.0.1:2" || strings.Join(r.Topics, ",") != strings.Join(s.Topics, ",") {
			t.Errorf("%s: servers %q topics %v", s.Name, r.BootstrapServers, r.Topics)
		}
		if r.Reference.Kind != "KafkaSource" || r.Reference.Name != s.Name || r.Reference.Namespace != s.Namespace {
			t.Errorf("%s: reference %+v", s.Name, r.Reference)
		}
	}
	// The order source, spelled out as knative/base/order.yaml has it.
	order := c.Resources[0].Egresses[0]
	if c.Resources[0].Reference.Name != "order" {
		t.Fatalf("first source is %s", c.Resources[0].Reference.Name)
	}
	if got := *order.EgressConfig; got != (EgressConfig{DeadLetter: "http://recv/orderflow/dlq-order", Retry: 5, BackoffPolicy: "Exponential", BackoffDelay: 200, Timeout: 10000}) || order.DeliveryOrder != "ORDERED" {
		t.Errorf("order: %+v %s", got, order.DeliveryOrder)
	}
}

func TestSourceContractRefusesWhatItCannotHonour(t *testing.T) {
	set := loadBase(t)
	_, err := SourceContract(set, []string{"k:9092"}, func(d manifests.Destination) (string, error) {
		if d.Ref.Kind == manifests.KindKafkaSink {
			return "", errors.New("sink down")
		}
		return fakeResolve(d)
	}, 1)
	if err == nil || !strings.Contains(err.Error(), "KafkaSource orderflow/order: spec.delivery.deadLetterSink: sink down") {
		t.Errorf("unresolvable dead-letter sink: %v", err)
	}
	set.Sources[1].InitialOffset = manifests.OffsetLatest
	if _, err := SourceContract(set, []string{"k:9092"}, fakeResolve, 1); err == nil || !strings.Contains(err.Error(), "initialOffset latest") {
		t.Errorf("latest: %v", err)
	}
	if _, err := SourceContract(set, nil, fakeResolve, 1); err == nil {
		t.Error("no brokers accepted")
	}
}

func TestSinkContractServesEverySinkAtItsPath(t *testing.T) {
	set := loadBase(t)
	set.Sinks[0].ContentMode = manifests.ContentModeStructured
	c, err := SinkContract(set, []string{"k:9092"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range set.Sinks {
		r := c.Resources[i]
		if r.Ingress == nil || r.Ingress.Path != "/"+k.Namespace+"/"+k.Name || len(r.Topics) != 1 || r.Topics[0] != k.Topic {
			t.Errorf("%s: %+v", k.Name, r)
		}
		if want := map[bool]string{true: "STRUCTURED", false: "BINARY"}[i == 0]; r.Ingress.ContentMode != want {
			t.Errorf("%s: contentMode %s, want %s", k.Name, r.Ingress.ContentMode, want)
		}
	}
	set.Sinks[1].ContentMode = "avro"
	if _, err := SinkContract(set, []string{"k:9092"}, 1); err == nil || !strings.Contains(err.Error(), `contentMode "avro"`) {
		t.Errorf("bad content mode: %v", err)
	}
}

// The JSON is what protobuf's JsonFormat reads: enum names, the oneof
// replyStrategy as discardReply, no empty deadLetter.
func TestContractJSONShape(t *testing.T) {
	set := loadBase(t)
	c, err := SourceContract(set, []string{"k:9092"}, fakeResolve, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteContract(dir, DispatcherContract, c); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, DispatcherContract))
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	egress := generic["resources"].([]any)[0].(map[string]any)["egresses"].([]any)[0].(map[string]any)
	for key, want := range map[string]any{"deliveryOrder": "ORDERED", "keyType": "String", "discardReply": map[string]any{}} {
		if got, _ := json.Marshal(egress[key]); string(got) != mustJSON(want) {
			t.Errorf("egress %s = %s, want %s", key, got, mustJSON(want))
		}
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestWriteConfigUsesTheShippedProperties(t *testing.T) {
	src := t.TempDir()
	for role, rel := range configMaps {
		files := map[string]string{
			"receiver":   "  config-kafka-sink-producer.properties: |\n    acks=all\n    linger.ms=0\n  config-kafka-sink-httpserver.properties: |\n    idleTimeout=0\n",
			"dispatcher": "  config-kafka-source-producer.properties: |\n    acks=all\n  config-kafka-source-consumer.properties: |\n    max.poll.records=50\n    # fetch.min.bytes=1\n  config-kafka-source-webclient.properties: |\n    idleTimeout=10000\n",
		}[role]
		path := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  _example: ignored\n" + files
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	err := WriteConfig(dir, Config{Source: src, Namespace: "orderflow", IngressPort: 18080, IngressTLSPort: 18443,
		Properties: map[string]map[string]string{"config-kafka-source-consumer.properties": {"max.poll.records": "500", "fetch.min.bytes": "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	consumer, _ := os.ReadFile(filepath.Join(dir, "config-kafka-source-consumer.properties"))
	if string(consumer) != "max.poll.records=500\n# fetch.min.bytes=1\nfetch.min.bytes=2\n" {
		t.Errorf("consumer properties:\n%s", consumer)
	}
	if server, _ := os.ReadFile(filepath.Join(dir, "config-kafka-sink-httpserver.properties")); string(server) != "idleTimeout=0\nhost=127.0.0.1\n" {
		t.Errorf("the receiver's HTTP server is not kept on loopback:\n%s", server)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "receiver.env"))
	for _, want := range []string{"INGRESS_PORT='18080'", "SERVICE_NAMESPACE='orderflow'", "DATA_PLANE_CONFIG_FILE_PATH='" + filepath.Join(dir, ReceiverContract) + "'",
		"PRODUCER_CONFIG_FILE_PATH='" + filepath.Join(dir, "config-kafka-sink-producer.properties") + "'"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("receiver.env lacks %s:\n%s", want, env)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "_example")); err == nil {
		t.Error("the ConfigMap's _example was written as a file")
	}
	// A ConfigMap that lost a file the Deployment names is an error, not
	// a JVM that dies at start.
	if err := os.WriteFile(filepath.Join(src, configMaps["dispatcher"]), []byte("kind: ConfigMap\ndata:\n  other: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteConfig(t.TempDir(), Config{Source: src}); err == nil || !strings.Contains(err.Error(), "config-kafka-source-producer.properties") {
		t.Errorf("missing properties file: %v", err)
	}
}

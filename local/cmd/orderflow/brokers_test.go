package main

import (
	"path/filepath"
	"strings"
	"testing"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/local/topicview"
)

// With --brokers nothing reads the manifests: what the commands assume of
// them (the commands sink, the dead-letter topics' names) must hold.
func TestWhatBrokersModeAssumesOfTheManifests(t *testing.T) {
	set, err := manifests.Load(filepath.Join("..", "..", "..", "knative", "base"))
	if err != nil {
		t.Fatal(err)
	}
	var commands *manifests.KafkaSink
	for i, s := range set.Sinks {
		if s.Name == commandsSink.Name {
			commands = &set.Sinks[i]
		}
	}
	if commands == nil || commands.Topic != commandsSink.Topic || commands.ContentMode != commandsSink.ContentMode {
		t.Fatalf("knative/base's commands sink %+v, but place --brokers writes as %+v", commands, commandsSink)
	}
	for _, src := range set.Sources {
		dl := src.Delivery.DeadLetterSink
		if dl == nil || dl.Ref == nil || dl.Ref.Kind != manifests.KindKafkaSink {
			continue
		}
		ns := dl.Ref.Namespace
		if ns == "" {
			ns = src.Namespace
		}
		k, ok := set.Sink(ns, dl.Ref.Name)
		if !ok {
			t.Fatalf("source %s: no dead-letter sink %s", src.Name, dl.Ref.Name)
		}
		if want := topicview.DeadLetterPrefix + src.Name; k.Topic != want {
			t.Fatalf("source %s dead-letters to %s; dlq --brokers finds them as %s", src.Name, k.Topic, want)
		}
	}
}

func TestCheckBrokers(t *testing.T) {
	for _, ok := range [][]string{{"kafka:9092"}, {"10.0.0.1:9092", "10.0.0.2:9092"}, {"[::1]:9092"}} {
		if err := checkBrokers("--brokers", ok); err != nil {
			t.Errorf("checkBrokers(%q) = %v, want accepted", ok, err)
		}
	}
	for _, bad := range [][]string{{"kafka"}, {":9092"}, {"kafka:"}, {"kafka:9092", "nohost"}} {
		if err := checkBrokers("--brokers", bad); err == nil || !strings.Contains(err.Error(), "want host:port") {
			t.Errorf("checkBrokers(%q) = %v, want a refusal naming host:port", bad, err)
		}
	}
}

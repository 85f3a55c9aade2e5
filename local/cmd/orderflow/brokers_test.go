package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

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

// Every --brokers refuses at parse time what would otherwise read as no
// --brokers at all (an unset variable, a doubled comma), and adds up when
// repeated, as a string slice does.
func TestBrokerListFlag(t *testing.T) {
	parse := func(args ...string) ([]string, error) {
		var got []string
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Var(brokerList(&got), "brokers", "")
		err := fs.Parse(args)
		return got, err
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, nil},
		{[]string{"--brokers", "k:9092"}, []string{"k:9092"}},
		{[]string{"--brokers", "a:1,b:2"}, []string{"a:1", "b:2"}},
		{[]string{"--brokers", "a:1, b:2"}, []string{"a:1", "b:2"}},
		{[]string{"--brokers", "a:1", "--brokers", "[::1]:2"}, []string{"a:1", "[::1]:2"}},
	} {
		got, err := parse(c.args...)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q: got %q, %v; want %q", c.args, got, err, c.want)
		}
	}
	for _, bad := range []struct{ value, says string }{
		{"", "empty server"},
		{" ", "empty server"},
		{",", "empty server"},
		{"a:1,,b:2", "empty server"},
		{"a:1,", "empty server"},
		{"kafka", `"kafka": want host:port`},
		{"a:1,:9092", `":9092": want host:port`},
	} {
		if _, err := parse("--brokers", bad.value); err == nil || !strings.Contains(err.Error(), bad.says) || !strings.Contains(err.Error(), "--brokers") {
			t.Errorf("--brokers %q: %v, want an error naming --brokers and saying %q", bad.value, err, bad.says)
		}
	}
}

// A Kafka not reached is an error of the run (exit 3), not of the command
// line (2): the address was well formed.
func TestKafkaNotReachedIsNoUsageError(t *testing.T) {
	b := brokersFlag{servers: []string{"127.0.0.1:1"}}
	_, err := b.client("orderflow-test")
	if err == nil {
		t.Fatal("connected to 127.0.0.1:1")
	}
	if got := exitCode(err); got != exitRuntime || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("exit %d for %q; want %d, naming the server", got, err, exitRuntime)
	}
}

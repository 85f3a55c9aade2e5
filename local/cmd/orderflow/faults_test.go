package main

import (
	"strings"
	"testing"
)

// Which Kafka the suite runs on is what --brokers and --kafka-cluster
// say; the deprecated --broker still works where it agrees with them.
func TestFaultsOptionsValidate(t *testing.T) {
	three := []string{"127.0.0.1:19092", "127.0.0.1:19093", "127.0.0.1:19094"}
	for _, c := range []struct {
		name string
		o    FaultsOptions
		kind string // want, or the error's start
		err  string
	}{
		{name: "embedded", o: FaultsOptions{Orders: 10}, kind: brokerEmbedded},
		{name: "the script's Kafka", o: FaultsOptions{Orders: 10, Brokers: three[:1]}, kind: brokerKafka},
		{name: "the script's cluster", o: FaultsOptions{Orders: 10, Brokers: three, Cluster: true}, kind: brokerCluster},
		{name: "cluster without brokers", o: FaultsOptions{Orders: 10, Cluster: true}, err: "--kafka-cluster goes with --brokers"},
		{name: "no orders", o: FaultsOptions{Orders: 0}, err: "--orders 0: must be at least 1"},
		{name: "legacy kafka", o: FaultsOptions{Orders: 10, Brokers: three[:1], LegacyBroker: "kafka"}, kind: brokerKafka},
		{name: "legacy cluster", o: FaultsOptions{Orders: 10, Brokers: three, LegacyBroker: "cluster"}, kind: brokerCluster},
		{name: "legacy embedded", o: FaultsOptions{Orders: 10, LegacyBroker: "embedded"}, kind: brokerEmbedded},
		{name: "legacy kafka without brokers", o: FaultsOptions{Orders: 10, LegacyBroker: "kafka"}, err: "--broker kafka (deprecated) goes with --brokers"},
		{name: "legacy embedded with brokers", o: FaultsOptions{Orders: 10, Brokers: three[:1], LegacyBroker: "embedded"}, err: "--broker embedded (deprecated) goes with --brokers"},
		{name: "legacy nonsense", o: FaultsOptions{Orders: 10, LegacyBroker: "zookeeper"}, err: `--broker "zookeeper" (deprecated): want embedded, kafka or cluster`},
	} {
		o := c.o
		err := o.Validate()
		switch {
		case c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)):
			t.Errorf("%s: %v, want %q...", c.name, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err == "" && o.kind != c.kind:
			t.Errorf("%s: runs on %s, want %s", c.name, o.kind, c.kind)
		}
	}
}

// Through cobra: a bad combination exits 2 (usage), before anything runs.
func TestFaultsFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"faults", "--kafka-cluster"},
		{"faults", "--orders", "0"},
		{"faults", "--broker", "zookeeper"},
		{"faults", "--nemesis", "--kafka-cluster"},
		{"faults", "--nemesis", "--scenario", "kill-restart"},
	} {
		root := newRoot()
		root.SetArgs(args)
		root.SetOut(new(strings.Builder))
		root.SetErr(new(strings.Builder))
		if err := root.Execute(); exitCode(err) != exitUsage {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}

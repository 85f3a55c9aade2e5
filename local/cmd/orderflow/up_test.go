package main

import (
	"testing"
	"time"

	"orderflow.dev/knlocal/knplane"
)

func TestUpOptionsValidate(t *testing.T) {
	good := flagDefaults(newUpOptions(), (*UpOptions).addFlags)
	up := func(edit func(*upFlags)) func(*UpOptions) { return func(o *UpOptions) { edit(&o.Up) } }
	testValidate(t, good, (*UpOptions).Validate, []validateCase[UpOptions]{
		{"defaults", func(*UpOptions) {}, ""},
		{"a cluster", up(func(f *upFlags) { f.brokers, f.topicReplicas, f.minInsync = []string{"k1:9092", "k2:9092"}, 3, 2 }), ""},
		{"knative's data plane", up(func(f *upFlags) { f.dataPlane = knplane.Name }), ""},
		{"brokers without a port", up(func(f *upFlags) { f.brokers = []string{"kafka"} }), `--brokers "kafka": want host:port`},
		{"api port too high", up(func(f *upFlags) { f.apiPort = 70000 }), "--api-port 70000: not a port"},
		{"ping every negative", up(func(f *upFlags) { f.pingEvery = -time.Second }), "--ping-every -1s: must not be negative"},
		{"ready hold limit 0", up(func(f *upFlags) { f.gateLimit = 0 }),
			"--ready-hold-limit 0s: must be positive (how long a delivery may wait for its function to be ready)"},
		{"hold limit 0", up(func(f *upFlags) { f.holdLimit = 0 }),
			"--hold-limit 0s: must be positive (how long a partition may wait on a failing dead-letter sink)"},
		{"topic replicas negative", up(func(f *upFlags) { f.topicReplicas = -1 }), "--topic-replicas -1: want a replication factor of at least 1"},
		{"min insync above the replicas", up(func(f *upFlags) { f.topicReplicas, f.minInsync = 3, 4 }),
			"--min-insync-replicas 4: want at least 1 and at most --topic-replicas (3)"},
		{"broker port with brokers", up(func(f *upFlags) { f.brokers, f.brokerPort = []string{"k1:9092"}, 9092 }),
			"--broker-port is for the embedded broker; it cannot go with --brokers"},
		{"env without a value", up(func(f *upFlags) { f.env = []string{"DEBUG"} }), `--env "DEBUG": want VAR=value or FUNCTION/VAR=value`},
		{"scale without bounds", up(func(f *upFlags) { f.scale = []string{"order"} }),
			`--scale "order": want FUNCTION=MIN:MAX or FUNCTION=N (FUNCTION * for every one)`},
		{"stable window under a second", up(func(f *upFlags) { f.stableWindow = 500 * time.Millisecond }),
			"--stable-window 500ms: want at least 1s (Knative's default is 60s)"},
		{"watch manifests negative", up(func(f *upFlags) { f.watchManifests = -time.Second }),
			"--watch-manifests -1s: must not be negative (0: never)"},
		{"sqlite database url", up(func(f *upFlags) { f.databaseURL = "sqlite:///tmp/x.db" }),
			"--database-url: want a postgres:// URL (SQLite is the default: a file per function in the state directory)"},
		{"broker sync with brokers", up(func(f *upFlags) { f.brokers, f.brokerSync = []string{"k1:9092"}, true }),
			"--broker-sync is for the embedded broker; it cannot go with --brokers (a Kafka cluster's durability is its replication: acks=all, min.insync.replicas)"},
		{"no such data plane", up(func(f *upFlags) { f.dataPlane = "nope" }), `--data-plane "nope": want local or knative`},
		{"duplicate delivery on knative's", up(func(f *upFlags) { f.dataPlane, f.duplicateDelivery = knplane.Name, true }),
			"--duplicate-delivery is the local plane's sources' own; it cannot go with --data-plane knative"},
	})
}

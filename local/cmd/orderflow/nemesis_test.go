package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Bad flag combinations of faults --nemesis are refused as usage errors
// naming the flag.
func TestNemesisFlagsValidate(t *testing.T) {
	good := nemesisOptions{on: true, runs: 1, rate: 50, settle: time.Minute, minFaults: 3, maxFaults: 8}
	for _, c := range []struct {
		name    string
		edit    func(*nemesisOptions)
		changed []string
		orders  int
		want    string
	}{
		{"defaults", func(*nemesisOptions) {}, nil, 500, ""},
		{"runs without nemesis", func(o *nemesisOptions) { o.on = false }, []string{"runs"}, 500, "--runs goes with --nemesis"},
		{"dry-run without nemesis", func(o *nemesisOptions) { o.on = false }, []string{"dry-run"}, 500, "--dry-run goes with --nemesis"},
		{"the suite alone", func(o *nemesisOptions) { o.on = false }, []string{"scenario"}, 500, ""},
		{"scenario with nemesis", func(*nemesisOptions) {}, []string{"scenario"}, 500, "--scenario: "},
		{"broker with nemesis", func(*nemesisOptions) {}, []string{"broker"}, 500, "--broker: "},
		{"brokers with nemesis", func(*nemesisOptions) {}, []string{"brokers", "kafka-cluster"}, 500, ""},
		{"no runs", func(o *nemesisOptions) { o.runs = 0 }, nil, 500, "--runs 0"},
		{"no orders", func(*nemesisOptions) {}, nil, 0, "--orders 0"},
		{"rate 0", func(o *nemesisOptions) { o.rate = 0 }, nil, 500, "--rate 0"},
		{"settle 0", func(o *nemesisOptions) { o.settle = 0 }, nil, 500, "--settle 0s"},
		{"min faults 0", func(o *nemesisOptions) { o.minFaults = 0 }, nil, 500, "--min-faults 0"},
		{"max below min", func(o *nemesisOptions) { o.maxFaults = 2 }, nil, 500, "--max-faults 2: below --min-faults 3"},
		{"the shared postgres", func(o *nemesisOptions) { o.postgresPort = 15432 }, nil, 500, "--postgres-port 15432: that is the shared"},
		{"postgres port out of range", func(o *nemesisOptions) { o.postgresPort = 70000 }, nil, 500, "--postgres-port 70000"},
		{"postgres port without nemesis", func(o *nemesisOptions) { o.on = false }, []string{"postgres-port"}, 500, "--postgres-port goes with --nemesis"},
		{"too short a run", func(*nemesisOptions) {}, nil, 100, "--orders 100 at --rate 50"},
		{"scale without nemesis", func(o *nemesisOptions) { o.on = false }, []string{"scale"}, 500, "--scale goes with --nemesis"},
		{"replicas on SQLite", func(o *nemesisOptions) { o.scale = []string{"payment=1:3"} }, nil, 500, "--scale above one replica: replicas of a function need PostgreSQL"},
		{"replicas on PostgreSQL", func(o *nemesisOptions) { o.scale, o.postgresPort = []string{"payment=1:3", "*=2"}, 25437 }, nil, 500, ""},
		{"one replica on SQLite", func(o *nemesisOptions) { o.scale = []string{"notify=1"} }, nil, 500, ""},
		{"bad scale", func(o *nemesisOptions) { o.scale, o.postgresPort = []string{"payment=3:1"}, 25437 }, nil, 500, "--scale "},
	} {
		o := good
		c.edit(&o)
		err := o.validate(func(name string) bool { return slices.Contains(c.changed, name) }, c.orders, "")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q...", c.name, err, c.want)
		case err != nil && exitCode(err) != exitUsage:
			t.Errorf("%s: exit code %d, want %d (usage)", c.name, exitCode(err), exitUsage)
		}
	}
	if err := good.validate(func(string) bool { return false }, 500, "postgres://elsewhere/db"); err == nil || !strings.Contains(err.Error(), databaseURLEnv) {
		t.Errorf("on PostgreSQL: %v, want an error naming %s", err, databaseURLEnv)
	}
}

func TestNemesisReplayCommandCarriesTheRunsSettings(t *testing.T) {
	o := nemesisOptions{on: true, runs: 5, rate: 25, settle: time.Minute, minFaults: 2, maxFaults: 4}
	got := o.replayCommand(12, 300, nil)
	want := "orderflow faults --nemesis --seed 12 --runs 1 --orders 300 --rate 25 --min-faults 2 --max-faults 4 --settle 1m0s"
	if got != want {
		t.Errorf("replay %q, want %q", got, want)
	}
	o.postgresPort, o.scale = 25437, []string{"payment=2", "order=1:3"}
	if got, want := o.replayCommand(12, 300, nil), want+" --postgres-port 25437 --scale payment=2 --scale order=1:3"; got != want {
		t.Errorf("replay %q, want %q", got, want)
	}
	k := &nemesisKafka{brokers: []string{"127.0.0.1:19092", "127.0.0.1:19093"}, cluster: true}
	if got, want := o.replayCommand(12, 300, k), want+" --postgres-port 25437 --scale payment=2 --scale order=1:3 --brokers 127.0.0.1:19092,127.0.0.1:19093 --kafka-cluster"; got != want {
		t.Errorf("replay %q, want %q", got, want)
	}
}

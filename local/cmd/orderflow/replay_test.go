package main

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/plane"
)

// validateCase is a row of an Options type's Validate table: good
// edited, and Validate's error (empty: none).
type validateCase[O any] struct {
	name string
	edit func(*O)
	want string
}

// testValidate runs Validate on good edited by each case and wants
// exactly the case's error: one that names the flag and the value.
func testValidate[O any](t *testing.T, good O, validate func(*O) error, cases []validateCase[O]) {
	t.Helper()
	for _, c := range cases {
		o := good
		c.edit(&o)
		err := validate(&o)
		if (c.want == "") != (err == nil) || (err != nil && err.Error() != c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// flagDefaults is o as a command line without flags leaves it: its flags'
// defaults.
func flagDefaults[O any](o *O, addFlags func(*O, *cobra.Command)) O {
	addFlags(o, &cobra.Command{})
	return *o
}

func TestReplayOptionsValidate(t *testing.T) {
	good := ReplayOptions{Every: time.Second, Settle: time.Minute}
	testValidate(t, good, (*ReplayOptions).Validate, []validateCase[ReplayOptions]{
		{"defaults", func(*ReplayOptions) {}, ""},
		{"progress 0", func(o *ReplayOptions) { o.Every = 0 }, "--progress 0s: must be positive"},
		{"settle negative", func(o *ReplayOptions) { o.Settle = -time.Second }, "--settle -1s: must not be negative"},
		{"live database without verify", func(o *ReplayOptions) { o.LiveDatabase = "postgres://x" }, "--live-database is only read with --verify"},
		{"live database with verify", func(o *ReplayOptions) { o.LiveDatabase, o.Verify = "postgres://x", true }, ""},
	})
}

// Complete takes what the flags leave out from the running up's
// endpoints, and says what to give when there is none.
func TestReplayOptionsFromTheRunningUp(t *testing.T) {
	ep := plane.Endpoints{Brokers: []string{"127.0.0.1:9092"}, Databases: map[string]string{"order": "postgres://live"}}
	running := func(string) (plane.Endpoints, error) { return ep, nil }
	none := func(string) (plane.Endpoints, error) { return plane.Endpoints{}, os.ErrNotExist }
	for _, c := range []struct {
		name       string
		o          ReplayOptions
		read       func(string) (plane.Endpoints, error)
		brokers    string
		live, want string
	}{
		{name: "all from up", o: ReplayOptions{Verify: true}, read: running, brokers: "127.0.0.1:9092", live: "postgres://live"},
		{name: "brokers given, no verify: up not read", o: ReplayOptions{Brokers: []string{"k:1"}}, read: none, brokers: "k:1"},
		{name: "no up, no brokers", o: ReplayOptions{}, read: none, want: "or give a Kafka with --brokers"},
		{name: "no up, verify without live database", o: ReplayOptions{Brokers: []string{"k:1"}, Verify: true}, read: none, want: "--verify needs the live database"},
	} {
		o := c.o
		o.fn.Name = "order"
		err := o.fromRunningUp(c.read)
		switch {
		case c.want != "":
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want %q", c.name, err, c.want)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case strings.Join(o.Brokers, ",") != c.brokers || o.LiveDatabase != c.live:
			t.Errorf("%s: brokers %v live %q, want %s %q", c.name, o.Brokers, o.LiveDatabase, c.brokers, c.live)
		}
	}
	o := ReplayOptions{Verify: true}
	o.fn.Name = "inventory"
	if err := o.fromRunningUp(running); err == nil || !strings.Contains(err.Error(), "give --live-database") {
		t.Errorf("a function the running up names no database of: %v", err)
	}
}

// A bad flag value is a usage error (exit 2), before anything is read.
func TestReplayBadFlagIsUsage(t *testing.T) {
	root := newRoot()
	root.SetArgs([]string{"replay", "order", "--progress", "0s"})
	root.SetOut(&strings.Builder{})
	err := root.Execute()
	var ue *usageError
	if !errors.As(err, &ue) || exitCode(err) != exitUsage {
		t.Fatalf("replay --progress 0s: %v (exit %d), want a usage error", err, exitCode(err))
	}
}

func TestDLQReplayOptions(t *testing.T) {
	for _, c := range []struct {
		name      string
		o         DLQReplayOptions
		ids       []string
		onCluster bool
		to, want  string
	}{
		{name: "ids, locally", o: DLQReplayOptions{MaxReplays: 3}, ids: []string{"a"}, to: "destination"},
		{name: "ids, on a cluster", o: DLQReplayOptions{MaxReplays: 3}, ids: []string{"a"}, onCluster: true, to: "topic"},
		{name: "all of some functions", o: DLQReplayOptions{MaxReplays: 3, All: true, Functions: []string{"order"}}, to: "destination"},
		{name: "nothing named", o: DLQReplayOptions{MaxReplays: 3}, want: "name the dead letters to replay"},
		{name: "all and ids", o: DLQReplayOptions{MaxReplays: 3, All: true}, ids: []string{"a"}, want: "--all replays every dead letter"},
		{name: "function without all", o: DLQReplayOptions{MaxReplays: 3, Functions: []string{"order"}}, ids: []string{"a"}, want: "--function chooses among all"},
		{name: "bad to", o: DLQReplayOptions{MaxReplays: 3, To: "sideways"}, ids: []string{"a"}, want: `--to "sideways"`},
		{name: "max replays 0", o: DLQReplayOptions{}, ids: []string{"a"}, want: "--max-replays 0"},
	} {
		o := c.o
		o.Complete(c.ids, c.onCluster)
		err := o.Validate()
		switch {
		case c.want != "":
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want %q", c.name, err, c.want)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case o.To != c.to:
			t.Errorf("%s: --to %s, want %s", c.name, o.To, c.to)
		}
	}
}

func TestKnativeConfigOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		o    KnativeConfigOptions
		want string
	}{
		{"complete", KnativeConfigOptions{Out: "x", Brokers: []string{"k:1"}, IngressPort: 8090, Functions: []string{"order=http://127.0.0.1:8080"}}, ""},
		{"no out", KnativeConfigOptions{Brokers: []string{"k:1"}, IngressPort: 8090}, "--out and --brokers are required"},
		{"no brokers", KnativeConfigOptions{Out: "x", IngressPort: 8090}, "--out and --brokers are required"},
		{"port 0", KnativeConfigOptions{Out: "x", Brokers: []string{"k:1"}}, "--ingress-port 0: not a port"},
		{"port 65535 (its TLS port would not be one)", KnativeConfigOptions{Out: "x", Brokers: []string{"k:1"}, IngressPort: 65535}, "--ingress-port 65535"},
		{"function without url", KnativeConfigOptions{Out: "x", Brokers: []string{"k:1"}, IngressPort: 8090, Functions: []string{"order"}}, `--function "order": want NAME=http://host:port`},
		{"function with a bare address", KnativeConfigOptions{Out: "x", Brokers: []string{"k:1"}, IngressPort: 8090, Functions: []string{"order=127.0.0.1:8080"}}, "want NAME=http"},
	} {
		err := c.o.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

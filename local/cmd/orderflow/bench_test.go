package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestBenchOptionsValidate(t *testing.T) {
	good := BenchOptions{Rates: []float64{20, 40}, Orders: 600, CeilingFor: 3 * time.Second, DataPlanes: []string{dataPlaneLocal}}
	testValidate(t, good, (*BenchOptions).Validate, []validateCase[BenchOptions]{
		{"defaults", func(*BenchOptions) {}, ""},
		{"orders 0", func(o *BenchOptions) { o.Orders = 0 }, "--orders 0: must be at least 1"},
		{"rate 0", func(o *BenchOptions) { o.Rates = []float64{20, 0} }, "--rates: 0 is not a positive rate"},
		{"rate negative", func(o *BenchOptions) { o.Rates = []float64{-5} }, "--rates: -5 is not a positive rate"},
		{"ceiling-for 0", func(o *BenchOptions) { o.CeilingFor = 0 }, "--ceiling-for 0s: must be positive"},
		{"broker without port", func(o *BenchOptions) { o.Brokers = []string{"k:9092", "kafka"} }, `--brokers "kafka": want host:port`},
		{"brokers", func(o *BenchOptions) { o.Brokers = []string{"k:9092"} }, ""},
		{"warm-up negative", func(o *BenchOptions) { o.WarmUp = -1 }, "--warmup-orders -1: must not be negative"},
		{"warm-up", func(o *BenchOptions) { o.WarmUp = 500 }, ""},
		{"unknown data plane", func(o *BenchOptions) { o.DataPlanes = []string{"local", "istio"} }, `--data-planes "istio": want local and/or knative`},
		{"knative alone", func(o *BenchOptions) { o.DataPlanes = []string{"knative"} },
			"--data-planes knative: include local too; the ceiling's work per order is counted by the local plane's sources and ingress"},
		{"both data planes", func(o *BenchOptions) { o.DataPlanes = []string{"local", "knative"} }, ""},
	})
}

// --data-planes was --data-plane, up's and demo's name for a single data
// plane: the old name still works, hidden and deprecated, on the same
// list, so the two mixed add up as one repeated flag does.
func TestBenchDataPlaneIsAnAliasOfDataPlanes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "local"},
		{[]string{"--data-planes", "local,knative"}, "local,knative"},
		{[]string{"--data-plane", "local,knative"}, "local,knative"},
		{[]string{"--data-planes", "local", "--data-plane", "knative"}, "local,knative"},
	} {
		o := &BenchOptions{}
		cmd := &cobra.Command{Use: "bench", RunE: func(*cobra.Command, []string) error { return nil }}
		o.addFlags(cmd)
		cmd.SetArgs(c.args)
		var stderr strings.Builder
		cmd.SetOut(&stderr)
		cmd.SetErr(&stderr)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := strings.Join(o.DataPlanes, ","); got != c.want {
			t.Errorf("%v: data planes %s, want %s", c.args, got, c.want)
		}
		if said := strings.Contains(stderr.String(), "--data-plane has been deprecated, use --data-planes"); said != (strings.Contains(strings.Join(c.args, " "), "--data-plane ")) {
			t.Errorf("%v: the deprecation said %v: %q", c.args, said, stderr.String())
		}
	}
	cmd := newBench(&globals{})
	if f := cmd.Flags().Lookup("data-plane"); f == nil || !f.Hidden {
		t.Errorf("bench --data-plane: %+v, want a hidden flag", f)
	}
	var help strings.Builder
	cmd.SetOut(&help)
	cmd.SetArgs([]string{"--help"})
	_ = cmd.Execute()
	if !strings.Contains(help.String(), "--data-planes strings") || strings.Contains(help.String(), "--data-plane ") {
		t.Errorf("bench --help shows --data-planes only:\n%s", help.String())
	}
}

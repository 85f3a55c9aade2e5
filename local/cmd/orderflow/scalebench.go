package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"orderflow.dev/local/scalebench"
)

// ScaleBenchOptions are `orderflow scalebench`'s, in kubectl's shape (as
// ReplayOptions): the measuring's own options, whose Validate checks the
// flags and whose Complete takes the database and where results go, and
// the state directory Run takes for the topologies it starts.
type ScaleBenchOptions struct {
	Bench scalebench.Options

	// Completed.
	g *globals
}

func (o *ScaleBenchOptions) addFlags(cmd *cobra.Command) {
	b := &o.Bench
	f := cmd.Flags()
	f.StringVar(&b.DatabaseURL, "database-url", "", "PostgreSQL database for the functions, a fresh schema each per phase, dropped at the end (default $"+scalebench.DatabaseURLEnv+")")
	f.IntVar(&b.WakeUps, "wake-ups", b.WakeUps, "times every function is let go to zero and woken by one order")
	f.DurationVar(&b.ColdWindow, "cold-window", b.ColdWindow, "the autoscaler's stable window while cold starts are measured (short: functions reach zero fast)")
	f.IntVar(&b.Burst, "burst", b.Burst, "orders in each burst")
	f.IntVar(&b.Concurrency, "concurrency", b.Concurrency, "placements in flight during a burst")
	f.IntSliceVar(&b.Replicas, "replicas", b.Replicas, "replicas of every function, a burst at each count")
	f.IntVar(&b.Partitions, "partitions", b.Partitions, "partitions of every domain topic (ordered sources have one delivery in flight per partition); 0 keeps the manifests'")
	f.StringArrayVar(&b.Scale, "scale", nil, "in the idle -> burst -> idle run, replicas of a function FUNCTION=MIN:MAX or FUNCTION=N (* for every one) instead of its func.yaml's (repeatable)")
	f.Float64Var(&b.Target, "target", 0, "in the idle -> burst -> idle run, requests in flight per replica the autoscaler aims at, every function (0: each func.yaml's, else Knative's 100)")
	f.DurationVar(&b.StableWindow, "stable-window", b.StableWindow, "the autoscaler's stable window in the idle -> burst -> idle run (panic window a tenth, scale-to-zero grace half)")
	f.DurationVar(&b.Idle, "idle", b.Idle, "how long the run stays idle before the burst and after it, once every function is at its minimum")
	f.DurationVar(&b.Sample, "sample", b.Sample, "how often the run reads every function's replicas")
	f.DurationVar(&b.Timeout, "timeout", b.Timeout, "longest a burst waits for its orders' outcomes")
	f.StringVar(&b.ProfileDir, "profile", "", "write a CPU profile of the plane (this process: broker, sources, ingress, the functions' load balancers, the load generator) over each burst at fixed replicas into this directory, as plane-<N>r.cpu.pprof")
	f.StringVar(&b.Out, "out", "", "directory for "+scalebench.ResultsFile+" and "+scalebench.PictureFile+" (default <state-dir>/scalebench/results)")
}

// Validate checks the flags, before anything is read or started.
func (o *ScaleBenchOptions) Validate() error { return o.Bench.Validate() }

// Complete takes the database (--database-url, else the environment's)
// and where the results go, under <state-dir>/scalebench.
func (o *ScaleBenchOptions) Complete(g *globals, progress io.Writer) error {
	o.g, o.Bench.Progress = g, progress
	return o.Bench.Complete(filepath.Join(g.stateDir, "scalebench"), os.Getenv)
}

// Run takes <state-dir>/scalebench afresh and measures; an order ended
// other than predicted or a broken invariant in a burst is a failed check.
func (o *ScaleBenchOptions) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	base, _, closeLog, err := o.g.freshRun("scalebench")
	if err != nil {
		return err
	}
	defer closeLog()
	res, err := o.Bench.Run(ctx, base)
	if err != nil {
		return err
	}
	if !res.OK() {
		return checkFailed("invariants or expected outcomes violated in a burst (see above)")
	}
	return nil
}

func newScaleBench(g *globals) *cobra.Command {
	o := &ScaleBenchOptions{Bench: scalebench.Defaults()}
	cmd := &cobra.Command{
		Use:   "scalebench",
		Short: "Measure the functions as Knative Services on PostgreSQL: cold starts, throughput and CPU per order at 1, 2, 4 replicas, replicas over an idle -> burst -> idle run",
		Long: `scalebench starts topologies of its own on the embedded broker, every function on a
fresh PostgreSQL schema (--database-url), and measures: each function's cold start
(a delivery at zero until a ready replica takes it) and the first order's time once
everything scaled to zero, over --wake-ups; a burst of --burst orders at each of
--replicas replicas of every function (orders/s, CPU per order); one run idle ->
burst -> idle with the functions' own scale settings, drawn as replicas per function
above orders ended per second. Results as JSON and PNG in --out. See docs/performance.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g, cmd.OutOrStdout()) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.addFlags(cmd)
	return cmd
}

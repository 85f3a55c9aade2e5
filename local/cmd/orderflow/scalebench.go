package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"orderflow.dev/local/scalebench"
)

func newScaleBench(g *globals) *cobra.Command {
	o := scalebench.Defaults()
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
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			complete := func() error {
				o.Progress = cmd.OutOrStdout()
				return o.Complete(filepath.Join(g.stateDir, "scalebench"), os.Getenv)
			}
			return runOptions(o.Validate, complete, func() error {
				base, _, closeLog, err := g.freshRun("scalebench")
				if err != nil {
					return err
				}
				defer closeLog()
				res, err := o.Run(ctx, base)
				if err != nil {
					return err
				}
				if !res.OK() {
					return checkFailed("invariants or expected outcomes violated in a burst (see above)")
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DatabaseURL, "database-url", "", "PostgreSQL database for the functions, a fresh schema each per phase, dropped at the end (default $"+scalebench.DatabaseURLEnv+")")
	f.IntVar(&o.WakeUps, "wake-ups", o.WakeUps, "times every function is let go to zero and woken by one order")
	f.DurationVar(&o.ColdWindow, "cold-window", o.ColdWindow, "the autoscaler's stable window while cold starts are measured (short: functions reach zero fast)")
	f.IntVar(&o.Burst, "burst", o.Burst, "orders in each burst")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "placements in flight during a burst")
	f.IntSliceVar(&o.Replicas, "replicas", o.Replicas, "replicas of every function, a burst at each count")
	f.IntVar(&o.Partitions, "partitions", o.Partitions, "partitions of every domain topic (ordered sources have one delivery in flight per partition); 0 keeps the manifests'")
	f.StringArrayVar(&o.Scale, "scale", nil, "in the idle -> burst -> idle run, replicas of a function FUNCTION=MIN:MAX or FUNCTION=N (* for every one) instead of its func.yaml's (repeatable)")
	f.Float64Var(&o.Target, "target", 0, "in the idle -> burst -> idle run, requests in flight per replica the autoscaler aims at, every function (0: each func.yaml's, else Knative's 100)")
	f.DurationVar(&o.StableWindow, "stable-window", o.StableWindow, "the autoscaler's stable window in the idle -> burst -> idle run (panic window a tenth, scale-to-zero grace half)")
	f.DurationVar(&o.Idle, "idle", o.Idle, "how long the run stays idle before the burst and after it, once every function is at its minimum")
	f.DurationVar(&o.Sample, "sample", o.Sample, "how often the run reads every function's replicas")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "longest a burst waits for its orders' outcomes")
	f.StringVar(&o.ProfileDir, "profile", "", "write a CPU profile of the plane (this process: broker, sources, ingress, the functions' load balancers, the load generator) over each burst at fixed replicas into this directory, as plane-<N>r.cpu.pprof")
	f.StringVar(&o.Out, "out", "", "directory for "+scalebench.ResultsFile+" and "+scalebench.PictureFile+" (default <state-dir>/scalebench/results)")
	return cmd
}

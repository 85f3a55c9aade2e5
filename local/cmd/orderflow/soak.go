package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/profile"
	"orderflow.dev/local/soak"
	"orderflow.dev/shared/handler"
)

// SoakOptions are `orderflow soak`'s, in kubectl's shape (as
// ReplayOptions): the flags as given, Validate refuses what cannot work
// before anything is read or started, Complete fills in the plane to
// start from the checkout, Run soaks.
type SoakOptions struct {
	Up     upFlags
	Config soak.Config
	// WarmUpGiven says --warmup was on the command line (0 too);
	// otherwise the warm-up is a fifth of --duration.
	WarmUpGiven bool
	Out         string
	Seed        uint64
	Concurrency int
	ProfileDir  string

	// Completed.
	g        *globals
	stateDir string        // <state-dir>/soak
	plane    plane.Options // the plane to start in this process (--profile)
	upArgs   []string      // or the arguments of the `orderflow up` to start
	command  string        // the command line, for the results
}

func (o *SoakOptions) addFlags(cmd *cobra.Command) {
	o.Up.register(cmd)
	cmd.Flags().DurationVar(&o.Config.Duration, "duration", 10*time.Minute, "how long to place orders")
	cmd.Flags().Float64Var(&o.Config.Rate, "rate", 20, "orders placed per second, steadily")
	cmd.Flags().DurationVar(&o.Config.Sample, "sample", 10*time.Second, "how often to sample sizes, memory and latency")
	cmd.Flags().DurationVar(&o.Config.WarmUp, "warmup", 0, "what the figures at the end are compared with: the first sample past this (default a fifth of --duration)")
	cmd.Flags().DurationVar(&o.Config.Retention, "retention", 0, "the functions' ORDERFLOW_RETENTION (default theirs, 168h; under 1h, at least 2m, also sets ORDERFLOW_ALLOW_SHORT_RETENTION)")
	cmd.Flags().DurationVar(&o.Config.PruneInterval, "prune-interval", 0, "the functions' ORDERFLOW_PRUNE_INTERVAL (default theirs, 10m)")
	cmd.Flags().StringVar(&o.Out, "out", "", "write the samples here as JSON, the picture beside it as .png (default <state-dir>/soak/results-<run>.json)")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 1, "seed of the order mix")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 16, "placements in flight at once")
	cmd.Flags().StringVar(&o.ProfileDir, "profile", "", "profile every process into this directory, as demo --profile does (the heap profiles show what holds the memory at the end; the plane's also at the end of --warmup, to diff with -base)")
}

// config is the soak's settings with --warmup's default filled in.
func (o *SoakOptions) config() soak.Config {
	cfg := o.Config
	if !o.WarmUpGiven {
		cfg.WarmUp = cfg.Duration / 5
	}
	return cfg
}

// Validate refuses settings a soak cannot run with.
func (o *SoakOptions) Validate() error {
	cfg := o.config()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Retention > 0 && cfg.Retention < handler.MinShortRetention {
		return fmt.Errorf("--retention %s: must be at least %s, longer than a KafkaSource's retries of a delivery", cfg.Retention, handler.MinShortRetention)
	}
	return demo.CheckConcurrency(o.Concurrency)
}

// Complete refuses a PostgreSQL setting (the soak measures SQLite files),
// fills in the warm-up and the plane to start, from the checkout and the
// up flags (cmd's, for a child `up`).
func (o *SoakOptions) Complete(g *globals, cmd *cobra.Command) (err error) {
	if os.Getenv(databaseURLEnv) != "" {
		return fmt.Errorf("%s is set: soak measures the functions' SQLite files only; unset it", databaseURLEnv)
	}
	o.Config = o.config()
	o.g, o.stateDir = g, filepath.Join(g.stateDir, "soak")
	o.command = "orderflow " + strings.Join(os.Args[1:], " ")
	if o.plane, err = o.Up.options(g, o.stateDir, os.Stdout); err != nil {
		return err
	}
	maps.Copy(o.plane.Env, soakEnv(o.Config))
	o.upArgs = upArgs(cmd, soakEnv(o.Config))
	return nil
}

// Run starts the plane, places the orders while sampling, then reports
// and writes the samples; an order not ended or ended other than
// predicted, or a broken invariant, is a failed check (exit 1).
func (o *SoakOptions) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := o.Config
	var prof *profiling
	if o.ProfileDir != "" {
		var err error
		if prof, err = startProfiling(o.ProfileDir); err != nil {
			return err
		}
		defer prof.plane.Stop()
		o.plane.Env[profile.EnvDir] = prof.dir
	}
	// The plane runs as a process of its own (`orderflow up`), so its
	// memory is measured without the load generator's; with --profile it
	// runs in this process, where it can be profiled.
	startPlane := o.startChild
	if prof != nil {
		startPlane = o.startInProcess
	}
	sp, err := startPlane(ctx)
	if err != nil {
		return err
	}
	defer sp.release()

	runID := "soak-" + randomHex(3)
	results := soak.Results{Command: o.command, Started: time.Now().UTC(), Broker: "embedded",
		Rate: cfg.Rate, Duration: cfg.Duration.String(), Sample: cfg.Sample.String(), WarmUp: cfg.WarmUp.String(),
		Retention: orDefault(cfg.Retention, "168h (default)"), PruneInt: orDefault(cfg.PruneInterval, "10m (default)")}
	if !sp.ep.Embedded {
		results.Broker = strings.Join(sp.ep.Brokers, ",")
	}
	var counts struct {
		sync.Mutex
		placed, ended int
	}
	window := &soak.Window{}
	sampler := &soak.Sampler{
		Probe: soak.Probe{DBDir: filepath.Join(o.plane.StateDir, "db"), PlanePID: sp.pid, Client: &http.Client{},
			Processes: sp.processes},
		Window: window, Every: cfg.Sample,
		Counts: func() (int, int) {
			counts.Lock()
			defer counts.Unlock()
			return counts.placed, counts.ended
		},
		OnSample: func(s soak.Sample) { fmt.Fprintln(os.Stderr, soak.Line(s)) },
	}
	fmt.Printf("soak %s: %d orders at %.1f/s for %s, a sample every %s (retention %s, prune interval %s)\n",
		runID, cfg.Orders(), cfg.Rate, cfg.Duration, cfg.Sample, results.Retention, results.PruneInt)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	start := time.Now()
	sampling.Go(func() { sampler.Run(sampleCtx, start) })
	if prof != nil {
		// The heap at the end of the warm-up too: what grew after it is
		// `go tool pprof -base plane.heap-warmup.pprof
		// plane.heap-running.pprof`.
		sampling.Go(func() { writeWarmUpHeap(sampleCtx, cfg.WarmUp, prof.dir) })
	}
	res, runErr := demo.Run(sp.runCtx, demo.TargetOf(sp.ep, sp.kc, true), demo.Config{Orders: cfg.Orders(), Concurrency: o.Concurrency,
		Rate: cfg.Rate, Seed: o.Seed, RunID: runID,
		Progress: func(pr demo.Progress) {
			counts.Lock()
			counts.placed, counts.ended = pr.Placed, pr.Finished
			counts.Unlock()
		},
		Ended: window.Add})
	sp.endRun(nil) // the plane's exit from here on is the soak stopping it
	stopSampling()
	sampling.Wait()
	out := cmp.Or(o.Out, filepath.Join(o.stateDir, "results-"+runID+".json"))
	if runErr != nil {
		// Interrupted: keep what was measured.
		results.Samples = sampler.Samples()
		if err := writeResults(out, results); err == nil && len(results.Samples) > 0 {
			fmt.Printf("the samples so far: %s\n", out)
		}
		if cause := context.Cause(sp.runCtx); cause != nil && cause != sp.runCtx.Err() {
			return cause
		}
		return runErr
	}
	return o.report(ctx, res, sp, prof, sampler, results, out)
}

// report takes the last sample, stops the plane, prints the outcomes,
// trends and verdicts, and writes the results and their picture.
func (o *SoakOptions) report(ctx context.Context, res demo.Result, sp soakPlane, prof *profiling, sampler *soak.Sampler, results soak.Results, out string) error {
	cfg := o.Config
	sampler.Take(ctx, time.Now(), true)
	results.Samples = sampler.Samples()
	results.Summary = soak.Summarize(res)
	var err error
	if results.Trend, err = soak.Trends(results.Samples, cfg.WarmUp, cfg.Duration); err != nil {
		fmt.Printf("no trend: %v\n", err)
	}
	results.Verdicts = soak.Verdicts(results.Trend)

	if prof != nil {
		// Now, while the broker's log and the run's bookkeeping are still
		// held: the plane's own heap profile is written after it stopped.
		if path, err := writeRunningHeap(prof.dir); err != nil {
			fmt.Printf("no heap profile of the running plane: %v\n", err)
		} else {
			fmt.Printf("heap of the plane before stopping: %s\n", path)
		}
	}
	sp.stop() // the functions let go of their database files
	results.Tables = map[string][]soak.Table{}
	for name := range results.Samples[len(results.Samples)-1].Functions {
		if results.Tables[name], err = soak.Tables(ctx, sampler.Probe.DBDir, name); err != nil {
			fmt.Printf("no table sizes of %s: %v\n", name, err)
		}
	}

	res.Print(os.Stdout)
	printTrends(results.Trend)
	printVerdicts(results.Verdicts)
	if err := writeResultsAndPicture(out, results, func(picture string) error {
		return soak.Plot(results, cfg.WarmUp.Minutes(), cfg.Duration.Minutes(), picture)
	}); err != nil {
		return err
	}
	if prof != nil {
		if err := prof.finish(ctx, nil, os.Stdout); err != nil {
			return err
		}
	}
	if !results.Summary.OK() {
		return checkFailed("soak failed: %d orders did not end, %d ended other than predicted, %d not accepted, invariants %s",
			results.Summary.Unfinished, results.Summary.Unexpected, results.Summary.NotAccepted, map[bool]string{true: "hold", false: "VIOLATED"}[results.Summary.Check.OK()])
	}
	return nil
}

// soakPlane is the plane a soak places into: an `orderflow up` of its
// own, or, with --profile, one in this process.
type soakPlane struct {
	ep        plane.Endpoints
	kc        sarama.Client
	pid       int
	processes func() map[string]soak.Process
	// stop stops the plane, once; release stops it and lets go of what
	// its start took.
	stop, release func()
	// runCtx is the placing's: the plane's exit ends it early, until
	// endRun(nil) says its exit is the soak stopping it.
	runCtx context.Context
	endRun context.CancelCauseFunc
}

// startInProcess starts the plane in this process, where it can be
// profiled; it takes the state directory itself (a child `up` takes it
// in its own).
func (o *SoakOptions) startInProcess(ctx context.Context) (soakPlane, error) {
	closeLog, err := o.Up.claim(&o.plane)
	if err != nil {
		return soakPlane{}, err
	}
	fmt.Println("starting orderflow for the soak (in this process, to profile it)...")
	p, err := plane.Up(ctx, o.plane)
	if err != nil {
		closeLog()
		return soakPlane{}, err
	}
	stopPlane := sync.OnceFunc(func() {
		fmt.Println("stopping...")
		p.Close()
	})
	return soakPlane{ep: p.Endpoints(), kc: p.Kafka(), pid: os.Getpid(),
		processes: func() map[string]soak.Process {
			procs := map[string]soak.Process{}
			for name, pid := range p.PIDs() {
				procs[name] = soak.Process{PID: pid, URL: p.FunctionURL(name)}
			}
			return procs
		},
		stop:    stopPlane,
		release: func() { stopPlane(); closeLog() },
		runCtx:  ctx, endRun: func(error) {},
	}, nil
}

// startChild starts the plane as an `orderflow up` of its own; its exit
// mid-run ends the run, saying so, rather than leaving it placing into
// nothing.
func (o *SoakOptions) startChild(ctx context.Context) (soakPlane, error) {
	fmt.Printf("starting orderflow for the soak (orderflow up, its own process; output in %s)...\n", filepath.Join(o.stateDir, "up.log"))
	child, err := startChildPlane(ctx, o.g, o.stateDir, o.upArgs)
	if err != nil {
		return soakPlane{}, err
	}
	stopPlane := sync.OnceFunc(func() {
		fmt.Println("stopping...")
		if err := child.stop(); err != nil {
			fmt.Printf("stopping the plane: %v\n", err)
		}
	})
	pid := child.cmd.Process.Pid
	runCtx, endRun := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-child.exited:
			endRun(fmt.Errorf("the plane (orderflow up, pid %d) exited mid-run: %v; the end of its output (%s):\n%s",
				pid, child.waitErr, child.log, tail(child.log, 10)))
		case <-runCtx.Done():
		}
	}()
	fmt.Printf("  plane pid %d, functions: %s\n", pid, strings.Join(slices.Sorted(maps.Keys(child.ep.Functions)), ", "))
	return soakPlane{ep: child.ep, kc: child.kc, pid: pid, processes: child.processes,
		stop: stopPlane, release: stopPlane, runCtx: runCtx, endRun: endRun}, nil
}

// writeWarmUpHeap writes the plane's heap profile at the end of the
// warm-up, unless ctx ends first.
func writeWarmUpHeap(ctx context.Context, warmUp time.Duration, dir string) {
	select {
	case <-ctx.Done():
	case <-time.After(warmUp):
		if path, err := writeHeap(dir, "heap-warmup"); err != nil {
			fmt.Fprintf(os.Stderr, "no heap profile at the warm-up: %v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "heap of the plane at the end of the warm-up: %s\n", path)
		}
	}
}

func newSoak(g *globals) *cobra.Command {
	o := &SoakOptions{}
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Place orders at a steady rate for a long time and record each function's database size, memory and latency over time",
		Long: `soak starts the whole topology (as demo does; the plane as an "orderflow up"
process of its own, so its memory is measured apart), places --rate orders a second
for --duration, and every --sample records each function's database size and tables,
resident memory, rows pruned and the interval's latency p50/p99. At the end it checks
the invariants, prints how each series moved after --warmup, and writes the samples
to --out (JSON) with a picture beside it; exit 1 if an order did not end, ended
other than predicted, or an invariant is violated. --retention and --prune-interval
make pruning show within a short soak. See docs/soak.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.WarmUpGiven = cmd.Flags().Changed("warmup")
			return runOptions(o.Validate, func() error { return o.Complete(g, cmd) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	cmd.AddCommand(newSoakReport())
	o.addFlags(cmd)
	return cmd
}

// writeRunningHeap writes the plane's heap profile as it is now, after a
// collection, to <dir>/plane.heap-running.pprof.
func writeRunningHeap(dir string) (string, error) { return writeHeap(dir, "heap-running") }

// writeHeap writes the plane's heap profile as it is now, after a
// collection, to <dir>/plane.<kind>.pprof.
func writeHeap(dir, kind string) (string, error) {
	path := profile.File(dir, planeProcess, kind)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// soakEnv is what the soak's settings tell the functions.
func soakEnv(cfg soak.Config) map[string]string {
	env := map[string]string{}
	if cfg.Retention > 0 {
		env["ORDERFLOW_RETENTION"] = cfg.Retention.String()
		if cfg.Retention < handler.MinRetention {
			env["ORDERFLOW_ALLOW_SHORT_RETENTION"] = "true"
		}
	}
	if cfg.PruneInterval > 0 {
		env["ORDERFLOW_PRUNE_INTERVAL"] = cfg.PruneInterval.String()
	}
	return env
}

func orDefault(d time.Duration, def string) string {
	if d == 0 {
		return def
	}
	return d.String()
}

// printVerdicts says bookkeeping's change after the warm-up apart from the
// domain's growth per order.
func printVerdicts(verdicts []soak.Verdict) {
	for _, part := range []string{"bookkeeping", "domain per order", "memory"} {
		first := true
		for _, v := range verdicts {
			if v.Part != part {
				continue
			}
			if first {
				fmt.Printf("%s after the warm-up:\n", part)
				first = false
			}
			fmt.Printf("  %s\n", v.Says)
		}
	}
}

func printTrends(trends []soak.Trend) {
	if len(trends) == 0 {
		return
	}
	fmt.Println("from the end of the warm-up to the end of the placing:")
	fmt.Printf("  %-32s %10s %10s %10s %9s %12s\n", "series", "warm-up", "end", "max", "change", "per minute")
	for _, t := range trends {
		fmt.Printf("  %-32s %10.2f %10.2f %10.2f %8.1f%% %12.3f\n", t.Series, t.WarmUp, t.End, t.Max, t.ChangePercent, t.PerMinute)
	}
}

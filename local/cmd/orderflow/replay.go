package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/replay"
	"orderflow.dev/shared/store"
)

// errVerifyFailed is the exit of a --verify that found differences (they
// are printed already).
var errVerifyFailed error = &checkFailure{errors.New("replay --verify: the rebuilt model differs from the live one")}

// ReplayOptions are `orderflow replay`'s, in kubectl's shape: the flags as
// given, Complete fills what they leave out from the checkout and the
// running up, Validate refuses what cannot work, Run does it. Tests drive
// them without cobra.
type ReplayOptions struct {
	Function     string
	Brokers      []string
	Manifests    string
	DatabaseURL  string
	LiveDatabase string
	Verify       bool
	Settle       time.Duration
	Every        time.Duration
	StateDir     string

	// Completed.
	fn   replay.Function
	plan replay.Plan
	Out  io.Writer
	Errs io.Writer
	now  func() time.Time
}

func (o *ReplayOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().Var(brokerList(&o.Brokers), "brokers", "Kafka bootstrap servers (default: the running up's)")
	cmd.Flags().StringVar(&o.Manifests, "manifests", "", "kustomization whose KafkaSources say what to read (default <root>/knative/base)")
	cmd.Flags().StringVar(&o.DatabaseURL, "database", "", "fresh store to rebuild into (default a new SQLite file under <state-dir>/replay)")
	cmd.Flags().BoolVar(&o.Verify, "verify", false, "compare the rebuilt models with the live ones; exit 1 on a difference")
	cmd.Flags().StringVar(&o.LiveDatabase, "live-database", "", "the live function's database for --verify (default: the running up's)")
	cmd.Flags().DurationVar(&o.Settle, "settle", 2*time.Minute, "with --verify, how long to wait for the live consumer groups to reach the replay's end offsets")
	cmd.Flags().DurationVar(&o.Every, "progress", 2*time.Second, "interval of the progress lines on stderr")
}

// Validate refuses flags that cannot go together or values that cannot
// work, before anything is read.
func (o *ReplayOptions) Validate() error {
	if o.Every <= 0 {
		return fmt.Errorf("--progress %s: must be positive", o.Every)
	}
	if o.Every < minInterval {
		return fmt.Errorf("--progress %s: want at least %s", o.Every, minInterval)
	}
	if o.Settle < 0 {
		return fmt.Errorf("--settle %s: must not be negative", o.Settle)
	}
	if !o.Verify && o.LiveDatabase != "" {
		return errors.New("--live-database is only read with --verify")
	}
	return nil
}

// Complete resolves the function, the manifests (the checkout's unless
// given), what to read, and, from the running up when flags leave them
// out, the brokers and the live database.
func (o *ReplayOptions) Complete(g *globals, function string, out, errs io.Writer) error {
	o.Function, o.Out, o.Errs, o.now = function, out, errs, time.Now
	fn, err := replay.Lookup(function)
	if err != nil {
		return usage(err)
	}
	o.fn = fn
	if o.Manifests == "" {
		root, err := g.checkout()
		if err != nil {
			return err
		}
		o.Manifests = filepath.Join(root, "knative", "base")
	}
	set, err := manifests.Load(o.Manifests)
	if err != nil {
		return err
	}
	if o.plan, err = replay.PlanFor(set, fn); err != nil {
		return err
	}
	if o.StateDir, err = filepath.Abs(g.stateDir); err != nil {
		return err
	}
	return o.fromRunningUp(plane.ReadEndpoints)
}

// fromRunningUp fills the brokers and the live database from the running
// up's endpoints when the flags leave them out.
func (o *ReplayOptions) fromRunningUp(read func(stateDir string) (plane.Endpoints, error)) error {
	if len(o.Brokers) > 0 && (!o.Verify || o.LiveDatabase != "") {
		return nil
	}
	ep, err := read(o.StateDir)
	if err != nil {
		if len(o.Brokers) == 0 {
			return fmt.Errorf("%w; or give a Kafka with --brokers", err)
		}
		return fmt.Errorf("--verify needs the live database: give --live-database (%v)", err)
	}
	if len(o.Brokers) == 0 {
		o.Brokers = ep.Brokers
	}
	if o.Verify && o.LiveDatabase == "" {
		if o.LiveDatabase = ep.Databases[o.fn.Name]; o.LiveDatabase == "" {
			return fmt.Errorf("the running up at %s does not say where %s's database is: give --live-database", o.StateDir, o.fn.Name)
		}
	}
	return nil
}

// Run rebuilds the read models and, with --verify, compares them.
func (o *ReplayOptions) Run(ctx context.Context) error {
	if o.DatabaseURL == "" {
		o.DatabaseURL = "sqlite://" + filepath.Join(o.StateDir, "replay", fmt.Sprintf("%s-%s.db", o.fn.Name, o.now().UTC().Format("20060102T150405")))
	}
	client, err := broker.NewClient(o.Brokers, "orderflow-replay")
	if err != nil {
		return fmt.Errorf("cannot reach Kafka: %w", err)
	}
	defer client.Close()
	into, err := store.Open(ctx, "--database", o.DatabaseURL)
	if err != nil {
		return err
	}
	defer into.Close()
	res, err := replay.Run(ctx, o.fn, replay.Options{Client: client, Plan: o.plan, Into: into, Progress: o.Errs, ProgressEvery: o.Every})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%s into %s\n", res.Summary(), into)
	if !o.Verify {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(o.StateDir, "replay"), 0o755); err != nil {
		return err
	}
	v, err := replay.Verify(ctx, o.fn, into, res, replay.VerifyOptions{Client: client, Plan: o.plan, LiveURL: o.LiveDatabase,
		CopyDir: filepath.Join(o.StateDir, "replay"), Settle: o.Settle, Progress: o.Errs})
	if err != nil {
		return err
	}
	return printVerdict(o.Out, o.fn.Name, v)
}

func newReplay(g *globals) *cobra.Command {
	o := &ReplayOptions{}
	cmd := &cobra.Command{
		Use:   "replay FUNCTION",
		Short: "Rebuild a function's read models from the Kafka log into a fresh store; --verify compares them with the live ones",
		Long: `replay reads the topics the function's KafkaSource subscribes to, from the oldest
offset to the end offsets taken when it starts (no consumer group), and rebuilds the
function's read models with its own code into a fresh store: a SQLite file under the
state directory, or --database. It works against the running up or, with --brokers,
any Kafka. --verify then compares the rebuilt models with the live ones, order by
order, leaving out orders still in flight; any difference exits 1. See docs/replay.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runOptions(o.Validate, func() error { return o.Complete(g, args[0], cmd.OutOrStdout(), os.Stderr) }, func() error { return o.Run(ctx) })
		},
	}
	o.addFlags(cmd)
	return cmd
}

// runOptions is the three steps of a command in kubectl's shape: the flags
// checked (a usage error), what they leave out completed, then the work.
func runOptions(validate, complete, run func() error) error {
	if err := validate(); err != nil {
		return usage(err)
	}
	if err := complete(); err != nil {
		return err
	}
	return run()
}

func printVerdict(out io.Writer, name string, v replay.Verdict) error {
	for _, d := range v.Differences {
		fmt.Fprintln(out, d)
	}
	fmt.Fprintf(out, "verify %s: %d order(s) compared, %d left out as in flight, %d difference(s)\n", name, v.Compared, len(v.Excluded), len(v.Differences))
	if !v.OK() {
		return errVerifyFailed
	}
	return nil
}

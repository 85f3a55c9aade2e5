package main

import (
	"errors"
	"fmt"
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

func newReplay(g *globals) *cobra.Command {
	var (
		brokers      []string
		manifestDir  string
		databaseURL  string
		liveDatabase string
		verify       bool
		settle       time.Duration
		every        time.Duration
	)
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
			fn, err := replay.Lookup(args[0])
			if err != nil {
				return err
			}
			if every <= 0 {
				return fmt.Errorf("--progress %s: must be positive", every)
			}
			if settle < 0 {
				return fmt.Errorf("--settle %s: must not be negative", settle)
			}
			if !verify && liveDatabase != "" {
				return errors.New("--live-database is only read with --verify")
			}
			if manifestDir == "" {
				root, err := g.checkout()
				if err != nil {
					return err
				}
				manifestDir = filepath.Join(root, "knative", "base")
			}
			set, err := manifests.Load(manifestDir)
			if err != nil {
				return err
			}
			plan, err := replay.PlanFor(set, fn)
			if err != nil {
				return err
			}
			var ep *plane.Endpoints
			if len(brokers) == 0 || (verify && liveDatabase == "") {
				e, err := plane.ReadEndpoints(g.stateDir)
				if err != nil {
					if len(brokers) == 0 {
						return fmt.Errorf("%w; or give a Kafka with --brokers", err)
					}
					return fmt.Errorf("--verify needs the live database: give --live-database (%v)", err)
				}
				ep = &e
			}
			if len(brokers) == 0 {
				brokers = ep.Brokers
			}
			if verify && liveDatabase == "" {
				liveDatabase = ep.Databases[fn.Name]
				if liveDatabase == "" {
					return fmt.Errorf("the running up at %s does not say where %s's database is: give --live-database", g.stateDir, fn.Name)
				}
			}
			stateDir, err := filepath.Abs(g.stateDir)
			if err != nil {
				return err
			}
			if databaseURL == "" {
				databaseURL = "sqlite://" + filepath.Join(stateDir, "replay", fmt.Sprintf("%s-%s.db", fn.Name, time.Now().UTC().Format("20060102T150405")))
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			client, err := broker.NewClient(brokers, "orderflow-replay")
			if err != nil {
				return fmt.Errorf("cannot reach Kafka: %w", err)
			}
			defer client.Close()
			into, err := store.Open(ctx, "--database", databaseURL)
			if err != nil {
				return err
			}
			defer into.Close()
			res, err := replay.Run(ctx, fn, replay.Options{Client: client, Plan: plan, Into: into, Progress: os.Stderr, ProgressEvery: every})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s into %s\n", res.Summary(), into)
			if !verify {
				return nil
			}
			if err := os.MkdirAll(filepath.Join(stateDir, "replay"), 0o755); err != nil {
				return err
			}
			v, err := replay.Verify(ctx, fn, into, res, replay.VerifyOptions{Client: client, Plan: plan, LiveURL: liveDatabase,
				CopyDir: filepath.Join(stateDir, "replay"), Settle: settle, Progress: os.Stderr})
			if err != nil {
				return err
			}
			return printVerdict(cmd, fn.Name, v)
		},
	}
	cmd.Flags().StringSliceVar(&brokers, "brokers", nil, "Kafka bootstrap servers (default: the running up's)")
	cmd.Flags().StringVar(&manifestDir, "manifests", "", "kustomization whose KafkaSources say what to read (default <root>/knative/base)")
	cmd.Flags().StringVar(&databaseURL, "database", "", "fresh store to rebuild into (default a new SQLite file under <state-dir>/replay)")
	cmd.Flags().BoolVar(&verify, "verify", false, "compare the rebuilt models with the live ones; exit non-zero on a difference")
	cmd.Flags().StringVar(&liveDatabase, "live-database", "", "the live function's database for --verify (default: the running up's)")
	cmd.Flags().DurationVar(&settle, "settle", 2*time.Minute, "with --verify, how long to wait for the live consumer groups to reach the replay's end offsets")
	cmd.Flags().DurationVar(&every, "progress", 2*time.Second, "interval of the progress lines on stderr")
	return cmd
}

func printVerdict(cmd *cobra.Command, name string, v replay.Verdict) error {
	out := cmd.OutOrStdout()
	for _, d := range v.Differences {
		fmt.Fprintln(out, d)
	}
	fmt.Fprintf(out, "verify %s: %d order(s) compared, %d left out as in flight, %d difference(s)\n", name, v.Compared, len(v.Excluded), len(v.Differences))
	if !v.OK() {
		return errVerifyFailed
	}
	return nil
}

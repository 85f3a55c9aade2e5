package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"orderflow.dev/local/fault"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/scratchdb"
)

func newFaults(g *globals) *cobra.Command {
	var (
		orders    int
		scenarios []string
		brokers   []string
		kind      string
		script    string
		seed      uint64
	)
	cmd := &cobra.Command{
		Use:   "faults",
		Short: "The fault-injection suite: one fresh topology per fault, orders driven through it, one verdict row each",
		Long: `faults runs each scenario on its own fresh topology while it drives --orders
orders through the saga, and prints one row per scenario:

  placed / confirmed / cancelled / dead-lettered / lost / double-charged / stock drift

A scenario fails when lost, double-charged or stock drift is not zero, or when
the dead letters are not exactly those its fault must cause (poison records
are refused by every function that reads them and does not ignore their
type). Scenarios: kill-restart, duplicate-delivery, transient-5xx, poison, and
with a real broker controlled by scripts/kafka.sh: broker-restart (--broker
kafka) and one-of-three-brokers-down (--broker cluster). It exits non-zero
when any scenario fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if orders < 1 {
				return fmt.Errorf("--orders %d: must be at least 1", orders)
			}
			if kind != "embedded" && kind != "kafka" && kind != "cluster" {
				return fmt.Errorf("--broker %q: want embedded, kafka or cluster", kind)
			}
			if (kind == "embedded") != (len(brokers) == 0) {
				return fmt.Errorf("--broker %s goes with --brokers of that Kafka (and embedded with none)", kind)
			}
			base, root, closeLog, err := g.freshRun("faults")
			if err != nil {
				return err
			}
			defer closeLog()
			if script == "" {
				script = filepath.Join(root, "scripts", "kafka.sh")
			}
			all, err := fault.Select(fault.Scenarios(), scenarios)
			if err != nil {
				return err
			}
			broker := kind
			if broker == "embedded" {
				broker = ""
			}
			run, skipped := fault.Applicable(all, broker)
			for _, s := range skipped {
				fmt.Printf("skipping %s: it needs --broker %s\n", s.Name, s.Needs)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			base.Brokers = brokers
			cfg := fault.Config{Base: base, Orders: orders, Seed: seed, KafkaScript: script, Progress: os.Stdout}
			if len(brokers) > 0 {
				cfg.Reset = func(ctx context.Context, servers []string) error {
					return fault.ResetBroker(ctx, base.Manifests, servers)
				}
			}
			// On PostgreSQL (as demo and bench do): each scenario's
			// functions get fresh schemas of their own, dropped at the end.
			if raw := os.Getenv(databaseURLEnv); raw != "" {
				if !scratchdb.IsPostgres(raw) {
					return fmt.Errorf("%s: faults runs on SQLite files of its own, or on PostgreSQL when this names a postgres:// database", databaseURLEnv)
				}
				schemas, err := scratchdb.Open(ctx, databaseURLEnv, raw)
				if err != nil {
					return err
				}
				defer schemas.Close(context.Background())
				settings, err := schemas.Settings(ctx)
				if err != nil {
					return err
				}
				fmt.Printf("store: PostgreSQL %s, fresh schemas per scenario (%s)\n", schemas, settings)
				cfg.Databases = func(scenario string) (map[string]string, error) {
					return functionSchemas(ctx, schemas, scenario, base.FunctionsDir, fnserve.Names())
				}
			}
			rows := fault.Run(ctx, cfg, run)
			fmt.Println()
			fault.Table(os.Stdout, rows)
			for _, r := range rows {
				if !r.OK() {
					return checkFailed("fault suite failed (logs under %s)", base.StateDir)
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&orders, "orders", 2000, "orders per scenario")
	cmd.Flags().StringSliceVar(&scenarios, "scenario", nil, "run only these scenarios (default: all the broker allows)")
	cmd.Flags().StringSliceVar(&brokers, "brokers", nil, "bootstrap servers of the real Kafka the script runs (with --broker kafka or cluster)")
	cmd.Flags().StringVar(&kind, "broker", "embedded", "embedded, kafka (scripts/kafka.sh start) or cluster (scripts/kafka.sh start-cluster)")
	cmd.Flags().StringVar(&script, "kafka-script", "", "the script that stops and starts brokers (default <root>/scripts/kafka.sh)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the order mix")
	return cmd
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"orderflow.dev/local/demo"
	"orderflow.dev/local/fault"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/scratchdb"
)

// Which Kafka the fault suite runs on decides which scenarios it can run:
// the ones that stop brokers need the nodes scripts/kafka.sh controls.
const (
	brokerEmbedded = "embedded"
	brokerKafka    = "kafka"   // scripts/kafka.sh start: one node
	brokerCluster  = "cluster" // scripts/kafka.sh start-cluster: three
)

// FaultsOptions are `orderflow faults`'s, in kubectl's shape (see
// ReplayOptions): the suite of one fault at a time, or with --nemesis the
// random schedules.
type FaultsOptions struct {
	Orders      int
	Scenarios   []string
	Brokers     []string
	Cluster     bool
	KafkaScript string
	Seed        uint64
	// LegacyBroker is the --broker embedded|kafka|cluster of earlier
	// releases, hidden now: --brokers says whether the Kafka is real and
	// --kafka-cluster whether it is the three-node one.
	LegacyBroker string
	Nemesis      nemesisOptions

	changed     func(string) bool
	databaseURL string

	// Completed.
	g    *globals
	kind string
	Out  io.Writer
}

func (o *FaultsOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&o.Orders, "orders", 2000, "orders per scenario")
	f.StringSliceVar(&o.Scenarios, "scenario", nil, "run only these scenarios (default: all the broker allows)")
	f.Var(brokerList(&o.Brokers), "brokers", "bootstrap servers of the Apache Kafka scripts/kafka.sh runs (default: the embedded broker); adds the scenarios that restart its broker")
	f.BoolVar(&o.Cluster, "kafka-cluster", false, "the --brokers are scripts/kafka.sh start-cluster's three nodes: adds one-of-three-brokers-down")
	f.StringVar(&o.KafkaScript, "kafka-script", "", "the script that stops and starts brokers (default <root>/scripts/kafka.sh)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the order mix (with --nemesis: of the first schedule, and its orders)")
	f.StringVar(&o.LegacyBroker, "broker", "", "embedded, kafka or cluster")
	_ = f.MarkDeprecated("broker", "--brokers says which Kafka, --kafka-cluster that it is the three-node one")
	o.Nemesis.addFlags(cmd)
	o.changed = f.Changed
}

// Validate refuses flags that cannot go together, naming them; nothing is
// read or started.
func (o *FaultsOptions) Validate() error {
	changed := o.changed
	if changed == nil {
		changed = func(string) bool { return false }
	}
	if err := o.Nemesis.validate(changed, o.Orders, o.databaseURL); err != nil {
		return err
	}
	if o.Nemesis.on {
		kind, err := o.brokerKind()
		o.kind = kind
		return err
	}
	if err := demo.CheckOrders("--orders", o.Orders); err != nil {
		return err
	}
	kind, err := o.brokerKind()
	if err != nil {
		return err
	}
	o.kind = kind
	return nil
}

// brokerKind is which Kafka the flags name: embedded without --brokers,
// the script's single node with them, its cluster with --kafka-cluster.
func (o *FaultsOptions) brokerKind() (string, error) {
	if o.LegacyBroker != "" {
		switch o.LegacyBroker {
		case brokerEmbedded, brokerKafka:
		case brokerCluster:
			o.Cluster = true
		default:
			return "", fmt.Errorf("--broker %q (deprecated): want embedded, kafka or cluster; or leave it out and give --brokers [--kafka-cluster]", o.LegacyBroker)
		}
		if (o.LegacyBroker == brokerEmbedded) != (len(o.Brokers) == 0) {
			return "", fmt.Errorf("--broker %s (deprecated) goes with --brokers of that Kafka (and embedded with none)", o.LegacyBroker)
		}
	}
	switch {
	case o.Cluster && len(o.Brokers) == 0:
		return "", fmt.Errorf("--kafka-cluster goes with --brokers naming that cluster's nodes")
	case o.Cluster:
		return brokerCluster, nil
	case len(o.Brokers) > 0:
		return brokerKafka, nil
	}
	return brokerEmbedded, nil
}

// Complete fills the script's path from the checkout.
func (o *FaultsOptions) Complete(g *globals, out io.Writer) error {
	o.g, o.Out = g, out
	if o.KafkaScript != "" || (o.Nemesis.on && len(o.Brokers) == 0) {
		return nil
	}
	root, err := g.checkout()
	if err != nil {
		return err
	}
	o.KafkaScript = filepath.Join(root, "scripts", "kafka.sh")
	return nil
}

// Run runs the suite (or the nemesis) and exits 1 when a scenario fails.
func (o *FaultsOptions) Run(ctx context.Context) error {
	if o.Nemesis.on {
		return o.Nemesis.run(o.g, o.Seed, o.Orders, o.kafka())
	}
	all, err := fault.Select(fault.Scenarios(), o.Scenarios)
	if err != nil {
		return usage(err)
	}
	base, _, closeLog, err := o.g.freshRun("faults")
	if err != nil {
		return err
	}
	defer closeLog()
	needs := o.kind
	if needs == brokerEmbedded {
		needs = ""
	}
	run, skipped := fault.Applicable(all, needs)
	for _, s := range skipped {
		fmt.Fprintf(o.Out, "skipping %s: it needs %s\n", s.Name, scenarioNeeds(s.Needs))
	}
	base.Brokers = o.Brokers
	cfg := fault.Config{Base: base, Orders: o.Orders, Seed: o.Seed, KafkaScript: o.KafkaScript, Progress: o.Out}
	if len(o.Brokers) > 0 {
		cfg.Reset = func(ctx context.Context, servers []string) error {
			return fault.ResetBroker(ctx, base.Manifests, servers)
		}
	}
	// On PostgreSQL (as demo and bench do): each scenario's functions get
	// fresh schemas of their own, dropped at the end.
	if raw := o.databaseURL; raw != "" {
		if !scratchdb.IsPostgres(raw) {
			return usage(fmt.Errorf("%s: faults runs on SQLite files of its own, or on PostgreSQL when this names a postgres:// database", databaseURLEnv))
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
		fmt.Fprintf(o.Out, "store: PostgreSQL %s, fresh schemas per scenario (%s)\n", schemas, settings)
		cfg.Databases = func(scenario string) (map[string]string, error) {
			return functionSchemas(ctx, schemas, scenario, base.FunctionsDir, fnserve.Names())
		}
	}
	rows := fault.Run(ctx, cfg, run)
	fmt.Fprintln(o.Out)
	fault.Table(o.Out, rows)
	for _, r := range rows {
		if !r.OK() {
			return checkFailed("fault suite failed (logs under %s)", base.StateDir)
		}
	}
	return nil
}

// kafka is the Apache Kafka scripts/kafka.sh runs that the flags name,
// for the nemesis (nil: the embedded broker).
func (o *FaultsOptions) kafka() *nemesisKafka {
	if len(o.Brokers) == 0 {
		return nil
	}
	return &nemesisKafka{brokers: o.Brokers, cluster: o.kind == brokerCluster, script: o.KafkaScript}
}

// scenarioNeeds says in flags what a scenario's Needs asks for.
func scenarioNeeds(needs string) string {
	if needs == brokerCluster {
		return "--brokers of scripts/kafka.sh start-cluster and --kafka-cluster"
	}
	return "--brokers of scripts/kafka.sh start"
}

func newFaults(g *globals) *cobra.Command {
	o := &FaultsOptions{databaseURL: os.Getenv(databaseURLEnv)}
	cmd := &cobra.Command{
		Use:   "faults",
		Short: "The fault-injection suite: one fresh topology per fault, orders driven through it, one verdict row each",
		Long: `faults runs each scenario on its own fresh topology while it drives --orders
orders through the saga, and prints one row per scenario (placed, confirmed,
cancelled, dead-lettered, lost, double-charged, stock drift); a scenario fails
when lost, double-charged or stock drift is not zero, or when the dead letters
are not exactly those its fault must cause. On a Kafka scripts/kafka.sh runs
(--brokers) it adds broker-restart; on its three-node cluster (--brokers of
all three, --kafka-cluster) one-of-three-brokers-down. Exits 1 when any
scenario fails; docs/failure-handling.md.

--nemesis draws instead a random schedule of overlapping faults per seed
(--seed, --runs) and checks the invariants after each run; docs/nemesis.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runOptions(o.Validate, func() error { return o.Complete(g, cmd.OutOrStdout()) }, func() error { return o.Run(ctx) })
		},
	}
	o.addFlags(cmd)
	return cmd
}

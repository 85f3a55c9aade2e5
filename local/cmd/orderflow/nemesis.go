package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/serving"
	"orderflow.dev/local/fault"
	"orderflow.dev/local/nemesis"
)

// nemesisOptions are faults --nemesis's flags.
type nemesisOptions struct {
	on                   bool
	runs                 int
	rate                 float64
	dryRun               bool
	settle               time.Duration
	minFaults, maxFaults int
	results              string
	postgresPort         int
	scale                []string
}

func (n *nemesisOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&n.on, "nemesis", false, "random schedules of overlapping faults, one per seed, the invariants checked after each (docs/nemesis.md)")
	f.IntVar(&n.runs, "runs", 1, "with --nemesis: schedules to run, seeds --seed, --seed+1, ...")
	f.Float64Var(&n.rate, "rate", 50, "with --nemesis: orders placed per second")
	f.BoolVar(&n.dryRun, "dry-run", false, "with --nemesis: print the schedules the seeds draw, run nothing")
	f.DurationVar(&n.settle, "settle", 2*time.Minute, "with --nemesis: how long the saga may take to settle after a schedule")
	f.IntVar(&n.minFaults, "min-faults", 3, "with --nemesis: faults per schedule, at least")
	f.IntVar(&n.maxFaults, "max-faults", 8, "with --nemesis: faults per schedule, at most")
	f.IntVar(&n.postgresPort, "postgres-port", 0, "with --nemesis: start a PostgreSQL of the runs' own on this port (scripts/postgres.sh), put every store on it and let schedules stop it")
	f.StringArrayVar(&n.scale, "scale", nil, "with --nemesis: replicas of a function, FUNCTION=MIN:MAX or FUNCTION=N (* for every one), as up's --scale; more than one needs --postgres-port (repeatable)")
	f.StringVar(&n.results, "results", "", "with --nemesis: where each run's JSON and picture go (default <state dir>/nemesis/nemesis-results, cleared by the next run)")
}

// nemesisOnly are the flags that mean nothing without --nemesis, and
// suiteOnly those of the one-fault-at-a-time suite that mean nothing with
// it.
var (
	nemesisOnly = []string{"runs", "rate", "dry-run", "settle", "min-faults", "max-faults", "results", "postgres-port", "scale"}
	suiteOnly   = []string{"scenario", "broker"}
)

// validate refuses a bad combination, naming the flag; changed says which
// flags the command line set.
func (n *nemesisOptions) validate(changed func(string) bool, orders int, databaseURL string) error {
	if !n.on {
		for _, name := range nemesisOnly {
			if changed(name) {
				return usage(fmt.Errorf("--%s goes with --nemesis", name))
			}
		}
		return nil
	}
	for _, name := range suiteOnly {
		if changed(name) {
			return usage(fmt.Errorf("--%s: the nemesis draws its own faults (and takes its Kafka from --brokers, --kafka-cluster); leave --%s out with --nemesis", name, name))
		}
	}
	if databaseURL != "" {
		return usage(fmt.Errorf("%s: the nemesis runs on SQLite files of its own for now (docs/nemesis.md); unset it", databaseURLEnv))
	}
	switch {
	case n.runs < 1:
		return usage(fmt.Errorf("--runs %d: at least 1", n.runs))
	case orders < 1:
		return usage(fmt.Errorf("--orders %d: at least 1", orders))
	case n.rate <= 0:
		return usage(fmt.Errorf("--rate %v: orders a second must be above 0", n.rate))
	case n.settle <= 0:
		return usage(fmt.Errorf("--settle %s: must be above 0", n.settle))
	case n.minFaults < 1:
		return usage(fmt.Errorf("--min-faults %d: at least 1", n.minFaults))
	case n.maxFaults < n.minFaults:
		return usage(fmt.Errorf("--max-faults %d: below --min-faults %d", n.maxFaults, n.minFaults))
	case n.postgresPort == nemesis.SharedPostgresPort:
		return usage(fmt.Errorf("--postgres-port %d: that is the shared test PostgreSQL, which the nemesis must not stop; give another port", n.postgresPort))
	case n.postgresPort < 0 || n.postgresPort > 65535:
		return usage(fmt.Errorf("--postgres-port %d: not a TCP port", n.postgresPort))
	case n.postgresPort == 0 && n.replicated():
		return usage(errors.New("--scale above one replica: replicas of a function need PostgreSQL; add --postgres-port"))
	case float64(orders)/n.rate < 5:
		return usage(fmt.Errorf("--orders %d at --rate %v place for %.1fs: a schedule needs at least 5s (more orders or a lower rate)", orders, n.rate, float64(orders)/n.rate))
	}
	if _, err := n.scales(); err != nil {
		return usage(err)
	}
	return nil
}

// scales are the --scale flags parsed.
func (n *nemesisOptions) scales() (map[string]serving.Scale, error) {
	var out map[string]serving.Scale
	for _, v := range n.scale {
		name, sc, err := serving.ParseScaleFlag(v)
		if err != nil {
			return nil, fmt.Errorf("--scale %w", err)
		}
		if out == nil {
			out = map[string]serving.Scale{}
		}
		out[name] = sc
	}
	return out, nil
}

// replicated: a --scale lets some function run more than one replica.
func (n *nemesisOptions) replicated() bool {
	scales, err := n.scales()
	if err != nil {
		return false // Validate names the bad value
	}
	for _, sc := range scales {
		if sc.Max != 1 {
			return true
		}
	}
	return false
}

// nemesisKafka is the Apache Kafka the runs use, from --brokers,
// --kafka-cluster and --kafka-script.
type nemesisKafka struct {
	brokers []string
	cluster bool
	script  string
}

// replayCommand is the command that runs seed's schedule again alone.
func (n *nemesisOptions) replayCommand(seed uint64, orders int, kafka *nemesisKafka) string {
	cmd := fmt.Sprintf("orderflow faults --nemesis --seed %d --runs 1 --orders %d --rate %g --min-faults %d --max-faults %d --settle %s",
		seed, orders, n.rate, n.minFaults, n.maxFaults, n.settle)
	if n.postgresPort > 0 {
		cmd += fmt.Sprintf(" --postgres-port %d", n.postgresPort)
	}
	for _, sc := range n.scale {
		cmd += " --scale " + sc
	}
	if kafka != nil {
		cmd += " --brokers " + strings.Join(kafka.brokers, ",")
		if kafka.cluster {
			cmd += " --kafka-cluster"
		}
	}
	return cmd
}

// runNemesis is faults --nemesis.
func (n *nemesisOptions) run(g *globals, seed uint64, orders int, kafka *nemesisKafka) error {
	seeds := nemesis.Seeds(seed, n.runs)
	config := func(base plane.Options, root string) (nemesis.Config, error) {
		scales, err := n.scales()
		if err != nil {
			return nemesis.Config{}, usage(err)
		}
		base.Scale = scales
		if kafka != nil {
			base.Brokers = kafka.brokers
		}
		cfg := nemesis.Config{Base: base, Orders: orders, Rate: n.rate, MinFaults: n.minFaults, MaxFaults: n.maxFaults,
			SettleBound: n.settle, Progress: os.Stdout}
		if kafka != nil {
			manifestsDir := base.Manifests
			cfg.Kafka = &nemesis.Kafka{Script: kafka.script, Cluster: kafka.cluster, Log: os.Stdout,
				Reset: func(ctx context.Context, servers []string) error {
					return fault.ResetBroker(ctx, manifestsDir, servers)
				}}
		}
		if n.postgresPort > 0 {
			// Outside the run's state directory, which each run clears:
			// the server's data stays initialised from one run to the next.
			cfg.Postgres = &nemesis.Postgres{Script: filepath.Join(root, "scripts", "postgres.sh"), Port: n.postgresPort,
				Dir: filepath.Join(g.stateDir, "nemesis-postgres"), Log: os.Stdout}
			if err := cfg.Postgres.Validate(); err != nil {
				return cfg, usage(fmt.Errorf("--postgres-port: %w", err))
			}
		}
		return cfg, nil
	}
	if n.dryRun { // nothing started, nothing of an earlier run cleared
		base, root, err := g.baseOptions(filepath.Join(g.stateDir, "nemesis"))
		if err != nil {
			return err
		}
		cfg, err := config(base, root)
		if err != nil {
			return err
		}
		return nemesis.DryRun(os.Stdout, cfg, seeds)
	}
	base, root, closeLog, err := g.freshRun("nemesis")
	if err != nil {
		return err
	}
	defer closeLog()
	cfg, err := config(base, root)
	if err != nil {
		return err
	}
	if cfg.Postgres != nil {
		defer cfg.Postgres.Stop(context.Background())
	}
	results := n.results
	if results == "" {
		results = filepath.Join(base.StateDir, "nemesis-results")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runs, err := nemesis.Suite(ctx, cfg, seeds, results, func(s uint64) string { return n.replayCommand(s, orders, kafka) })
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range runs {
		if !r.OK() {
			failed++
		}
	}
	fmt.Printf("nemesis: %d of %d run(s) passed; results in %s\n", len(runs)-failed, len(runs), results)
	if failed > 0 {
		return checkFailed("nemesis: %d run(s) failed", failed)
	}
	return nil
}

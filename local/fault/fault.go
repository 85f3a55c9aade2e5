// Package fault is the fault-injection suite: it drives orders through a
// fresh topology while injecting one fault at a time, and judges each run
// by the same oracle as every other test. One row per scenario:
//
//	placed / confirmed / cancelled / dead-lettered / lost / double-charged / stock drift
//
// A scenario fails when lost, double-charged or stock drift is not zero,
// or when the dead letters differ from what its fault must produce.
package fault

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/orderflow"
)

// Env is what a scenario's fault acts on.
type Env struct {
	Plane *plane.Plane
	Kafka sarama.Client
	// KafkaScript is scripts/kafka.sh, for the scenarios that stop brokers.
	KafkaScript string
	Log         io.Writer
}

// Scenario is one fault.
type Scenario struct {
	Name string
	// Needs is "" (any broker), "kafka" (a real single-node broker the
	// script controls) or "cluster" (the script's three-broker cluster).
	Needs string
	// Configure adjusts the topology before it starts.
	Configure func(*plane.Options)
	// Inject runs beside the orders, started with them.
	Inject func(ctx context.Context, env *Env) error
	// DeadLetters is how many dead letters the fault must cause; nil: the
	// scenario expects none beyond what its orders cause (none).
	DeadLetters func(env *Env) int
	// Rate caps placements per second, for faults that need time to land.
	Rate float64
}

// Row is a scenario's verdict.
type Row struct {
	Scenario         string
	Placed           int
	Confirmed        int
	Cancelled        int
	DeadLettered     int
	WantDeadLettered int
	Lost             int
	DoubleCharged    int
	StockDrift       int
	Took             time.Duration
	Err              error
	Notes            string
}

// OK is the row's pass/fail.
func (r Row) OK() bool {
	return r.Err == nil && r.Lost == 0 && r.DoubleCharged == 0 && r.StockDrift == 0 && r.DeadLettered == r.WantDeadLettered
}

// Config of a suite run.
type Config struct {
	Base        plane.Options // everything but what a scenario changes
	Orders      int
	Seed        uint64
	KafkaScript string
	Progress    io.Writer
	// Reset prepares an external broker for a fresh run (delete topics and
	// groups); nil on the embedded broker, which starts empty.
	Reset func(ctx context.Context, brokers []string) error
	// Databases, when set, gives each scenario's functions fresh databases
	// (env entries such as "order/ORDERFLOW_DATABASE_URL"); otherwise each
	// scenario gets its own state directory, hence its own SQLite files.
	Databases func(scenario string) (map[string]string, error)
}

// Run runs each scenario on its own fresh topology and returns the rows.
func Run(ctx context.Context, cfg Config, scenarios []Scenario) []Row {
	var rows []Row
	for i, sc := range scenarios {
		fmt.Fprintf(cfg.Progress, "== scenario %d/%d: %s\n", i+1, len(scenarios), sc.Name)
		row := runOne(ctx, cfg, sc, uint64(i))
		fmt.Fprintf(cfg.Progress, "   %s\n", row.line())
		rows = append(rows, row)
	}
	return rows
}

func runOne(ctx context.Context, cfg Config, sc Scenario, n uint64) (row Row) {
	row = Row{Scenario: sc.Name}
	start := time.Now()
	defer func() { row.Took = time.Since(start) }()
	opts := cfg.Base
	// Every scenario starts from nothing: its own state (SQLite files,
	// logs) and, if given, its own databases.
	opts.StateDir = filepath.Join(cfg.Base.StateDir, sc.Name)
	opts.Env = copyEnv(cfg.Base.Env)
	if cfg.Databases != nil {
		env, err := cfg.Databases(sc.Name)
		if err != nil {
			row.Err = fmt.Errorf("databases for %s: %w", sc.Name, err)
			return row
		}
		for k, v := range env {
			opts.Env[k] = v
		}
	}
	orderflow.Wire(&opts)
	if sc.Configure != nil {
		sc.Configure(&opts)
	}
	if cfg.Reset != nil {
		if err := cfg.Reset(ctx, opts.Brokers); err != nil {
			row.Err = err
			return row
		}
	}
	p, err := plane.Up(ctx, opts)
	if err != nil {
		row.Err = err
		return row
	}
	defer p.Close()
	kc := p.Kafka()
	env := &Env{Plane: p, Kafka: kc, KafkaScript: cfg.KafkaScript, Log: cfg.Progress}
	ep := p.Endpoints()
	target := demo.TargetOf(ep, kc, true)
	injected := make(chan error, 1)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if sc.Inject != nil {
		go func() { injected <- sc.Inject(runCtx, env) }()
	} else {
		injected <- nil
	}
	res, err := demo.Run(ctx, target, demo.Config{Orders: cfg.Orders, Concurrency: 8, Seed: cfg.Seed + n, Rate: sc.Rate,
		RunID: "fault-" + sc.Name, Timeout: 5 * time.Minute, Settle: time.Minute})
	if ierr := <-injected; ierr != nil && row.Err == nil {
		row.Err = fmt.Errorf("injecting: %w", ierr)
	}
	if err != nil && row.Err == nil {
		row.Err = err
	}
	c := res.Check
	row.Placed, row.Confirmed, row.Cancelled = res.Placed, c.Confirmed, c.Cancelled
	row.Lost = c.Lost + res.NotAccepted
	row.DoubleCharged = c.DoubleCharged + c.NetCharged + c.MultiTerminal
	row.StockDrift = c.StockDrift
	if len(res.Unexpected) > 0 {
		row.Notes = fmt.Sprintf("%d orders ended other than their kind predicts", len(res.Unexpected))
	}
	if sc.DeadLetters != nil {
		row.WantDeadLettered = sc.DeadLetters(env)
	}
	// Dead letters land after their retries: count once they stop growing.
	row.DeadLettered, err = settledDeadLetters(ctx, kc, ep, row.WantDeadLettered)
	if err != nil && row.Err == nil {
		row.Err = err
	}
	return row
}

// settledDeadLetters counts the letters of every dead-letter topic, waiting
// until the count reaches want and stays, or stops moving.
func settledDeadLetters(ctx context.Context, kc sarama.Client, ep plane.Endpoints, want int) (int, error) {
	var topics []string
	for _, t := range ep.DLQTopics {
		topics = append(topics, t)
	}
	last, stable := -1, 0
	deadline := time.Now().Add(90 * time.Second)
	for {
		recs, err := kafkalog.ReadAll(ctx, kc, topics...)
		if err != nil {
			return 0, err
		}
		n := len(recs) // a dead-letter topic holds only what was dead-lettered
		if n == last {
			stable++
		} else {
			stable = 0
		}
		last = n
		// Retried deliveries dead-letter ~12s after their first attempt.
		if (n >= want && stable >= 3) || stable >= 60 || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func copyEnv(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (r Row) line() string {
	status := "PASS"
	if !r.OK() {
		status = "FAIL"
	}
	s := fmt.Sprintf("%s placed %d confirmed %d cancelled %d dead-lettered %d (want %d) lost %d double-charged %d stock drift %d  (%s)",
		status, r.Placed, r.Confirmed, r.Cancelled, r.DeadLettered, r.WantDeadLettered, r.Lost, r.DoubleCharged, r.StockDrift, r.Took.Round(time.Second))
	if r.Err != nil {
		s += "  error: " + r.Err.Error()
	}
	if r.Notes != "" {
		s += "  note: " + r.Notes
	}
	return s
}

// Table prints the rows.
func Table(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tplaced\tconfirmed\tcancelled\tdead-lettered\tlost\tdouble-charged\tstock drift\tresult\t")
	for _, r := range rows {
		dl := fmt.Sprint(r.DeadLettered)
		if r.WantDeadLettered != 0 || r.DeadLettered != 0 {
			dl = fmt.Sprintf("%d/%d", r.DeadLettered, r.WantDeadLettered)
		}
		result := "PASS"
		if !r.OK() {
			result = "FAIL"
			if r.Err != nil {
				result += ": " + firstLine(r.Err.Error())
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%s\t\n", r.Scenario, r.Placed, r.Confirmed, r.Cancelled, dl, r.Lost, r.DoubleCharged, r.StockDrift, result)
	}
	tw.Flush()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// kafkaScript runs scripts/kafka.sh with args.
func kafkaScript(ctx context.Context, env *Env, args ...string) error {
	return RunKafkaScript(ctx, env.KafkaScript, env.Log, nil, args...)
}

// RunKafkaScript runs script (scripts/kafka.sh) with args and extraEnv
// (VAR=value) beside this process's environment, and writes its last line
// to log.
func RunKafkaScript(ctx context.Context, script string, log io.Writer, extraEnv []string, args ...string) error {
	if script == "" {
		return fmt.Errorf("no kafka script to run %v with", args)
	}
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	if log != nil {
		fmt.Fprintf(log, "   kafka.sh %s: %s\n", strings.Join(args, " "), strings.TrimSpace(lastLine(string(out))))
	}
	if err != nil {
		return fmt.Errorf("kafka.sh %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ResetBroker empties an external Kafka of what an earlier run left (the
// manifests' topics and the sources' consumer groups), so each scenario
// starts from empty topics as on the embedded broker.
func ResetBroker(ctx context.Context, manifestsDir string, servers []string) error {
	set, err := manifests.Load(manifestsDir)
	if err != nil {
		return err
	}
	var topics, groups []string
	for _, tp := range set.Topics {
		topics = append(topics, tp.TopicName)
	}
	for _, s := range set.Sources {
		groups = append(groups, s.ConsumerGroup)
	}
	cfg, err := broker.SaramaConfig(broker.FromEnv(), broker.WithClientID("orderflow-faults-reset"))
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(servers, cfg)
	if err != nil {
		return fmt.Errorf("kafka %s: %w", strings.Join(servers, ","), err)
	}
	defer admin.Close()
	return broker.Reset(ctx, admin, topics, groups, 90*time.Second)
}

package nemesis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/serving"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/fault"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/orderflow"
)

// Injectable lists the kinds the runner injects on the local plane today.
// The others are named with the reason they are not, in NotInjectable:
// the generator must never draw them (Topology.Injectable).
var Injectable = []Kind{KillFunction, PauseFunction, RestartDispatcher, DuplicateDelivery, RefuseDeadLetters, PingBurst}

// NotInjectable says why each kind the runner leaves out is left out.
var NotInjectable = map[Kind]string{
	RestartBroker: "drawn on the embedded broker, which each run keeps in its state directory and the plane restarts in place " +
		"(plane.RestartBroker), and on an Apache Kafka scripts/kafka.sh runs (Config.Kafka: a node killed -9 and started again); " +
		"a Kafka nobody here runs is not restarted",
	StopDatabase: "the stores are SQLite files of each function (nothing to stop apart from the function); " +
		"drawn only when the run owns its PostgreSQL (faults --nemesis --postgres-port)",
	NetworkLatency: "no link to act on: the broker link is a toxiproxy in front of each function's K_SINK (the KafkaSink it publishes to), " +
		"left out when a function has none (no SinkBinding); the database link one in front of a PostgreSQL the run owns (--postgres-port), " +
		"left out on SQLite (a file has no link)",
	NetworkReset:     "as network-latency",
	NetworkPartition: "as network-latency",
}

// TopologyOf is what a schedule may act on in a run of orderflow's
// topology with cfg: the functions and sources of its manifests, the
// replicas its scale asks for, the longest delivery timeout, and only the
// kinds the runner injects (stop-database when the run owns its
// PostgreSQL; the network faults on the links it puts a proxy on).
func TopologyOf(cfg Config) (Topology, error) {
	opts := cfg.Base
	set, err := manifests.Load(opts.Manifests)
	if err != nil {
		return Topology{}, err
	}
	t := Topology{Functions: fnserve.Names(), Replicas: map[string]int{}, Broker: "embedded", Injectable: slices.Clone(Injectable)}
	switch {
	case len(opts.Brokers) > 0 && cfg.Kafka != nil:
		t.Broker = "kafka"
		if cfg.Kafka.Cluster {
			t.Broker = "cluster"
		}
		t.Injectable = append(t.Injectable, RestartBroker)
	case len(opts.Brokers) > 0:
		t.Broker = "kafka" // nobody here to restart it
	default:
		// Each run's broker keeps its log in the run's state directory
		// (as up's does), so the plane can restart it in place.
		t.Injectable = append(t.Injectable, RestartBroker)
	}
	if cfg.Postgres != nil {
		// Its functions reach it through a proxy each (Links).
		t.Postgres = true
		t.Injectable = append(t.Injectable, StopDatabase)
	}
	// Each function publishes through a proxy in front of its K_SINK
	// (Links.RouteSink): one without a SinkBinding would have no broker
	// link for a fault drawn on it.
	bound := map[string]bool{}
	for _, b := range set.Bindings {
		if b.Subject.Kind == manifests.KindService {
			bound[b.Subject.Name] = true
		}
	}
	t.BrokerLink = len(t.Functions) > 0
	for _, fn := range t.Functions {
		t.BrokerLink = t.BrokerLink && bound[fn]
	}
	if t.Postgres || t.BrokerLink {
		t.Injectable = append(t.Injectable, NetworkLatency, NetworkReset, NetworkPartition)
	}
	for _, s := range set.Sources {
		t.Sources = append(t.Sources, s.Name)
		t.DeliveryTimeout = max(t.DeliveryTimeout, s.Delivery.Timeout)
	}
	for _, fn := range t.Functions {
		if n := fixedReplicas(opts.Scale, fn); n > 1 {
			t.Replicas[fn] = n
		}
	}
	return t, nil
}

// fixedReplicas is how many replicas a scale keeps at the least (a
// replica the schedule names must exist whatever the autoscaler does).
func fixedReplicas(scale map[string]serving.Scale, fn string) int {
	s, ok := scale[fn]
	if !ok {
		s = scale["*"]
	}
	return s.Min
}

// Config of a nemesis run.
type Config struct {
	// Base is the topology's options; each run gets its own state
	// directory under Base.StateDir.
	Base plane.Options
	// Orders placed per run, at Rate a second.
	Orders int
	Rate   float64
	// MinFaults, MaxFaults per schedule.
	MinFaults, MaxFaults int
	// SettleBound is how long the saga may take to settle once the
	// schedule has ended and every fault healed.
	SettleBound time.Duration
	Progress    io.Writer
	// Databases, when set, gives each run's functions fresh databases
	// (env entries such as "order/ORDERFLOW_DATABASE_URL"); otherwise each
	// run's state directory holds their SQLite files.
	Databases func(seed uint64) (map[string]string, error)
	// Postgres, when set, is a PostgreSQL the runs own: every function's
	// stores go on it (fresh schemas per seed, kept for a failing run to
	// be read) and stop-database may crash and restart it.
	Postgres *Postgres
	// Kafka, when set, is the Apache Kafka of Base.Brokers that
	// scripts/kafka.sh runs: each run starts from its topics emptied, and
	// restart-broker kills one of its nodes (-9) and starts it again.
	Kafka *Kafka
}

// Kafka is an Apache Kafka scripts/kafka.sh runs.
type Kafka struct {
	// Script is scripts/kafka.sh.
	Script string
	// Cluster: its three-node cluster (start-cluster); else one node.
	Cluster bool
	// Reset empties the topics and consumer groups an earlier run left.
	Reset func(ctx context.Context, brokers []string) error
	Log   io.Writer

	mu sync.Mutex // one node restarted at a time
}

// Restart kills one node with SIGKILL and starts it again: on the
// cluster node (1-3) after down, keeping its data (start-cluster starts
// only the stopped nodes); the single node at once (restart on its data:
// its start takes seconds anyway).
// began is called once this restart has its turn (restarts overlapping
// in the schedule wait for the one before).
func (k *Kafka) Restart(ctx context.Context, node string, down time.Duration, began func()) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	began()
	killed := time.Now()
	if !k.Cluster {
		if err := k.script(ctx, "restart"); err != nil {
			return "", err
		}
		return fmt.Sprintf("the single Kafka node killed (-9) and started again on its data: down %s", time.Since(killed).Round(100*time.Millisecond)), nil
	}
	n := strings.TrimPrefix(node, "node-")
	if err := k.script(ctx, "stop", n); err != nil {
		return "", err
	}
	sleep(ctx, down)
	// Started again whatever happened meanwhile: the run must heal.
	if err := k.script(context.WithoutCancel(ctx), "start-cluster"); err != nil {
		return "", fmt.Errorf("node %s killed, then not started again: %w", n, err)
	}
	// Down for the window, then for as long as the JVM took to start
	// and rejoin (seconds to tens of seconds on a busy machine).
	return fmt.Sprintf("Kafka node %s killed (-9), started again on its data after %s, ready after %s", n,
		down.Round(10*time.Millisecond), time.Since(killed).Round(100*time.Millisecond)), nil
}

func (k *Kafka) script(ctx context.Context, args ...string) error {
	return fault.RunKafkaScript(ctx, k.Script, k.Log, []string{"KAFKA_STOP_SIGNAL=KILL"}, args...)
}

// Params are the generator's parameters for cfg: faults spread over the
// time the orders take to place.
func (cfg Config) Params() Params {
	run := time.Duration(float64(cfg.Orders) / cfg.Rate * float64(time.Second))
	return Params{Run: max(run, 5*time.Second), MinFaults: cfg.MinFaults, MaxFaults: cfg.MaxFaults}
}

// Validate names the first bad setting.
func (cfg Config) Validate() error {
	switch {
	case cfg.Orders < 1:
		return fmt.Errorf("orders %d: at least 1", cfg.Orders)
	case cfg.Rate <= 0:
		return fmt.Errorf("rate %v: orders a second must be above 0", cfg.Rate)
	case cfg.SettleBound <= 0:
		return fmt.Errorf("settle bound %s: must be above 0", cfg.SettleBound)
	}
	return cfg.Params().validate()
}

// Injection is one fault as it happened: when it began and healed,
// offsets from the run's start, and what went wrong injecting it. A fault
// whose injection failed is not counted as injected.
type Injection struct {
	Fault    Fault         `json:"fault"`
	Start    time.Duration `json:"startNanos"`
	End      time.Duration `json:"endNanos"`
	Injected bool          `json:"injected"`
	Err      string        `json:"error,omitempty"`
	// Note says what the fault met (the replica a kill ended, a stopped
	// process replaced before it was let go).
	Note string `json:"note,omitempty"`
}

// Counts are a run's orders by outcome.
type Counts struct {
	Placed    int `json:"placed"`
	Confirmed int `json:"confirmed"`
	Cancelled int `json:"cancelled"`
}

// Result is one run: its schedule, its history, what the checker found.
type Result struct {
	Seed       uint64      `json:"seed"`
	Schedule   Schedule    `json:"schedule"`
	History    []Injection `json:"history"`
	Violations []Violation `json:"violations"`
	// Counts are the run's orders as the checker read them.
	Counts
	// Timeline is ended orders per second of the run, for the picture.
	Timeline []demo.TimelinePoint `json:"timeline"`
	StateDir string               `json:"stateDir"`
	Took     time.Duration        `json:"tookNanos"`
	// Err is a run that could not be carried out (the topology did not
	// start): no verdict.
	Err string `json:"error,omitempty"`
}

// OK is a run carried out without violations.
func (r Result) OK() bool { return r.Err == "" && len(r.Violations) == 0 }

// Run draws the schedule of seed, runs it on a fresh topology and checks
// what it left.
func Run(ctx context.Context, cfg Config, seed uint64) (res Result) {
	start := time.Now()
	res = Result{Seed: seed, StateDir: filepath.Join(cfg.Base.StateDir, fmt.Sprintf("seed-%d", seed))}
	defer func() { res.Took = time.Since(start) }()
	topo, err := TopologyOf(cfg)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	if res.Schedule, err = Generate(seed, topo, cfg.Params()); err != nil {
		res.Err = err.Error()
		return res
	}
	opts := cfg.Base
	opts.StateDir = res.StateDir
	if len(opts.Brokers) == 0 {
		opts.BrokerDataDir = filepath.Join(res.StateDir, plane.BrokerDir)
	}
	if k := cfg.Kafka; k != nil && len(opts.Brokers) > 0 {
		if k.Cluster {
			// As the prod overlay: a record is acknowledged once two of
			// the three nodes have it, so one node killed loses nothing.
			opts.TopicReplicas, opts.TopicMinInsync = 3, 2
		}
		if k.Reset != nil {
			if err := k.Reset(ctx, opts.Brokers); err != nil {
				res.Err = fmt.Sprintf("emptying Kafka for seed %d: %v", seed, err)
				return res
			}
		}
	}
	opts.Env = cloneEnv(cfg.Base.Env)
	databases := cfg.Databases
	if cfg.Postgres != nil {
		databases = func(seed uint64) (map[string]string, error) {
			return cfg.Postgres.Schemas(ctx, cfg.Base.FunctionsDir, seed)
		}
	}
	if databases != nil {
		env, err := databases(seed)
		if err != nil {
			res.Err = fmt.Sprintf("databases for seed %d: %v", seed, err)
			return res
		}
		maps.Copy(opts.Env, env)
	}
	links := NewLinks()
	defer links.Close()
	if cfg.Postgres != nil {
		if err := links.Route(opts.Env); err != nil {
			res.Err = err.Error()
			return res
		}
	}
	opts.RouteEnv = links.RouteSink
	orderflow.Wire(&opts)
	p, err := plane.Up(ctx, opts)
	if err != nil {
		res.Err = fmt.Sprintf("starting the topology: %v", err)
		return res
	}
	defer p.Close()
	kc := p.Kafka()
	ep := p.Endpoints()
	target := demo.TargetOf(ep, kc, true)
	runStart := time.Now()
	var wg sync.WaitGroup
	res.History = make([]Injection, len(res.Schedule.Faults))
	nem := &nemesis{p: p, pg: cfg.Postgres, kafka: cfg.Kafka, links: links, start: runStart, switches: map[Kind]int{}}
	for i, f := range res.Schedule.Faults {
		wg.Go(func() { res.History[i] = nem.inject(ctx, f) })
	}
	dres, runErr := demo.Run(ctx, target, demo.Config{Orders: cfg.Orders, Concurrency: 8, Seed: seed, Rate: cfg.Rate,
		RunID: fmt.Sprintf("nemesis-%d", seed), Timeout: cfg.SettleBound + cfg.Params().Run, Settle: 10 * time.Second})
	wg.Wait()
	for _, h := range res.History {
		fmt.Fprintf(cfg.Progress, "   %s\n", h)
	}
	o, err := readOutcome(ctx, p, target, dres, runStart, cfg.SettleBound)
	if err != nil {
		res.Err = fmt.Sprintf("reading the outcome: %v", err)
		return res
	}
	if runErr != nil {
		// The run's own error (orders not accepted, a store gone for
		// good) is the harness's account, not the checker's; the checker
		// still judges what the stores hold.
		fmt.Fprintf(cfg.Progress, "   orders: %v\n", runErr)
	}
	res.Violations = Check(res.Schedule, o)
	res.Placed, res.Confirmed, res.Cancelled = o.Invariants.Placed, o.Invariants.Confirmed, o.Invariants.Cancelled
	res.Timeline = dres.Timeline
	return res
}

func cloneEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

// nemesis injects a run's faults on its plane.
type nemesis struct {
	p     *plane.Plane
	pg    *Postgres // nil unless the run owns its PostgreSQL
	kafka *Kafka    // nil on the embedded broker
	links *Links    // the functions' broker links, and database links with pg
	start time.Time
	// switches counts the windows of each switched kind now open: the
	// switch goes on with the first, off with the last (windows overlap).
	mu       sync.Mutex
	switches map[Kind]int
}

func (n *nemesis) since() time.Duration { return time.Since(n.start) }

// inject waits for the fault's time, injects it and heals it when its
// window ends; it returns the fault as it happened.
func (n *nemesis) inject(ctx context.Context, f Fault) Injection {
	in := Injection{Fault: f}
	select {
	case <-ctx.Done():
		in.Err = ctx.Err().Error()
		return in
	case <-time.After(time.Until(n.start.Add(f.At))):
	}
	in.Start = n.since()
	note, err := n.act(ctx, f, &in.Start)
	in.End = n.since()
	in.Note = note
	if err != nil {
		in.Err = err.Error()
	} else {
		in.Injected = true
	}
	return in
}

// act carries out one fault, returning once it has healed; a windowed
// fault moves *began to when its switch was on (it may wait for another
// window's heal to finish).
func (n *nemesis) act(ctx context.Context, f Fault, began *time.Duration) (string, error) {
	switch f.Kind {
	case KillFunction:
		proc, name, err := n.replica(f.Target)
		if err != nil {
			return "", err
		}
		pid := proc.PID()
		proc.Kill()
		return fmt.Sprintf("killed %s (pid %d)", name, pid), nil
	case PauseFunction:
		proc, name, err := n.replica(f.Target)
		if err != nil {
			return "", err
		}
		if err := proc.Signal(syscall.SIGSTOP); err != nil {
			return "", fmt.Errorf("SIGSTOP %s: %w", name, err)
		}
		sleep(ctx, f.For)
		if err := proc.Signal(syscall.SIGCONT); err != nil {
			// Replaced while stopped (its readiness failed): the pause
			// happened; the process it stopped is gone.
			return fmt.Sprintf("stopped %s (pid %d); it was gone before SIGCONT: %v", name, proc.PID(), err), nil
		}
		return fmt.Sprintf("stopped and continued %s (pid %d)", name, proc.PID()), nil
	case RestartDispatcher:
		return "", n.p.RestartSource(ctx, f.Target)
	case RestartBroker:
		if !n.p.Embedded() {
			if n.kafka == nil {
				return "", fmt.Errorf("restart-broker: %s", NotInjectable[RestartBroker])
			}
			return n.kafka.Restart(ctx, f.Target, f.For, func() { *began = n.since() })
		}
		if err := n.p.RestartBroker(ctx, f.For); err != nil {
			return "", err
		}
		return fmt.Sprintf("embedded broker down %s, started again from its data directory", f.For.Round(10*time.Millisecond)), nil
	case DuplicateDelivery:
		return "", n.window(ctx, f, n.p.SetDuplicateDelivery, began)
	case RefuseDeadLetters:
		return "", n.window(ctx, f, n.p.RefuseDeadLetters, began)
	case PingBurst:
		return "", n.p.FirePings(ctx, f.Param)
	case NetworkLatency, NetworkReset, NetworkPartition:
		if n.links == nil {
			return "", fmt.Errorf("%s (%s link): %s", f.Kind, f.Link, NotInjectable[f.Kind])
		}
		// One switch per kind and link of a function: windows overlap.
		key := f
		key.Kind = Kind(fmt.Sprintf("%s@%s/%s", f.Kind, f.Target, f.Link))
		err := n.window(ctx, key, func(on bool) error { return n.links.Toxic(context.WithoutCancel(ctx), f.Target, f, on) }, began)
		return fmt.Sprintf("%s's %s link", f.Target, f.Link), err
	case StopDatabase:
		if n.pg == nil {
			return "", fmt.Errorf("stop-database: %s", NotInjectable[StopDatabase])
		}
		// Overlapping windows: down from the first, up when the last heals.
		err := n.window(ctx, f, func(down bool) error {
			if down {
				return n.pg.Crash(ctx)
			}
			// Started again whatever happened meanwhile: the run must heal.
			if _, err := n.pg.Start(context.WithoutCancel(ctx)); err != nil {
				return fmt.Errorf("stopped, then not started again: %w", err)
			}
			return nil
		}, began)
		return fmt.Sprintf("PostgreSQL on :%d", n.pg.Port), err
	}
	return "", fmt.Errorf("%s: %s", f.Kind, cmp.Or(NotInjectable[f.Kind], "no injection for this kind"))
}

// window switches a kind on for the fault's window; overlapping windows
// of the same kind keep it on until the last heals.
func (n *nemesis) window(ctx context.Context, f Fault, set func(bool) error, began *time.Duration) error {
	n.mu.Lock()
	n.switches[f.Kind]++
	var err error
	if n.switches[f.Kind] == 1 {
		err = set(true)
	}
	*began = n.since()
	n.mu.Unlock()
	if err != nil {
		n.mu.Lock()
		n.switches[f.Kind]--
		n.mu.Unlock()
		return err
	}
	sleep(ctx, f.For)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.switches[f.Kind]--
	if n.switches[f.Kind] == 0 {
		// Healed even when ctx ended: the plane may outlive this run.
		return set(false)
	}
	return nil
}

// replica finds the process a target names: "fn" (its oldest replica) or
// "fn/i" (its i-th, counted among those running now).
func (n *nemesis) replica(target string) (proc processHandle, name string, err error) {
	fn, i := ParseTarget(target)
	procs := n.p.Replicas(fn)
	if len(procs) == 0 {
		return nil, "", fmt.Errorf("%s has no replica running", fn)
	}
	k := i % len(procs)
	return procs[k], fmt.Sprintf("%s replica %d of %d", fn, k, len(procs)), nil
}

// processHandle is what a fault does to a process.
type processHandle interface {
	PID() int
	Kill()
	Signal(os.Signal) error
}

// ParseTarget splits "fn/i" into fn and i (0 when absent or not a number).
func ParseTarget(target string) (fn string, replica int) {
	fn, num, ok := strings.Cut(target, "/")
	if !ok {
		return target, 0
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return target, 0
	}
	return fn, n
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (in Injection) String() string {
	status := "injected"
	if !in.Injected {
		status = "NOT injected: " + in.Err
	}
	s := fmt.Sprintf("%s  [%s .. %s] %s", in.Fault, in.Start.Round(10*time.Millisecond), in.End.Round(10*time.Millisecond), status)
	if in.Note != "" {
		s += " (" + in.Note + ")"
	}
	return s
}

// WriteJSON writes v indented to path.
func WriteJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// InjectedKinds is the sorted set of kinds a history injected.
func InjectedKinds(h []Injection) []Kind {
	var out []Kind
	for _, in := range h {
		if in.Injected && !slices.Contains(out, in.Fault.Kind) {
			out = append(out, in.Fault.Kind)
		}
	}
	slices.Sort(out)
	return out
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"orderflow.dev/knlocal/knplane"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/ceiling"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/fault"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/orderflow"
	"orderflow.dev/local/profile"
	"orderflow.dev/local/scratchdb"
	"orderflow.dev/shared/events"
)

// benchRow is one offered rate's measurements.
type benchRow struct {
	// DataPlane carried the events: local (the plane's own sinks and
	// sources) or knative (Knative's receiver and dispatcher).
	DataPlane   string  `json:"dataPlane,omitempty"`
	OfferedRate float64 `json:"offeredPerSecond"`
	Orders      int     `json:"orders"`
	Throughput  float64 `json:"endedPerSecond"`
	// FractionOfCeiling is Throughput over the machine's ceiling.
	FractionOfCeiling float64            `json:"fractionOfCeiling"`
	LatencyMs         map[string]float64 `json:"latencyMillis"`
	OK                bool               `json:"invariantsOK"`
	ReadyMs           map[string]float64 `json:"functionStartToReadyMillis"`
	IdleRSSMiB        map[string]float64 `json:"functionIdleRSSMiB"`
	// Work is what the plane counted during this rate's run, PerOrder the
	// same per order ended.
	Work     ceiling.Work                  `json:"work"`
	PerOrder map[ceiling.Primitive]float64 `json:"perOrder"`
	// CPUMsPerOrder is the CPU time of every process (the plane, the
	// functions, Knative's JVMs when they run) per order ended.
	CPUMsPerOrder float64 `json:"cpuMillisPerOrderEnded"`
}

// benchResults is the results file.
type benchResults struct {
	Broker   string `json:"broker"`
	Database string `json:"database"`
	// WarmUpOrders were placed on each rate's topology before it was
	// measured; Scale is --scale as given (none: each func.yaml's).
	WarmUpOrders int          `json:"warmupOrders"`
	Scale        []string     `json:"scale,omitempty"`
	Ceiling      benchCeiling `json:"ceiling"`
	Rates        []benchRow   `json:"rates"`
}

type benchCeiling struct {
	ceiling.Ceiling
	// Measured are the primitives' runs, Work the counts of every rate's
	// run together, from which the counts per order come.
	Measured []ceiling.Rate `json:"measured"`
	Work     ceiling.Work   `json:"work"`
	Counted  string         `json:"counted"`
}

// countedHow says where the counts per order come from; it goes into the
// results beside them.
const countedHow = "per order ended, over every rate's run: http-round-trip = KafkaSource deliveries (delivered + retried attempts, plane.SourceStats) " +
	"+ KafkaSink ingress writes (accepted, the sink handler's Stats); kafka-produce = ingress writes; kafka-consume = records the KafkaSources received; " +
	"store-transaction = deliveries answered 200 for an event type the function handles (not one it ignores); the outbox relay's batched marks are not counted"

// BenchOptions are `orderflow bench`'s, in kubectl's shape (as
// ReplayOptions): the flags as given, Validate refuses what cannot work
// before anything is read or started, Complete reads the checkout's
// manifests, Run measures.
type BenchOptions struct {
	Rates      []float64
	Orders     int
	Results    string
	Brokers    []string
	CeilingFor time.Duration
	DataPlanes []string
	WarmUp     int
	Scale      []string

	// Completed.
	base    plane.Options // what every rate's topology shares
	root    string        // the checkout
	set     *manifests.Set
	handles func(sourceID, eventType string) bool
	// postgres is ORDERFLOW_DATABASE_URL: a database every function gets
	// a schema of its own in, for each rate; empty for SQLite files.
	postgres string
}

func (o *BenchOptions) addFlags(cmd *cobra.Command) {
	o.Rates = []float64{20, 40, 60, 80}
	cmd.Flags().Var((*rateList)(&o.Rates), "rates", "offered rates, orders per second, comma-separated")
	cmd.Flags().IntVar(&o.Orders, "orders", 600, "orders per rate")
	cmd.Flags().StringVar(&o.Results, "results", "", "write the results here, the picture beside them (default <state-dir>/bench/bench-results.json)")
	cmd.Flags().Var(brokerList(&o.Brokers), "brokers", "bootstrap servers of an existing Kafka to run on (default: the embedded broker); its saga topics are reset before each rate")
	cmd.Flags().StringSliceVar(&o.DataPlanes, "data-planes", []string{dataPlaneLocal}, "data planes to run each rate on, in turn ("+dataPlaneLocal+", "+knplane.Name+" or both: local,knative), same broker and functions")
	cmd.Flags().DurationVar(&o.CeilingFor, "ceiling-for", 3*time.Second, "how long each primitive of the ceiling is counted (after an uncounted warm-up of a third of that)")
	cmd.Flags().StringArrayVar(&o.Scale, "scale", nil, "replicas of a function, FUNCTION=MIN:MAX or FUNCTION=N (* for every one), as up's --scale, instead of its func.yaml's (repeatable; more than one needs PostgreSQL)")
	cmd.Flags().IntVar(&o.WarmUp, "warmup-orders", 0, "place this many orders on each rate's topology first, at that rate, unmeasured, so the rate finds it as a long-running one is: a Kafka just started spends its first minute compiling, a function's first deliveries open its connections, and the autoscaler's replicas settle to the rate; 0 measures each rate from a fresh start")
	// --data-planes was --data-plane, which up and demo take as a single
	// data plane: the old name stays, hidden, on the very same value, so a
	// mix of both adds up as a repeated flag does.
	planes := cmd.Flags().Lookup("data-planes")
	cmd.Flags().AddFlag(&pflag.Flag{Name: "data-plane", Usage: planes.Usage, Value: planes.Value, DefValue: planes.DefValue})
	_ = cmd.Flags().MarkDeprecated("data-plane", "use --data-planes (up's and demo's --data-plane takes a single data plane)")
	_ = cmd.Flags().MarkHidden("data-plane")
}

// Validate refuses values that cannot be measured with.
func (o *BenchOptions) Validate() error {
	if err := demo.CheckOrders("--orders", o.Orders); err != nil {
		return err
	}
	for _, r := range o.Rates {
		if r <= 0 {
			return fmt.Errorf("--rates: %v is not a positive rate", r)
		}
	}
	if o.CeilingFor <= 0 {
		return fmt.Errorf("--ceiling-for %s: must be positive", o.CeilingFor)
	}
	if o.WarmUp < 0 {
		return fmt.Errorf("--warmup-orders %d: must not be negative", o.WarmUp)
	}
	for _, b := range o.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("--brokers %q: want host:port", b)
		}
	}
	for _, dp := range o.DataPlanes {
		if dp != dataPlaneLocal && dp != knplane.Name {
			return fmt.Errorf("--data-planes %q: want %s and/or %s", dp, dataPlaneLocal, knplane.Name)
		}
	}
	if !slices.Contains(o.DataPlanes, dataPlaneLocal) {
		return fmt.Errorf("--data-planes %s: include %s too; the ceiling's work per order is counted by the local plane's sources and ingress", strings.Join(o.DataPlanes, ","), dataPlaneLocal)
	}
	return nil
}

// Complete finds the checkout, reads its manifests (what the ceiling's
// shape and the transactions counted come from) and the database to run
// on.
func (o *BenchOptions) Complete(g *globals) (err error) {
	if o.base, o.root, err = g.baseOptions(filepath.Join(g.stateDir, "bench")); err != nil {
		return err
	}
	o.base.Brokers = o.Brokers
	if o.base.Scale, err = scalesOf(o.Scale); err != nil {
		return err
	}
	if err := plane.CheckOptions(o.base); err != nil {
		return fmt.Errorf("--scale: %w", err)
	}
	if o.set, err = manifests.Load(o.base.Manifests); err != nil {
		return err
	}
	if o.handles, err = handledTypes(o.set); err != nil {
		return err
	}
	if o.postgres = os.Getenv(databaseURLEnv); o.postgres != "" && !scratchdb.IsPostgres(o.postgres) {
		return fmt.Errorf("%s: bench runs on SQLite files of its own, or on PostgreSQL when this names a postgres:// database", databaseURLEnv)
	}
	if o.Results == "" {
		o.Results = filepath.Join(o.base.StateDir, "bench-results.json")
	}
	return nil
}

// Run takes <state-dir>/bench afresh, measures the ceiling, then each
// rate on each data plane, and writes the results; broken invariants at
// any rate are a failed check (exit 1).
func (o *BenchOptions) Run(ctx context.Context) error {
	closeLog, err := claimFresh(&o.base)
	if err != nil {
		return err
	}
	defer closeLog()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := benchResults{Broker: "embedded kfake", Database: "SQLite, a file per function", WarmUpOrders: o.WarmUp, Scale: o.Scale}
	if len(o.Brokers) > 0 {
		out.Broker = "Kafka at " + strings.Join(o.Brokers, ",")
	}
	var schemas *scratchdb.Schemas
	if o.postgres != "" {
		if schemas, err = scratchdb.Open(ctx, databaseURLEnv, o.postgres); err != nil {
			return err
		}
		defer schemas.Close(context.Background())
		out.Database = "PostgreSQL " + schemas.String() + ", a schema per function"
	}
	fmt.Printf("broker: %s; store: %s\n", out.Broker, out.Database)
	scale := "each function's func.yaml"
	if len(o.Scale) > 0 {
		scale = strings.Join(o.Scale, " ")
	}
	fmt.Printf("scale: %s; warm-up: %d orders on each rate's topology before it is measured\n", scale, o.WarmUp)

	shape := ceiling.ShapeOf(o.set)
	fmt.Printf("== ceiling: each primitive alone, warmed up for %s then counted for %s, %d at once (the deliveries the topology can have in flight)\n",
		o.CeilingFor/3, o.CeilingFor, shape.TotalInFlight())
	measured, err := measureCeiling(ctx, o.base, shape, schemas, o.CeilingFor)
	if err != nil {
		return err
	}
	rows, total, err := o.runRates(ctx, shape, schemas)
	if err != nil {
		return err
	}
	out.Rates = rows
	if out.Ceiling, err = benchCeilingOf(measured, total); err != nil {
		return err
	}
	for i := range out.Rates {
		out.Rates[i].FractionOfCeiling = out.Ceiling.Fraction(out.Rates[i].Throughput)
	}
	printBench(out)
	picture, err := writeBench(out, o.Results)
	if err != nil {
		return err
	}
	fmt.Printf("results: %s (picture: %s)\n", o.Results, picture)
	for _, r := range out.Rates {
		if !r.OK {
			return checkFailed("invariants violated at %.0f/s", r.OfferedRate)
		}
	}
	return nil
}

// runRates starts a fresh topology for each rate on each data plane in
// turn and places the orders at it; total is the work the local plane
// counted over them all.
func (o *BenchOptions) runRates(ctx context.Context, shape ceiling.Shape, schemas *scratchdb.Schemas) (rows []benchRow, total ceiling.Work, err error) {
	for i, rate := range o.Rates {
		for _, dp := range o.DataPlanes {
			fmt.Printf("== %d/%d: %d orders offered at %.0f/s (%s data plane)\n", i+1, len(o.Rates), o.Orders, rate, dp)
			opts := o.base
			opts.StateDir = filepath.Join(o.base.StateDir, fmt.Sprint(rate), dp)
			if dp == knplane.Name {
				opts.DataPlane = knplane.New(knplane.Options{Root: knlocalDir(o.root), Progress: os.Stdout})
			}
			if schemas != nil {
				if opts.Env, err = functionSchemas(ctx, schemas, fmt.Sprintf("r%d", i+1), o.base.FunctionsDir, shape.Functions()); err != nil {
					return nil, total, err
				}
			}
			if len(o.Brokers) > 0 {
				// An existing Kafka keeps the last rate's records and
				// offsets: every rate starts from empty topics.
				if err := fault.ResetBroker(ctx, o.base.Manifests, o.Brokers); err != nil {
					return nil, total, err
				}
			}
			row, err := benchOne(ctx, opts, rate, o.Orders, o.WarmUp, o.handles)
			if err != nil {
				return nil, total, err
			}
			if schemas != nil {
				if err := schemas.Drop(ctx); err != nil {
					return nil, total, err
				}
			}
			fmt.Printf("   ended %.1f/s, p50 %.0fms p90 %.0fms p99 %.0fms, CPU %.1f ms per order, invariants ok: %v\n", row.Throughput,
				row.LatencyMs["p50"], row.LatencyMs["p90"], row.LatencyMs["p99"], row.CPUMsPerOrder, row.OK)
			// The counts per order come from the local plane's own
			// sources and ingress; Knative's JVMs do not report them.
			if dp == dataPlaneLocal {
				total = total.Plus(row.Work)
			}
			rows = append(rows, row)
		}
	}
	return rows, total, nil
}

// benchCeilingOf is the machine's ceiling: each primitive's measured rate
// times its count per order, counted over every rate's run.
func benchCeilingOf(measured []ceiling.Rate, total ceiling.Work) (benchCeiling, error) {
	perOrder, err := total.PerOrder()
	if err != nil {
		return benchCeiling{}, err
	}
	rateOf := map[ceiling.Primitive]float64{}
	for _, m := range measured {
		rateOf[m.Primitive] = m.PerSecond()
	}
	ceil, err := ceiling.Compute(rateOf, perOrder)
	if err != nil {
		return benchCeiling{}, err
	}
	return benchCeiling{Ceiling: ceil, Measured: measured, Work: total, Counted: countedHow}, nil
}

func newBench(g *globals) *cobra.Command {
	o := &BenchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load generator: saga throughput and latency at fixed offered rates against this machine's ceiling, function start-to-ready and idle memory",
		Long: `bench measures this machine's ceiling for the work an order needs (a no-op HTTP
round trip, a raw Kafka produce and consume, an empty store transaction), then starts
a fresh topology per offered rate, places --orders orders at it and reports orders
ended per second (as a fraction of the ceiling), latency p50/p90/p99, start-to-ready
times and idle memory. Results as JSON (--results) with a picture beside it.
With --brokers its saga topics and groups are deleted before each rate: never point
it at a Kafka that holds anything of value. See docs/performance.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.addFlags(cmd)
	return cmd
}

// writeBench writes the results as JSON to path and their picture beside
// it (the same name, .png), and returns the picture's path.
func writeBench(out benchResults, path string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	picture := strings.TrimSuffix(path, ".json") + ".png"
	var pts []demo.RatePoint
	for _, r := range out.Rates {
		pts = append(pts, demo.RatePoint{Series: r.DataPlane, Offered: r.OfferedRate, Ended: r.Throughput, P50: r.LatencyMs["p50"], P99: r.LatencyMs["p99"]})
	}
	return picture, demo.PlotRates(pts, out.Ceiling.OrdersPerSecond, picture)
}

// databaseURLEnv is the functions' own database setting; given to bench,
// it names the PostgreSQL database every function gets a schema in.
const databaseURLEnv = "ORDERFLOW_DATABASE_URL"

// measureCeiling measures each primitive alone, under the concurrency the
// topology has: its deliveries in flight for HTTP and produce, every
// source reading every record for consume, every function's database
// written by as many deliveries at once as it can be handed.
func measureCeiling(ctx context.Context, base plane.Options, shape ceiling.Shape, schemas *scratchdb.Schemas, d time.Duration) ([]ceiling.Rate, error) {
	progress := newCeilingProgress()
	httpRate, err := ceiling.MeasureHTTP(ctx, d, shape.TotalInFlight(), progress.update)
	progress.done()
	if err != nil {
		return nil, err
	}
	produce, consume, err := ceiling.MeasureKafka(ctx, ceiling.Kafka{Servers: base.Brokers, Partitions: shape.Partitions, Replicas: shape.Replicas,
		Producers: shape.TotalInFlight(), Readers: shape.Readers}, d, progress.update)
	progress.done()
	if err != nil {
		return nil, err
	}
	var dbs []ceiling.Database
	for _, fn := range shape.Functions() {
		db := ceiling.Database{Name: "ceiling database of " + fn, Workers: shape.InFlight[fn],
			URL: "sqlite://" + filepath.Join(base.StateDir, "ceiling", fn+".db")}
		if schemas != nil {
			if db.URL, err = schemas.URL(ctx, "ceiling_"+fn); err != nil {
				return nil, err
			}
		}
		dbs = append(dbs, db)
	}
	storeRate, err := ceiling.MeasureStore(ctx, dbs, d, progress.update)
	progress.done()
	if err != nil {
		return nil, err
	}
	if schemas != nil {
		if err := schemas.Drop(ctx); err != nil {
			return nil, err
		}
	}
	return []ceiling.Rate{httpRate, produce, consume, storeRate}, nil
}

// ceilingProgress shows a measurement as it goes: one line rewritten on a
// terminal, a line a second otherwise (logs).
type ceilingProgress struct {
	tty     bool
	printed time.Time
	line    string
	shown   bool // line is on screen (or in the log) already
}

func newCeilingProgress() *ceilingProgress {
	return &ceilingProgress{tty: term.IsTerminal(int(os.Stdout.Fd()))}
}

func (c *ceilingProgress) update(p ceiling.Primitive, elapsed time.Duration, ops int64) {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(ops) / elapsed.Seconds()
	}
	c.line = fmt.Sprintf("  %-18s %5.1fs %10d ops %10.0f/s", p, elapsed.Seconds(), ops, rate)
	c.shown = c.tty || time.Since(c.printed) >= time.Second
	if c.tty {
		fmt.Print("\r" + c.line)
	} else if c.shown {
		c.printed = time.Now()
		fmt.Println(c.line)
	}
}

// done ends a primitive's progress with its last figures.
func (c *ceilingProgress) done() {
	switch {
	case c.tty:
		fmt.Println()
	case c.line != "" && !c.shown:
		fmt.Println(c.line)
	}
	c.line, c.shown, c.printed = "", false, time.Time{}
}

// handledTypes tells, for a KafkaSource ("namespace/name"), whether the
// function it delivers to reacts to an event type (a store transaction)
// rather than ignoring it.
func handledTypes(set *manifests.Set) (func(sourceID, eventType string) bool, error) {
	bySource := map[string]map[string]bool{}
	for _, src := range set.Sources {
		if src.Sink.Ref == nil || src.Sink.Ref.Kind != manifests.KindService {
			continue
		}
		app, err := fnserve.App(src.Sink.Ref.Name)
		if err != nil {
			return nil, err
		}
		types := map[string]bool{}
		for _, t := range app.Routes() {
			types[t] = true
		}
		bySource[src.Namespace+"/"+src.Name] = types
	}
	return func(sourceID, eventType string) bool { return bySource[sourceID][eventType] }, nil
}

// functionSchemas gives every database of every function (the keys of
// the orderflow-db Secret its func.yaml under functionsDir reads: its own,
// the payment gateway's ledger) a fresh schema of its own, as plane
// environment entries.
func functionSchemas(ctx context.Context, schemas *scratchdb.Schemas, label, functionsDir string, functions []string) (map[string]string, error) {
	return orderflow.DatabaseEnv(functionsDir, functions, func(key string) (string, error) { return schemas.URL(ctx, label+"_"+key) })
}

// benchOne starts the rate's topology, warms it with warm orders
// offered at the same rate (unmeasured) unless warm is 0, then offers
// orders at rate and counts what they cost. The warm-up keeps the rate:
// one placed as fast as it goes would leave the autoscaler's burst
// replicas behind it for the measured run.
func benchOne(ctx context.Context, opts plane.Options, rate float64, orders, warm int, handles func(string, string) bool) (benchRow, error) {
	row := benchRow{DataPlane: dataPlaneLocal, OfferedRate: rate, Orders: orders, ReadyMs: map[string]float64{}, IdleRSSMiB: map[string]float64{}}
	if opts.DataPlane != nil {
		row.DataPlane = opts.DataPlane.Name()
	}
	transactions := ceiling.NewTransactionCounter(handles)
	opts.Observers = append(opts.Observers, transactions)
	orderflow.Wire(&opts)
	p, err := plane.Up(ctx, opts)
	if err != nil {
		return row, err
	}
	defer p.Close()
	for n, d := range p.ReadyIn() {
		row.ReadyMs[n] = float64(d.Microseconds()) / 1000
	}
	time.Sleep(2 * time.Second) // idle: nothing delivered yet
	for n := range p.PIDs() {
		if rss, err := p.Process(n).RSS(); err == nil {
			row.IdleRSSMiB[n] = float64(rss) / (1 << 20)
		}
	}
	target := demo.TargetOf(p.Endpoints(), p.Kafka(), true)
	var stockBefore *events.InventoryViewData
	var warmWork ceiling.Work // the warm-up's share of the counters, taken off below
	if warm > 0 {
		if stockBefore, err = warmUp(ctx, target, warm, 16, rate, 7, 5*time.Minute, time.Minute); err != nil {
			return row, err
		}
		if opts.DataPlane == nil {
			if err := waitQuiet(ctx, p); err != nil {
				return row, err
			}
			warmWork = workCounted(p, transactions)
		}
	}
	res, err := demo.Run(ctx, target,
		demo.Config{Orders: orders, Concurrency: 16, Rate: rate, Seed: 7, RunID: fmt.Sprintf("bench%.0f", rate), Timeout: 5 * time.Minute, Settle: time.Minute, StockBefore: stockBefore,
			Processes: func() []profile.Proc {
				procs := []profile.Proc{{Name: planeProcess, PID: os.Getpid()}}
				procs = append(procs, replicaProcs(p)...)
				for name, pid := range dataPlanePIDs(opts) {
					procs = append(procs, profile.Proc{Name: name, PID: pid})
				}
				return procs
			}})
	if err != nil {
		return row, err
	}
	row.Throughput, row.LatencyMs, row.OK = res.Throughput, res.Latency, res.OK()
	if res.CPU != nil {
		row.CPUMsPerOrder = res.CPU.MsPerOrder
	}
	if opts.DataPlane != nil {
		// The work counts come from the local plane's own sources and
		// ingress; Knative's JVMs do not report theirs here.
		return row, nil
	}
	if err := waitQuiet(ctx, p); err != nil {
		return row, err
	}
	row.Work = workCounted(p, transactions).Minus(warmWork)
	for _, o := range res.Results {
		if o.Latency > 0 {
			row.Work.OrdersEnded++
		}
	}
	if row.PerOrder, err = row.Work.PerOrder(); err != nil {
		return row, err
	}
	return row, nil
}

// workCounted is what the plane's sources and ingress have counted since
// it started; OrdersEnded is left to the caller, who knows which orders
// were measured.
func workCounted(p *plane.Plane, transactions *ceiling.TransactionCounter) ceiling.Work {
	w := ceiling.Work{SinkWrites: p.SinkStats().Accepted, Transactions: transactions.Count()}
	for _, s := range p.SourceStats() {
		w.Deliveries += s.Delivered + s.Retried
		w.RecordsConsumed += s.Received
	}
	return w
}

// waitQuiet waits until the sources have nothing in flight and have taken
// no new record for a second: the run's last consequences (a
// notification, analytics) are then counted as the orders' work.
func waitQuiet(ctx context.Context, p *plane.Plane) error {
	var last uint64
	quietSince := time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		var received uint64
		var inFlight int64
		for _, s := range p.SourceStats() {
			received += s.Received
			inFlight += s.InFlight
		}
		if received != last || inFlight > 0 {
			last, quietSince = received, time.Now()
		} else if time.Since(quietSince) >= time.Second {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the sources were still delivering 30s after the run ended")
}

func printBench(out benchResults) {
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "data plane\toffered/s\tended/s\tof ceiling\tp50 ms\tp90 ms\tp99 ms\tCPU ms/order\tinvariants\t")
	for _, r := range out.Rates {
		fmt.Fprintf(w, "%s\t%.0f\t%.1f\t%.1f%%\t%.0f\t%.0f\t%.0f\t%.1f\t%v\t\n", r.DataPlane, r.OfferedRate, r.Throughput, 100*r.FractionOfCeiling,
			r.LatencyMs["p50"], r.LatencyMs["p90"], r.LatencyMs["p99"], r.CPUMsPerOrder, r.OK)
	}
	w.Flush()

	fmt.Printf("\nceiling of this machine (%s, %s): each primitive alone with every core busy, times its count per order\n", out.Broker, out.Database)
	w = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "primitive\tops/s\tper order\tmachine-ms per order\t")
	var ms float64
	for _, l := range out.Ceiling.Lines {
		fmt.Fprintf(w, "%s\t%.0f\t%.2f\t%.3f\t\n", l.Primitive, l.OpsPerSecond, l.PerOrder, l.MachineMsPerOrder)
		ms += l.MachineMsPerOrder
	}
	fmt.Fprintf(w, "ceiling\t%.0f orders/s\t\t%.3f\t\n", out.Ceiling.OrdersPerSecond, ms)
	w.Flush()
	fmt.Printf("(counted %s)\n", countedHow)

	if len(out.Rates) == 0 {
		return
	}
	first := out.Rates[0]
	fmt.Println()
	w = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "function\tstart-to-ready ms\tidle RSS MiB\t")
	names := make([]string, 0, len(first.ReadyMs))
	for n := range first.ReadyMs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%s\t%.0f\t%.1f\t\n", n, first.ReadyMs[n], first.IdleRSSMiB[n])
	}
	w.Flush()
}

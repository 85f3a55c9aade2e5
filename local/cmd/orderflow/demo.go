package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/account"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/profile"
	"orderflow.dev/local/scratchdb"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store"
)

// DemoOptions are `orderflow demo`'s, in kubectl's shape (as
// ReplayOptions): the flags as given, Validate refuses what cannot work
// before anything is read or started, Complete fills in the plane to
// start from the checkout, Run does it.
type DemoOptions struct {
	Up          upFlags
	Orders      int
	Concurrency int
	Rate        float64
	Seed        uint64
	Attach      bool
	Timeout     time.Duration
	Settle      time.Duration
	Results     string
	ProfileDir  string
	Account     bool
	WarmUp      int
	Recheck     string

	// Completed.
	upStateDir string        // --state-dir: the running up's, for --attach and --recheck
	stateDir   string        // where the run's results go by default
	plane      plane.Options // the plane to start, unless --attach
}

func (o *DemoOptions) addFlags(cmd *cobra.Command) {
	o.Up.register(cmd)
	cmd.Flags().IntVar(&o.Orders, "orders", 1000, "how many orders to place")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 16, "placements in flight at once")
	cmd.Flags().Float64Var(&o.Rate, "rate", 0, "cap on placements per second (0: no cap)")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 1, "seed of the order mix")
	cmd.Flags().BoolVar(&o.Attach, "attach", false, "drive an orderflow already running (orderflow up) instead of starting one")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for every order's outcome")
	cmd.Flags().DurationVar(&o.Settle, "settle", 30*time.Second, "how long compensations may take before the invariant check is final")
	cmd.Flags().StringVar(&o.Results, "results", "", "write the results JSON here (default <state-dir>/demo/results-<run>.json)")
	cmd.Flags().IntVar(&o.WarmUp, "warmup-orders", 0, "first place this many orders and let them end, unmeasured: a broker just started spends its first minute compiling (Kafka's JVM), which a long-running one does not")
	// --warmup is soak's duration; demo's count had the same name.
	cmd.Flags().IntVar(&o.WarmUp, "warmup", 0, "orders to place first, unmeasured")
	_ = cmd.Flags().MarkDeprecated("warmup", "use --warmup-orders (soak's --warmup is a duration)")
	cmd.Flags().BoolVar(&o.Account, "account", false, "count what each order cost every layer over the run: KafkaSource deliveries, HTTP requests, Kafka requests, function deliveries by outcome and, on PostgreSQL, transactions, statements and WAL syncs (docs/performance.md)")
	cmd.Flags().StringVar(&o.Recheck, "recheck", "", "count the orders of a past run (its results file) by what became of them since, and check the invariants again, against the running orderflow (up)")
	cmd.Flags().StringVar(&o.ProfileDir, "profile", "", "profile every process (CPU, allocations, block, mutex, goroutines) into this directory, with a CPU table per process and go tool pprof -top summaries")
}

// Validate refuses values that cannot work and flags that cannot go
// together. --recheck counts a past run again and places nothing, so the
// placing's flags are not looked at then.
func (o *DemoOptions) Validate() error {
	if o.Recheck != "" {
		return nil
	}
	if err := demo.CheckOrders("--orders", o.Orders); err != nil {
		return err
	}
	if o.WarmUp < 0 {
		return fmt.Errorf("--warmup-orders %d: must not be negative", o.WarmUp)
	}
	if o.WarmUp > 0 { // 0: no warm-up
		if err := demo.CheckOrders("--warmup-orders", o.WarmUp); err != nil {
			return err
		}
	}
	if err := demo.CheckConcurrency(o.Concurrency); err != nil {
		return err
	}
	switch {
	case o.Rate < 0:
		return fmt.Errorf("--rate %v: must not be negative", o.Rate)
	case o.Account && o.Attach:
		return errors.New("--account cannot go with --attach: it reads the counters of the plane this demo starts")
	case o.ProfileDir != "" && o.Attach:
		return fmt.Errorf("--profile cannot go with --attach: the running orderflow's functions were started without profiling (start it with `orderflow up --env %s=DIR` for theirs)", profile.EnvDir)
	}
	return nil
}

// Complete takes the state directory and, unless the demo drives a
// running up, the plane to start from the checkout and the up flags.
func (o *DemoOptions) Complete(g *globals) error {
	o.upStateDir, o.stateDir = g.stateDir, g.stateDir
	if o.Recheck != "" || o.Attach {
		return nil
	}
	o.stateDir = filepath.Join(g.stateDir, "demo")
	var err error
	o.plane, err = o.Up.options(g, o.stateDir, os.Stdout)
	return err
}

// Run places the orders, follows them to their outcomes and reports; a
// broken invariant or an unexpected outcome is a failed check (exit 1).
func (o *DemoOptions) Run(ctx context.Context) error {
	if o.Recheck != "" {
		return recheckRun(ctx, o.upStateDir, o.Recheck)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := o.startPlane
	if o.Attach {
		start = o.attachToUp
	}
	t, err := start(ctx)
	if err != nil {
		return err
	}
	defer t.release()

	var stockBefore *events.InventoryViewData
	if o.WarmUp > 0 {
		if stockBefore, err = warmUp(ctx, demo.TargetOf(t.ep, t.kc, t.exclusive), o.WarmUp, o.Concurrency, 0, o.Seed, o.Timeout, o.Settle); err != nil {
			return err
		}
	}
	runID := "demo-" + randomHex(3)
	fmt.Printf("placing %d orders (run %s, seed %d, concurrency %d)\n", o.Orders, runID, o.Seed, o.Concurrency)
	progress := newProgress(o.Orders)
	target := demo.TargetOf(t.ep, t.kc, t.exclusive)
	if o.Attach {
		// An `up` restarted mid-run serves on new ports.
		target.Reread = func() (plane.Endpoints, error) { return plane.ReadEndpoints(o.upStateDir) }
	}
	res, err := demo.Run(ctx, target, demo.Config{Orders: o.Orders, Concurrency: o.Concurrency, Rate: o.Rate, Seed: o.Seed, RunID: runID,
		Timeout: o.Timeout, Settle: o.Settle, Progress: progress.update, Processes: t.processes, Account: t.ledger, StockBefore: stockBefore})
	progress.done()
	results := cmp.Or(o.Results, filepath.Join(o.stateDir, "results-"+runID+".json"))
	var down *demo.StoreDownError
	if errors.As(err, &down) && len(res.Results) > 0 {
		// Kept, so the orders can be counted once the store writes.
		if werr := writeResults(results, res); werr == nil {
			fmt.Printf("results so far (%d orders placed): %s\n", len(res.Results), results)
			fmt.Printf("once the store writes again (and `orderflow dlq replay --all` sent what was dead-lettered): orderflow demo --recheck %s\n", results)
		}
	}
	if err != nil {
		return err
	}
	if err := t.report(ctx, res, results); err != nil {
		return err
	}
	if !res.OK() {
		return checkFailed("demo failed: invariants or expected outcomes violated (see above)")
	}
	return nil
}

// demoTopology is what a demo places its orders into: the plane it
// started, or the running up it attached to.
type demoTopology struct {
	ep        plane.Endpoints
	kc        sarama.Client
	exclusive bool // the demo's own plane: nothing else places orders
	processes func() []profile.Proc
	prof      *profiling
	ledger    *account.Ledger
	// stopPlane stops the plane the demo started, once (nothing when
	// attached); release lets go of everything the start took.
	stopPlane func()
	release   func()
}

// attachToUp reaches the orderflow a running `up` serves.
func (o *DemoOptions) attachToUp(context.Context) (demoTopology, error) {
	t := demoTopology{stopPlane: func() {}}
	var err error
	if t.ep, err = plane.ReadEndpoints(o.upStateDir); err != nil {
		return t, err
	}
	if t.kc, err = broker.NewClient(t.ep.Brokers, "orderflow-demo"); err != nil {
		return t, err
	}
	t.release = func() { t.kc.Close() }
	t.processes = attachedProcesses(o.upStateDir, t.ep.PID)
	return t, nil
}

// startPlane takes the demo's state directory and starts a plane of its
// own there, with PostgreSQL schemas, profiling and the ledger as asked.
func (o *DemoOptions) startPlane(ctx context.Context) (t demoTopology, err error) {
	var taken undoStack
	defer func() {
		if err != nil {
			taken.run()
		}
	}()
	closeLog, err := o.Up.claim(&o.plane)
	if err != nil {
		return t, err
	}
	taken.push(closeLog)
	// On PostgreSQL (as bench does): a schema of its own for each
	// function, dropped after the run.
	var pgStats *store.DB
	if raw := os.Getenv(databaseURLEnv); scratchdb.IsPostgres(raw) {
		schemas, err := scratchdb.Open(ctx, databaseURLEnv, raw)
		if err != nil {
			return t, err
		}
		taken.push(func() { schemas.Close(context.Background()) })
		env, err := functionSchemas(ctx, schemas, "demo", o.plane.FunctionsDir, fnserve.Names())
		if err != nil {
			return t, err
		}
		maps.Copy(o.plane.Env, env)
		settings, err := schemas.Settings(ctx)
		if err != nil {
			return t, err
		}
		fmt.Printf("store: PostgreSQL %s, a schema per function\n", schemas)
		fmt.Printf("postgresql settings: %s\n", settings)
		pgStats = schemas.DB()
	}
	if o.ProfileDir != "" {
		// Started before the plane, so its profile covers the broker's
		// and the sources' start too.
		prof, err := startProfiling(o.ProfileDir)
		if err != nil {
			return t, err
		}
		// An early return still leaves the plane's profiles.
		taken.push(func() { prof.plane.Stop() })
		o.plane.Env[profile.EnvDir] = prof.dir
		t.prof = prof
	}
	fmt.Println("starting orderflow for the demo...")
	p, err := plane.Up(ctx, o.plane)
	if err != nil {
		return t, err
	}
	t.stopPlane = sync.OnceFunc(func() {
		fmt.Println("stopping...")
		p.Close()
	})
	taken.push(t.stopPlane)
	t.release = taken.run
	t.ep, t.kc, t.exclusive = p.Endpoints(), p.Kafka(), true
	if o.Account {
		t.ledger = newLedger(p, t.ep, pgStats)
	}
	t.processes = func() []profile.Proc {
		procs := []profile.Proc{{Name: planeProcess, PID: os.Getpid()}}
		procs = append(procs, replicaProcs(p)...)
		for name, pid := range dataPlanePIDs(o.plane) {
			procs = append(procs, profile.Proc{Name: name, PID: pid})
		}
		return procs
	}
	return t, nil
}

// report prints a finished run's outcomes, ledger and CPU table, writes
// its results and picture and, with --profile, stops the plane and
// writes the profiles.
func (t demoTopology) report(ctx context.Context, res demo.Result, results string) error {
	res.Print(os.Stdout)
	if res.Account != nil {
		fmt.Println()
		res.Account.Print(os.Stdout, 0.05)
	}
	if t.prof != nil && res.CPU != nil {
		fmt.Println()
		res.CPU.PrintTable(os.Stdout)
		fmt.Printf("  (%s: the broker, the sink ingress and the sources, and this demo placing and following the orders)\n", planeProcess)
	}
	if err := writeResultsAndPicture(results, res, func(picture string) error { return demo.Plot(res, picture) }); err != nil {
		return err
	}
	if t.prof == nil {
		return nil
	}
	// The functions write their profiles as they stop.
	if err := t.prof.plane.WriteGoroutines(); err != nil {
		fmt.Printf("no goroutine dump of the plane: %v\n", err)
	}
	t.stopPlane()
	return t.prof.finish(ctx, res.CPU, os.Stdout)
}

// undoStack is what a start took (a lock's log, schemas, a profile, the
// plane), let go of newest first: at once when the start fails, at the
// end of the run otherwise.
type undoStack []func()

func (u *undoStack) push(undo func()) { *u = append(*u, undo) }

func (u undoStack) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

func newDemo(g *globals) *cobra.Command {
	o := &DemoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The main job: start everything, place N varied orders, follow each to its outcome, check the invariants",
		Long: `demo starts the whole topology (embedded Kafka, the eventing stand-in, the
functions), places --orders orders built to take every path of the saga, shows
progress, then prints outcomes, throughput, latency, CPU per order and the invariant
check; exit 1 if an invariant is violated or an order ends other than its kind
predicts. --attach drives an orderflow already started by "orderflow up"; --profile
DIR profiles every process. See docs/operations.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.addFlags(cmd)
	return cmd
}

// recheckRun is demo --recheck FILE: the run's orders counted again, by
// what became of them since it ended (stopped early by a full disk, say),
// against the up running in stateDir.
func recheckRun(ctx context.Context, stateDir, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--recheck: %w", err)
	}
	var prev demo.Result
	if err := json.Unmarshal(raw, &prev); err != nil || len(prev.Results) == 0 {
		return fmt.Errorf("--recheck %s: not the results file of a demo run (%v)", file, err)
	}
	ep, err := plane.ReadEndpoints(stateDir)
	if err != nil {
		return err
	}
	kc, err := broker.NewClient(ep.Brokers, "orderflow-demo")
	if err != nil {
		return err
	}
	defer kc.Close()
	res, err := demo.Recheck(ctx, demo.TargetOf(ep, kc, false), prev)
	if err != nil {
		return err
	}
	fmt.Printf("run %s, %d orders placed, counted again now:\n", res.RunID, len(res.Results))
	res.Print(os.Stdout)
	out := strings.TrimSuffix(file, ".json") + ".recheck.json"
	if err := writeResults(out, res); err != nil {
		return err
	}
	fmt.Printf("results: %s\n", out)
	// Orders the ingress did not accept are not orders: the check is over
	// those it did.
	if !res.Check.OK() || len(res.Unexpected) > 0 {
		return checkFailed("recheck failed: invariants or expected outcomes violated (see above)")
	}
	return nil
}

// planeProcess names the plane's own process in the CPU table and the
// profile files.
const planeProcess = "plane"

// profiling is a demo run's --profile: the plane profiles itself in
// process; the functions, told the directory through their environment,
// profile themselves.
type profiling struct {
	dir   string
	plane *profile.Session
}

func startProfiling(dir string) (*profiling, error) {
	// Absolute, since each function runs in its own directory.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("--profile %s: %w", dir, err)
	}
	if err := profile.RemoveStale(abs, append([]string{planeProcess}, fnserve.Names()...)); err != nil {
		return nil, fmt.Errorf("--profile %s: %w", dir, err)
	}
	session, err := profile.Start(abs, planeProcess)
	if err != nil {
		return nil, fmt.Errorf("--profile %s: %w", dir, err)
	}
	return &profiling{dir: abs, plane: session}, nil
}

// finish runs once every process has stopped: the plane's profiles, the
// CPU table as JSON, a top of each CPU profile and README.txt.
func (p *profiling) finish(ctx context.Context, cpu *profile.CPUReport, out io.Writer) error {
	fmt.Fprintf(out, "writing profiles to %s...\n", p.dir)
	if err := p.plane.Stop(); err != nil {
		return fmt.Errorf("profile of the plane: %w", err)
	}
	if cpu != nil {
		if err := cpu.WriteJSON(p.dir); err != nil {
			return err
		}
	}
	procs := []profile.Profiled{{Name: planeProcess, Holds: "orderflow demo itself: kfake broker, KafkaSink ingress, KafkaSources and ping sources, and the demo placing orders and following the orders topic"}}
	for _, name := range fnserve.Names() {
		procs = append(procs, profile.Profiled{Name: name, Holds: "function " + name + " (`orderflow function " + name + "`: func-go runtime, edge, store, outbox relay)"})
	}
	if err := profile.Summarize(ctx, p.dir, procs, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "profiles: %s (what each file is and how to open it: %s)\n", p.dir, filepath.Join(p.dir, profile.ReadmeFile))
	return nil
}

// attachedProcesses lists the processes of an orderflow started by `up`:
// the plane (its pid from endpoints.json, read again each time: an `up`
// restarted mid-run is another process), the functions it started (its
// children) and this demo, which places and follows the orders.
func attachedProcesses(stateDir string, planePID int) func() []profile.Proc {
	return func() []profile.Proc {
		if ep, err := plane.ReadEndpoints(stateDir); err == nil {
			planePID = ep.PID
		}
		procs := []profile.Proc{{Name: planeProcess, PID: planePID}, {Name: "demo", PID: os.Getpid()}}
		// Unreadable /proc leaves the functions out; the plane's row then
		// says why it was not measured either.
		children, _ := profile.Children(planePID)
		for _, c := range children {
			name, ok := functionOf(c.PID)
			if !ok {
				name = fmt.Sprintf("%s[%d]", c.Comm, c.PID)
			}
			procs = append(procs, profile.Proc{Name: name, PID: c.PID})
		}
		return procs
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeResultsAndPicture writes res as JSON to path and has plot draw
// its picture beside it (the same name, .png), and says where both are; a
// picture that cannot be drawn is said, and the results stand without it.
func writeResultsAndPicture(path string, res any, plot func(picture string) error) error {
	if err := writeResults(path, res); err != nil {
		return err
	}
	picture := strings.TrimSuffix(path, ".json") + ".png"
	if err := plot(picture); err != nil {
		fmt.Printf("no picture: %v\n", err)
		picture = ""
	}
	fmt.Printf("results: %s", path)
	if picture != "" {
		fmt.Printf(" (picture: %s)", picture)
	}
	fmt.Println()
	return nil
}

func writeResults(path string, res any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// progress draws a bar on a terminal and prints a line every few seconds
// otherwise (CI logs).
type progress struct {
	bar   *progressbar.ProgressBar
	last  time.Time
	total int
}

func newProgress(total int) *progress {
	p := &progress{total: total}
	if term.IsTerminal(int(os.Stdout.Fd())) {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetDescription("orders"), progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("orders"))
	}
	return p
}

func (p *progress) update(s demo.Progress) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("confirmed %d cancelled %d refused %d", s.Confirmed, s.Cancelled, s.Refused))
		_ = p.bar.Set(s.Finished)
		return
	}
	if time.Since(p.last) > 2*time.Second || s.Finished == s.Total {
		p.last = time.Now()
		fmt.Printf("  %d/%d finished (placed %d): confirmed %d, cancelled %d, refused %d\n", s.Finished, s.Total, s.Placed, s.Confirmed, s.Cancelled, s.Refused)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Println()
	}
}

// newLedger counts the plane's deliveries and ingress requests, the
// functions' deliveries by outcome, the process's Kafka requests and, when
// pg is set, the PostgreSQL server's work in the functions' database.
func newLedger(p *plane.Plane, ep plane.Endpoints, pg *store.DB) *account.Ledger {
	urls := make([]string, 0, len(ep.Functions))
	for _, name := range slices.Sorted(maps.Keys(ep.Functions)) {
		urls = append(urls, ep.Functions[name])
	}
	sources := []account.Source{
		account.Prometheus{Name: "plane", Gatherer: p.Metrics(), Counters: map[string]string{
			"http_events_sent_total":           "KafkaSource HTTP requests (deliveries and dead letters)",
			"orderflow_dispatch_retries_total": "KafkaSource retries",
			"orderflow_sink_requests_total":    "KafkaSink ingress requests (relay publishes and placements)",
		}},
		account.Prometheus{Name: "functions", Gatherer: account.Scrape(&http.Client{Timeout: 5 * time.Second}, urls...),
			Counters: map[string]string{
				"orderflow_deliveries_total":                   "deliveries",
				"orderflow_store_transaction_duration_seconds": "delivery transactions",
				"orderflow_events_published_total":             "events the relays published",
				"orderflow_store_round_trips_total":            "PostgreSQL round trips (statements outside a transaction, pipelines inside)",
			},
			SplitBy: map[string]string{"orderflow_deliveries_total": "outcome"}},
		account.Func{Name: "kafka", Fn: broker.ClientRequests},
	}
	if pg != nil {
		sources = append(sources, account.Postgres{DB: pg})
	}
	return account.New(sources...)
}

// warmUp places n orders and waits for them to end, measuring nothing; it
// fails if they do not end as their kinds predict, since then the measured
// run would start on a broken topology.
// It returns the stock as the warm-up left it, for the measured run's
// check.
func warmUp(ctx context.Context, target demo.Target, n, concurrency int, rate float64, seed uint64, timeout, settle time.Duration) (*events.InventoryViewData, error) {
	runID := "warmup-" + randomHex(3)
	at := "as fast as they go"
	if rate > 0 {
		at = fmt.Sprintf("at %.0f/s", rate)
	}
	fmt.Printf("warming up: %d orders %s (run %s), not measured...\n", n, at, runID)
	start := time.Now()
	res, err := demo.Run(ctx, target, demo.Config{Orders: n, Concurrency: concurrency, Rate: rate, Seed: seed + 1, RunID: runID, Timeout: timeout, Settle: settle})
	if err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if !res.OK() {
		res.Print(os.Stdout)
		return nil, fmt.Errorf("warm-up: invariants or expected outcomes violated (see above)")
	}
	fmt.Printf("warm-up: %d orders ended in %.1fs\n", len(res.Results), time.Since(start).Seconds())
	return res.Stock, nil
}

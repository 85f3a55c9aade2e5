package scalebench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/serving"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/orderflow"
	"orderflow.dev/local/profile"
	"orderflow.dev/local/scratchdb"
	"orderflow.dev/shared/events"
)

// PlaneProcess names this process (the plane, the broker in it, and the
// load generator placing and following the orders) in the CPU figures.
const PlaneProcess = "plane"

// Run measures on topologies of its own, each started from base (the
// checkout's manifests and functions, the command serving a function, a
// state directory of its own) on a fresh schema per function in
// o.DatabaseURL: cold starts, the bursts at o.Replicas, the idle -> burst
// -> idle run. It writes ResultsFile and PictureFile into o.Out and prints
// the summary. Call Complete and Validate first.
func (o *Options) Run(ctx context.Context, base plane.Options) (Results, error) {
	w := o.Progress
	overrides, err := o.scaleOverrides()
	if err != nil {
		return Results{}, err
	}
	schemas, err := scratchdb.Open(ctx, "--database-url", o.DatabaseURL)
	if err != nil {
		return Results{}, err
	}
	defer schemas.Close(context.Background())
	settings, err := schemas.Settings(ctx)
	if err != nil {
		return Results{}, err
	}
	res := Results{Date: time.Now().UTC().Format(time.DateOnly), Broker: "embedded kfake",
		Database: "PostgreSQL " + schemas.String() + ", a fresh schema per function and phase", PostgresSettings: settings,
		Partitions: o.Partitions, Cores: runtime.NumCPU(), Note: machineNote}
	if o.Partitions > 0 {
		if base.Manifests, err = writeOverlay(filepath.Join(base.StateDir, "manifests"), base.Manifests, o.Partitions); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(w, "broker: %s; store: %s (%s)\n", res.Broker, res.Database, settings)
	r := &runner{o: o, base: base, schemas: schemas}

	if res.ColdStart, err = r.coldStarts(ctx); err != nil {
		return res, fmt.Errorf("cold starts: %w", err)
	}
	for _, n := range o.Replicas {
		row, err := r.burstAt(ctx, n)
		if err != nil {
			return res, fmt.Errorf("burst at %d replicas: %w", n, err)
		}
		res.Replicas = append(res.Replicas, row)
	}
	for i := range res.Replicas {
		first := res.Replicas[0]
		if first.EndedPerSecond > 0 {
			res.Replicas[i].VersusFirst = res.Replicas[i].EndedPerSecond / first.EndedPerSecond
		}
		res.Replicas[i].Ideal = float64(res.Replicas[i].Replicas) / float64(first.Replicas)
	}
	own, err := funcScales(base.FunctionsDir, fnserve.Names())
	if err != nil {
		return res, err
	}
	if res.Run, err = r.idleBurstIdle(ctx, RunScales(own, overrides, o.Target)); err != nil {
		return res, fmt.Errorf("idle -> burst -> idle: %w", err)
	}
	if err := o.write(res); err != nil {
		return res, err
	}
	res.Print(w)
	fmt.Fprintf(w, "\nresults: %s (picture: %s)\n", filepath.Join(o.Out, ResultsFile), filepath.Join(o.Out, PictureFile))
	return res, nil
}

// write puts the results and their picture into o.Out.
func (o *Options) write(res Results) error {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", o.Out, err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Out, ResultsFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return Plot(res.Run, filepath.Join(o.Out, PictureFile))
}

type runner struct {
	o       *Options
	base    plane.Options
	schemas *scratchdb.Schemas
}

// start runs a topology of its own, label naming its state directory and
// its schemas.
func (r *runner) start(ctx context.Context, label string, scale map[string]serving.Scale, windows serving.Windows) (*plane.Plane, error) {
	opts := r.base
	opts.StateDir = filepath.Join(r.base.StateDir, label)
	opts.Scale, opts.Windows = scale, windows
	env, err := orderflow.DatabaseEnv(opts.FunctionsDir, fnserve.Names(), func(key string) (string, error) { return r.schemas.URL(ctx, label+"_"+key) })
	if err != nil {
		return nil, err
	}
	opts.Env = env
	orderflow.Wire(&opts)
	return plane.Up(ctx, opts)
}

// stop ends a topology and drops its schemas.
func (r *runner) stop(p *plane.Plane) error {
	_ = p.Close()
	return r.schemas.Drop(context.Background())
}

// zeroWithin is how long functions may take to reach their minimum once
// idle, for a stable window w: the window, the scale-to-zero grace (half
// of it), a drain, with room for a busy machine.
func zeroWithin(w time.Duration) time.Duration { return 4*w + 30*time.Second }

// coldStarts lets every function go to zero, wakes them with one order,
// o.WakeUps times, and reads each function's cold starts.
func (r *runner) coldStarts(ctx context.Context) (ColdStart, error) {
	o, w := r.o, r.o.Progress
	out := ColdStart{StableWindowMs: millis(o.ColdWindow), WakeUps: o.WakeUps, Functions: map[string]Spread{}, Missing: map[string]int{}, InvariantsOK: true}
	fmt.Fprintf(w, "== cold starts: every function at 0..1 replicas, stable window %s; %d wake-ups, one order each\n", o.ColdWindow, o.WakeUps)
	p, err := r.start(ctx, "cold", map[string]serving.Scale{"*": {Min: 0, Max: 1}}, serving.WindowsOf(o.ColdWindow))
	if err != nil {
		return out, err
	}
	defer r.stop(p)
	target := demo.TargetOf(p.Endpoints(), p.Kafka(), true)
	limit := zeroWithin(o.ColdWindow)
	samples := map[string][]time.Duration{}
	var firsts []time.Duration
	var stock *events.InventoryViewData
	for k := 1; k <= o.WakeUps; k++ {
		t0 := time.Now()
		if err := waitFor(ctx, limit, func() bool { return atMin(p.Services()) }); err != nil {
			return out, fmt.Errorf("wake-up %d: not every function at zero within %s (%s): %w", k, limit, replicaWords(p.Services()), err)
		}
		idle := time.Since(t0)
		before := p.Services()
		res, err := demo.Run(ctx, target, demo.Config{Orders: 1, Concurrency: 1, Seed: uint64(k), RunID: fmt.Sprintf("wake%d", k),
			Timeout: o.Timeout, Settle: 30 * time.Second, StockBefore: stock})
		if err != nil {
			return out, fmt.Errorf("wake-up %d: %w", k, err)
		}
		out.InvariantsOK = out.InvariantsOK && res.OK()
		stock = res.Stock
		var first time.Duration
		if len(res.Results) == 1 && res.Results[0].Latency > 0 {
			first = res.Results[0].Latency
			firsts = append(firsts, first)
		}
		// The saga's last steps (the notification, analytics) may be
		// delivered after the outcome the order was followed to.
		_ = waitFor(ctx, limit, func() bool {
			for name, st := range p.Services() {
				if st.ColdStarts <= before[name].ColdStarts {
					return false
				}
			}
			return true
		})
		after := p.Services()
		var words []string
		for _, name := range slices.Sorted(maps.Keys(after)) {
			got := NewColdStarts(before[name], after[name])
			if len(got) == 0 {
				out.Missing[name]++
			}
			samples[name] = append(samples[name], got...)
			words = append(words, name+" "+durationWords(got))
		}
		fmt.Fprintf(w, "  wake-up %d/%d: every function at zero after %.1fs; the order ended in %s (%s); cold starts: %s\n",
			k, o.WakeUps, idle.Seconds(), first.Round(time.Millisecond), outcomeWord(res), strings.Join(words, ", "))
	}
	for name, d := range samples {
		out.Functions[name] = SpreadOf(d)
	}
	out.FirstOrder = SpreadOf(firsts)
	return out, nil
}

// burstAt places o.Burst orders at n replicas of every function.
func (r *runner) burstAt(ctx context.Context, n int) (ReplicaRow, error) {
	o, w := r.o, r.o.Progress
	fmt.Fprintf(w, "== %d replica(s) of every function: a burst of %d orders, %d in flight\n", n, o.Burst, o.Concurrency)
	row := ReplicaRow{Replicas: n, Burst: Burst{Orders: o.Burst}}
	p, err := r.start(ctx, fmt.Sprintf("r%d", n), map[string]serving.Scale{"*": {Min: n, Max: n}}, serving.Windows{})
	if err != nil {
		return row, err
	}
	defer r.stop(p)
	if err := waitFor(ctx, 2*time.Minute, func() bool { return everyReady(p.Services(), n) }); err != nil {
		return row, fmt.Errorf("not every function had %d replicas ready (%s): %w", n, replicaWords(p.Services()), err)
	}
	row.LoadBefore = loadAverage()
	count := r.countTrouble(ctx, p)
	stopProfile, err := r.profilePlane(fmt.Sprintf("plane-%dr.cpu.pprof", n))
	if err != nil {
		return row, err
	}
	res, err := demo.Run(ctx, demo.TargetOf(p.Endpoints(), p.Kafka(), true), demo.Config{Orders: o.Burst, Concurrency: o.Concurrency, Seed: 7,
		RunID: fmt.Sprintf("r%d", n), Timeout: o.Timeout, Settle: time.Minute, Progress: progressLines(w, fmt.Sprintf("%d replica(s)", n)),
		Processes: func() []profile.Proc {
			return append([]profile.Proc{{Name: PlaneProcess, PID: os.Getpid()}}, demo.ReplicaProcs(p)...)
		}})
	row.LoadAfter = loadAverage()
	profiled, perr := stopProfile()
	if err = errors.Join(err, perr); err != nil {
		return row, err
	}
	row.PlaneProfile = profiled
	row.Burst = burstOf(res)
	row.Retried, row.Deadlocks = count(ctx)
	if c := res.CPU; c != nil {
		row.CPU, row.CPUMsPerOrder, row.CoresBusy, row.ByProcess = c, c.MsPerOrder, c.CoresBusy, ByFunction(c.Processes)
		if m := c.Machine; m != nil {
			row.MachineMsPerOrder, row.MachineCoresBusy = m.MsPerOrder, m.CoresBusy
		}
	}
	fmt.Fprintf(w, "   %.1f orders/s, p50 %.0f ms, p99 %.0f ms, CPU %.1f ms per order (%.2f cores busy; machine %.1f ms, %.2f busy), %d deliveries retried, %d deadlocks, invariants ok: %v\n",
		row.EndedPerSecond, row.LatencyMs["p50"], row.LatencyMs["p99"], row.CPUMsPerOrder, row.CoresBusy, row.MachineMsPerOrder, row.MachineCoresBusy,
		row.Retried, row.Deadlocks, row.InvariantsOK)
	return row, nil
}

// countTrouble starts counting what slows a burst without costing CPU:
// the sources' retried deliveries and PostgreSQL's deadlocks (each waits
// out the server's deadlock_timeout before one side fails); the returned
// function reads both since.
func (r *runner) countTrouble(ctx context.Context, p *plane.Plane) func(context.Context) (retried uint64, deadlocks int64) {
	retries := func() uint64 {
		var n uint64
		for _, s := range p.SourceStats() {
			n += s.Retried
		}
		return n
	}
	retried0, deadlocks0 := retries(), r.deadlocks(ctx)
	return func(ctx context.Context) (uint64, int64) {
		deadlocks := int64(-1)
		if now := r.deadlocks(ctx); now >= 0 && deadlocks0 >= 0 {
			deadlocks = now - deadlocks0
		}
		return retries() - retried0, deadlocks
	}
}

// deadlocks is PostgreSQL's count of deadlocks in the database (-1 when
// it cannot be read). The server publishes its statistics at the end of
// each transaction, a second late at most.
func (r *runner) deadlocks(ctx context.Context) int64 {
	var n int64
	if err := r.schemas.DB().QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// profilePlane starts a CPU profile of this process (the plane) into
// --profile's directory as name, or nothing without --profile; stop ends
// it and says where it is.
func (r *runner) profilePlane(name string) (stop func() (string, error), err error) {
	dir := r.o.ProfileDir
	if dir == "" {
		return func() (string, error) { return "", nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--profile %s: %w", dir, err)
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--profile %s: %w", dir, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--profile %s: %w", dir, err)
	}
	return func() (string, error) {
		pprof.StopCPUProfile()
		return path, f.Close()
	}, nil
}

// idleBurstIdle runs the functions at scales, samples their replicas while
// they go idle, take a burst and go idle again.
func (r *runner) idleBurstIdle(ctx context.Context, scales map[string]serving.Scale) (RunResult, error) {
	o, w := r.o, r.o.Progress
	out := RunResult{StableWindowMs: millis(o.StableWindow), SampleMs: millis(o.Sample), IdleMs: millis(o.Idle), Scale: scales, Burst: Burst{Orders: o.Burst}, BackAtMin: -1}
	var bounds []string
	for _, name := range slices.Sorted(maps.Keys(scales)) {
		sc := scales[name]
		bounds = append(bounds, fmt.Sprintf("%s %d..%s (%s %g)", name, sc.Min, maxWord(sc.Max), sc.Metric, sc.Target))
	}
	fmt.Fprintf(w, "== idle -> burst of %d -> idle, stable window %s; scale: %s\n", o.Burst, o.StableWindow, strings.Join(bounds, ", "))
	p, err := r.start(ctx, "run", scales, serving.WindowsOf(o.StableWindow))
	if err != nil {
		return out, err
	}
	defer r.stop(p)
	start := time.Now()
	s := startSampling(p, start, o.Sample)
	defer s.stop()
	out.Mins = map[string]int{}
	for name, st := range p.Services() {
		out.Mins[name] = st.Min
	}
	limit := zeroWithin(o.StableWindow)
	if err := waitFor(ctx, limit, func() bool { return atMin(p.Services()) }); err != nil {
		return out, fmt.Errorf("not every function at its minimum within %s (%s): %w", limit, replicaWords(p.Services()), err)
	}
	fmt.Fprintf(w, "  every function at its minimum at %.1fs; idle %s more\n", time.Since(start).Seconds(), o.Idle)
	if err := sleep(ctx, o.Idle); err != nil {
		return out, err
	}
	count := r.countTrouble(ctx, p)
	var mu sync.Mutex
	var ended []float64
	res, err := demo.Run(ctx, demo.TargetOf(p.Endpoints(), p.Kafka(), true), demo.Config{Orders: o.Burst, Concurrency: o.Concurrency, Seed: 21,
		RunID: "run", Timeout: o.Timeout, Settle: time.Minute, Progress: progressLines(w, "burst"),
		Ended: func(_, endedAt time.Time) {
			mu.Lock()
			ended = append(ended, endedAt.Sub(start).Seconds())
			mu.Unlock()
		}})
	if err != nil {
		return out, err
	}
	out.Burst = burstOf(res)
	out.Retried, out.Deadlocks = count(ctx)
	mu.Lock()
	out.Ended = slices.Clone(ended)
	mu.Unlock()
	out.BurstStart, out.BurstEnd = burstSpan(res.Results, out.Ended, start)
	fmt.Fprintf(w, "  burst from %.1fs to %.1fs: %.1f orders/s; now idle until every function is at its minimum, then %s more\n",
		out.BurstStart, out.BurstEnd, out.EndedPerSecond, o.Idle)
	if err := waitFor(ctx, limit, func() bool { return atMin(p.Services()) }); err != nil {
		fmt.Fprintf(w, "  not every function back at its minimum within %s (%s)\n", limit, replicaWords(p.Services()))
	} else if err := sleep(ctx, o.Idle); err != nil {
		return out, err
	}
	out.Samples = s.stop()
	out.Steps = map[string][]Step{}
	for name, st := range p.Services() {
		out.Steps[name] = StepsOf(st.Events, start)
	}
	out.Peak = Peaks(out.Samples)
	until := out.Samples[len(out.Samples)-1].Seconds
	out.Throughput = Throughput(out.Ended, 1, until)
	if at, ok := BackAtMin(out.Samples, out.Mins, out.BurstEnd); ok {
		out.BackAtMin = at
	}
	return out, nil
}

// burstSpan is when, on the run's clock, the first order was placed and
// the last one ended.
func burstSpan(orders []demo.OrderResult, ended []float64, start time.Time) (first, last float64) {
	first = -1
	for _, o := range orders {
		if o.PlacedAt.IsZero() {
			continue
		}
		if t := o.PlacedAt.Sub(start).Seconds(); first < 0 || t < first {
			first = t
		}
	}
	for _, t := range ended {
		last = max(last, t)
	}
	return max(first, 0), last
}

// atMin is true when every function runs its minimum of replicas: none,
// for one that scales to zero.
func atMin(services map[string]serving.Status) bool {
	for _, st := range services {
		if st.Replicas != st.Min {
			return false
		}
	}
	return true
}

func everyReady(services map[string]serving.Status, n int) bool {
	for _, st := range services {
		if st.Ready != n {
			return false
		}
	}
	return len(services) > 0
}

// replicaWords says every function's replicas, for an error.
func replicaWords(services map[string]serving.Status) string {
	var words []string
	for _, name := range slices.Sorted(maps.Keys(services)) {
		st := services[name]
		words = append(words, fmt.Sprintf("%s %d live, %d ready, min %d", name, st.Replicas, st.Ready, st.Min))
	}
	return strings.Join(words, "; ")
}

func durationWords(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	var words []string
	for _, x := range d {
		words = append(words, x.Round(time.Millisecond).String())
	}
	return strings.Join(words, "+")
}

func outcomeWord(res demo.Result) string {
	if len(res.Results) == 0 {
		return "not placed"
	}
	return res.Results[0].Outcome
}

// waitFor polls ok until it holds, ctx ends or within passes.
func waitFor(ctx context.Context, within time.Duration, ok func() bool) error {
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %s", within)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// loadAverage is /proc/loadavg's three averages ("" where unreadable).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// progressLines prints a burst's progress every two seconds and at its
// end (demo.Config.Progress: called under the run's lock, so it only
// prints).
func progressLines(w io.Writer, label string) func(demo.Progress) {
	var last time.Time
	return func(s demo.Progress) {
		if time.Since(last) < 2*time.Second && s.Finished != s.Total {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "  %s: %d/%d ended (placed %d): confirmed %d, cancelled %d, refused %d\n", label, s.Finished, s.Total, s.Placed, s.Confirmed, s.Cancelled, s.Refused)
	}
}

// sampler reads every function's replicas at an interval.
type sampler struct {
	p       *plane.Plane
	start   time.Time
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	samples []Sample
}

func startSampling(p *plane.Plane, start time.Time, every time.Duration) *sampler {
	s := &sampler{p: p, start: start, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.take()
			select {
			case <-s.quit:
				s.take()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) take() {
	now := time.Now()
	sm := Sample{Seconds: now.Sub(s.start).Seconds(), Replicas: map[string]int{}, Ready: map[string]int{}}
	for name, st := range s.p.Services() {
		sm.Replicas[name], sm.Ready[name] = st.Replicas, st.Ready
	}
	s.samples = append(s.samples, sm)
}

// stop ends the sampling (once) and returns the samples.
func (s *sampler) stop() []Sample {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	return s.samples
}

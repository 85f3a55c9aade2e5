// Package soak measures the saga over time at a steady rate: every sample
// interval it reads each function's database size on disk, its tables
// (bookkeeping apart from domain) and resident memory, the plane's memory,
// and the placement-to-outcome latency of the orders that ended in the
// interval. The orders themselves are placed and
// followed by demo.Run; this package is the sampling, its statistics, the
// results file and the picture.
package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"orderflow.dev/local/check"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/profile"
	"orderflow.dev/shared/handler"
)

// Config is what a soak runs: Rate orders a second for Duration, sampled
// every Sample. WarmUp is how long the system is given before its figures
// are the baseline "flat" is judged against.
type Config struct {
	Duration, Sample, WarmUp time.Duration
	Rate                     float64
	// Retention and PruneInterval pass ORDERFLOW_RETENTION and
	// ORDERFLOW_PRUNE_INTERVAL to the functions; 0 keeps their defaults.
	Retention, PruneInterval time.Duration
}

// MinSample is the shortest Sample; MinPruneInterval the shortest
// PruneInterval, the functions' own floor.
const (
	MinSample        = 100 * time.Millisecond
	MinPruneInterval = handler.MinPruneInterval
)

// Validate names the first setting that is wrong, by its flag.
func (c Config) Validate() error {
	switch {
	case c.Duration <= 0:
		return fmt.Errorf("--duration %s: must be positive", c.Duration)
	case c.Rate <= 0:
		return fmt.Errorf("--rate %v: must be positive (orders per second)", c.Rate)
	case c.Rate*c.Duration.Seconds() < 1:
		return fmt.Errorf("--rate %v for --duration %s places no order: want rate x duration of at least 1", c.Rate, c.Duration)
	case c.Sample <= 0:
		return fmt.Errorf("--sample %s: must be positive", c.Sample)
	case c.Sample < MinSample:
		return fmt.Errorf("--sample %s: want at least %s (each sample reads every process's memory and the databases' sizes)", c.Sample, MinSample)
	case c.Sample > c.Duration:
		return fmt.Errorf("--sample %s is longer than --duration %s: the soak would end before its first sample", c.Sample, c.Duration)
	case c.WarmUp < 0 || c.WarmUp >= c.Duration:
		return fmt.Errorf("--warmup %s: must be at least 0 and shorter than --duration %s", c.WarmUp, c.Duration)
	case c.Retention < 0:
		return fmt.Errorf("--retention %s: must not be negative (0 keeps the functions' default)", c.Retention)
	case c.PruneInterval < 0:
		return fmt.Errorf("--prune-interval %s: must not be negative (0 keeps the functions' default)", c.PruneInterval)
	case c.PruneInterval > 0 && c.PruneInterval < MinPruneInterval:
		return fmt.Errorf("--prune-interval %s: want at least %s (0 keeps the functions' default)", c.PruneInterval, MinPruneInterval)
	}
	return nil
}

// Orders is how many orders the soak places: Rate x Duration.
func (c Config) Orders() int { return int(c.Rate * c.Duration.Seconds()) }

// Sample is the system at one moment, and what happened since the
// previous sample.
type Sample struct {
	Seconds float64 `json:"seconds"` // since the first placement
	// Placed and Ended count since the start of the soak; EndedPerSecond,
	// P50Millis and P99Millis are of the orders that ended in the interval.
	Placed         int     `json:"placed"`
	Ended          int     `json:"ended"`
	EndedPerSecond float64 `json:"endedPerSecond"`
	P50Millis      float64 `json:"p50Millis"`
	P99Millis      float64 `json:"p99Millis"`
	PlaneRSS       int64   `json:"planeRssBytes"`
	// PlaneGo is the Go runtime's part of the plane's memory, when the
	// plane runs in the soak's own process: PlaneRSS minus its Resident
	// is memory outside the Go runtime.
	PlaneGo *profile.GoMemory `json:"planeGo,omitempty"`
	// HarnessRSS and HarnessGo are the soak's own process when the plane
	// runs apart: the load generator, which keeps a record of every order
	// for the invariant check at the end (so it grows with the orders).
	HarnessRSS int64               `json:"harnessRssBytes,omitempty"`
	HarnessGo  *profile.GoMemory   `json:"harnessGo,omitempty"`
	Functions  map[string]Function `json:"functions"`
	// Errors says what of the plane could not be read.
	Errors []string `json:"errors,omitempty"`
	// Final marks the sample taken once every order ended: its interval
	// is the short tail since the last tick, so Trends leaves it out.
	Final bool `json:"final,omitempty"`
}

// Function is one function's figures in a sample.
type Function struct {
	PID      int   `json:"pid"`
	DBBytes  int64 `json:"dbBytes"`  // its SQLite files and their WALs
	RSSBytes int64 `json:"rssBytes"` // VmRSS
	// PrunedRows is what its pruning has deleted since it started
	// (orderflow_store_pruned_rows_total, all tables); -1 when its
	// /metrics could not be read.
	PrunedRows int64 `json:"prunedRows"`
	// Tables is each table of its databases now (rows, and bytes with its
	// indexes), read from a copy of the files (SnapshotTables), and the
	// free pages of each file.
	Tables []Table `json:"tables,omitempty"`
	// BookkeepingBytes, DomainBytes and FreeBytes split Tables (Split):
	// what pruning bounds, the orders themselves, and pages kept for reuse.
	BookkeepingBytes int64 `json:"bookkeepingBytes"`
	DomainBytes      int64 `json:"domainBytes"`
	FreeBytes        int64 `json:"freeBytes"`
	// DomainBytesPerOrder is DomainBytes over the orders ended when the
	// tables had been read; 0 before the first ended.
	DomainBytesPerOrder float64 `json:"domainBytesPerOrder"`
	// Errors says what could not be read (the figure is then 0).
	Errors []string `json:"errors,omitempty"`
}

// PerOrder sets DomainBytesPerOrder for the orders ended so far.
func (f *Function) PerOrder(ended int) {
	f.DomainBytesPerOrder = 0
	if ended > 0 {
		f.DomainBytesPerOrder = float64(f.DomainBytes) / float64(ended)
	}
}

// Window gathers the latencies of orders ending between two samples. Add
// is safe to call from demo.Config.Ended while Take runs.
type Window struct {
	mu  sync.Mutex
	lat []time.Duration
}

// Add records one order that ended.
func (w *Window) Add(placedAt, endedAt time.Time) {
	w.mu.Lock()
	w.lat = append(w.lat, endedAt.Sub(placedAt))
	w.mu.Unlock()
}

// Take returns the latencies gathered since the last Take, sorted, and
// starts a new window.
func (w *Window) Take() []time.Duration {
	w.mu.Lock()
	lat := w.lat
	w.lat = nil
	w.mu.Unlock()
	return demo.SortDurations(lat)
}

// Interval fills a sample's per-interval figures from the sorted
// latencies of the orders that ended in the last `over`.
func (s *Sample) Interval(sorted []time.Duration, over time.Duration) {
	s.EndedPerSecond, s.P50Millis, s.P99Millis = 0, 0, 0
	if over > 0 {
		s.EndedPerSecond = float64(len(sorted)) / over.Seconds()
	}
	if len(sorted) > 0 {
		s.P50Millis, s.P99Millis = millis(demo.Percentile(sorted, 50)), millis(demo.Percentile(sorted, 99))
	}
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Sampler takes a Sample every Every from Start until its context ends.
type Sampler struct {
	Probe  Probe
	Window *Window
	Every  time.Duration
	// Counts says how many orders were placed and have ended so far.
	Counts func() (placed, ended int)
	// OnSample hears of each sample as it is taken (a progress line).
	OnSample func(Sample)

	mu      sync.Mutex
	samples []Sample
	start   time.Time
	last    time.Time
}

// Run samples until ctx ends; start is the soak's first placement.
func (s *Sampler) Run(ctx context.Context, start time.Time) {
	s.mu.Lock()
	s.start, s.last = start, start
	s.mu.Unlock()
	tick := time.NewTicker(s.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			// A sample begun is finished whole even if the soak stops
			// meanwhile (its reads are bounded: files, and /metrics with
			// a timeout), rather than recorded with a cancelled read.
			s.Take(context.WithoutCancel(ctx), now, false)
		}
	}
}

// Take samples now: Run does every Every, the soak once more at its end
// (final).
func (s *Sampler) Take(ctx context.Context, now time.Time, final bool) Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	sample := Sample{Seconds: now.Sub(s.start).Seconds(), Final: final}
	sample.Placed, sample.Ended = s.Counts()
	sample.Interval(s.Window.Take(), now.Sub(s.last))
	s.last = now
	var err error
	sample.PlaneRSS, sample.Functions, err = s.Probe.Read(ctx)
	if err != nil {
		sample.Errors = append(sample.Errors, "plane rss: "+err.Error())
	}
	if m, err := profile.ReadGoMemory(); err != nil {
		sample.Errors = append(sample.Errors, "go memory: "+err.Error())
	} else if s.Probe.PlanePID == os.Getpid() {
		sample.PlaneGo = &m
	} else {
		sample.HarnessGo = &m
		if sample.HarnessRSS, err = profile.ResidentBytes(os.Getpid()); err != nil {
			sample.Errors = append(sample.Errors, "harness rss: "+err.Error())
		}
	}
	// The orders ended by now, once the tables were read: their rows are in
	// them (an order in flight has some of its rows too, a handful at most).
	_, endedByNow := s.Counts()
	for name, f := range sample.Functions {
		f.PerOrder(endedByNow)
		sample.Functions[name] = f
	}
	s.samples = append(s.samples, sample)
	if s.OnSample != nil {
		s.OnSample(sample)
	}
	return sample
}

// Samples is every sample taken so far.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// Line is a sample as one progress line: the orders, the interval's
// latency, then each function's database and memory in MB.
func Line(s Sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%5.0fs placed %d ended %d (%.1f/s) p50 %.0fms p99 %.0fms | plane %.0fMB", s.Seconds, s.Placed, s.Ended,
		s.EndedPerSecond, s.P50Millis, s.P99Millis, float64(s.PlaneRSS)/(1<<20))
	if s.HarnessRSS > 0 {
		fmt.Fprintf(&b, " | harness %.0fMB", float64(s.HarnessRSS)/(1<<20))
	}
	if g := cmpOr(s.PlaneGo, s.HarnessGo); g != nil {
		fmt.Fprintf(&b, " (go %.0fMB: live %.1f heap %.1f free %.1f unused %.1f stacks %.1f meta %.1f prof %.1f other %.1f, %d goroutines)", float64(g.Resident)/(1<<20),
			float64(g.HeapLive)/(1<<20), float64(g.HeapObjects)/(1<<20), float64(g.HeapFree)/(1<<20), float64(g.HeapUnused)/(1<<20), float64(g.Stacks)/(1<<20),
			float64(g.Metadata)/(1<<20), float64(g.ProfilingBuckets)/(1<<20), float64(g.Other)/(1<<20), g.Goroutines)
	}
	names := make([]string, 0, len(s.Functions))
	for name := range s.Functions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := s.Functions[name]
		fmt.Fprintf(&b, " | %s db %.1fMB rss %.0fMB", name, float64(f.DBBytes)/(1<<20), float64(f.RSSBytes)/(1<<20))
		if f.PrunedRows > 0 {
			fmt.Fprintf(&b, " pruned %d", f.PrunedRows)
		}
		if len(f.Tables) > 0 {
			fmt.Fprintf(&b, " bookkeeping %.1fMB domain %.2fKB/order", float64(f.BookkeepingBytes)/(1<<20), f.DomainBytesPerOrder/1024)
		}
		if len(f.Errors) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(f.Errors, "; "))
		}
	}
	for _, e := range s.Errors {
		fmt.Fprintf(&b, " | %s", e)
	}
	return b.String()
}

// Probe reads the processes and files a sample needs.
type Probe struct {
	// DBDir holds the functions' SQLite files (<state>/db; see
	// local/orderflow.Wire): <name>.db, and <name>-<other>.db for a
	// function that keeps another (payment's gateway ledger).
	DBDir string
	// Processes gives each function's pid and URL now (a restarted
	// function has a new pid).
	Processes func() map[string]Process
	PlanePID  int
	Client    *http.Client
}

// Process is a running function.
type Process struct {
	PID int
	URL string
}

// Read takes the resource part of a sample: what could not be read is
// named in the function's Errors (or returned, for the plane), never
// silently zero.
func (p Probe) Read(ctx context.Context) (planeRSS int64, fns map[string]Function, err error) {
	planeRSS, err = profile.ResidentBytes(p.PlanePID)
	fns = map[string]Function{}
	for name, proc := range p.Processes() {
		f := Function{PID: proc.PID, PrunedRows: -1}
		var e error
		if f.RSSBytes, e = profile.ResidentBytes(proc.PID); e != nil {
			f.Errors = append(f.Errors, "rss: "+e.Error())
		}
		if f.DBBytes, e = DatabaseBytes(p.DBDir, name); e != nil {
			f.Errors = append(f.Errors, "database size: "+e.Error())
		}
		if f.Tables, e = SnapshotTables(ctx, p.DBDir, name); e != nil {
			f.Errors = append(f.Errors, "tables: "+e.Error())
		}
		f.BookkeepingBytes, f.DomainBytes, f.FreeBytes = Split(f.Tables)
		if f.PrunedRows, e = p.prunedRows(ctx, proc.URL); e != nil {
			f.PrunedRows = -1
			f.Errors = append(f.Errors, "pruned rows: "+e.Error())
		}
		fns[name] = f
	}
	return planeRSS, fns, err
}

// DatabaseBytes is the size on disk of a function's SQLite databases and
// their write-ahead logs, the files local/orderflow.Wire gives it in dir.
func DatabaseBytes(dir, function string) (int64, error) {
	files, err := DatabaseFiles(dir, function)
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no %s.db in %s", function, dir)
	}
	var total int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if errors.Is(err, os.ErrNotExist) { // a WAL checkpointed away between the listing and now
			continue
		}
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}

// DatabaseFiles lists a function's databases and WALs in dir: <name>.db
// and <name>-*.db, each with its -wal if there is one.
func DatabaseFiles(dir, function string) ([]string, error) {
	var out []string
	for _, pattern := range []string{function + ".db", function + ".db-wal", function + "-*.db", function + "-*.db-wal"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return out, nil
}

// prunedMetric is the counter the edge's pruning adds to (shared/handler).
const prunedMetric = "orderflow_store_pruned_rows_total"

func (p Probe) prunedRows(ctx context.Context, functionURL string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, functionURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s/metrics: %s", functionURL, resp.Status)
	}
	return SumCounter(resp.Body, prunedMetric)
}

// SumCounter adds up every series of a counter in a Prometheus text
// exposition. A counter not exposed at all sums to 0 (nothing pruned yet
// has no series); a value that is not a number is an error.
func SumCounter(r io.Reader, name string) (int64, error) {
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 64*1024), 1024*1024)
	var total float64
	for lines.Scan() {
		line := lines.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue // another metric, or one whose name merely starts with this one
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			return 0, fmt.Errorf("%s: %q has no value", name, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: value %w", name, line, err)
		}
		total += v
	}
	return int64(total), lines.Err()
}

// Results is a soak's file: its settings, every sample, and the verdict.
type Results struct {
	Command   string    `json:"command"`
	Started   time.Time `json:"started"`
	Broker    string    `json:"broker"`
	Rate      float64   `json:"rate"`
	Duration  string    `json:"duration"`
	Sample    string    `json:"sample"`
	WarmUp    string    `json:"warmUp"`
	Retention string    `json:"retention"`
	PruneInt  string    `json:"pruneInterval"`
	Samples   []Sample  `json:"samples"`
	// Tables is each function's databases table by table once it stopped
	// (each sample has them too, read from copies while it ran).
	Tables map[string][]Table `json:"tables,omitempty"`
	Trend  []Trend            `json:"trend"`
	// Verdicts say, in words, whether bookkeeping stayed flat after the
	// warm-up and how the domain grew per order.
	Verdicts []Verdict `json:"verdicts,omitempty"`
	Summary  Summary   `json:"summary"`
	// Judged is when `orderflow soak report` last worked out Trend and
	// Verdicts again from the samples (zero: as the run itself did).
	Judged time.Time `json:"judged,omitzero"`
}

// Summary is the whole run.
type Summary struct {
	Placed      int                `json:"placed"`
	NotAccepted int                `json:"notAccepted"`
	Ended       int                `json:"ended"`
	Unfinished  int                `json:"unfinished"` // placed orders that reached no outcome
	Unexpected  int                `json:"unexpected"` // outcomes their kind does not predict
	Throughput  float64            `json:"ordersPerSecond"`
	Latency     map[string]float64 `json:"latencyMillis"`
	Outcomes    map[string]int     `json:"outcomes"`
	Check       check.Report       `json:"check"`
}

// Summarize takes the verdict of demo.Run's result.
func Summarize(res demo.Result) Summary {
	s := Summary{Placed: res.Placed, NotAccepted: res.NotAccepted, Unexpected: len(res.Unexpected), Throughput: res.Throughput,
		Latency: res.Latency, Outcomes: res.Outcomes, Check: res.Check}
	for _, o := range res.Results {
		if o.Outcome == "open" {
			s.Unfinished++
		} else {
			s.Ended++
		}
	}
	return s
}

// OK is true when every placed order ended as predicted and the
// invariants hold.
func (s Summary) OK() bool {
	return s.NotAccepted == 0 && s.Unfinished == 0 && s.Unexpected == 0 && s.Check.OK()
}

func cmpOr[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

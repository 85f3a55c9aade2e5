package scalebench

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"orderflow.dev/knlocal/serving"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/profile"
)

// Results is the results file.
type Results struct {
	Date     string `json:"date"`
	Broker   string `json:"broker"`
	Database string `json:"database"`
	// PostgresSettings are the server's durability settings (a figure
	// measured with fsync off is not one for production).
	PostgresSettings string `json:"postgresSettings"`
	// Partitions of every domain topic (0: the manifests' own).
	Partitions int    `json:"partitions"`
	Cores      int    `json:"cores"`
	Note       string `json:"note"`

	ColdStart ColdStart    `json:"coldStart"`
	Replicas  []ReplicaRow `json:"replicas"`
	Run       RunResult    `json:"run"`
}

// machineNote goes into every results file beside the figures.
const machineNote = "one machine shared with other agents' builds and tests: the CPU figures of the whole machine (/proc/stat, by command) include their work, and a figure varies from run to run; the topology's own processes (the plane and every replica) are measured apart"

// OK is true when every burst's invariants held and every order ended as
// its kind predicts.
func (r Results) OK() bool {
	if !r.ColdStart.InvariantsOK || !r.Run.InvariantsOK {
		return false
	}
	for _, row := range r.Replicas {
		if !row.InvariantsOK {
			return false
		}
	}
	return true
}

// Spread summarises durations: how many, the nearest-rank p50 and p99, the
// largest, and each (milliseconds, in the order they were measured).
type Spread struct {
	N         int       `json:"n"`
	P50Ms     float64   `json:"p50Millis"`
	P99Ms     float64   `json:"p99Millis"`
	MaxMs     float64   `json:"maxMillis"`
	SamplesMs []float64 `json:"samplesMillis"`
}

// SpreadOf summarises d (left as it is).
func SpreadOf(d []time.Duration) Spread {
	s := Spread{N: len(d), SamplesMs: make([]float64, len(d))}
	for i, x := range d {
		s.SamplesMs[i] = millis(x)
	}
	sorted := demo.SortDurations(slices.Clone(d))
	s.P50Ms, s.P99Ms, s.MaxMs = millis(demo.Percentile(sorted, 50)), millis(demo.Percentile(sorted, 99)), millis(demo.Percentile(sorted, 100))
	return s
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// NewColdStarts are the cold starts a service recorded between two of its
// statuses: ColdStarts counts them all, Recent keeps the latest durations.
func NewColdStarts(before, after serving.Status) []time.Duration {
	n := after.ColdStarts - before.ColdStarts
	if n <= 0 {
		return nil
	}
	n = min(n, int64(len(after.Recent)))
	return slices.Clone(after.Recent[int64(len(after.Recent))-n:])
}

// ColdStart is the first phase: every function let go to zero, then woken
// by one order, WakeUps times.
type ColdStart struct {
	StableWindowMs float64 `json:"stableWindowMillis"`
	WakeUps        int     `json:"wakeUps"`
	// Functions: per function, each delivery that found it at zero, from
	// its arrival to a ready replica taking it (serving.Status.Recent).
	Functions map[string]Spread `json:"functions"`
	// Missing counts, per function, the wake-ups after which it recorded
	// no cold start (an order that never reached it).
	Missing map[string]int `json:"missing,omitempty"`
	// FirstOrder is the waking order's placement -> outcome, every
	// function at zero when it was placed.
	FirstOrder   Spread `json:"firstOrder"`
	InvariantsOK bool   `json:"invariantsOK"`
}

// Burst is what a burst of orders came to: orders ended per second from
// the first placement to the last outcome, placement -> outcome latency,
// and whether the invariants held and every order ended as its kind
// predicts.
type Burst struct {
	Orders         int                `json:"orders"`
	EndedPerSecond float64            `json:"endedPerSecond"`
	LatencyMs      map[string]float64 `json:"latencyMillis"`
	InvariantsOK   bool               `json:"invariantsOK"`
	// Retried counts the KafkaSources' delivery attempts beyond the first
	// (a function answered an error: a deadlock, a replica gone) over
	// the burst and its settling.
	Retried uint64 `json:"deliveriesRetried"`
	// Deadlocks is what PostgreSQL counted in the database over the same
	// time (pg_stat_database: every schema of it, so another user's work
	// in the same database counts too); -1 if it could not be read.
	Deadlocks int64 `json:"postgresDeadlocks"`
}

func burstOf(res demo.Result) Burst {
	return Burst{Orders: res.Orders, EndedPerSecond: res.Throughput, LatencyMs: res.Latency, InvariantsOK: res.OK()}
}

// ReplicaRow is one burst at a fixed number of replicas of every function.
type ReplicaRow struct {
	Replicas int `json:"replicas"`
	Burst
	// VersusFirst is EndedPerSecond over the first row's, Ideal what it
	// would be if throughput grew with the replicas.
	VersusFirst float64 `json:"versusFirst"`
	Ideal       float64 `json:"ideal"`
	// CPUMsPerOrder and CoresBusy are the topology's processes (the
	// plane, with the broker and the load generator, and every replica);
	// Machine* the whole machine's, PostgreSQL included.
	CPUMsPerOrder     float64 `json:"cpuMillisPerOrder"`
	CoresBusy         float64 `json:"coresBusy"`
	MachineMsPerOrder float64 `json:"machineCPUMillisPerOrder"`
	MachineCoresBusy  float64 `json:"machineCoresBusy"`
	// ByProcess is CPU ms per order of the plane and of each function,
	// its replicas together.
	ByProcess map[string]float64 `json:"byProcessMillisPerOrder"`
	// LoadBefore and LoadAfter are /proc/loadavg around the burst: what
	// else the machine was doing.
	LoadBefore string             `json:"loadBefore"`
	LoadAfter  string             `json:"loadAfter"`
	CPU        *profile.CPUReport `json:"cpu,omitempty"`
	// PlaneProfile is the plane's CPU profile over the burst (--profile).
	PlaneProfile string `json:"planeProfile,omitempty"`
}

// ByFunction adds up the CPU per order of a function's replicas (name,
// name#2, ...), the plane apart.
func ByFunction(procs []profile.ProcessCPU) map[string]float64 {
	out := map[string]float64{}
	for _, p := range procs {
		name, _, _ := strings.Cut(p.Name, "#")
		out[name] += p.MsPerOrder
	}
	return out
}

// RunResult is the idle -> burst -> idle run.
type RunResult struct {
	StableWindowMs float64 `json:"stableWindowMillis"`
	SampleMs       float64 `json:"sampleMillis"`
	IdleMs         float64 `json:"idleMillis"`
	// Scale is each function's settings in the run: its func.yaml's,
	// with --scale and --target over them.
	Scale map[string]serving.Scale `json:"scale"`
	Burst
	// BurstStart, BurstEnd and BackAtMin are seconds on the run's clock
	// (0 when the plane was up): the first placement, the last outcome,
	// and from when every function stayed at its minimum (-1: not seen).
	BurstStart float64        `json:"burstStartSeconds"`
	BurstEnd   float64        `json:"burstEndSeconds"`
	BackAtMin  float64        `json:"backAtMinSeconds"`
	Peak       map[string]int `json:"peakReplicas"`
	Samples    []Sample       `json:"samples"`
	// Throughput is orders ended per second, a point a second.
	Throughput []Point           `json:"throughput"`
	Steps      map[string][]Step `json:"steps"`
	Mins       map[string]int    `json:"mins"`
	// Ended is when each order ended, on the run's clock.
	Ended []float64 `json:"-"`
}

// Sample is the replicas of every function at one moment of the run.
type Sample struct {
	Seconds  float64        `json:"t"`
	Replicas map[string]int `json:"replicas"` // live: starting and ready, not draining
	Ready    map[string]int `json:"ready"`
}

// Point is one value at a moment of the run (seconds).
type Point struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// Step is one scaling step of a function, on the run's clock.
type Step struct {
	T        float64 `json:"t"`
	From, To int
	Why      string `json:"why"`
}

// StepsOf are a service's scaling steps since start, on the run's clock.
func StepsOf(events []serving.Event, start time.Time) []Step {
	var out []Step
	for _, e := range events {
		if e.At.Before(start) {
			continue
		}
		out = append(out, Step{T: e.At.Sub(start).Seconds(), From: e.From, To: e.To, Why: e.Why})
	}
	return out
}

// ReplicaSeries is each function's live replicas at every sample.
func ReplicaSeries(samples []Sample) map[string][]Point {
	out := map[string][]Point{}
	for _, s := range samples {
		for name, n := range s.Replicas {
			out[name] = append(out[name], Point{T: s.Seconds, V: float64(n)})
		}
	}
	return out
}

// Peaks is each function's most live replicas over the samples.
func Peaks(samples []Sample) map[string]int {
	out := map[string]int{}
	for _, s := range samples {
		for name, n := range s.Replicas {
			out[name] = max(out[name], n)
		}
	}
	return out
}

// Throughput counts the orders ended (at seconds on the run's clock) in
// each bucket of the run from 0 to until, as orders per second, a point
// at each bucket's start; an ending after until lengthens the series.
func Throughput(ended []float64, bucket, until float64) []Point {
	if bucket <= 0 {
		return nil
	}
	n := int(math.Ceil(until / bucket))
	counts := make([]int, max(n, 0))
	for _, t := range ended {
		if t < 0 {
			continue
		}
		i := int(t / bucket)
		for len(counts) <= i {
			counts = append(counts, 0)
		}
		counts[i]++
	}
	out := make([]Point, len(counts))
	for i, c := range counts {
		out[i] = Point{T: float64(i) * bucket, V: float64(c) / bucket}
	}
	return out
}

// BackAtMin is the first sample at or after from from which every
// function stays at its minimum to the last sample; false if the last
// sample has one above it.
func BackAtMin(samples []Sample, mins map[string]int, from float64) (float64, bool) {
	at, ok := 0.0, false
	for _, s := range samples {
		if s.Seconds < from {
			continue
		}
		atMin := true
		for name, n := range s.Replicas {
			if n > mins[name] {
				atMin = false
			}
		}
		switch {
		case !atMin:
			ok = false
		case !ok:
			at, ok = s.Seconds, true
		}
	}
	return at, ok
}

// Stepped turns samples of a count into the corners of a step line: the
// count holds until the next sample.
func Stepped(pts []Point) []Point {
	if len(pts) == 0 {
		return nil
	}
	out := []Point{pts[0]}
	for _, p := range pts[1:] {
		if last := out[len(out)-1]; p.V != last.V {
			out = append(out, Point{T: p.T, V: last.V})
		}
		out = append(out, p)
	}
	return out
}

// Print writes the summary tables.
func (r Results) Print(w io.Writer) {
	fmt.Fprintf(w, "\n%s, %s; %d cores (%s)\n", r.Broker, r.Database, r.Cores, r.Note)
	c := r.ColdStart
	fmt.Fprintf(w, "\ncold start: a delivery at zero until a ready replica takes it, over %d wake-ups (stable window %s)\n",
		c.WakeUps, time.Duration(c.StableWindowMs*float64(time.Millisecond)))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "function\tcold starts\tp50 ms\tp99 ms\tmax ms\tmissed\t")
	for _, name := range slices.Sorted(maps.Keys(c.Functions)) {
		s := c.Functions[name]
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%d\t\n", name, s.N, s.P50Ms, s.P99Ms, s.MaxMs, c.Missing[name])
	}
	fmt.Fprintf(tw, "first order after all at zero\t%d\t%.1f\t%.1f\t%.1f\t\t\n", c.FirstOrder.N, c.FirstOrder.P50Ms, c.FirstOrder.P99Ms, c.FirstOrder.MaxMs)
	_ = tw.Flush()

	if len(r.Replicas) > 0 {
		fmt.Fprintf(w, "\nburst of %d orders at fixed replicas of every function (%d partitions per domain topic):\n", r.Replicas[0].Orders, r.Partitions)
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "replicas\tended/s\tvs first\tideal\tp50 ms\tp99 ms\tCPU ms/order\tcores busy\tmachine ms/order\tmachine busy\tretried\tdeadlocks\tinvariants\t")
		for _, row := range r.Replicas {
			fmt.Fprintf(tw, "%d\t%.1f\t%.2fx\t%.0fx\t%.0f\t%.0f\t%.1f\t%.2f\t%.1f\t%.2f of %d\t%d\t%d\t%v\t\n", row.Replicas, row.EndedPerSecond, row.VersusFirst, row.Ideal,
				row.LatencyMs["p50"], row.LatencyMs["p99"], row.CPUMsPerOrder, row.CoresBusy, row.MachineMsPerOrder, row.MachineCoresBusy, r.Cores,
				row.Retried, row.Deadlocks, row.InvariantsOK)
		}
		_ = tw.Flush()
		fmt.Fprintln(w, "CPU ms per order by process (a function's replicas together) and, on the machine, by command:")
		for _, row := range r.Replicas {
			var parts []string
			for _, name := range slices.Sorted(maps.Keys(row.ByProcess)) {
				parts = append(parts, fmt.Sprintf("%s %.1f", name, row.ByProcess[name]))
			}
			line := fmt.Sprintf("  %d: %s", row.Replicas, strings.Join(parts, ", "))
			if row.CPU != nil && row.CPU.Machine != nil {
				var cmds []string
				for i, cmd := range row.CPU.Machine.ByCommand {
					if i == 5 {
						break
					}
					cmds = append(cmds, fmt.Sprintf("%s %.1f", cmd.Command, cmd.MsPerOrder))
				}
				line += "; machine: " + strings.Join(cmds, ", ")
			}
			fmt.Fprintln(w, line)
		}
	}

	run := r.Run
	fmt.Fprintf(w, "\nidle -> burst of %d -> idle (stable window %s): %.1f orders/s, p50 %.0f ms, p99 %.0f ms, %d deliveries retried, %d deadlocks, invariants %v\n",
		run.Orders, time.Duration(run.StableWindowMs*float64(time.Millisecond)), run.EndedPerSecond, run.LatencyMs["p50"], run.LatencyMs["p99"],
		run.Retried, run.Deadlocks, run.InvariantsOK)
	var peaks []string
	for _, name := range slices.Sorted(maps.Keys(run.Peak)) {
		peaks = append(peaks, fmt.Sprintf("%s %d (scale %d..%s)", name, run.Peak[name], run.Scale[name].Min, maxWord(run.Scale[name].Max)))
	}
	fmt.Fprintf(w, "  peak replicas: %s\n", strings.Join(peaks, ", "))
	if run.BackAtMin >= 0 {
		fmt.Fprintf(w, "  burst %.1fs -> %.1fs; every function back at its minimum at %.1fs (%.1fs after the last order ended)\n",
			run.BurstStart, run.BurstEnd, run.BackAtMin, run.BackAtMin-run.BurstEnd)
	} else {
		fmt.Fprintf(w, "  burst %.1fs -> %.1fs; not every function was back at its minimum when sampling stopped\n", run.BurstStart, run.BurstEnd)
	}
}

func maxWord(n int) string {
	if n == 0 {
		return "unbounded"
	}
	return fmt.Sprint(n)
}

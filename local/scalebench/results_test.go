package scalebench

import (
	"bytes"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/serving"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/profile"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, x := range n {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// Nearest rank: of five, p50 is the third and p99 the fifth; of two
// hundred, p99 is the 198th; the samples stay in the order measured.
func TestSpreadOfTakesNearestRankPercentiles(t *testing.T) {
	s := SpreadOf(ms(90, 10, 50, 30, 70))
	if s.N != 5 || s.P50Ms != 50 || s.P99Ms != 90 || s.MaxMs != 90 || !slices.Equal(s.SamplesMs, []float64{90, 10, 50, 30, 70}) {
		t.Fatalf("%+v", s)
	}
	var many []time.Duration
	for i := 200; i >= 1; i-- {
		many = append(many, time.Duration(i)*time.Millisecond)
	}
	s = SpreadOf(many)
	if s.N != 200 || s.P50Ms != 100 || s.P99Ms != 198 || s.MaxMs != 200 || s.SamplesMs[0] != 200 {
		t.Fatalf("p50 %v p99 %v max %v first %v", s.P50Ms, s.P99Ms, s.MaxMs, s.SamplesMs[0])
	}
	if s := SpreadOf(ms(1500)); s.P50Ms != 1500 || s.P99Ms != 1500 {
		t.Fatalf("one sample: %+v", s)
	}
	if s := SpreadOf(nil); s.N != 0 || s.P50Ms != 0 || len(s.SamplesMs) != 0 {
		t.Fatalf("none: %+v", s)
	}
	if s := SpreadOf([]time.Duration{1500 * time.Microsecond}); s.P50Ms != 1.5 {
		t.Fatalf("sub-millisecond precision lost: %+v", s)
	}
}

// The cold starts between two statuses are the last ones Recent holds,
// as many as the count grew, never more than Recent has.
func TestNewColdStartsAreTheGrowthOfTheCount(t *testing.T) {
	before := serving.Status{ColdStarts: 2, Recent: ms(40, 50)}
	for _, tc := range []struct {
		name  string
		after serving.Status
		want  []time.Duration
	}{
		{"none", serving.Status{ColdStarts: 2, Recent: ms(40, 50)}, nil},
		{"one", serving.Status{ColdStarts: 3, Recent: ms(40, 50, 61)}, ms(61)},
		{"two", serving.Status{ColdStarts: 4, Recent: ms(40, 50, 61, 72)}, ms(61, 72)},
		// Recent keeps the last 1000: the count may outrun it.
		{"trimmed", serving.Status{ColdStarts: 1009, Recent: ms(8, 9)}, ms(8, 9)},
		{"restarted", serving.Status{ColdStarts: 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewColdStarts(before, tc.after); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestThroughputCountsOrdersEndedPerBucket(t *testing.T) {
	ended := []float64{0.1, 0.9, 1.0, 1.5, 3.99, -0.5}
	got := Throughput(ended, 1, 5)
	want := []Point{{0, 2}, {1, 2}, {2, 0}, {3, 1}, {4, 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Half-second buckets count per second; an ending past until
	// lengthens the series.
	got = Throughput([]float64{0.2, 0.3, 1.6}, 0.5, 1)
	want = []Point{{0, 4}, {0.5, 0}, {1, 0}, {1.5, 2}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := Throughput(nil, 1, 0); len(got) != 0 {
		t.Fatalf("nothing ended in no time: %v", got)
	}
	if got := Throughput(ended, 0, 5); got != nil {
		t.Fatalf("no bucket: %v", got)
	}
}

func sample(at float64, replicas map[string]int) Sample {
	return Sample{Seconds: at, Replicas: replicas, Ready: maps.Clone(replicas)}
}

func TestSeriesPeaksAndTheReturnToTheMinimum(t *testing.T) {
	samples := []Sample{
		sample(0, map[string]int{"order": 1, "payment": 1}),
		sample(1, map[string]int{"order": 0, "payment": 1}),
		sample(2, map[string]int{"order": 0, "payment": 1}),
		sample(3, map[string]int{"order": 3, "payment": 2}),
		sample(4, map[string]int{"order": 2, "payment": 1}),
		sample(5, map[string]int{"order": 0, "payment": 1}),
		sample(6, map[string]int{"order": 0, "payment": 1}),
	}
	if got := Peaks(samples); !maps.Equal(got, map[string]int{"order": 3, "payment": 2}) {
		t.Fatalf("peaks %v", got)
	}
	series := ReplicaSeries(samples)
	if len(series["order"]) != 7 || series["order"][3] != (Point{3, 3}) || series["payment"][6] != (Point{6, 1}) {
		t.Fatalf("series %v", series)
	}
	mins := map[string]int{"order": 0, "payment": 1}
	// Before the burst both sat at their minimum from 1s; after it, from 5s.
	if at, ok := BackAtMin(samples, mins, 0); !ok || at != 5 {
		t.Fatalf("back at min from 0: %v %v", at, ok)
	}
	if at, ok := BackAtMin(samples[:3], mins, 0); !ok || at != 1 {
		t.Fatalf("back at min before the burst: %v %v", at, ok)
	}
	if _, ok := BackAtMin(samples[:5], mins, 3); ok {
		t.Fatal("still above the minimum at the last sample, yet reported back")
	}
	if _, ok := BackAtMin(samples, mins, 7); ok {
		t.Fatal("no sample after the burst, yet reported back")
	}
}

func TestSteppedHoldsEachCountUntilTheNextSample(t *testing.T) {
	got := Stepped([]Point{{0, 1}, {1, 1}, {2, 3}, {3, 0}})
	want := []Point{{0, 1}, {1, 1}, {2, 1}, {2, 3}, {3, 3}, {3, 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if Stepped(nil) != nil {
		t.Fatal("nothing to step")
	}
}

func TestByFunctionAddsUpReplicas(t *testing.T) {
	got := ByFunction([]profile.ProcessCPU{{Name: "plane", MsPerOrder: 9}, {Name: "order", MsPerOrder: 2}, {Name: "order#2", MsPerOrder: 1.5},
		{Name: "order#3", MsPerOrder: 0.5}, {Name: "payment", MsPerOrder: 3}})
	if !maps.Equal(got, map[string]float64{"plane": 9, "order": 4, "payment": 3}) {
		t.Fatalf("%v", got)
	}
}

func TestStepsOfAreOnTheRunsClock(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	steps := StepsOf([]serving.Event{
		{At: start.Add(-time.Second), From: 0, To: 1, Why: "before the run"},
		{At: start.Add(1500 * time.Millisecond), From: 1, To: 0, Why: "idle"},
		{At: start.Add(4 * time.Second), From: 0, To: 1, Why: "activator"},
	}, start)
	want := []Step{{T: 1.5, From: 1, To: 0, Why: "idle"}, {T: 4, From: 0, To: 1, Why: "activator"}}
	if !reflect.DeepEqual(steps, want) {
		t.Fatalf("got %+v, want %+v", steps, want)
	}
}

// func.yaml's settings, then --scale's bounds ("*" then the function's
// own), then --target; Knative's defaults for what is left.
func TestRunScalesLayerTheOverrides(t *testing.T) {
	own := map[string]serving.Scale{
		"order":   {Min: 1, Max: 4, Metric: serving.MetricRPS, Target: 50},
		"payment": {},
		"notify":  {Max: 2},
	}
	overrides := map[string]serving.Scale{"*": {Min: 0, Max: 3}, "payment": {Min: 2, Max: 2}}
	got := RunScales(own, overrides, 0)
	want := map[string]serving.Scale{
		"order":   {Min: 0, Max: 3, Metric: serving.MetricRPS, Target: 50, Utilization: serving.DefaultUtilization},
		"payment": {Min: 2, Max: 2, Metric: serving.MetricConcurrency, Target: serving.DefaultTarget, Utilization: serving.DefaultUtilization},
		"notify":  {Min: 0, Max: 3, Metric: serving.MetricConcurrency, Target: serving.DefaultTarget, Utilization: serving.DefaultUtilization},
	}
	if !maps.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	got = RunScales(own, nil, 4)
	if o := got["order"]; o.Min != 1 || o.Max != 4 || o.Metric != serving.MetricConcurrency || o.Target != 4 {
		t.Fatalf("--target 4 over order's rps 50: %+v", o)
	}
	if n := got["notify"]; n.Max != 2 || n.Target != 4 {
		t.Fatalf("notify: %+v", n)
	}
}

func TestBurstSpanIsTheFirstPlacementToTheLastOutcome(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	orders := []demo.OrderResult{{PlacedAt: start.Add(3 * time.Second)}, {PlacedAt: start.Add(2500 * time.Millisecond)}, {}}
	first, last := burstSpan(orders, []float64{4, 6.5, 5}, start)
	if first != 2.5 || last != 6.5 {
		t.Fatalf("%v -> %v", first, last)
	}
}

func TestResultsOKOnlyWhenEveryPhaseHeld(t *testing.T) {
	held := Burst{InvariantsOK: true}
	r := Results{ColdStart: ColdStart{InvariantsOK: true}, Run: RunResult{Burst: held},
		Replicas: []ReplicaRow{{Burst: held}, {Burst: held}}}
	if !r.OK() {
		t.Fatal("all held, yet not OK")
	}
	r.Replicas[1].InvariantsOK = false
	if r.OK() {
		t.Fatal("a burst failed, yet OK")
	}
	r.Replicas[1].InvariantsOK, r.ColdStart.InvariantsOK = true, false
	if r.OK() {
		t.Fatal("a wake-up failed, yet OK")
	}
}

func runResult() RunResult {
	samples := []Sample{
		sample(0, map[string]int{"order": 1, "payment": 1}),
		sample(2, map[string]int{"order": 0, "payment": 0}),
		sample(4, map[string]int{"order": 2, "payment": 1}),
		sample(6, map[string]int{"order": 1, "payment": 1}),
		sample(9, map[string]int{"order": 0, "payment": 0}),
	}
	return RunResult{StableWindowMs: 2000, SampleMs: 250, Burst: Burst{Orders: 10, EndedPerSecond: 4, LatencyMs: map[string]float64{"p50": 300, "p99": 800}},
		BurstStart: 3.5, BurstEnd: 6, Samples: samples, Peak: Peaks(samples),
		Scale:      map[string]serving.Scale{"order": {Max: 0}, "payment": {Min: 0, Max: 2}},
		Throughput: Throughput([]float64{3.8, 4.2, 4.5, 5, 5.5, 5.9}, 1, 9), BackAtMin: 9}
}

func TestPlotDrawsTheRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), PictureFile)
	if err := Plot(runResult(), path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if s := img.Bounds().Size(); s.X < 1000 || s.Y < 600 {
		t.Fatalf("picture %v", s)
	}
	if err := Plot(RunResult{}, path); err == nil || !strings.Contains(err.Error(), "no sample") {
		t.Fatalf("an empty run drawn: %v", err)
	}
}

func TestPrintSaysEveryPhase(t *testing.T) {
	r := Results{Broker: "embedded kfake", Database: "PostgreSQL", Cores: 2, Note: machineNote, Partitions: 12,
		ColdStart: ColdStart{WakeUps: 2, StableWindowMs: 1000, Functions: map[string]Spread{"order": SpreadOf(ms(40, 60))},
			FirstOrder: SpreadOf(ms(200, 250)), InvariantsOK: true},
		Replicas: []ReplicaRow{
			{Replicas: 1, Burst: Burst{Orders: 100, EndedPerSecond: 100, InvariantsOK: true}, VersusFirst: 1, Ideal: 1, ByProcess: map[string]float64{"order": 2}},
			{Replicas: 2, Burst: Burst{Orders: 100, EndedPerSecond: 90, InvariantsOK: true}, VersusFirst: 0.9, Ideal: 2},
		},
		Run: runResult(),
	}
	var out strings.Builder
	r.Print(&out)
	for _, want := range []string{"2 wake-ups", "first order after all at zero", "60.0", "0.90x", "2x", "order 2.0",
		"peak replicas: order 2 (scale 0..unbounded), payment 1 (scale 0..2)", "back at its minimum at 9.0s (3.0s after the last order ended)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

package e2e

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/scalebench"
	"orderflow.dev/shared/store/storetest"
)

// orderflow scalebench, small, on PostgreSQL: two wake-ups from zero give
// every function two cold starts and the waking order its time; a burst
// at 1 and at 2 replicas of every function ends every order with the
// invariants held and counts each replica's CPU; the idle -> burst ->
// idle run, with the functions' func.yaml scale, sees each at its
// minimum, up for the burst and back, and draws it; --profile leaves the
// plane's CPU profile of each burst. (Named for `go test -run
// 'ScaleToZero|Replica'`.) It ran nowhere in make test until 2026-12-05:
// the SQLite run failed it for want of PostgreSQL, the Kafka run skipped
// it.
func TestScaleToZeroAndReplicasMeasuredByScalebench(t *testing.T) {
	// Its topologies are its own, on the embedded broker, whichever
	// broker the suite runs on; make e2e (SQLite) skips it, test-real
	// runs it (as the contention test's embedded half).
	needPostgres(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "results")
	cmd := exec.Command(binary, "scalebench", "--database-url", storetest.PostgresURL(), "--wake-ups", "2", "--burst", "30", "--replicas", "1,2",
		"--cold-window", "1s", "--stable-window", "2s", "--idle", "1s", "--sample", "100ms", "--state-dir", filepath.Join(dir, "state"), "--out", out, "--profile", filepath.Join(dir, "profiles"))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = testWriter{t}, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("orderflow scalebench: %v\nstderr:\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(filepath.Join(out, scalebench.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var res scalebench.Results
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%s: %v", scalebench.ResultsFile, err)
	}
	if !res.OK() {
		t.Errorf("invariants: cold %v, bursts %+v, run %v", res.ColdStart.InvariantsOK, res.Replicas, res.Run.InvariantsOK)
	}

	c := res.ColdStart
	for _, name := range fnserve.Names() {
		s := c.Functions[name]
		if s.N < 2 || s.P50Ms <= 0 || s.P99Ms < s.P50Ms || c.Missing[name] != 0 {
			t.Errorf("cold starts of %s: %+v (missed %d), want one per wake-up at least", name, s, c.Missing[name])
		}
	}
	if c.FirstOrder.N != 2 || c.FirstOrder.P50Ms <= 0 {
		t.Errorf("first order after all at zero: %+v, want two", c.FirstOrder)
	}

	if len(res.Replicas) != 2 || res.Replicas[0].Replicas != 1 || res.Replicas[1].Replicas != 2 {
		t.Fatalf("bursts: %+v, want at 1 and 2 replicas", res.Replicas)
	}
	for _, row := range res.Replicas {
		if row.Orders != 30 || row.EndedPerSecond <= 0 || row.CPUMsPerOrder <= 0 || row.CPU == nil || row.Deadlocks < 0 {
			t.Errorf("burst at %d: %+v", row.Replicas, row)
			continue
		}
		// Every replica of every function was measured: the plane and
		// replicas x functions processes, none missed.
		if want := 1 + row.Replicas*len(fnserve.Names()); len(row.CPU.Processes) != want {
			t.Errorf("burst at %d: CPU of %d processes, want %d", row.Replicas, len(row.CPU.Processes), want)
		}
		for _, p := range row.CPU.Processes {
			if p.Note != "" {
				t.Errorf("burst at %d: %s: %s", row.Replicas, p.Name, p.Note)
			}
		}
		// The plane's CPU profile over the burst: a gzipped pprof.
		if prof, err := os.ReadFile(row.PlaneProfile); err != nil || !bytes.HasPrefix(prof, []byte{0x1f, 0x8b}) {
			t.Errorf("burst at %d: plane profile %q: %d bytes, %v", row.Replicas, row.PlaneProfile, len(prof), err)
		}
		for _, name := range fnserve.Names() {
			if row.ByProcess[name] <= 0 {
				t.Errorf("burst at %d: no CPU for %s (%v)", row.Replicas, name, row.ByProcess)
			}
		}
	}

	run := res.Run
	ended := 0.0
	for _, p := range run.Throughput {
		ended += p.V // one-second buckets: orders
	}
	if int(ended) != 30 {
		t.Errorf("the run's throughput series counts %v orders ended, want 30", ended)
	}
	if len(run.Samples) < 10 || run.BurstEnd <= run.BurstStart || run.BackAtMin < run.BurstEnd {
		t.Fatalf("run: %d samples, burst %.1f -> %.1f, back at min %.1f", len(run.Samples), run.BurstStart, run.BurstEnd, run.BackAtMin)
	}
	for _, name := range fnserve.Names() {
		// At its minimum while idle before the burst, up for it, back at
		// its minimum at the end; one that may go to zero went there and
		// came back (func.yaml: notify and analytics).
		least := run.Mins[name]
		var idleBefore, upDuring bool
		for _, s := range run.Samples {
			switch n := s.Replicas[name]; {
			case s.Seconds < run.BurstStart && n == least:
				idleBefore = true
			case s.Seconds >= run.BurstStart && s.Seconds <= run.BurstEnd && n > 0:
				upDuring = true
			}
		}
		last := run.Samples[len(run.Samples)-1].Replicas[name]
		if least != run.Scale[name].Min || !idleBefore || !upDuring || last != least || run.Peak[name] < max(1, least) {
			t.Errorf("%s: min %d (scale %+v), at it before the burst %v, up during it %v, %d at the end, peak %d",
				name, least, run.Scale[name], idleBefore, upDuring, last, run.Peak[name])
		}
		if least == 0 && len(run.Steps[name]) < 2 {
			t.Errorf("%s: scaling steps %+v, want to zero and back at least", name, run.Steps[name])
		}
	}
	zeroes := 0
	for _, m := range run.Mins {
		if m == 0 {
			zeroes++
		}
	}
	if zeroes == 0 {
		t.Errorf("no function may scale to zero in the run (mins %v): the run shows no wake-up", run.Mins)
	}

	pic, err := os.ReadFile(filepath.Join(out, scalebench.PictureFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(pic)); err != nil {
		t.Fatalf("%s: %v", scalebench.PictureFile, err)
	}
}

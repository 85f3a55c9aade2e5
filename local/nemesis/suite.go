package nemesis

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Seeds are the seeds of runs from the first: first, first+1, ... so
// run k of a suite is replayed alone by its own seed.
func Seeds(first uint64, runs int) []uint64 {
	out := make([]uint64, runs)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

// DryRun prints the schedule each seed draws for cfg's topology, without
// running anything.
func DryRun(w io.Writer, cfg Config, seeds []uint64) error {
	topo, err := TopologyOf(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "nemesis: faults drawn: %s%s\n", kindList(topo.Kinds()), topo.linkWords())
	for _, seed := range seeds {
		s, err := Generate(seed, topo, cfg.Params())
		if err != nil {
			return err
		}
		fmt.Fprint(w, s)
	}
	return nil
}

// Suite runs one schedule per seed, each on a fresh topology, and writes
// each run's result (JSON) and picture (PNG) into resultsDir. A failing
// run keeps its state directory (logs, stores) and prints replay(seed),
// the command that runs it again; a passing run's state directory is
// removed.
func Suite(ctx context.Context, cfg Config, seeds []uint64, resultsDir string, replay func(seed uint64) string) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(resultsDir, 0o755); err != nil {
		return nil, err
	}
	topo, err := TopologyOf(cfg)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "nemesis: %d run(s) x %d orders at %.0f/s; faults injected: %s%s\n", len(seeds), cfg.Orders, cfg.Rate, kindList(topo.Kinds()), topo.linkWords())
	var results []Result
	for i, seed := range seeds {
		sched, err := Generate(seed, topo, cfg.Params())
		if err != nil {
			return results, err
		}
		fmt.Fprintf(cfg.Progress, "== run %d/%d: %s", i+1, len(seeds), sched)
		r := Run(ctx, cfg, seed)
		base := filepath.Join(resultsDir, fmt.Sprintf("seed-%d", seed))
		if err := WriteJSON(base+".json", r); err != nil {
			return results, err
		}
		picture := base + ".png"
		if err := Plot(r, picture); err != nil {
			picture = "no picture: " + err.Error()
		}
		results = append(results, r)
		if r.OK() {
			fmt.Fprintf(cfg.Progress, "   PASS seed %d: %d placed, %d confirmed, %d cancelled, %d fault(s) injected (%s); %s.json, %s\n",
				seed, r.Placed, r.Confirmed, r.Cancelled, injectedCount(r.History), r.Took.Round(time.Second), base, picture)
			if err := os.RemoveAll(r.StateDir); err != nil {
				return results, err
			}
			continue
		}
		fmt.Fprintf(cfg.Progress, "   FAIL seed %d", seed)
		if r.Err != "" {
			fmt.Fprintf(cfg.Progress, ": %s", r.Err)
		}
		fmt.Fprintln(cfg.Progress)
		for _, v := range r.Violations {
			fmt.Fprintf(cfg.Progress, "     %s\n", v)
		}
		fmt.Fprintf(cfg.Progress, "   state and logs kept in %s; result %s.json, %s\n   replay: %s\n", r.StateDir, base, picture, replay(seed))
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
	}
	return results, WriteJSON(filepath.Join(resultsDir, "summary.json"), Summarize(cfg, topo.Kinds(), results))
}

// Summary is a suite's results in short, for a results file.
type Summary struct {
	Orders     int          `json:"orders"`
	Rate       float64      `json:"ordersPerSecond"`
	Injectable []Kind       `json:"kindsInjectable"`
	Runs       []RunSummary `json:"runs"`
	Passed     int          `json:"passed"`
	Failed     int          `json:"failed"`
}

// RunSummary is one run in short.
type RunSummary struct {
	Seed uint64 `json:"seed"`
	OK   bool   `json:"ok"`
	Counts
	Faults     []string `json:"faultsInjected"`
	NotDone    []string `json:"faultsNotInjected,omitempty"`
	Violations int      `json:"violations"`
	Error      string   `json:"error,omitempty"`
	Seconds    float64  `json:"seconds"`
}

// Summarize shortens a suite's results; kinds are those the runs could
// draw.
func Summarize(cfg Config, kinds []Kind, results []Result) Summary {
	s := Summary{Orders: cfg.Orders, Rate: cfg.Rate, Injectable: kinds}
	for _, r := range results {
		rs := RunSummary{Seed: r.Seed, OK: r.OK(), Counts: r.Counts,
			Violations: len(r.Violations), Error: r.Err, Seconds: r.Took.Round(time.Second).Seconds()}
		for _, in := range r.History {
			if in.Injected {
				rs.Faults = append(rs.Faults, strings.TrimSpace(in.Fault.String()))
			} else {
				rs.NotDone = append(rs.NotDone, strings.TrimSpace(in.Fault.String())+": "+in.Err)
			}
		}
		if rs.OK {
			s.Passed++
		} else {
			s.Failed++
		}
		s.Runs = append(s.Runs, rs)
	}
	return s
}

func injectedCount(h []Injection) int {
	n := 0
	for _, in := range h {
		if in.Injected {
			n++
		}
	}
	return n
}

func kindList(kinds []Kind) string {
	var s []string
	for _, k := range kinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// linkWords says which links the network faults act on, when they are
// drawn, for the header of a run or a dry run.
func (t Topology) linkWords() string {
	if !slices.ContainsFunc(t.Kinds(), isNetwork) {
		return ""
	}
	var links []string
	if t.BrokerLink {
		links = append(links, "each function's broker link (its K_SINK)")
	}
	if t.Postgres {
		links = append(links, "each function's database link")
	}
	return "; network faults on " + strings.Join(links, " and ")
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"orderflow.dev/local/demo"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/plane"
)

// benchRow is one offered rate's measurements.
type benchRow struct {
	OfferedRate float64            `json:"offeredPerSecond"`
	Orders      int                `json:"orders"`
	Throughput  float64            `json:"endedPerSecond"`
	LatencyMs   map[string]float64 `json:"latencyMillis"`
	OK          bool               `json:"invariantsOK"`
	ReadyMs     map[string]float64 `json:"functionStartToReadyMillis"`
	IdleRSSMiB  map[string]float64 `json:"functionIdleRSSMiB"`
}

func newBench(g *globals) *cobra.Command {
	var (
		rates   []float64
		orders  int
		results string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load generator: saga throughput and latency at fixed offered rates, function start-to-ready and idle memory",
		Long: `bench starts a fresh topology (embedded broker) per offered rate, places --orders
orders at that rate, and reports orders ended per second and placement-to-outcome
latency p50/p90/p99, plus each function's start-to-ready time and its resident
memory once idle. It writes the rows as JSON (--results) and a picture of latency
against offered rate beside it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if orders < 1 {
				return fmt.Errorf("--orders %d: must be at least 1", orders)
			}
			for _, r := range rates {
				if r <= 0 {
					return fmt.Errorf("--rates: %v is not a positive rate", r)
				}
			}
			base, _, closeLog, err := g.freshRun("bench")
			if err != nil {
				return err
			}
			defer closeLog()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var rows []benchRow
			for i, rate := range rates {
				fmt.Printf("== %d/%d: %d orders offered at %.0f/s\n", i+1, len(rates), orders, rate)
				opts := base
				opts.StateDir = filepath.Join(base.StateDir, fmt.Sprint(rate))
				row, err := benchOne(ctx, opts, rate, orders)
				if err != nil {
					return err
				}
				fmt.Printf("   ended %.1f/s, p50 %.0fms p90 %.0fms p99 %.0fms, invariants ok: %v\n", row.Throughput,
					row.LatencyMs["p50"], row.LatencyMs["p90"], row.LatencyMs["p99"], row.OK)
				rows = append(rows, row)
			}
			printBench(rows)
			if results == "" {
				results = filepath.Join(base.StateDir, "bench-results.json")
			}
			b, _ := json.MarshalIndent(rows, "", "  ")
			if err := os.WriteFile(results, b, 0o644); err != nil {
				return err
			}
			picture := strings.TrimSuffix(results, ".json") + ".png"
			var pts []demo.RatePoint
			for _, r := range rows {
				pts = append(pts, demo.RatePoint{Offered: r.OfferedRate, Ended: r.Throughput, P50: r.LatencyMs["p50"], P99: r.LatencyMs["p99"]})
			}
			if err := demo.PlotRates(pts, picture); err != nil {
				return err
			}
			fmt.Printf("results: %s (picture: %s)\n", results, picture)
			for _, r := range rows {
				if !r.OK {
					return fmt.Errorf("invariants violated at %.0f/s", r.OfferedRate)
				}
			}
			return nil
		},
	}
	cmd.Flags().Float64SliceVar(&rates, "rates", []float64{20, 40, 60, 80}, "offered rates, orders per second")
	cmd.Flags().IntVar(&orders, "orders", 600, "orders per rate")
	cmd.Flags().StringVar(&results, "results", "", "write the rows here (default <state-dir>/bench/bench-results.json)")
	return cmd
}

func benchOne(ctx context.Context, opts plane.Options, rate float64, orders int) (benchRow, error) {
	row := benchRow{OfferedRate: rate, Orders: orders, ReadyMs: map[string]float64{}, IdleRSSMiB: map[string]float64{}}
	p, err := plane.Up(ctx, opts)
	if err != nil {
		return row, err
	}
	defer p.Close()
	for n, d := range p.ReadyIn() {
		row.ReadyMs[n] = float64(d.Microseconds()) / 1000
	}
	time.Sleep(2 * time.Second) // idle: nothing delivered yet
	for _, n := range fnserve.Names() {
		if rss, err := p.Process(n).RSS(); err == nil {
			row.IdleRSSMiB[n] = float64(rss) / (1 << 20)
		}
	}
	res, err := demo.Run(ctx, demo.TargetOf(p.Endpoints(), p.Kafka(), true),
		demo.Config{Orders: orders, Concurrency: 16, Rate: rate, Seed: 7, RunID: fmt.Sprintf("bench%.0f", rate), Timeout: 5 * time.Minute, Settle: time.Minute})
	if err != nil {
		return row, err
	}
	row.Throughput, row.LatencyMs, row.OK = res.Throughput, res.Latency, res.OK()
	return row, nil
}

func printBench(rows []benchRow) {
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "offered/s\tended/s\tp50 ms\tp90 ms\tp99 ms\tinvariants\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%.0f\t%.1f\t%.0f\t%.0f\t%.0f\t%v\t\n", r.OfferedRate, r.Throughput, r.LatencyMs["p50"], r.LatencyMs["p90"], r.LatencyMs["p99"], r.OK)
	}
	w.Flush()
	if len(rows) == 0 {
		return
	}
	fmt.Println()
	w = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "function\tstart-to-ready ms\tidle RSS MiB\t")
	names := make([]string, 0, len(rows[0].ReadyMs))
	for n := range rows[0].ReadyMs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%s\t%.0f\t%.1f\t\n", n, rows[0].ReadyMs[n], rows[0].IdleRSSMiB[n])
	}
	w.Flush()
}

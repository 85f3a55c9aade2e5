package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"orderflow.dev/local/broker"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/plane"
)

func newDemo(g *globals) *cobra.Command {
	var (
		up                  upFlags
		orders, concurrency int
		rate                float64
		seed                uint64
		attach              bool
		timeout, settle     time.Duration
		results             string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The main job: start everything, place N varied orders, follow each to its outcome, check the invariants",
		Long: `demo starts the whole topology (embedded Kafka, the eventing stand-in, the five
functions), places --orders orders built to take every path of the saga
(confirmed; cancelled for scarce stock, an unstocked SKU, a declined card, an
amount over the limit), shows progress, then prints the outcomes, throughput,
latency percentiles and the invariant check. It exits non-zero if an invariant
is violated or an order ends other than its kind predicts.

With --attach it drives an orderflow already started by "orderflow up".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if orders < 1 {
				return fmt.Errorf("--orders %d: must be at least 1", orders)
			}
			if concurrency < 1 {
				return fmt.Errorf("--concurrency %d: must be at least 1", concurrency)
			}
			if rate < 0 {
				return fmt.Errorf("--rate %v: must not be negative", rate)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			var ep plane.Endpoints
			var kc sarama.Client
			exclusive := false
			stateDir := g.stateDir
			if attach {
				var err error
				if ep, err = plane.ReadEndpoints(g.stateDir); err != nil {
					return err
				}
				if kc, err = broker.NewClient(ep.Brokers, "orderflow-demo"); err != nil {
					return err
				}
				defer kc.Close()
			} else {
				stateDir = filepath.Join(g.stateDir, "demo")
				opts, err := up.options(g, stateDir, os.Stdout)
				if err != nil {
					return err
				}
				fmt.Println("starting orderflow for the demo...")
				p, err := plane.Up(ctx, opts)
				if err != nil {
					return err
				}
				defer func() {
					fmt.Println("stopping...")
					p.Close()
				}()
				ep, kc, exclusive = p.Endpoints(), p.Kafka(), true
			}

			runID := "demo-" + randomHex(3)
			fmt.Printf("placing %d orders (run %s, seed %d, concurrency %d)\n", orders, runID, seed, concurrency)
			progress := newProgress(orders)
			res, err := demo.Run(ctx, demo.TargetOf(ep, kc, exclusive), demo.Config{Orders: orders, Concurrency: concurrency, Rate: rate, Seed: seed, RunID: runID,
				Timeout: timeout, Settle: settle, Progress: progress.update})
			progress.done()
			if err != nil {
				return err
			}
			res.Print(os.Stdout)
			if results == "" {
				results = filepath.Join(stateDir, "results-"+runID+".json")
			}
			if err := writeResults(results, res); err != nil {
				return err
			}
			picture := strings.TrimSuffix(results, ".json") + ".png"
			if err := demo.Plot(res, picture); err != nil {
				fmt.Printf("no picture: %v\n", err)
				picture = ""
			}
			fmt.Printf("results: %s", results)
			if picture != "" {
				fmt.Printf(" (picture: %s)", picture)
			}
			fmt.Println()
			if !res.OK() {
				return fmt.Errorf("demo failed: invariants or expected outcomes violated (see above)")
			}
			return nil
		},
	}
	up.register(cmd)
	cmd.Flags().IntVar(&orders, "orders", 1000, "how many orders to place")
	cmd.Flags().IntVar(&concurrency, "concurrency", 16, "placements in flight at once")
	cmd.Flags().Float64Var(&rate, "rate", 0, "cap on placements per second (0: no cap)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the order mix")
	cmd.Flags().BoolVar(&attach, "attach", false, "drive an orderflow already running (`orderflow up`) instead of starting one")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for every order's outcome")
	cmd.Flags().DurationVar(&settle, "settle", 30*time.Second, "how long compensations may take before the invariant check is final")
	cmd.Flags().StringVar(&results, "results", "", "write the results JSON here (default <state-dir>/demo/results-<run>.json)")
	return cmd
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeResults(path string, res demo.Result) error {
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

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"orderflow.dev/local/soak"
)

// newSoakReport judges a soak's results file again: its trends, verdicts
// and picture are pure functions of its samples, so a changed judgement
// (or another --warmup) needs no new 10-minute run.
func newSoakReport() *cobra.Command {
	var warmUp time.Duration
	cmd := &cobra.Command{
		Use:   "report RESULTS.json",
		Short: "Judge a soak's results file again: trends, verdicts and picture from its samples",
		Long: `report reads the JSON a soak wrote (--out), works out again how each series
moved from the end of the warm-up to the end of the placing, prints the
trends and the verdicts as the soak does at its end, writes them back into
the file (with when they were judged) and redraws the picture beside it.
--warmup judges from another point than the run's own warm-up.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var r soak.Results
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("%s: not a soak's results file: %w", path, err)
			}
			if len(r.Samples) == 0 {
				return fmt.Errorf("%s: no samples", path)
			}
			placing, err := time.ParseDuration(r.Duration)
			if err != nil {
				return fmt.Errorf("%s: duration %q: %w", path, r.Duration, err)
			}
			if !cmd.Flags().Changed("warmup") {
				if warmUp, err = time.ParseDuration(r.WarmUp); err != nil {
					return fmt.Errorf("%s: warm-up %q: %w", path, r.WarmUp, err)
				}
			}
			if warmUp < 0 || warmUp >= placing {
				return fmt.Errorf("--warmup %s: must be at least 0 and shorter than the run's %s", warmUp, placing)
			}
			r.WarmUp = warmUp.String()
			if r.Trend, err = soak.Trends(r.Samples, warmUp, placing); err != nil {
				return err
			}
			r.Verdicts = soak.Verdicts(r.Trend)
			r.Judged = time.Now().UTC()
			printTrends(r.Trend)
			printVerdicts(r.Verdicts)
			if err := writeResults(path, r); err != nil {
				return err
			}
			picture := strings.TrimSuffix(path, ".json") + ".png"
			if err := soak.Plot(r, warmUp.Minutes(), placing.Minutes(), picture); err != nil {
				return fmt.Errorf("picture: %w", err)
			}
			fmt.Printf("results: %s (picture: %s)\n", path, picture)
			return nil
		},
	}
	cmd.Flags().DurationVar(&warmUp, "warmup", 0, "judge from this point (default: the run's own warm-up)")
	return cmd
}

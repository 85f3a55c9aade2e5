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

// SoakReportOptions are `orderflow soak report`'s, in kubectl's shape (as
// ReplayOptions): the flags as given, Validate refuses a negative
// --warmup, Complete reads the results file (and its warm-up unless
// --warmup is given), Run judges it again.
type SoakReportOptions struct {
	Path   string
	WarmUp time.Duration
	// WarmUpGiven says --warmup was on the command line (0 too);
	// otherwise the run's own warm-up is taken.
	WarmUpGiven bool

	// Completed.
	results soak.Results
	placing time.Duration
}

func (o *SoakReportOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&o.WarmUp, "warmup", 0, "judge from this point (default: the run's own warm-up)")
}

// Validate refuses a warm-up before the run began; one past its end is
// refused once the file says how long it placed orders.
func (o *SoakReportOptions) Validate() error {
	if o.WarmUp < 0 {
		return fmt.Errorf("--warmup %s: must not be negative", o.WarmUp)
	}
	return nil
}

// Complete reads the results file, how long the run placed orders and,
// unless --warmup is given, its warm-up.
func (o *SoakReportOptions) Complete() error {
	b, err := os.ReadFile(o.Path)
	if err != nil {
		return err
	}
	r := &o.results
	if err := json.Unmarshal(b, r); err != nil {
		return fmt.Errorf("%s: not a soak's results file: %w", o.Path, err)
	}
	if len(r.Samples) == 0 {
		return fmt.Errorf("%s: no samples", o.Path)
	}
	if o.placing, err = time.ParseDuration(r.Duration); err != nil {
		return fmt.Errorf("%s: duration %q: %w", o.Path, r.Duration, err)
	}
	if !o.WarmUpGiven {
		if o.WarmUp, err = time.ParseDuration(r.WarmUp); err != nil {
			return fmt.Errorf("%s: warm-up %q: %w", o.Path, r.WarmUp, err)
		}
	}
	if o.WarmUp < 0 || o.WarmUp >= o.placing {
		return fmt.Errorf("--warmup %s: must be at least 0 and shorter than the run's %s", o.WarmUp, o.placing)
	}
	return nil
}

// Run works out the trends and verdicts again, prints them, writes them
// back into the file and redraws the picture beside it.
func (o *SoakReportOptions) Run() (err error) {
	r := o.results
	r.WarmUp = o.WarmUp.String()
	if r.Trend, err = soak.Trends(r.Samples, o.WarmUp, o.placing); err != nil {
		return err
	}
	r.Verdicts = soak.Verdicts(r.Trend)
	r.Judged = time.Now().UTC()
	printTrends(r.Trend)
	printVerdicts(r.Verdicts)
	if err := writeResults(o.Path, r); err != nil {
		return err
	}
	picture := strings.TrimSuffix(o.Path, ".json") + ".png"
	if err := soak.Plot(r, o.WarmUp.Minutes(), o.placing.Minutes(), picture); err != nil {
		return fmt.Errorf("picture: %w", err)
	}
	fmt.Printf("results: %s (picture: %s)\n", o.Path, picture)
	return nil
}

// newSoakReport judges a soak's results file again: its trends, verdicts
// and picture are pure functions of its samples, so a changed judgement
// (or another --warmup) needs no new 10-minute run.
func newSoakReport() *cobra.Command {
	o := &SoakReportOptions{}
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
			o.Path, o.WarmUpGiven = args[0], cmd.Flags().Changed("warmup")
			return runOptions(o.Validate, o.Complete, o.Run)
		},
	}
	o.addFlags(cmd)
	return cmd
}

// Package account counts what one order costs each layer of the saga:
// KafkaSource deliveries and HTTP requests at the plane, requests to Kafka,
// transactions, statements and WAL syncs at PostgreSQL. Each layer is a
// Source of monotonic counters, read at the start and at the end of a
// run's window; the account is the difference, per order ended.
package account

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Source is one layer's counters: names to values that only grow.
type Source interface {
	// Layer names the layer ("plane", "kafka", "postgres").
	Layer() string
	// Read returns the counters now.
	Read(ctx context.Context) (map[string]float64, error)
	// Lag is how long the layer may take to publish what happened
	// (PostgreSQL's statistics reach its views up to 10 s late): the end
	// reading waits that long after the window closes.
	Lag() time.Duration
}

// Ledger reads its sources at Start and at Stop.
type Ledger struct {
	sources       []Source
	before, after map[string]map[string]float64
	errs          []string
}

// New returns a ledger over sources.
func New(sources ...Source) *Ledger { return &Ledger{sources: sources} }

// Start reads every source.
func (l *Ledger) Start(ctx context.Context) { l.before = l.read(ctx) }

// Stop waits out the longest lag, then reads every source again.
func (l *Ledger) Stop(ctx context.Context) {
	var lag time.Duration
	for _, s := range l.sources {
		lag = max(lag, s.Lag())
	}
	if lag > 0 {
		select {
		case <-time.After(lag):
		case <-ctx.Done():
		}
	}
	l.after = l.read(ctx)
}

func (l *Ledger) read(ctx context.Context) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, s := range l.sources {
		v, err := s.Read(ctx)
		if err != nil {
			l.errs = append(l.errs, fmt.Sprintf("%s: %v", s.Layer(), err))
			continue
		}
		out[s.Layer()] = v
	}
	return out
}

// Line is one counter's growth over the window.
type Line struct {
	Layer    string  `json:"layer"`
	Counter  string  `json:"counter"`
	Total    float64 `json:"total"`
	PerOrder float64 `json:"perOrder"`
}

// Report is the account of a window.
type Report struct {
	Orders int      `json:"ordersEnded"`
	Lines  []Line   `json:"lines"`
	Errors []string `json:"errors,omitempty"`
}

// Report computes each counter's growth per order ended, the layers in the
// order the sources were given, counters by name within a layer. A counter
// seen only at the end counts from zero (a statement first run in the
// window).
func (l *Ledger) Report(orders int) Report {
	r := Report{Orders: orders, Errors: slices.Clone(l.errs)}
	for _, s := range l.sources {
		end, ok := l.after[s.Layer()]
		if !ok {
			continue
		}
		begin := l.before[s.Layer()]
		names := make([]string, 0, len(end))
		for n := range end {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			d := end[n] - begin[n]
			if d <= 0 {
				continue
			}
			line := Line{Layer: s.Layer(), Counter: n, Total: d}
			if orders > 0 {
				line.PerOrder = d / float64(orders)
			}
			r.Lines = append(r.Lines, line)
		}
	}
	return r
}

// Print writes the account as a table; counters that grew by less than
// minPerOrder per order (statements run once, idle ticks) are summed into
// one line per layer, so the table shows what each order costs.
func (r Report) Print(w io.Writer, minPerOrder float64) {
	fmt.Fprintf(w, "account of the window, per order ended (%d orders):\n", r.Orders)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tcounter\ttotal\tper order")
	rest := map[string]float64{}
	var restLayers []string
	for _, l := range r.Lines {
		if l.PerOrder < minPerOrder {
			if _, ok := rest[l.Layer]; !ok {
				restLayers = append(restLayers, l.Layer)
			}
			rest[l.Layer] += l.Total
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\n", l.Layer, oneLine(l.Counter, 90), l.Total, l.PerOrder)
	}
	for _, layer := range restLayers {
		per := 0.0
		if r.Orders > 0 {
			per = rest[layer] / float64(r.Orders)
		}
		fmt.Fprintf(tw, "%s\t(the rest, each under %.2f per order)\t%.0f\t%.2f\n", layer, minPerOrder, rest[layer], per)
	}
	_ = tw.Flush()
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  not counted: %s\n", e)
	}
}

// oneLine folds a statement's white space and cuts it to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

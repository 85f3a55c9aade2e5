package soak

import (
	"fmt"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"orderflow.dev/local/demo"
)

// Plot draws the soak as a PNG of six panels against minutes of the run:
// each function's bookkeeping (what pruning bounds), its domain tables per
// ended order, its database size on disk and its resident memory, the
// plane's memory, and each interval's p50 and p99 latency. A dashed line
// marks the end of the warm-up, another the end of the placing.
func Plot(r Results, warmUpMinutes, placingMinutes float64, path string) error {
	if len(r.Samples) == 0 {
		return fmt.Errorf("no sample to plot")
	}
	names := functionNames(r.Samples)
	const mb = 1 << 20
	// value says false for a sample it has no figure in.
	perFunction := func(value func(Function) (float64, bool)) []any {
		var lines []any
		for _, name := range names {
			pts := make(plotter.XYs, 0, len(r.Samples))
			for _, s := range r.Samples {
				if f, ok := s.Functions[name]; ok {
					if y, ok := value(f); ok {
						pts = append(pts, plotter.XY{X: s.Seconds / 60, Y: y})
					}
				}
			}
			lines = append(lines, name, pts)
		}
		return lines
	}
	bookkeeping := newPanel("bookkeeping: processed_events + outbox (pruned)", "MB")
	if err := plotutil.AddLines(bookkeeping, perFunction(func(f Function) (float64, bool) {
		return float64(f.BookkeepingBytes) / mb, len(f.Tables) > 0
	})...); err != nil {
		return err
	}
	perOrder := newPanel("domain tables (the orders) per ended order", "KB")
	if err := plotutil.AddLines(perOrder, perFunction(func(f Function) (float64, bool) {
		return f.DomainBytesPerOrder / 1024, f.DomainBytesPerOrder > 0
	})...); err != nil {
		return err
	}

	db := newPanel("database on disk (files + WALs: grows with the orders)", "MB")
	if err := plotutil.AddLines(db, perFunction(func(f Function) (float64, bool) { return float64(f.DBBytes) / mb, true })...); err != nil {
		return err
	}
	rss := newPanel("resident memory of each function (VmRSS)", "MB")
	if err := plotutil.AddLines(rss, perFunction(func(f Function) (float64, bool) { return float64(f.RSSBytes) / mb, true })...); err != nil {
		return err
	}
	planeTitle := "resident memory of the plane (Kafka outside it)"
	if r.Broker == "embedded" {
		planeTitle = "resident memory of the plane (+ embedded broker's log)"
	}
	for _, s := range r.Samples {
		if s.HarnessRSS > 0 {
			planeTitle += " and of the load generator"
			break
		}
	}
	plane := newPanel(planeTitle, "MB")
	latency := newPanel("placement -> outcome, orders ended in each interval", "milliseconds")
	var planePts, planeLive, harnessPts, p50, p99 plotter.XYs
	for _, s := range r.Samples {
		planePts = append(planePts, plotter.XY{X: s.Seconds / 60, Y: float64(s.PlaneRSS) / mb})
		if s.PlaneGo != nil {
			planeLive = append(planeLive, plotter.XY{X: s.Seconds / 60, Y: float64(s.PlaneGo.HeapLive) / mb})
		}
		if s.HarnessRSS > 0 {
			harnessPts = append(harnessPts, plotter.XY{X: s.Seconds / 60, Y: float64(s.HarnessRSS) / mb})
		}
		if s.EndedPerSecond > 0 {
			p50 = append(p50, plotter.XY{X: s.Seconds / 60, Y: s.P50Millis})
			p99 = append(p99, plotter.XY{X: s.Seconds / 60, Y: s.P99Millis})
		}
	}
	planeLines := []any{"plane", planePts}
	if len(planeLive) > 0 {
		// In-process: the plane's and the load generator's live Go heap.
		planeLines = append(planeLines, "live Go heap (plane + load generator)", planeLive)
	}
	if len(harnessPts) > 0 {
		planeLines = append(planeLines, "load generator (soak's own process)", harnessPts)
	}
	if err := plotutil.AddLines(plane, planeLines...); err != nil {
		return err
	}
	if len(p99) > 0 {
		if err := plotutil.AddLines(latency, "p50", p50, "p99", p99); err != nil {
			return err
		}
	}
	for _, p := range []*plot.Plot{bookkeeping, perOrder, db, rss, plane, latency} {
		p.X.Min, p.Y.Min = 0, 0
		if err := markPhases(p, warmUpMinutes, placingMinutes); err != nil {
			return err
		}
	}
	return demo.SaveGrid(path, vg.Points(1500), vg.Points(820), [][]*plot.Plot{{bookkeeping, perOrder, db}, {rss, plane, latency}})
}

func newPanel(title, unit string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "minutes of the soak"
	p.Y.Label.Text = unit
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	return p
}

// markPhases draws dashed verticals at the end of the warm-up and of the
// placing, once the panel's data has set its height.
func markPhases(p *plot.Plot, warmUp, placing float64) error {
	top := p.Y.Max
	if top <= p.Y.Min {
		top = p.Y.Min + 1
	}
	p.Y.Max = top * 1.3 // room above the lines for the legend
	for _, x := range []float64{warmUp, placing} {
		if x <= 0 {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: top}})
		if err != nil {
			return err
		}
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}
		p.Add(l)
	}
	return nil
}

func functionNames(samples []Sample) []string {
	seen := map[string]bool{}
	for _, s := range samples {
		for name := range s.Functions {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

package nemesis

import (
	"fmt"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"orderflow.dev/local/demo"
)

// Plot draws a run as a PNG: orders placed and ended per second on top,
// the faults as they happened beneath on the same time line (one row
// each, from injection to heal; a fault that was not injected is drawn
// dashed).
func Plot(r Result, path string) error {
	if len(r.Timeline) == 0 {
		return fmt.Errorf("seed %d: no order timeline to plot", r.Seed)
	}
	rate := plot.New()
	rate.Title.Text = fmt.Sprintf("seed %d: %d placed, %d confirmed, %d cancelled, %d violation(s)", r.Seed, r.Placed, r.Confirmed, r.Cancelled, len(r.Violations))
	rate.Y.Label.Text = "orders per second"
	if err := demo.AddTimeline(rate, r.Timeline); err != nil {
		return err
	}

	faults := plot.New()
	faults.X.Label.Text = "second of the run"
	var ticks []plot.Tick
	for i, in := range r.History {
		y := float64(len(r.History) - i)
		from, to := in.Start.Seconds(), in.End.Seconds()
		if !in.Injected {
			from, to = in.Fault.At.Seconds(), in.Fault.Ends().Seconds()
		}
		to = max(to, from+0.2) // an instant fault still shows
		bar, err := plotter.NewLine(plotter.XYs{{X: from, Y: y}, {X: to, Y: y}})
		if err != nil {
			return err
		}
		bar.Width = vg.Points(6)
		bar.Color = plotutil.Color(kindIndex(in.Fault.Kind))
		if !in.Injected {
			bar.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			bar.Width = vg.Points(2)
		}
		faults.Add(bar)
		ticks = append(ticks, plot.Tick{Value: y, Label: faultLabel(in)})
	}
	faults.Y.Tick.Marker = plot.ConstantTicks(ticks)
	faults.Y.Min, faults.Y.Max = 0.5, float64(len(r.History))+0.5
	faults.Add(plotter.NewGrid())
	// One time line for both.
	lo, hi := 0.0, rate.X.Max
	for _, p := range []*plot.Plot{rate, faults} {
		hi = max(hi, p.X.Max)
	}
	rate.X.Min, rate.X.Max, faults.X.Min, faults.X.Max = lo, hi, lo, hi
	height := vg.Points(300 + 18*float64(max(len(r.History), 4)))
	return demo.SaveGrid(path, vg.Points(1000), height, [][]*plot.Plot{{rate}, {faults}})
}

func faultLabel(in Injection) string {
	s := string(in.Fault.Kind)
	if in.Fault.Target != "" {
		s += " " + in.Fault.Target
	}
	if !in.Injected {
		s += " (not injected)"
	}
	return strings.TrimSpace(s)
}

func kindIndex(k Kind) int {
	for i, known := range []Kind{KillFunction, PauseFunction, RestartDispatcher, DuplicateDelivery, RestartBroker, StopDatabase,
		RefuseDeadLetters, NetworkLatency, NetworkReset, NetworkPartition, PingBurst} {
		if k == known {
			return i
		}
	}
	return 0
}

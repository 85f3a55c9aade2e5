package scalebench

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"orderflow.dev/local/demo"
)

// Plot draws the idle -> burst -> idle run as a PNG: above, each
// function's live replicas over the run; below, orders ended per second;
// one time axis, dashed lines where the burst began and its last order
// ended.
func Plot(run RunResult, path string) error {
	if len(run.Samples) == 0 {
		return errors.New("no sample of the run to draw")
	}
	until := run.Samples[len(run.Samples)-1].Seconds
	series := ReplicaSeries(run.Samples)

	replicas := plot.New()
	replicas.Title.Text = fmt.Sprintf("replicas per function (stable window %gs, a sample every %gms; lines drawn a hair apart)", run.StableWindowMs/1000, run.SampleMs)
	replicas.Y.Label.Text = "replicas (starting or ready)"
	replicas.X.Label.Text = "seconds of the run"
	top := 1.0
	replicas.Add(plotter.NewGrid())
	for i, name := range slices.Sorted(maps.Keys(series)) {
		line, err := plotter.NewLine(xys(Stepped(series[name])))
		if err != nil {
			return err
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		// Functions at the same count would hide each other: each is
		// drawn a hair above the last.
		line.XYs = lifted(line.XYs, float64(i)*0.03)
		replicas.Add(line)
		replicas.Legend.Add(fmt.Sprintf("%s (peak %d)", name, run.Peak[name]), line)
		top = max(top, float64(run.Peak[name]))
	}
	replicas.Legend.Top, replicas.Legend.Left = true, false

	ended := plot.New()
	ended.Title.Text = fmt.Sprintf("orders ended per second (burst of %d: %.1f/s, p50 %.0f ms, p99 %.0f ms)", run.Orders, run.EndedPerSecond,
		run.LatencyMs["p50"], run.LatencyMs["p99"])
	ended.Y.Label.Text = "orders ended per second"
	ended.X.Label.Text = "seconds of the run"
	ended.Add(plotter.NewGrid())
	var highest float64
	var rate []Point
	for _, p := range run.Throughput {
		// A second's count holds for the whole second.
		rate = append(rate, p, Point{T: p.T + 1, V: p.V})
		highest = max(highest, p.V)
	}
	if len(rate) > 0 {
		line, err := plotter.NewLine(xys(rate))
		if err != nil {
			return err
		}
		line.Width = vg.Points(1.5)
		ended.Add(line)
	}

	for _, p := range []*plot.Plot{replicas, ended} {
		p.X.Min, p.X.Max = 0, until
		p.Y.Min = 0
	}
	replicas.Y.Max = top*1.15 + 0.3
	replicas.Y.Tick.Marker = wholeTicks{}
	ended.Y.Max = max(highest*1.1, 1)
	for _, mark := range []struct {
		at   float64
		what string
	}{{run.BurstStart, "first order placed"}, {run.BurstEnd, "last order ended"}} {
		for i, p := range []*plot.Plot{replicas, ended} {
			line, err := plotter.NewLine(plotter.XYs{{X: mark.at, Y: 0}, {X: mark.at, Y: p.Y.Max}})
			if err != nil {
				return err
			}
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(line)
			if i == 1 {
				p.Legend.Add(fmt.Sprintf("%s (%.1fs)", mark.what, mark.at), line)
			}
		}
	}
	ended.Legend.Top = true
	return demo.SaveGrid(path, vg.Points(1000), vg.Points(640), [][]*plot.Plot{{replicas}, {ended}})
}

// wholeTicks marks replica counts: whole numbers only, at most ten.
type wholeTicks struct{}

func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, math.Ceil((hi-lo)/10))
	var out []plot.Tick
	for v := math.Ceil(lo); v <= hi; v += step {
		out = append(out, plot.Tick{Value: v, Label: fmt.Sprint(v)})
	}
	return out
}

func xys(pts []Point) plotter.XYs {
	out := make(plotter.XYs, len(pts))
	for i, p := range pts {
		out[i].X, out[i].Y = p.T, p.V
	}
	return out
}

func lifted(pts plotter.XYs, by float64) plotter.XYs {
	for i := range pts {
		pts[i].Y += by
	}
	return pts
}

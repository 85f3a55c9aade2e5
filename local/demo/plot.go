package demo

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot draws the run as a PNG: on the left the distribution of placement
// to outcome latency (what share of orders had ended after how long), on
// the right orders placed and finished per second of the run.
func Plot(res Result, path string) error {
	var lat []time.Duration
	for _, o := range res.Results {
		if o.Latency > 0 {
			lat = append(lat, o.Latency)
		}
	}
	if len(lat) == 0 {
		return fmt.Errorf("no finished order to plot")
	}
	SortDurations(lat)

	cdf := plot.New()
	cdf.Title.Text = fmt.Sprintf("placement -> outcome (p50 %s, p99 %s)", res.P50.Round(time.Millisecond), res.P99.Round(time.Millisecond))
	cdf.X.Label.Text = "seconds after placement"
	cdf.Y.Label.Text = "share of orders ended"
	cdf.Y.Min, cdf.Y.Max = 0, 1
	pts := make(plotter.XYs, len(lat))
	for i, d := range lat {
		pts[i].X, pts[i].Y = d.Seconds(), float64(i+1)/float64(len(lat))
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	cdf.Add(line, plotter.NewGrid())

	rate := plot.New()
	rate.Title.Text = fmt.Sprintf("orders per second (%.1f/s to an outcome)", res.Throughput)
	rate.X.Label.Text = "second of the run"
	rate.Y.Label.Text = "orders"
	if err := AddTimeline(rate, res.Timeline); err != nil {
		return err
	}

	return SaveSideBySide(path, vg.Points(1000), vg.Points(380), cdf, rate)
}

// AddTimeline draws orders placed (dashed) and ended per second of a run
// on p, with their legend.
func AddTimeline(p *plot.Plot, timeline []TimelinePoint) error {
	placed := make(plotter.XYs, len(timeline))
	finished := make(plotter.XYs, len(timeline))
	for i, pt := range timeline {
		placed[i].X, placed[i].Y = float64(pt.Second), float64(pt.Placed)
		finished[i].X, finished[i].Y = float64(pt.Second), float64(pt.Finished)
	}
	pl, err := plotter.NewLine(placed)
	if err != nil {
		return err
	}
	pl.Color = plotter.DefaultLineStyle.Color
	pl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	fl, err := plotter.NewLine(finished)
	if err != nil {
		return err
	}
	fl.Width = vg.Points(1.5)
	p.Add(pl, fl, plotter.NewGrid())
	p.Legend.Add("placed", pl)
	p.Legend.Add("ended (confirmed or cancelled)", fl)
	p.Legend.Top = true
	return nil
}

// SaveSideBySide writes the plots as one PNG, left to right, their axes
// aligned.
func SaveSideBySide(path string, width, height vg.Length, plots ...*plot.Plot) error {
	return SaveGrid(path, width, height, [][]*plot.Plot{plots})
}

// SaveGrid writes rows of plots (each row as long as the first) as one
// PNG, their axes aligned.
func SaveGrid(path string, width, height vg.Length, rows [][]*plot.Plot) error {
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(rows), Cols: len(rows[0]), PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	canvases := plot.Align(rows, tiles, dc)
	for r, row := range rows {
		for c, p := range row {
			p.Draw(canvases[r][c])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// RatePoint is one offered rate's outcome, for PlotRates. Series names the
// line it belongs to (a data plane, a path); points of one series are drawn
// as one line, each series with its own line and legend entry.
type RatePoint struct {
	Series         string
	Offered, Ended float64 // orders per second
	P50, P99       float64 // milliseconds
}

// PlotRates draws, against the offered rate, the orders ended per second
// beside the machine's ceiling (left; no ceiling line when ceiling <= 0)
// and the placement-to-outcome latency p50 and p99 (right).
func PlotRates(points []RatePoint, ceiling float64, path string) error {
	throughput, err := throughputPlot(points, ceiling)
	if err != nil {
		return err
	}
	latency, err := latencyPlot(points)
	if err != nil {
		return err
	}
	return SaveSideBySide(path, vg.Points(1000), vg.Points(380), throughput, latency)
}

// ratesSeries splits points by series, in the order each series first
// appears, each sorted by offered rate.
func ratesSeries(points []RatePoint) (names []string, by map[string][]RatePoint) {
	by = map[string][]RatePoint{}
	for _, pt := range points {
		if _, ok := by[pt.Series]; !ok {
			names = append(names, pt.Series)
		}
		by[pt.Series] = append(by[pt.Series], pt)
	}
	for _, n := range names {
		slices.SortStableFunc(by[n], func(a, b RatePoint) int { return cmp.Compare(a.Offered, b.Offered) })
	}
	return names, by
}

// seriesLabel is what the legend says for a line of name's points.
func seriesLabel(what, name string, several bool) string {
	if !several || name == "" {
		return what
	}
	return what + " (" + name + " data plane)"
}

func throughputPlot(points []RatePoint, ceiling float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "orders ended per second at fixed offered rates"
	p.X.Label.Text = "offered orders per second"
	p.Y.Label.Text = "orders ended per second"
	p.X.Min, p.Y.Min = 0, 0
	var right, top float64 // the axes' ends: the highest offered rate, the highest line
	for _, pt := range points {
		right = max(right, pt.Offered)
		top = max(top, pt.Offered, pt.Ended, ceiling)
	}
	p.Add(plotter.NewGrid())
	names, by := ratesSeries(points)
	for i, name := range names {
		ended := make(plotter.XYs, len(by[name]))
		for j, pt := range by[name] {
			ended[j].X, ended[j].Y = pt.Offered, pt.Ended
		}
		le, se, err := plotter.NewLinePoints(ended)
		if err != nil {
			return nil, err
		}
		le.Width = vg.Points(1.5)
		le.Color, se.Color = plotutil.Color(i), plotutil.Color(i)
		se.Shape = plotutil.Shape(i)
		p.Add(le, se)
		p.Legend.Add(seriesLabel("ended", name, len(names) > 1), le, se)
	}
	// What a saga that keeps up ends: all it is offered.
	keepUp, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: right, Y: right}})
	if err != nil {
		return nil, err
	}
	keepUp.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}
	p.Add(keepUp)
	p.Legend.Add("ended = offered", keepUp)
	if ceiling > 0 {
		limit, err := plotter.NewLine(plotter.XYs{{X: 0, Y: ceiling}, {X: right, Y: ceiling}})
		if err != nil {
			return nil, err
		}
		limit.Width = vg.Points(1.5)
		limit.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(limit)
		p.Legend.Add(fmt.Sprintf("ceiling %.0f/s: this machine doing only an order's minimal work", ceiling), limit)
	}
	p.X.Max, p.Y.Max = right*1.05, top*1.25 // room above the ceiling for the legend
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}

func latencyPlot(points []RatePoint) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "placement -> outcome latency at fixed offered rates"
	p.X.Label.Text = "offered orders per second"
	p.Y.Label.Text = "milliseconds"
	p.Add(plotter.NewGrid())
	names, by := ratesSeries(points)
	for i, name := range names {
		p50 := make(plotter.XYs, len(by[name]))
		p99 := make(plotter.XYs, len(by[name]))
		for j, pt := range by[name] {
			p50[j].X, p50[j].Y = pt.Offered, pt.P50
			p99[j].X, p99[j].Y = pt.Offered, pt.P99
		}
		l50, s50, err := plotter.NewLinePoints(p50)
		if err != nil {
			return nil, err
		}
		l99, s99, err := plotter.NewLinePoints(p99)
		if err != nil {
			return nil, err
		}
		for _, l := range []*plotter.Line{l50, l99} {
			l.Color = plotutil.Color(i)
		}
		for _, sc := range []*plotter.Scatter{s50, s99} {
			sc.Color, sc.Shape = plotutil.Color(i), plotutil.Shape(i)
		}
		l99.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l50, s50, l99, s99)
		p.Legend.Add(seriesLabel("p50", name, len(names) > 1), l50, s50)
		p.Legend.Add(seriesLabel("p99", name, len(names) > 1), l99, s99)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}

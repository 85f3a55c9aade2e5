package jaegerapi

import (
	"fmt"
	"image/color"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Draw writes the trace as a waterfall PNG: one row per span in tree order,
// labelled with its service and operation, a bar from its start to its end
// in milliseconds since the trace began, coloured by service. The dots
// after a label are its depth in the tree.
func (t Trace) Draw(path, title string) error {
	if len(t.Spans) == 0 {
		return fmt.Errorf("trace %s has no spans", t.TraceID)
	}
	order, depth := t.Ordered()
	start := t.Spans[0].StartTime
	for _, s := range t.Spans {
		start = min(start, s.StartTime)
	}
	w := waterfall{colors: map[string]color.Color{}}
	labels := make([]string, len(order))
	n := len(order)
	for k, i := range order {
		s := t.Spans[i]
		svc := t.Service(i)
		if _, ok := w.colors[svc]; !ok {
			w.colors[svc] = palette[len(w.colors)%len(palette)]
		}
		row := n - 1 - k // first span at the top
		labels[row] = svc + ": " + strings.Replace(s.OperationName, "dev.orderflow.", "", 1) + strings.Repeat(" ·", depth[k])
		from := float64(s.StartTime-start) / 1000
		w.bars = append(w.bars, bar{row: float64(row), from: from, to: from + max(float64(s.Duration)/1000, 0.05), color: w.colors[svc]})
		w.xmax = max(w.xmax, from+float64(s.Duration)/1000)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "milliseconds since the trace's first span"
	p.X.Min = 0
	p.NominalY(labels...)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	p.Add(w)
	height := vg.Length(n)*vg.Points(14) + vg.Centimeter*3
	return p.Save(36*vg.Centimeter, height, path)
}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
}

type bar struct {
	row, from, to float64
	color         color.Color
}

type waterfall struct {
	bars   []bar
	colors map[string]color.Color
	xmax   float64
}

func (w waterfall) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	half := vg.Points(5)
	for _, b := range w.bars {
		y := trY(b.row)
		x0, x1 := trX(b.from), trX(b.to)
		if x1-x0 < vg.Points(1) {
			x1 = x0 + vg.Points(1)
		}
		c.FillPolygon(b.color, []vg.Point{{X: x0, Y: y - half}, {X: x1, Y: y - half}, {X: x1, Y: y + half}, {X: x0, Y: y + half}})
	}
}

func (w waterfall) DataRange() (xmin, xmax, ymin, ymax float64) {
	return 0, w.xmax * 1.02, -0.5, float64(len(w.bars)) - 0.5
}

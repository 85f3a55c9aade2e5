package demo

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Each data plane is a series of its own, in the order it first appears,
// sorted by offered rate: drawn as one line joining both, the two planes'
// points made vertical segments at every rate.
func TestRatesSeriesKeepsEachDataPlaneApart(t *testing.T) {
	points := []RatePoint{
		{Series: "local", Offered: 100, Ended: 99},
		{Series: "knative", Offered: 100, Ended: 45},
		{Series: "local", Offered: 50, Ended: 50},
		{Series: "knative", Offered: 50, Ended: 44},
	}
	names, by := ratesSeries(points)
	if !slices.Equal(names, []string{"local", "knative"}) {
		t.Fatalf("series %v", names)
	}
	for _, n := range names {
		if len(by[n]) != 2 || by[n][0].Offered != 50 || by[n][1].Offered != 100 {
			t.Errorf("%s: %+v, want its two points by offered rate", n, by[n])
		}
		for _, pt := range by[n] {
			if pt.Series != n {
				t.Errorf("%s holds a point of %s", n, pt.Series)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "rates.png")
	if err := PlotRates(points, 200, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("picture: %d bytes, %v", len(b), err)
	}
	if seriesLabel("ended", "local", true) != "ended (local data plane)" || seriesLabel("ended", "local", false) != "ended" {
		t.Error("legend labels")
	}
}

package account

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counters is a source whose readings the test sets.
type counters struct {
	name     string
	readings []map[string]float64
	err      error
}

func (c *counters) Layer() string      { return c.name }
func (c *counters) Lag() time.Duration { return 0 }
func (c *counters) Read(context.Context) (map[string]float64, error) {
	if c.err != nil {
		return nil, c.err
	}
	r := c.readings[0]
	c.readings = c.readings[1:]
	return r, nil
}

func TestLedgerCountsTheGrowthPerOrder(t *testing.T) {
	plane := &counters{name: "plane", readings: []map[string]float64{
		{"deliveries": 100, "idle": 7},
		{"deliveries": 1600, "idle": 7, "new": 20},
	}}
	broken := &counters{name: "broken", err: errors.New("no answer")}
	l := New(plane, broken)
	l.Start(context.Background())
	l.Stop(context.Background())
	r := l.Report(100)
	want := []Line{
		{Layer: "plane", Counter: "deliveries", Total: 1500, PerOrder: 15},
		{Layer: "plane", Counter: "new", Total: 20, PerOrder: 0.2},
	}
	if len(r.Lines) != len(want) {
		t.Fatalf("lines %+v, want %+v (a counter that did not grow is left out)", r.Lines, want)
	}
	for i := range want {
		if r.Lines[i] != want[i] {
			t.Errorf("line %d: %+v, want %+v", i, r.Lines[i], want[i])
		}
	}
	if len(r.Errors) != 2 || !strings.Contains(r.Errors[0], "broken: no answer") {
		t.Errorf("errors %v, want the broken source named at both readings", r.Errors)
	}
	var out strings.Builder
	r.Print(&out, 1)
	text := out.String()
	for _, s := range []string{"deliveries", "15.00", "(the rest, each under 1.00 per order)", "not counted: broken: no answer"} {
		if !strings.Contains(text, s) {
			t.Errorf("printed account lacks %q:\n%s", s, text)
		}
	}
}

func TestPrometheusSumsCountersAndSplitsByLabel(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deliveries_total"}, []string{"outcome", "fn"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tx_seconds"})
	reg.MustRegister(c, h)
	c.WithLabelValues("handled", "a").Add(3)
	c.WithLabelValues("handled", "b").Add(4)
	c.WithLabelValues("ignored", "a").Add(1)
	h.Observe(0.1)
	h.Observe(0.2)
	src := Prometheus{Name: "functions", Gatherer: reg,
		Counters: map[string]string{"deliveries_total": "deliveries", "tx_seconds": "transactions"},
		SplitBy:  map[string]string{"deliveries_total": "outcome"}}
	got, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"deliveries (outcome=handled)": 7, "deliveries (outcome=ignored)": 1, "transactions": 2}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

package dashboard

import (
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// families is one reading of a /metrics page, by name.
type families map[string]*dto.MetricFamily

// maxMetricsPage bounds what one function's /metrics may make us read.
const maxMetricsPage = 8 << 20

// scrapeAll reads every replica's /metrics and puts them together, each
// family with the series of every replica (sum adds them up). At zero
// replicas there is nothing to read: no families, no error.
func scrapeAll(ctx context.Context, hc *http.Client, urls []string) (families, error) {
	all := families{}
	for _, u := range urls {
		fs, err := scrape(ctx, hc, u)
		if err != nil {
			return nil, err
		}
		for name, f := range fs {
			if have, ok := all[name]; ok {
				have.Metric = append(have.Metric, f.Metric...)
			} else {
				all[name] = f
			}
		}
	}
	return all, nil
}

// scrape reads a function's /metrics as Prometheus would.
func scrape(ctx context.Context, hc *http.Client, url string) (families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/metrics: HTTP %d", url, res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(io.LimitReader(res.Body, maxMetricsPage))
}

func labelsOf(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// sumBy adds up the series of a family by the value of one label (""
// for all in one), keeping those match accepts (nil: all).
func (f families) sumBy(name, label string, match func(map[string]string) bool) map[string]float64 {
	out := map[string]float64{}
	mf, ok := f[name]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		ls := labelsOf(m)
		if match == nil || match(ls) {
			out[ls[label]] += value(m)
		}
	}
	return out
}

// sum adds up the series of a family that match accepts.
func (f families) sum(name string, match func(map[string]string) bool) float64 {
	return f.sumBy(name, "", match)[""]
}

package plane

import (
	"github.com/prometheus/client_golang/prometheus"
)

// serviceMetrics reports every function's replicas as Knative's autoscaler
// names them (autoscaler_actual_pods, autoscaler_desired_pods), and what
// the stand-in's activator and replica sets did under the plane's prefix.
type serviceMetrics struct {
	p                                 *Plane
	actual, desired, held, cold, lost *prometheus.Desc
}

func newServiceMetrics(p *Plane) *serviceMetrics {
	labels := []string{"namespace_name", "configuration_name"}
	own := p.opts.Naming.Metric
	return &serviceMetrics{p: p,
		actual:  prometheus.NewDesc("autoscaler_actual_pods", "Replicas of a function running (starting and not ready included, draining not).", labels, nil),
		desired: prometheus.NewDesc("autoscaler_desired_pods", "Replicas the autoscaler wants for a function.", labels, nil),
		held:    prometheus.NewDesc(own("activator_held_requests"), "Deliveries waiting at the activator for a ready replica.", labels, nil),
		cold:    prometheus.NewDesc(own("cold_starts_total"), "Deliveries that found their function at zero replicas and waited for one to start.", labels, nil),
		lost:    prometheus.NewDesc(own("replicas_replaced_total"), "Replicas that ended unplanned (a crash, a kill) and were replaced.", labels, nil),
	}
}

func (m *serviceMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.actual, m.desired, m.held, m.cold, m.lost} {
		ch <- d
	}
}

func (m *serviceMetrics) Collect(ch chan<- prometheus.Metric) {
	ns := m.p.namespace()
	for name, st := range m.p.Services() {
		ch <- prometheus.MustNewConstMetric(m.actual, prometheus.GaugeValue, float64(st.Replicas), ns, name)
		ch <- prometheus.MustNewConstMetric(m.desired, prometheus.GaugeValue, float64(st.Desired), ns, name)
		ch <- prometheus.MustNewConstMetric(m.held, prometheus.GaugeValue, float64(st.Held), ns, name)
		ch <- prometheus.MustNewConstMetric(m.cold, prometheus.CounterValue, float64(st.ColdStarts), ns, name)
		ch <- prometheus.MustNewConstMetric(m.lost, prometheus.CounterValue, float64(st.Replaced), ns, name)
	}
}

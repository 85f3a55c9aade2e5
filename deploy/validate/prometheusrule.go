package validate

import (
	"fmt"
	"regexp"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"orderflow.dev/knlocal/manifests"
)

// PrometheusRule is the Prometheus Operator's kind (monitoring.coreos.com/v1)
// as far as orderflow uses it: the fields of its spec, with their JSON names,
// so strict decoding names a misspelt one. Importing the operator's module
// for four structs would pull its whole dependency tree into this one.
type PrometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              PrometheusRuleSpec `json:"spec"`
}

// PrometheusRuleSpec is also, as YAML, a Prometheus rule file: what
// promtool checks and tests.
type PrometheusRuleSpec struct {
	Groups []RuleGroup `json:"groups"`
}

type RuleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Limit    *int   `json:"limit,omitempty"`
	Rules    []Rule `json:"rules"`
}

type Rule struct {
	Record        string            `json:"record,omitempty"`
	Alert         string            `json:"alert,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// RuleFile is the spec as a Prometheus rule file.
func (p *PrometheusRule) RuleFile() ([]byte, error) { return yaml.Marshal(p.Spec) }

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promDays   = regexp.MustCompile(`^(\d+)([dwy])$`)
)

// prometheusRule checks what the operator's admission webhook checks
// before Prometheus would (PromQL itself is promtool's, in TestAlertRules).
func (c *checker) prometheusRule(o manifests.Object, p *PrometheusRule) {
	if len(p.Spec.Groups) == 0 {
		c.fail(o, "spec.groups", "empty: a PrometheusRule with no rules")
	}
	groups := map[string]bool{}
	for i, g := range p.Spec.Groups {
		at := fmt.Sprintf("spec.groups[%d]", i)
		if g.Name == "" {
			c.fail(o, at+".name", "missing")
		} else if groups[g.Name] {
			c.fail(o, at+".name", "%q is used twice", g.Name)
		}
		groups[g.Name] = true
		for j, r := range g.Rules {
			rat := fmt.Sprintf("%s.rules[%d]", at, j)
			switch {
			case (r.Alert == "") == (r.Record == ""):
				c.fail(o, rat, "needs exactly one of alert and record")
			case r.Record != "" && !metricName.MatchString(r.Record):
				c.fail(o, rat+".record", "%q is not a metric name", r.Record)
			}
			if r.Expr == "" {
				c.fail(o, rat+".expr", "missing")
			}
			for field, d := range map[string]string{"for": r.For, "keep_firing_for": r.KeepFiringFor} {
				if d == "" {
					continue
				}
				if _, err := parsePromDuration(d); err != nil {
					c.fail(o, rat+"."+field, "%q: %v", d, err)
				}
			}
			if r.Alert != "" && r.Annotations["summary"] == "" {
				c.fail(o, rat+".annotations.summary", "missing: the alert would page with no words")
			}
		}
	}
}

// parsePromDuration accepts Prometheus' durations (1h30m, 10m, 90s, 1d):
// Go's parser plus d, w and y.
func parsePromDuration(s string) (time.Duration, error) {
	if m := promDays.FindStringSubmatch(s); m != nil {
		var n int
		fmt.Sscan(m[1], &n)
		unit := map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[m[2]]
		return time.Duration(n) * unit, nil
	}
	return time.ParseDuration(s)
}

package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// EnvRequireTools makes a missing external tool (promtool here) a failure
// rather than a skip: .ci/run sets it, having installed them.
const EnvRequireTools = "ORDERFLOW_REQUIRE_TOOLS"

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv(EnvRequireTools) != "" {
			t.Fatalf("promtool not found and %s is set: install Debian's prometheus package", EnvRequireTools)
		}
		t.Skip("promtool not found (Debian's prometheus package ships it; .ci/run installs it)")
	}
	return p
}

// prodRules is the PrometheusRule the prod overlay renders, as a cluster
// gets it.
func prodRules(t *testing.T) *PrometheusRule {
	t.Helper()
	var found *PrometheusRule
	for _, o := range renderAt(t, root, "knative/overlays/prod") {
		if o.Kind != "PrometheusRule" {
			continue
		}
		pr := &PrometheusRule{}
		if probs := DecodeStrict(o.JSON, pr); len(probs) > 0 {
			t.Fatalf("%s: %v", o.Where(), probs)
		}
		if found != nil {
			t.Fatal("two PrometheusRules in the prod overlay")
		}
		found = pr
	}
	if found == nil {
		t.Fatal("the prod overlay renders no PrometheusRule")
	}
	return found
}

// runPromtool writes the rules where alerts_test.yaml expects them and runs
// promtool's check and unit tests on them.
func runPromtool(t *testing.T, bin string, rules []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	tests, err := os.ReadFile(filepath.Join(root, "knative", "overlays", "prod", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"rules.yaml": rules, "alerts_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check, err := exec.Command(bin, "check", "rules", filepath.Join(dir, "rules.yaml")).CombinedOutput()
	if err != nil {
		return string(check), err
	}
	test, err := exec.Command(bin, "test", "rules", filepath.Join(dir, "alerts_test.yaml")).CombinedOutput()
	return string(check) + string(test), err
}

// The alerting rules a cluster gets pass promtool's syntax check and their
// unit tests: series that must fire each alert do, series that must not do
// not.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	pr := prodRules(t)
	rules, err := pr.RuleFile()
	if err != nil {
		t.Fatal(err)
	}
	out, err := runPromtool(t, bin, rules)
	if err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
	t.Logf("promtool:\n%s", out)

	// Every alert is tested: made never to fire, each one fails the tests.
	for gi, g := range pr.Spec.Groups {
		for ri, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			mut := *pr
			mut.Spec.Groups = append([]RuleGroup(nil), pr.Spec.Groups...)
			mut.Spec.Groups[gi].Rules = append([]Rule(nil), g.Rules...)
			mut.Spec.Groups[gi].Rules[ri].Expr = "vector(1) < 0"
			b, err := mut.RuleFile()
			if err != nil {
				t.Fatal(err)
			}
			if out, err := runPromtool(t, bin, b); err == nil || !strings.Contains(out, r.Alert) {
				t.Errorf("%s made never to fire, and alerts_test.yaml still passes: it has no series that must fire it", r.Alert)
			}
		}
	}
}

// The checker refuses rules a Prometheus Operator would take and then fail
// on, naming the field.
func TestPrometheusRuleChecks(t *testing.T) {
	bad := `apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: bad, namespace: orderflow}
spec:
  groups:
    - name: g
      rules:
        - alert: A
          record: b
          expr: up
        - alert: NoWords
          expr: up
          for: 10 minutes
        - record: "not a name"
          expr: up
`
	probs := checkYAML(t, bad)
	for _, want := range []string{"spec.groups[0].rules[0]: needs exactly one of alert and record",
		"spec.groups[0].rules[1].for", "spec.groups[0].rules[1].annotations.summary", "spec.groups[0].rules[2].record"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems:\n%s\nmissing %q", probs, want)
		}
	}
	if probs := checkYAML(t, strings.Replace(bad, "expr: up\n        - alert: NoWords", "exprr: up\n        - alert: NoWords", 1)); !strings.Contains(probs, "exprr") {
		t.Errorf("a misspelt field is not named:\n%s", probs)
	}
}

// checkYAML renders prod with its PrometheusRule replaced by doc and
// returns the problems found, one "field: message" a line.
func checkYAML(t *testing.T, doc string) string {
	t.Helper()
	_, probs := render(t, "knative/overlays/prod", map[string]string{"knative/overlays/prod/prometheusrule.yaml": doc})
	var b strings.Builder
	for _, p := range probs {
		b.WriteString(p.Field + ": " + p.Msg + "\n")
	}
	return b.String()
}
